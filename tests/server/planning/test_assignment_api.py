"""Assignment through the API: bulk assign, reassign, unassign, the suggested split, and every
refusal (other area, other township, deactivated worker, completed visit) with nothing half-done."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.server.planning.helpers import (
    add_household,
    assign,
    audit,
    error_paths,
    plan_all,
    set_visit_state,
    visits,
)
from tests.support import LiveServer

APPROVED = dt.date(2026, 11, 15)  # general: due 2027-02-15, inside 2027Q1


def _world(live: LiveServer) -> dict[str, list[dict[str, Any]]]:
    for area, n in (("T1-a", 3), ("T1-b", 1), ("T2-a", 1)):
        for i in range(n):
            add_household(live, area, approved_on=APPROVED, lat=26.46 + i / 100, lon=106.66 + i / 100)
    by_area: dict[str, list[dict[str, Any]]] = {"T1-a": [], "T1-b": [], "T2-a": []}
    codes = {v: k for k, v in live.world.area_ids.items()}
    for visit in plan_all(live):
        by_area[codes[visit["area_id"]]].append(visit)
    return by_area


def _id(live: LiveServer, user: str) -> str:
    return str(live.world.user_ids[user])


def test_bulk_assign_reassign_and_unassign(live: LiveServer) -> None:
    visits_ = _world(live)["T1-a"]
    worker1, worker1b = _id(live, "worker1"), _id(live, "worker1b")
    day = "2027-01-11"
    response = assign(live, "sup1", [{"visit_id": v["id"], "worker_id": worker1, "visit_on": day} for v in visits_])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["changed"], body["unchanged"]) == (3, 0)
    assert {(v["state"], v["assigned_to"], v["visit_on"], v["version"]) for v in body["visits"]} == {
        ("assigned", worker1, day, 2)
    }
    again = assign(live, "sup1", [{"visit_id": v["id"], "worker_id": worker1, "visit_on": day} for v in visits_])
    assert (again.json()["changed"], again.json()["unchanged"]) == (0, 3)

    first = visits_[0]["id"]
    moved = assign(live, "sup1", [{"visit_id": first, "worker_id": worker1b, "partner_id": worker1}]).json()
    [visit] = moved["visits"]
    assert (visit["state"], visit["assigned_to"], visit["partner_id"], visit["version"]) == (
        "assigned",
        worker1b,
        worker1,
        3,
    )
    actions = [(e["action"], e["changes"].get("state")) for e in audit(live, first)]
    assert ("transition", ["planned", "assigned"]) in actions
    assert ("reassign", None) in actions
    assert [v["id"] for v in visits(live, "worker1b")] == [first]

    set_visit_state(live, visits_[1]["id"], "downloaded")
    with live.as_user("sup1") as c:
        out = c.post("/assignments/unassign", json={"visit_ids": [first, visits_[1]["id"]]})
    assert out.status_code == 200, out.text
    assert {(v["state"], v.get("assigned_to")) for v in out.json()["visits"]} == {("planned", None)}
    assert visits(live, "worker1b") == []
    assert [e["changes"]["state"] for e in audit(live, visits_[1]["id"]) if e["action"] == "transition"][-1] == [
        "downloaded",
        "planned",
    ]


def test_refusals_name_the_field_and_assign_nothing(live: LiveServer) -> None:
    world = _world(live)
    ok = world["T1-a"][0]["id"]
    village = world["T1-b"][0]["id"]
    other = world["T2-a"][0]["id"]
    worker1, worker2 = _id(live, "worker1"), _id(live, "worker2")

    def refused(user: str, items: list[dict[str, Any]], status: int, path: str, words: str) -> None:
        response = assign(live, user, [{"visit_id": ok, "worker_id": worker1}, *items])
        assert response.status_code == status, response.text
        assert path in error_paths(response)
        assert words in response.text
        state = {v["id"]: v["state"] for v in visits(live, "admin")}
        assert state[ok] == "planned", "nothing may be half-assigned"

    # a worker of another community of the same township
    refused("sup1", [{"visit_id": village, "worker_id": worker1}], 422, "$.items[1].worker_id", "visit's area")
    # a worker of another township
    refused("sup1", [{"visit_id": ok, "worker_id": worker2}], 422, "$.items[1].worker_id", "your areas")
    # a visit of another township
    refused("sup1", [{"visit_id": other, "worker_id": worker1}], 404, "$.items[1].visit_id", "no such visit")
    # not a worker
    refused("sup1", [{"visit_id": village, "worker_id": _id(live, "sup1")}], 422, "$.items[1].worker_id", "worker")
    # partner equal to the worker
    refused(
        "sup1", [{"visit_id": village, "worker_id": worker1, "partner_id": worker1}], 422, "$.items[1].partner_id", ""
    )
    # a completed visit
    done = world["T1-a"][1]["id"]
    set_visit_state(live, done, "submitted")
    refused("sup1", [{"visit_id": done, "worker_id": worker1}], 409, "$.items[1].visit_id", "completed")
    # a deactivated worker
    with live.as_user("admin") as c:
        assert c.patch(f"/users/{_id(live, 'worker1b')}", json={"active": False}).status_code == 200
    refused("sup1", [{"visit_id": village, "worker_id": _id(live, "worker1b")}], 422, "$.items[1].worker_id", "")
    ok_item = [{"visit_id": ok, "worker_id": _id(live, "worker1b")}]
    assert "deactivated" in assign(live, "sup1", ok_item).text

    with live.as_user("sup1") as c:
        completed = c.post("/assignments/unassign", json={"visit_ids": [done]})
        unknown = c.post("/assignments/", json={"items": [{"visit_id": ok, "worker_id": worker1, "bogus": 1}]})
        empty = c.post("/assignments/", json={"items": []})
    assert completed.status_code == 409
    assert error_paths(completed) == ["$.visit_ids[0]"]
    assert unknown.status_code == 400
    assert error_paths(unknown) == ["$.items[0].bogus"]
    assert empty.status_code == 400
    # the other township's supervisor, workers and auditors may not assign at all
    assert assign(live, "sup2", [{"visit_id": ok, "worker_id": worker1}]).status_code == 404
    for user in ("worker1", "auditor", "approver"):
        assert assign(live, user, [{"visit_id": ok, "worker_id": worker1}]).status_code == 403


def test_suggested_split_is_a_preview_that_can_be_accepted(live: LiveServer) -> None:
    world = _world(live)
    for i in range(5):
        add_household(live, "T1-a", approved_on=APPROVED, lat=26.40 + i / 50, lon=106.60 + i / 50)
    plan_all(live)
    t1a = [v["id"] for v in visits(live, "sup1") if v["area_id"] == live.world.area_ids["T1-a"]]
    assert len(t1a) == 8
    request = {
        "worker_ids": [_id(live, "worker1"), _id(live, "worker1b")],
        "start_on": "2027-01-11",
        "days": 2,
        "capacity_per_day": 2,
        "area_ids": [live.world.area_ids["T1"]],
    }
    with live.as_user("sup1") as c:
        response = c.post("/assignments/suggest", json=request)
    assert response.status_code == 200, response.text
    suggestion = response.json()
    assert len(suggestion["items"]) == 8
    loads = {load["worker_id"]: load["visits"] for load in suggestion["loads"]}
    assert loads == {_id(live, "worker1"): 4, _id(live, "worker1b"): 4}
    assert all(n <= 2 for load in suggestion["loads"] for n in load["days"].values())
    # T1-b has no worker among the chosen: its visit is left over, never given to a T1-a worker
    assert suggestion["left_over"] == [world["T1-b"][0]["id"]]
    assert {v["state"] for v in visits(live, "sup1")} == {"planned"}, "a suggestion writes nothing"

    edited = suggestion["items"][:-1]
    accepted = assign(live, "sup1", edited)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["changed"] == 7

    with live.as_user("sup1") as c:
        outside = c.post("/assignments/suggest", json={**request, "worker_ids": [_id(live, "worker2")]})
    assert outside.status_code == 422
    assert error_paths(outside) == ["$.worker_ids[0]"]
