"""A phase-out (DOMAIN.md "Benefit and decision": the current amount continues up to 6 months,
then cancel) across later rechecks, over real HTTP on both engines: a second phase-out
continues the first one's months, and the end of a phase-out never overrides a later decision."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import update

from server.db.base import utcnow
from server.db.session import make_engine
from server.decisions.models import Proposal
from server.decisions.services import add_months
from tests.server.decisions.helpers import (
    accept_via_sync,
    approve,
    create_household,
    ok,
    proposal_of,
    submitted_visit,
    to_notice,
)
from tests.support import LiveServer

#: Rural standard 560.00, 2 members, farming 100.00: 900 yuan paid until a member finds work.
CURRENT = 90000


def _move(live: LiveServer, proposal_id: str, **values: Any) -> None:
    """Rewrite an approved proposal's dates, as if it had been approved that long ago."""

    async def write() -> None:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.begin() as connection:
                await connection.execute(update(Proposal).where(Proposal.id == uuid.UUID(proposal_id)).values(**values))
        finally:
            await engine.dispose()

    asyncio.run(write())


def _member_ids(live: LiveServer, household: dict[str, Any]) -> list[str]:
    with live.as_user("sup1") as c:
        return [m["id"] for m in ok(c.get(f"/households/{household['id']}"))["members"]]


def _recheck(live: LiveServer, household: dict[str, Any], *, working: bool) -> dict[str, Any]:
    """A completed recheck, accepted: the second member earns wages 1,250.00 (a new job, so the
    household is over the standard because of it) or 50.00 of odd jobs (below the standard)."""
    head, other = _member_ids(live, household)
    capture = {
        "outcome": "completed",
        "members": [{"member_id": other, "present": True, "employment": "employed" if working else "unemployed"}],
        "incomes": [
            {"id": str(uuid.uuid4()), "kind": "business", "monthly_amount": 10000, "member_id": head},
            {
                "id": str(uuid.uuid4()),
                "kind": "wages" if working else "other",
                "monthly_amount": 125000 if working else 5000,
                "member_id": other,
            },
        ],
    }
    # several rechecks on one day: only one of them can be the scheduled one
    accept_via_sync(live, submitted_visit(live, household, capture, reason="follow_up"))
    return proposal_of(live, household)


def _decide(live: LiveServer, proposal: dict[str, Any]) -> dict[str, Any]:
    """Review, appraisal, a notice that has run its 7 days, approval: the proposal as approved."""
    to_notice(live, [proposal["id"]])
    approve(live, [proposal["id"]])
    with live.as_user("approver") as c:
        approved: dict[str, Any] = ok(c.get(f"/decisions/proposals/{proposal['id']}"))
    assert approved["state"] == "approved", approved
    return approved


def _apply(live: LiveServer, household: dict[str, Any]) -> dict[str, Any]:
    """Take due decisions into effect today; the household as the registry has it then."""
    with live.as_user("approver") as c:
        ok(c.post("/decisions/effective:apply", json={}))
        after: dict[str, Any] = ok(c.get(f"/households/{household['id']}"))
    return after


def _paid(live: LiveServer, household: dict[str, Any], month: dt.date, closed: set[dt.date]) -> int:
    """What the household's roster row pays for ``month`` (0 without a row)."""
    key = month.strftime("%Y-%m")
    with live.as_user("approver") as c:
        if month not in closed:
            ok(c.post(f"/payments/months/{key}/build"))
        rows = ok(c.get(f"/payments/months/{key}/rows", params={"limit": 5000}))
    return sum(r["amount"] for r in rows if r["household_code"] == household["code"])


def test_a_second_phase_out_continues_the_first_and_pays_six_months_in_all(live: LiveServer) -> None:
    household = create_household(live, members=2, incomes=[("business", 10000)], benefit_amount=CURRENT)
    this_month = utcnow().date().replace(day=1)
    first = _recheck(live, household, working=True)
    assert (first["outcome"], first["phase_out_months"]) == ("phase_out", 6)
    _decide(live, first)
    # The phase-out began two months ago and runs to the end of its sixth month.
    began = add_months(this_month, -2)
    _move(live, first["id"], effective_from=began, phase_out_until=add_months(began, 6) - dt.timedelta(days=1))
    assert _apply(live, household)["benefit_amount"] == CURRENT

    # A recheck now: its decision takes effect next month at the earliest, and the first
    # phase-out pays until then, so 3 of the 6 months are paid by then (not 2, as at the visit).
    second = _recheck(live, household, working=True)
    assert second["outcome"] == "phase_out"
    assert second["inputs"]["phase_out_months_paid"] == 3
    assert second["phase_out_months"] == 3
    assert "up to 3 more month(s)" in second["explanation_en"]

    # Next month's roster is closed before the approval, so the decision takes effect a month
    # later still: approval counts the months again to that day.
    next_month = add_months(this_month, 1)
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{next_month.strftime('%Y-%m')}/close"))
    approved = _decide(live, second)
    assert approved["effective_from"] == add_months(this_month, 2).isoformat()
    assert approved["phase_out_months"] == 2
    assert approved["phase_out_until"] == (add_months(began, 6) - dt.timedelta(days=1)).isoformat()
    with live.as_user("auditor") as c:
        trail = ok(c.get("/audit/", params={"entity": "proposal", "entity_id": second["id"]}))
    approval = next(e for e in trail if e["action"] == "approve")
    assert approval["changes"]["phase_out_months"] == [3, 2]

    paid = [_paid(live, household, add_months(began, m), {next_month}) for m in range(9)]
    assert paid == [CURRENT] * 6 + [0, 0, 0], "six months of phase-out in all, then nothing"


def test_the_end_of_a_phase_out_leaves_a_later_decision_in_force(live: LiveServer) -> None:
    household = create_household(live, members=2, incomes=[("business", 10000)], benefit_amount=CURRENT)
    today = utcnow().date()
    this_month = today.replace(day=1)
    first = _recheck(live, household, working=True)
    _decide(live, first)
    # The phase-out began six months ago; its last day was the end of last month.
    last_day = this_month - dt.timedelta(days=1)
    _move(live, first["id"], effective_from=add_months(this_month, -6), phase_out_until=last_day)
    # Meanwhile the job ended: a recheck adjusted the amount, effective last month.
    later = _recheck(live, household, working=False)
    assert later["outcome"] == "adjust"
    adjusted = 56000 * 2 - 15000
    assert later["new_amount"] == adjusted
    _decide(live, later)
    _move(live, later["id"], effective_from=add_months(this_month, -1))

    after = _apply(live, household)
    assert (after["status"], after["benefit_amount"]) == ("active", adjusted), "the adjustment replaced the phase-out"
    assert _paid(live, household, this_month, set()) == adjusted, "registry and roster agree"
    assert _apply(live, household)["benefit_amount"] == adjusted, "applying again changes nothing"


def test_a_phase_out_in_force_ends_in_a_cancellation(live: LiveServer) -> None:
    household = create_household(live, members=2, incomes=[("business", 10000)], benefit_amount=CURRENT)
    today = utcnow().date()
    first = _recheck(live, household, working=True)
    _decide(live, first)
    _move(
        live,
        first["id"],
        effective_from=add_months(today.replace(day=1), -6),
        phase_out_until=today.replace(day=1) - dt.timedelta(days=1),
    )
    after = _apply(live, household)
    assert (after["status"], after["benefit_amount"]) == ("cancelled", 0)
    assert _paid(live, household, today.replace(day=1), set()) == 0
