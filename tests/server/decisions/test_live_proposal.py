"""One live proposal per household (DOMAIN.md "Benefit and decision"), over real HTTP on both
engines: a newer proposal supersedes the open one, wherever it is in the workflow; approvals
take effect one a month per household; the database refuses a second approved decision for a
household and month, and the migration that adds that rule settles existing duplicates."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from server.db.base import utcnow
from server.db.migrate import alembic_config, downgrade, upgrade
from server.db.session import make_engine
from server.decisions.models import Proposal
from server.decisions.services import add_months
from server.planning.models import Visit
from tests.server.decisions.helpers import (
    accepted_visit,
    approve,
    create_household,
    first_of_next_month,
    generate,
    ok,
    proposal_of,
    to_notice,
)
from tests.support import LiveServer

#: Worked example 1 of DOMAIN.md without the pension line: 3 members, 780 yuan.
EXAMPLE_1 = [("business", 60000), ("support", 30000)]
MIGRATION = "0011_one_decision_a_month"


def _run(live: LiveServer, *statements: Any) -> None:
    async def go() -> None:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(statement)
        finally:
            await engine.dispose()

    asyncio.run(go())


def _proposal_row(live: LiveServer, proposal_id: str) -> Any:
    async def go() -> Any:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(select(Proposal).where(Proposal.id == uuid.UUID(proposal_id)))).one()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _recheck_done(live: LiveServer, household: dict[str, Any], visit_on: dt.date) -> None:
    """Another recheck of the household, accepted (as sync leaves it)."""
    now = utcnow()
    row = {
        "id": uuid.uuid4(),
        "household_id": uuid.UUID(household["id"]),
        "area_id": household["area_id"],
        "reason": "follow_up",
        "due_on": visit_on,
        "state": "accepted",
        "visit_on": visit_on,
        "priority": 1,
        "version": 3,
        "created_at": now,
        "updated_at": now,
    }
    _run(live, insert(Visit).values(**row))


def _proposals(live: LiveServer, household: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with live.as_user("sup1") as c:
        rows = ok(c.get("/decisions/proposals", params={"household_id": household["id"]}))
    return {r["id"]: r for r in rows}


def _trail(live: LiveServer, proposal_id: str) -> list[dict[str, Any]]:
    with live.as_user("auditor") as c:
        events: list[dict[str, Any]] = ok(c.get("/audit/", params={"entity": "proposal", "entity_id": proposal_id}))
    return events


def test_an_objections_urgent_recheck_supersedes_the_proposal_on_notice(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    first = proposal_of(live, household)
    notice = to_notice(live, [first["id"]])
    with live.as_user("sup1") as c:
        objection = ok(
            c.post(
                f"/decisions/proposals/{first['id']}/objections",
                json={"channel": "hotline", "summary": "该户子女有稳定收入", "reporter_name": "李四"},
            ),
            201,
        )
        complaint = ok(c.get(f"/complaints/{objection['complaint_id']}"))
    # the complaint's urgent recheck is done and accepted: its proposal replaces the held one
    _run(
        live,
        update(Visit)
        .where(Visit.id == uuid.UUID(complaint["visit_id"]))
        .values(state="accepted", visit_on=utcnow().date(), version=Visit.version + 2),
    )
    assert generate(live)["created"] == 1
    rows = _proposals(live, household)
    second = next(r for r in rows.values() if r["id"] != first["id"])
    old = rows[first["id"]]
    assert (old["state"], old["superseded_by"], old.get("notice_id")) == ("superseded", second["id"], None)
    assert "one live proposal per household" in old["superseded_reason"]
    assert "每户只保留一份在办意见" in old["superseded_reason"]
    assert second["state"] == "proposed"
    with live.as_user("sup1") as c:
        board = ok(c.get(f"/decisions/notices/{notice['id']}"))
        released = c.post(f"/decisions/proposals/{first['id']}/release", json={"resolution": "异议不成立"})
        reviewed = c.post(f"/decisions/proposals/{first['id']}/review", json={"action": "confirm"})
    assert board.get("entries", []) == [], "withdrawn from the notice"
    assert released.status_code == 409
    assert reviewed.status_code == 409
    with live.as_user("approver") as c:
        refused = c.post("/decisions/approvals", json={"proposal_ids": [first["id"]]})
    assert refused.status_code == 409, refused.text
    assert "this one is superseded" in refused.json()["errors"][0]["reason"]
    event = next(e for e in _trail(live, first["id"]) if e["action"] == "supersede")
    assert event["changes"]["state"] == ["held", "superseded"]
    assert event["changes"]["superseded_by"] == second["id"]
    assert event["changes"]["withdrawn_from_notice"] == notice["id"]
    assert event["changes"]["reason"] == old["superseded_reason"]
    assert event["actor_id"] == str(live.world.user_ids["sup1"])

    # the recheck's proposal goes through its own notice; it is the one decision that takes effect
    to_notice(live, [second["id"]])
    assert approve(live, [second["id"]])["effective_from"] == {first_of_next_month().strftime("%Y-%m"): 1}
    states = sorted(r["state"] for r in _proposals(live, household).values())
    assert states == ["approved", "superseded"]


def test_the_proposal_of_the_latest_visit_is_the_live_one(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1)
    today = utcnow().date()
    # two rechecks accepted together: the later visit's proposal is the live one
    _recheck_done(live, household, today - dt.timedelta(days=9))
    _recheck_done(live, household, today - dt.timedelta(days=3))
    assert generate(live)["created"] == 2
    rows = _proposals(live, household)
    live_ones = [r for r in rows.values() if r["state"] == "proposed"]
    assert len(live_ones) == 1
    (gone,) = [r for r in rows.values() if r["state"] == "superseded"]
    assert gone["superseded_by"] == live_ones[0]["id"]
    assert f"{(today - dt.timedelta(days=3)).isoformat()} recheck" in gone["superseded_reason"]
    # an older visit accepted late does not displace the proposal of a later one
    _recheck_done(live, household, today - dt.timedelta(days=20))
    assert generate(live)["created"] == 1
    rows = _proposals(live, household)
    assert [r["id"] for r in rows.values() if r["state"] == "proposed"] == [live_ones[0]["id"]]
    # a confirmed proposal is superseded as well
    with live.as_user("sup1") as c:
        ok(c.post(f"/decisions/proposals/{live_ones[0]['id']}/review", json={"action": "confirm"}))
    _recheck_done(live, household, today)
    generate(live)
    rows = _proposals(live, household)
    assert rows[live_ones[0]["id"]]["state"] == "superseded"
    assert sum(r["state"] == "proposed" for r in rows.values()) == 1


def test_a_household_gets_one_decision_a_month(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    first = proposal_of(live, household)
    to_notice(live, [first["id"]])
    approve(live, [first["id"]])
    # a later recheck is approved in the same month: it takes effect the month after
    _recheck_done(live, household, utcnow().date())
    generate(live)
    second = proposal_of(live, household)
    assert second["id"] != first["id"]
    to_notice(live, [second["id"]])
    following = add_months(first_of_next_month(), 1)
    assert approve(live, [second["id"]])["effective_from"] == {following.strftime("%Y-%m"): 1}
    rows = _proposals(live, household)
    assert rows[first["id"]]["effective_from"] == first_of_next_month().isoformat()
    assert rows[second["id"]]["effective_from"] == following.isoformat()

    # the database itself refuses a second approved decision for a household and month
    same_month = (
        update(Proposal).where(Proposal.id == uuid.UUID(second["id"])).values(effective_from=first_of_next_month())
    )
    with pytest.raises(IntegrityError):
        _run(live, same_month)
    assert _proposal_row(live, second["id"]).effective_from == following, "nothing was written"


def test_the_migration_settles_two_decisions_of_one_month(live: LiveServer) -> None:
    household = create_household(live, incomes=EXAMPLE_1, benefit_amount=70000)
    accepted_visit(live, household)
    generate(live)
    first = proposal_of(live, household)
    to_notice(live, [first["id"]])
    approve(live, [first["id"]])
    _recheck_done(live, household, utcnow().date())
    generate(live)
    second = proposal_of(live, household)
    url = live.settings.database_url
    approved_at = _proposal_row(live, first["id"]).approved_at + dt.timedelta(minutes=5)
    before = ScriptDirectory.from_config(alembic_config()).get_revision(MIGRATION).down_revision
    assert isinstance(before, str)
    downgrade(url, before)
    # the old bug: a second decision approved for the same month, later than the first
    _run(
        live,
        update(Proposal)
        .where(Proposal.id == uuid.UUID(second["id"]))
        .values(state="approved", effective_from=first_of_next_month(), approved_at=approved_at),
    )
    upgrade(url)
    rows = _proposals(live, household)
    assert rows[second["id"]]["state"] == "approved", "the later approval is the one the roster paid"
    assert rows[first["id"]]["state"] == "superseded"
    assert rows[first["id"]]["superseded_by"] == second["id"]
    event = next(e for e in _trail(live, first["id"]) if e["action"] == "supersede")
    assert event["actor_role"] == "migration"
    assert event["changes"]["state"] == ["approved", "superseded"]
