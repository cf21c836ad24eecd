"""After a household's first registration its amount changes only through a decision or a
correction an approver confirms: the household PATCH refuses it, a re-imported roster records
a correction instead of applying it, and the payment roster pays the old amount until the
approver confirms (real HTTP, both engines)."""

from __future__ import annotations

from typing import Any

from tests.server.decisions.helpers import create_household, first_of_next_month, ok
from tests.server.registry.test_roster import ZH, csv_bytes, rows
from tests.server.registry.test_roster_upload import upload
from tests.support import LiveServer


def _household(live: LiveServer, household_id: str) -> dict[str, Any]:
    with live.as_user("admin") as c:
        data: dict[str, Any] = ok(c.get(f"/households/{household_id}"))
    return data


def _roster_amounts(live: LiveServer) -> dict[str, int]:
    month = first_of_next_month().strftime("%Y-%m")
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/build"))
        rows = ok(c.get(f"/payments/months/{month}/rows", params={"limit": 5000}))
    return {r["household_code"]: r["amount"] for r in rows}


def _audit(live: LiveServer, entity: str, entity_id: str) -> list[dict[str, Any]]:
    with live.as_user("auditor") as c:
        events: list[dict[str, Any]] = ok(c.get("/audit/", params={"entity": entity, "entity_id": entity_id}))
    return events


def test_the_household_patch_refuses_the_amount_and_writes_nothing(live: LiveServer) -> None:
    household = create_household(live, benefit_amount=78000)
    with live.as_user("sup1") as c:
        refused = c.patch(f"/households/{household['id']}", json={"benefit_amount": 999900, "address": "elsewhere"})
        same = c.patch(f"/households/{household['id']}", json={"benefit_amount": 78000, "address": "next door"})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "amount_needs_decision"
    assert [e["path"] for e in body["errors"]] == ["$.benefit_amount"]
    assert "approved decision" in body["errors"][0]["reason"]
    assert same.status_code == 200, "the unchanged amount of a whole form is no change"
    after = _household(live, household["id"])
    assert (after["benefit_amount"], after["address"], after["version"]) == (78000, "next door", 2)
    assert _roster_amounts(live) == {household["code"]: 78000}


def test_a_reimported_amount_is_a_correction_paid_only_once_an_approver_confirms(live: LiveServer) -> None:
    first = upload(live, "sup1", csv_bytes(ZH, rows()))
    assert (first["status"], first["created"]) == (200, 2)
    with live.as_user("admin") as c:
        [family] = [h for h in ok(c.get("/households/", params={"q": "张三"}))["items"]]
    assert family["benefit_amount"] == 78050  # the first registration sets the amount

    changed = upload(live, "sup1", csv_bytes(ZH, rows(benefit="9,999.00")))
    assert changed["status"] == 200
    assert changed["amount_corrections"] == 1
    [item] = changed["corrections"]
    assert (item["row"], item["household_code"], item["current_amount"], item["file_amount"]) == (
        2,
        family["code"],
        78050,
        999900,
    )
    assert _household(live, family["id"])["benefit_amount"] == 78050
    assert _roster_amounts(live)[family["code"]] == 78050, "nothing approved the new amount"
    # the same file again records no second correction
    again = upload(live, "sup1", csv_bytes(ZH, rows(benefit="9,999.00")))
    assert again["amount_corrections"] == 1
    assert again["corrections"][0]["correction_id"] == item["correction_id"]
    with live.as_user("approver") as c:
        [pending] = ok(c.get("/amount-corrections/", params={"state": "pending"}))
    assert (pending["id"], pending["old_amount"], pending["new_amount"], pending["source"]) == (
        item["correction_id"],
        78050,
        999900,
        "roster",
    )

    with live.as_user("sup1") as c:
        by_supervisor = c.post(f"/amount-corrections/{pending['id']}/confirm", json={})
    assert by_supervisor.status_code == 403
    with live.as_user("approver") as c:
        confirmed = ok(c.post(f"/amount-corrections/{pending['id']}/confirm", json={"note": "bank statement seen"}))
        twice = c.post(f"/amount-corrections/{pending['id']}/confirm", json={})
    assert (confirmed["state"], confirmed["decided_by"]) == ("confirmed", str(live.world.user_ids["approver"]))
    assert twice.status_code == 409
    after = _household(live, family["id"])
    assert (after["benefit_amount"], after["version"]) == (999900, family["version"] + 1)
    assert _roster_amounts(live)[family["code"]] == 999900
    [update] = [e for e in _audit(live, "household", family["id"]) if e["action"] == "update"]
    assert update["changes"]["benefit_amount"] == [78050, 999900]
    assert update["changes"]["correction_id"] == pending["id"]
    assert update["actor_id"] == str(live.world.user_ids["approver"])
    actions = [e["action"] for e in _audit(live, "amount_correction", pending["id"])]
    assert sorted(actions) == ["confirm", "create"]


def test_a_supervisor_records_a_correction_and_a_rejection_keeps_the_amount(live: LiveServer) -> None:
    household = create_household(live, benefit_amount=56000)
    with live.as_user("sup1") as c:
        no_reason = c.post("/amount-corrections/", json={"household_id": household["id"], "new_amount": 60000})
        first = ok(
            c.post(
                "/amount-corrections/",
                json={"household_id": household["id"], "new_amount": 60000, "reason": "typo at registration"},
            ),
            201,
        )
        second = ok(
            c.post(
                "/amount-corrections/",
                json={"household_id": household["id"], "new_amount": 58000, "reason": "the right figure"},
            ),
            201,
        )
    assert no_reason.status_code == 400
    with live.as_user("sup2") as c:  # another township's supervisor does not see the household
        outside = c.post("/amount-corrections/", json={"household_id": household["id"], "new_amount": 1, "reason": "x"})
    assert outside.status_code == 404
    with live.as_user("approver") as c:
        states = {
            r["id"]: r["state"] for r in ok(c.get("/amount-corrections/", params={"household_id": household["id"]}))
        }
        bare = c.post(f"/amount-corrections/{second['id']}/reject", json={})
        rejected = ok(c.post(f"/amount-corrections/{second['id']}/reject", json={"note": "no evidence"}))
    assert states == {first["id"]: "superseded", second["id"]: "pending"}
    assert bare.status_code == 422
    assert rejected["state"] == "rejected"
    assert _household(live, household["id"])["benefit_amount"] == 56000
    assert _roster_amounts(live) == {household["code"]: 56000}
