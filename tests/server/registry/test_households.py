"""The household registry API: validation, scope, masking, pagination, audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.support import LiveServer, make_id_number


def member(name: str, relation: str, serial: int, born: dt.date = dt.date(1970, 5, 1)) -> dict[str, Any]:
    return {
        "name": name,
        "relation": relation,
        "id_number": make_id_number("520111", born, serial),
        "sex": "female" if serial % 2 else "male",
        "birth_date": born.isoformat(),
    }


def household(live: LiveServer, area: str, serial: int, **extra: Any) -> dict[str, Any]:
    return {
        "area_id": live.world.area_ids[area],
        "residence": "rural",
        "category": "general",
        "address": f"{area} lane {serial}",
        "members": [member(f"王{serial}", "head", serial), member(f"李{serial}", "spouse", serial + 500)],
        "benefit_amount": 78000,
        "bank_account": "6217000012345678",
        **extra,
    }


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/households/", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def test_create_and_read_household_with_members(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        created = create(c, household(live, "T1-a", 1))
        fetched = c.get(f"/households/{created['id']}").json()
    assert fetched["head_name"] == "王1"
    assert len(fetched["members"]) == 2
    assert fetched["benefit_amount"] == 78000
    assert fetched["version"] == 1


def test_invalid_id_number_names_the_member_and_stores_nothing(live: LiveServer) -> None:
    body = household(live, "T1-a", 2)
    body["members"][1]["id_number"] = body["members"][1]["id_number"][:17] + (
        "0" if body["members"][1]["id_number"][17] != "0" else "1"
    )
    with live.as_user("sup1") as c:
        response = c.post("/households/", json=body)
        listed = c.get("/households/").json()
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.members[1].id_number"
    assert listed["items"] == []


def test_duplicate_head_is_409_and_first_household_untouched(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        first = create(c, household(live, "T1-a", 3))
        again = household(live, "T1-b", 900)
        again["members"][0] = member("王3", "head", 3)
        response = c.post("/households/", json=again)
        after = c.get(f"/households/{first['id']}").json()
    assert response.status_code == 409
    assert response.json()["errors"][0]["path"] == "$.members[0].id_number"
    assert after["version"] == 1


def test_two_heads_or_none_is_refused(live: LiveServer) -> None:
    body = household(live, "T1-a", 4)
    body["members"][1]["relation"] = "head"
    with live.as_user("sup1") as c:
        response = c.post("/households/", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.members"


def test_absurd_amount_and_wrong_enum_are_400_with_paths(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        absurd = c.post("/households/", json=household(live, "T1-a", 5, benefit_amount=100_000_000_01))
        negative = c.post("/households/", json=household(live, "T1-a", 5, benefit_amount=-1))
        enum = c.post("/households/", json=household(live, "T1-a", 5, category="rich"))
    assert absurd.status_code == 400
    assert absurd.json()["errors"][0]["path"] == "$.benefit_amount"
    assert negative.json()["errors"][0]["path"] == "$.benefit_amount"
    assert enum.json()["errors"][0]["path"] == "$.category"


def test_scope_hides_other_townships(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        mine = create(c, household(live, "T1-a", 6))
        outside = c.post("/households/", json=household(live, "T2-a", 7))
    assert outside.status_code == 403
    assert outside.json()["errors"][0]["path"] == "$.area_id"
    with live.as_user("sup2") as c:
        assert c.get(f"/households/{mine['id']}").status_code == 404
        assert c.get("/households/").json()["items"] == []
        assert c.patch(f"/households/{mine['id']}", json={"address": "x"}).status_code == 404
    with live.as_user("approver") as c:
        assert c.get(f"/households/{mine['id']}").status_code == 200


def test_masking_by_role(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        created = create(c, household(live, "T1-a", 8))
    full_id = created["head_id_number"]
    seen: dict[str, dict[str, Any]] = {}
    for user in ("worker1", "sup1", "approver", "auditor", "admin"):
        with live.as_user(user) as c:
            seen[user] = c.get(f"/households/{created['id']}").json()
    assert seen["worker1"]["head_id_number"] == full_id[:6] + "********" + full_id[-4:]
    assert seen["worker1"]["members"][0]["id_number"].count("*") == 8
    assert seen["sup1"]["head_id_number"] == full_id
    assert seen["approver"]["bank_account"] == "6217000012345678"
    assert seen["sup1"]["bank_account"] == "************5678"
    assert seen["auditor"]["bank_account"] == "************5678"
    with live.as_user("worker1") as c:
        listed = c.get("/households/").json()["items"][0]
    assert "*" in listed["head_id_number"]


def test_list_filters_sorts_and_pages_without_gaps(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        ids = set()
        for i in range(7):
            area = "T1-a" if i % 2 else "T1-b"
            body = household(live, area, 20 + i, category="three_no" if i < 3 else "general", benefit_amount=1000 * i)
            ids.add(create(c, body)["id"])
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "sort": "-benefit_amount"}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/households/", params=params).json()
            seen.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        three_no = c.get("/households/", params={"category": "three_no"}).json()["items"]
        in_area = c.get("/households/", params={"area_id": live.world.area_ids["T1-a"]}).json()["items"]
        bad_sort = c.get("/households/", params={"sort": "password"})
        bad_cursor = c.get("/households/", params={"cursor": "garbage!!"})
    assert {h["id"] for h in seen} == ids
    amounts = [h["benefit_amount"] for h in seen]
    assert amounts == sorted(amounts, reverse=True)
    assert len(three_no) == 3
    assert {h["area_id"] for h in in_area} == {live.world.area_ids["T1-a"]}
    assert bad_sort.status_code == 422
    assert bad_sort.json()["errors"][0]["path"] == "sort"
    assert bad_cursor.status_code == 422


def test_update_with_stale_version_is_409_and_changes_nothing(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        created = create(c, household(live, "T1-a", 40))
        ok = c.patch(f"/households/{created['id']}", json={"version": 1, "category": "three_no"})
        stale = c.patch(f"/households/{created['id']}", json={"version": 1, "address": "changed"})
        after = c.get(f"/households/{created['id']}").json()
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    assert stale.status_code == 409
    assert after["address"] == created["address"]
    assert after["category"] == "three_no"


def test_members_add_edit_remove(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        created = create(c, household(live, "T1-a", 50))
        added = c.post(f"/households/{created['id']}/members", json=member("王小", "child", 51, dt.date(2010, 1, 2)))
        assert added.status_code == 201, added.text
        child = added.json()["id"]
        edited = c.patch(
            f"/households/{created['id']}/members/{child}", json={"health": "seriously_ill", "disability_grade": 2}
        )
        bad_grade = c.patch(f"/households/{created['id']}/members/{child}", json={"disability_grade": 7})
        head = next(m for m in created["members"] if m["relation"] == "head")
        remove_head = c.delete(f"/households/{created['id']}/members/{head['id']}")
        removed = c.delete(f"/households/{created['id']}/members/{child}")
        after = c.get(f"/households/{created['id']}").json()
    assert edited.json()["health"] == "seriously_ill"
    assert bad_grade.status_code == 400
    assert bad_grade.json()["errors"][0]["path"] == "$.disability_grade"
    assert remove_head.status_code == 422
    assert removed.status_code == 204
    assert len(after["members"]) == 2
    assert after["version"] == 4


def test_every_change_is_audited_with_actor_and_device(live: LiveServer) -> None:
    device = live.register_device("sup1", "office tablet")
    with live.as_user("sup1", device) as c:
        created = create(c, household(live, "T1-a", 60))
        c.patch(f"/households/{created['id']}", json={"address": "new address"})
    with live.as_user("auditor") as c:
        events = c.get("/audit/", params={"entity": "household", "entity_id": created["id"]}).json()
    with live.as_user("worker1") as c:
        forbidden = c.get("/audit/")
    assert [e["action"] for e in events] == ["create", "update"]
    assert events[1]["changes"]["address"] == [created["address"], "new address"]
    assert events[1]["actor_id"] == str(live.world.user_ids["sup1"])
    assert events[1]["device_id"] == device[0]
    assert events[1]["request_id"]
    assert forbidden.status_code == 403


def test_roles_reach_exactly_what_they_should(live: LiveServer) -> None:
    """Write endpoints: admin and supervisors; reads: everyone in scope; audit: auditor and admin."""
    with live.as_user("sup1") as c:
        created = create(c, household(live, "T1-a", 70))
    expectations = {
        "admin": (200, 201, 200),
        "supervisor": (200, 201, 403),
        "approver": (200, 403, 403),
        "worker": (200, 403, 403),
        "auditor": (200, 403, 200),
    }
    users = {"admin": "admin", "supervisor": "sup1", "approver": "approver", "worker": "worker1", "auditor": "auditor"}
    for role, (read, write, audit) in expectations.items():
        with live.as_user(users[role]) as c:
            assert c.get(f"/households/{created['id']}").status_code == read, role
            body = household(live, "T1-a", 100 + len(role))
            assert c.post("/households/", json=body).status_code == write, role
            assert c.get("/audit/").status_code == audit, role
