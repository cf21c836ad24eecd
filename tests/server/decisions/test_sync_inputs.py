"""Proposals from stored captures, made when sync's review accepts a visit (both engines)."""

from __future__ import annotations

import hashlib
import uuid

from server.db.base import utcnow
from tests.server.decisions.helpers import (
    accept_via_sync,
    create_household,
    generate,
    ok,
    open_conflict,
    proposal_of,
    submitted_visit,
)
from tests.server.media.conftest import jpeg_bytes, tus_create, upload_metadata
from tests.support import LiveServer


def _members(live: LiveServer, household: dict[str, object]) -> list[str]:
    with live.as_user("sup1") as c:
        full = ok(c.get(f"/households/{household['id']}"))
    return [m["id"] for m in full["members"]]


def test_accepting_a_completed_capture_makes_the_proposal(live: LiveServer) -> None:
    household = create_household(live, members=2, incomes=[("business", 10000)], benefit_amount=90000)
    ids = _members(live, household)
    capture = {
        "outcome": "completed",
        "members": [
            {"member_id": ids[0], "no_income": True},
            {"member_id": ids[1], "present": True, "employment": "employed"},
        ],
        "incomes": [
            {"id": str(uuid.uuid4()), "kind": "wages", "monthly_amount": 125000, "member_id": ids[1]},
        ],
    }
    visit_id = submitted_visit(live, household, capture)
    accept_via_sync(live, visit_id)
    proposal = proposal_of(live, household)
    # Worked example 3: one member found a job, wages 1,250.00 for 2 members → 625.00 ≥ 560.00.
    assert proposal["visit_id"] == str(visit_id)
    assert proposal["outcome"] == "phase_out"
    assert proposal["per_capita_income"] == 62500
    assert proposal["new_amount"] == 90000
    assert proposal["phase_out_months"] == 6
    assert proposal["inputs"]["capture"] == 3, "stored at version 2, accepting bumps it"
    assert "newly_employed" in proposal["reasons"]


def test_nobody_home_plans_follow_ups_then_cancels_after_three_attempts(live: LiveServer) -> None:
    household = create_household(live, members=1, benefit_amount=56000)
    outcomes = []
    for attempt in range(3):
        reason = "follow_up" if attempt else "scheduled"
        visit_id = submitted_visit(live, household, {"outcome": "nobody_home"}, reason=reason)
        accept_via_sync(live, visit_id)
        outcomes.append(proposal_of(live, household))
    assert [p["outcome"] for p in outcomes] == ["follow_up", "follow_up", "cancel"]
    assert [p["state"] for p in outcomes] == ["follow_up", "follow_up", "proposed"]
    assert outcomes[2]["needs_supervisor_confirmation"] is True
    assert "non_cooperation" in outcomes[2]["reasons"]
    assert "failed attempt 3 of 3" in outcomes[2]["explanation_en"]


def test_moved_away_proposes_cancel(live: LiveServer) -> None:
    household = create_household(live, members=2)
    visit_id = submitted_visit(live, household, {"outcome": "moved_away"})
    accept_via_sync(live, visit_id)
    proposal = proposal_of(live, household)
    assert proposal["outcome"] == "cancel"
    assert proposal["new_amount"] == 0
    assert proposal["reasons"] == ["moved_away"]


def test_missing_photo_blocks_the_proposal_until_it_arrives(live: LiveServer) -> None:
    photo = jpeg_bytes(seed=5)
    household = create_household(live, members=1)
    visit_id = submitted_visit(
        live, household, {"outcome": "moved_away"}, photo_hashes=[hashlib.sha256(photo).hexdigest()]
    )
    accept_via_sync(live, visit_id)
    with live.as_user("sup1") as c:
        assert ok(c.get("/decisions/proposals", params={"household_id": household["id"]})) == []
    skipped = generate(live)["skipped"]
    assert skipped == [{"visit_id": str(visit_id), "reason": "evidence missing: 1 photo(s) not yet received"}]
    # the photo arrives: the proposal is made then, without anyone running generate again
    with live.as_user("worker1", live.register_device("worker1", "tablet")) as c:
        created = tus_create(c, len(photo), upload_metadata(photo, visit_id), body=photo)
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Offset"] == str(len(photo))
    assert proposal_of(live, household)["outcome"] == "cancel"


def test_resolving_the_conflict_makes_the_proposal(live: LiveServer) -> None:
    household = create_household(live, members=1)
    visit_id = submitted_visit(live, household, {"outcome": "moved_away"})
    open_conflict(live, visit_id)
    accept_via_sync(live, visit_id)
    with live.as_user("sup1") as c:
        assert ok(c.get("/decisions/proposals", params={"household_id": household["id"]})) == []
        conflicts = ok(c.get("/reviews/conflicts", params={"visit_id": str(visit_id)}))
        ok(c.post(f"/reviews/conflicts/{conflicts[0]['id']}/resolve", json={"resolution": "keep"}))
    assert proposal_of(live, household)["outcome"] == "cancel"


def test_deductions_and_refused_job_referrals_from_the_capture(live: LiveServer) -> None:
    """Rural standard 560.00: medical costs of a seriously ill member are deducted; a member who
    refused three job referrals in a row loses their share (DOMAIN.md "Counting income")."""
    ill = create_household(live, members=2, benefit_amount=50000)
    ids = _members(live, ill)
    capture = {
        "outcome": "completed",
        "members": [
            {"member_id": ids[0], "no_income": True},
            {"member_id": ids[1], "present": True, "health": "seriously_ill", "no_income": True},
        ],
        "incomes": [{"id": str(uuid.uuid4()), "kind": "business", "monthly_amount": 100000}],
        "deductions": [
            {"id": str(uuid.uuid4()), "kind": "illness_cost", "monthly_amount": 40000, "member_id": ids[1]},
            {"id": str(uuid.uuid4()), "kind": "illness_cost", "monthly_amount": 9900, "member_id": ids[0]},
        ],
    }
    accept_via_sync(live, submitted_visit(live, ill, capture))
    proposal = proposal_of(live, ill)
    # counted 1,000.00 − allowed 400.00 (the healthy head's claim is refused) → 300.00 per capita
    assert proposal["per_capita_income"] == 30000
    assert proposal["new_amount"] == 52000
    assert "deduction_disallowed" in proposal["reasons"]

    refusing = create_household(live, members=2, benefit_amount=52000)
    ids = _members(live, refusing)
    capture = {
        "outcome": "completed",
        "members": [
            {"member_id": ids[0], "no_income": True},
            {"member_id": ids[1], "present": True, "job_referrals_refused": 3, "no_income": True},
        ],
        "incomes": [{"id": str(uuid.uuid4()), "kind": "business", "monthly_amount": 60000}],
    }
    accept_via_sync(live, submitted_visit(live, refusing, capture))
    proposal = proposal_of(live, refusing)
    assert proposal["per_capita_income"] == 30000
    assert proposal["new_amount"] == 26000  # one member's share of (560.00 − 300.00)
    assert "member_share_removed" in proposal["reasons"]


def test_only_a_completed_recheck_moves_the_households_last_recheck(live: LiveServer) -> None:
    household = create_household(live, members=1)
    accept_via_sync(live, submitted_visit(live, household, {"outcome": "nobody_home"}))
    with live.as_user("sup1") as c:
        assert ok(c.get(f"/households/{household['id']}")).get("last_recheck_on") is None
    accept_via_sync(live, submitted_visit(live, household, {"outcome": "completed"}, reason="follow_up"))
    with live.as_user("sup1") as c:
        # the capture's end time, or the day it was accepted when it has none (as here)
        assert ok(c.get(f"/households/{household['id']}")).get("last_recheck_on") == utcnow().date().isoformat()


def test_a_completed_capture_without_income_answers_is_never_read_as_no_income(live: LiveServer) -> None:
    """988.20 yuan a month registered, 692 paid: a capture silent on income must not make it
    counted 0 and 1,680 yuan; said explicitly ("no income" for every member), it does."""
    household = create_household(live, members=3, incomes=[("business", 98820)], benefit_amount=69200)
    ids = _members(live, household)
    silent = submitted_visit(live, household, {"outcome": "completed", "signature_missing": "cannot_write"})
    accept_via_sync(live, silent)
    with live.as_user("sup1") as c:
        assert ok(c.get("/decisions/proposals", params={"household_id": household["id"]})) == []
    skipped = generate(live)["skipped"]
    assert [s["visit_id"] for s in skipped] == [str(silent)]
    assert skipped[0]["reason"].startswith("capture incomplete: $.capture.members: member ")
    assert str(ids[0]) in skipped[0]["reason"]

    # one member answered, two not: still unknown
    partly = {"outcome": "completed", "members": [{"member_id": ids[0], "no_income": True}]}
    accept_via_sync(live, submitted_visit(live, household, partly, reason="follow_up"))
    with live.as_user("sup1") as c:
        assert ok(c.get("/decisions/proposals", params={"household_id": household["id"]})) == []

    none = {"outcome": "completed", "members": [{"member_id": m, "no_income": True} for m in ids]}
    accept_via_sync(live, submitted_visit(live, household, none, reason="follow_up"))
    proposal = proposal_of(live, household)
    assert proposal["per_capita_income"] == 0
    assert proposal["new_amount"] == 168000


def test_deposits_from_the_tablet_reach_the_property_limit(live: LiveServer) -> None:
    """Rural, 4 members: the limit is 24 × 560.00 × 4 = 53,760.00 yuan (a band "over 50k"
    compared at its lower bound never reached it)."""
    outcomes = {}
    for amount in (53_760_00, 53_760_01):
        household = create_household(live, members=4, benefit_amount=224000)
        capture = {
            "outcome": "completed",
            "members": [{"member_id": m, "no_income": True} for m in _members(live, household)],
            "assets": {"deposits": "over_50k", "deposits_amount": amount},
        }
        accept_via_sync(live, submitted_visit(live, household, capture))
        proposal = proposal_of(live, household)
        outcomes[amount] = (proposal["outcome"], "property_over_limit" in proposal["reasons"])
    assert outcomes == {53_760_00: ("keep", False), 53_760_01: ("cancel", True)}

    banded = create_household(live, members=1, benefit_amount=56000)
    only_band = {
        "outcome": "completed",
        "members": [{"member_id": m, "no_income": True} for m in _members(live, banded)],
        "assets": {"deposits": "10k_50k"},
    }
    visit_id = submitted_visit(live, banded, only_band)
    accept_via_sync(live, visit_id)
    skipped = {s["visit_id"]: s["reason"] for s in generate(live)["skipped"]}
    reason = skipped[str(visit_id)]
    assert reason.startswith("capture incomplete: $.capture.assets.deposits_amount: deposits given only")
