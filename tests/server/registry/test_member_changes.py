"""An accepted visit's member changes reach the registry (with audit), proposals still count the
members who left, and a household whose head died is not paid until a new head is named (real
HTTP, both engines)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.server.decisions.helpers import (
    accept_via_sync,
    create_household,
    first_of_next_month,
    ok,
    proposal_of,
    submitted_visit,
)
from tests.support import LiveServer, make_id_number


def _household(live: LiveServer, household_id: str) -> dict[str, Any]:
    with live.as_user("sup1") as c:
        data: dict[str, Any] = ok(c.get(f"/households/{household_id}"))
    return data


def _build(live: LiveServer) -> tuple[dict[str, Any], dict[str, int]]:
    month = first_of_next_month().strftime("%Y-%m")
    with live.as_user("approver") as c:
        built = ok(c.post(f"/payments/months/{month}/build"))
        rows = ok(c.get(f"/payments/months/{month}/rows", params={"limit": 5000}))
    return built, {r["household_code"]: r["amount"] for r in rows}


def _visit_audit(live: LiveServer, household_id: str) -> dict[str, Any]:
    with live.as_user("auditor") as c:
        events = ok(c.get("/audit/", params={"entity": "household", "entity_id": household_id}))
    [entry] = [e for e in events if e["changes"].get("source") == "visit"]
    changes: dict[str, Any] = entry["changes"]
    return changes


def test_a_death_a_birth_and_a_correction_update_the_registry(live: LiveServer) -> None:
    household = create_household(live, members=3, incomes=[("business", 60000)], benefit_amount=70000)
    head, died, son = (m["id"] for m in household["members"])  # by birth date: the head first
    newborn = str(uuid.uuid4())
    capture = {
        "outcome": "completed",
        "members": [{"member_id": m, "present": True, "no_income": True} for m in (head, son, newborn)],
        "member_changes": [
            {"change": "remove", "member_id": died, "reason": "death", "on": "2026-11-20"},
            {
                "change": "add",
                "member_id": newborn,
                "name": "王新",
                "relation": "grandchild",
                "sex": "female",
                "birth_date": "2026-10-01",
                "reason": "birth",
                "id_number": make_id_number("520111", dt.date(2026, 10, 1), 777),
            },
            {"change": "edit", "member_id": son, "name": "王二改"},
        ],
        "incomes": [
            {"id": str(uuid.uuid4()), "kind": "business", "monthly_amount": 60000},
            {"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": 50000, "member_id": died},
        ],
    }
    before = _household(live, household["id"])
    visit_id = submitted_visit(live, household, capture)
    accept_via_sync(live, visit_id)

    after = _household(live, household["id"])
    assert {m["id"]: m["name"] for m in after["members"]} == {head: "王小明", son: "王二改", newborn: "王新"}
    assert after["version"] > before["version"]
    assert after.get("head_vacant_since") is None
    changes = _visit_audit(live, household["id"])
    assert changes["visit_id"] == str(visit_id)
    assert changes["members_removed"] == [{"name": before["members"][1]["name"], "reason": "death"}]
    assert changes["members_added"] == [{"name": "王新", "reason": "birth"}]
    assert changes["members_changed"] == [{"member_id": son, "fields": {"name": ["王2", "王二改"]}}]
    # the proposal still sees who left: the dead member's wages are set aside, 3 members remain
    proposal = proposal_of(live, household)
    assert "member_change" in proposal["reasons"]
    assert proposal["new_amount"] == 3 * 56000 - 60000


def test_a_dead_head_holds_the_household_off_the_roster_until_a_new_head_is_named(live: LiveServer) -> None:
    household = create_household(live, members=2, benefit_amount=70000)
    head, spouse = (m["id"] for m in household["members"])
    capture = {
        "outcome": "completed",
        "members": [{"member_id": spouse, "present": True, "no_income": True}],
        "member_changes": [{"change": "remove", "member_id": head, "reason": "death", "on": "2026-11-02"}],
        "incomes": [],
    }
    visit_id = submitted_visit(live, household, capture)
    accept_via_sync(live, visit_id)

    after = _household(live, household["id"])
    assert [m["id"] for m in after["members"]] == [spouse]
    assert (after["head_vacant_since"], after["head_vacant_reason"]) == ("2026-11-02", "death")
    assert _visit_audit(live, household["id"])["head_vacant"] == {"since": "2026-11-02", "reason": "death"}
    built, paid = _build(live)
    assert household["code"] not in paid, "a dead head is not the payee"
    [held] = built["held"]
    assert (held["household_code"], held["amount"]) == (household["code"], 70000)
    assert "name a new head" in held["reason"]

    with live.as_user("sup1") as c:
        stranger = c.post(f"/households/{household['id']}/head", json={"member_id": str(uuid.uuid4())})
        named = ok(c.post(f"/households/{household['id']}/head", json={"member_id": spouse}))
        again = c.post(f"/households/{household['id']}/head", json={"member_id": spouse})
    assert stranger.status_code == 404
    assert [e["path"] for e in stranger.json()["errors"]] == ["$.member_id"]
    assert again.status_code == 409
    assert named.get("head_vacant_since") is None
    assert named["head_name"] == after["members"][0]["name"]
    assert [m["relation"] for m in named["members"]] == ["head"]
    built, paid = _build(live)
    assert paid[household["code"]] == 70000
    assert built.get("held", []) == []


def test_a_new_head_named_in_the_same_visit_keeps_the_household_paid(live: LiveServer) -> None:
    household = create_household(live, members=2, benefit_amount=56000)
    head, spouse = (m["id"] for m in household["members"])
    capture = {
        "outcome": "completed",
        "members": [{"member_id": spouse, "present": True, "no_income": True}],
        "member_changes": [
            {"change": "remove", "member_id": head, "reason": "moved_out"},
            {"change": "edit", "member_id": spouse, "relation": "head", "reason": "other"},
        ],
        "incomes": [],
    }
    accept_via_sync(live, submitted_visit(live, household, capture))
    after = _household(live, household["id"])
    assert after.get("head_vacant_since") is None
    assert [(m["id"], m["relation"]) for m in after["members"]] == [(spouse, "head")]
    assert after["head_name"] == household["members"][1]["name"]
    _, paid = _build(live)
    assert paid[household["code"]] == 56000
