"""Helpers for decisions, payments and reports tests: households over HTTP, accepted visits in
the database (as sync would leave them), and walking a proposal through the workflow."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import insert, select, update

from server.db.base import utcnow
from server.db.session import make_engine
from server.planning.models import Visit
from tests.support import LiveServer, make_id_number

_serial = iter(range(1, 100_000))


def member(name: str, relation: str, born: dt.date = dt.date(1970, 5, 1)) -> dict[str, Any]:
    serial = next(_serial)
    return {
        "name": name,
        "relation": relation,
        "id_number": make_id_number("520111", born, serial),
        "sex": "female" if serial % 2 else "male",
        "birth_date": born.isoformat(),
    }


def create_household(
    live: LiveServer,
    area: str = "T1-b",
    *,
    members: int = 3,
    incomes: list[tuple[str, int]] | None = None,
    benefit_amount: int = 70000,
    category: str = "general",
    residence: str = "rural",
    user: str = "sup1",
    head: str = "王小明",
) -> dict[str, Any]:
    """Register a household over HTTP; incomes are (kind, fen) household-level lines."""
    body = {
        "area_id": live.world.area_ids[area],
        "residence": residence,
        "category": category,
        "address": f"{area} lane",
        "members": [member(head, "head")] + [member(f"王{i}", "child", dt.date(2000, 1, i)) for i in range(1, members)],
        "incomes": [{"kind": k, "monthly_amount": a} for k, a in (incomes or [])],
        "benefit_amount": benefit_amount,
        "bank_name": "农村信用社",
        "bank_account": f"62170000{next(_serial):08d}",
    }
    with live.as_user(user) as c:
        response = c.post("/households/", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _accept(url: str, rows: list[dict[str, Any]]) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(Visit), rows)
    finally:
        await engine.dispose()


def accepted_visit(live: LiveServer, household: dict[str, Any], visit_on: dt.date | None = None) -> uuid.UUID:
    """An accepted visit of ``household``, written to the database as sync leaves it."""
    visit_id = uuid.uuid4()
    now = utcnow()
    row = {
        "id": visit_id,
        "household_id": uuid.UUID(household["id"]),
        "area_id": household["area_id"],
        "reason": "scheduled",
        "due_on": now.date(),
        "state": "accepted",
        "visit_on": visit_on or now.date(),
        "priority": 0,
        "version": 3,
        "created_at": now,
        "updated_at": now,
    }
    asyncio.run(_accept(live.settings.database_url, [row]))
    return visit_id


async def _execute(url: str, statement: Any) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(statement)
    finally:
        await engine.dispose()


def bump_visit(live: LiveServer, visit_id: uuid.UUID) -> None:
    """A late capture: the visit's version moves on."""
    asyncio.run(
        _execute(
            live.settings.database_url, update(Visit).where(Visit.id == visit_id).values(version=Visit.version + 1)
        )
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def generate(live: LiveServer, user: str = "sup1", **body: Any) -> dict[str, Any]:
    with live.as_user(user) as c:
        result: dict[str, Any] = ok(c.post("/decisions/proposals:generate", json=body), 201)
    return result


def proposal_of(live: LiveServer, household: dict[str, Any], user: str = "sup1") -> dict[str, Any]:
    with live.as_user(user) as c:
        rows = ok(c.get("/decisions/proposals", params={"household_id": household["id"]}))
    assert len(rows) >= 1
    latest: dict[str, Any] = sorted(rows, key=lambda r: r["created_at"])[-1]
    return latest


def to_notice(live: LiveServer, proposal_ids: list[str], area: str = "T1-b", days_ago: int = 8) -> dict[str, Any]:
    """Confirm each proposal, record an agreed appraisal, and put them on a notice published
    today, then let ``days_ago`` days pass (see :func:`age_notice`; 8: a 7-day notice is over)."""
    today = utcnow().date()
    with live.as_user("sup1") as c:
        for pid in proposal_ids:
            ok(c.post(f"/decisions/proposals/{pid}/review", json={"action": "confirm"}))
            ok(
                c.post(
                    f"/decisions/proposals/{pid}/appraisals",
                    json={"held_on": today.isoformat(), "participants": ["村主任", "村民代表"], "result": "agreed"},
                ),
                201,
            )
        notice: dict[str, Any] = ok(
            c.post(
                "/decisions/notices",
                json={
                    "area_id": live.world.area_ids[area],
                    "proposal_ids": proposal_ids,
                    "starts_on": today.isoformat(),
                },
            ),
            201,
        )
    if days_ago:
        age_notice(live, notice["id"], days_ago)
    return notice


def age_notice(live: LiveServer, notice_id: str, days: int, *, created: bool = True) -> None:
    """Let ``days`` days pass for a notice: its dates (and, with ``created``, its creation
    time) move back, as if it had been published that long ago."""
    from server.decisions.models import PublicNotice

    shift = dt.timedelta(days=days)

    async def write() -> None:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.begin() as connection:
                key = PublicNotice.id == uuid.UUID(notice_id)
                row = (await connection.execute(select(PublicNotice.starts_on, PublicNotice.ends_on).where(key))).one()
                values: dict[str, Any] = {"starts_on": row.starts_on - shift, "ends_on": row.ends_on - shift}
                if created:
                    values["created_at"] = utcnow() - shift
                await connection.execute(update(PublicNotice).where(key).values(**values))
        finally:
            await engine.dispose()

    asyncio.run(write())


def effective_day_comes(live: LiveServer, proposal_id: str, day: dt.date | None = None) -> dt.date:
    """The approved proposal's effective day arrives: it is moved to ``day`` (default today),
    as if the month had turned (the server applies decisions only on or after their day)."""
    from server.decisions.models import Proposal

    day = day or utcnow().date()
    asyncio.run(
        _execute(
            live.settings.database_url,
            update(Proposal).where(Proposal.id == uuid.UUID(proposal_id)).values(effective_from=day),
        )
    )
    return day


def approve(live: LiveServer, proposal_ids: list[str], user: str = "approver") -> dict[str, Any]:
    with live.as_user(user) as c:
        result: dict[str, Any] = ok(c.post("/decisions/approvals", json={"proposal_ids": proposal_ids}))
    return result


def first_of_next_month(day: dt.date | None = None) -> dt.date:
    day = day or utcnow().date()
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def submitted_visit(
    live: LiveServer,
    household: dict[str, Any],
    capture: dict[str, Any],
    *,
    photo_hashes: list[str] | None = None,
    reason: str = "scheduled",
) -> uuid.UUID:
    """A submitted visit with its primary capture, as sync stores them after a push."""
    from server.sync.models import CaptureRecord

    visit_id = uuid.uuid4()
    now = utcnow()
    visit = {
        "id": visit_id,
        "household_id": uuid.UUID(household["id"]),
        "area_id": household["area_id"],
        "reason": reason,
        "due_on": now.date(),
        "state": "submitted",
        "visit_on": now.date(),
        "priority": 0,
        "version": 3,
        "assigned_to": live.world.user_ids["worker1"],
        "created_at": now,
        "updated_at": now,
    }
    record = {
        "id": uuid.uuid4(),
        "visit_id": visit_id,
        "household_id": uuid.UUID(household["id"]),
        "author_id": live.world.user_ids["worker1"],
        "role": "primary",
        "version": 2,
        "form": capture,
        "field_meta": {},
        "outcome": capture.get("outcome"),
        "submitted_at": now,
        "photo_hashes": photo_hashes or [],
        "clock_skew": False,
        "created_at": now,
        "updated_at": now,
    }

    async def write() -> None:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(Visit), [visit])
                await connection.execute(insert(CaptureRecord), [record])
        finally:
            await engine.dispose()

    asyncio.run(write())
    return visit_id


def accept_via_sync(live: LiveServer, visit_id: uuid.UUID, user: str = "sup1") -> None:
    """Accept the visit through sync's review endpoint (which asks decisions for a proposal)."""
    with live.as_user(user) as c:
        ok(c.post(f"/reviews/visits/{visit_id}/accept"))


def open_conflict(live: LiveServer, visit_id: uuid.UUID) -> None:
    """An unresolved conflict record of the visit, as sync's merge leaves it."""
    from server.sync.models import ConflictRecord

    row = {
        "kind": "field",
        "entity": "capture",
        "entity_id": uuid.uuid4(),
        "visit_id": visit_id,
        "field": "incomes",
        "kept": "device",
        "server_value": [],
        "device_value": [],
        "created_at": utcnow(),
    }
    asyncio.run(_execute(live.settings.database_url, insert(ConflictRecord).values(**row)))
