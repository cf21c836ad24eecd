"""Households, visits and supervisor actions written straight to the database for sync tests.

Writes go through the ORM in their own transactions, exactly like another area's service would,
so the change-capture hooks feed the devices.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.identity import Actor
from server.db.session import make_engine, make_session_factory
from server.planning.models import Visit
from server.planning.states import touch, transition
from server.registry.models import Household, IncomeItem, Member
from tests.support import make_id_number

T = TypeVar("T")
_serial = itertools.count(1)


def run_db(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction on ``url``."""

    async def main() -> T:
        engine = make_engine(url, null_pool=True)
        try:
            async with make_session_factory(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def add_household(session: AsyncSession, area_id: int, *, members: int = 2) -> Household:
    n = next(_serial)
    household = Household(
        id=uuid.uuid4(),
        code=f"HH-{uuid.uuid4().hex[:10]}",
        head_name=f"王{n}",
        head_id_number=make_id_number("520111", dt.date(1960, 1, 1) + dt.timedelta(days=n), n),
        address=f"村 {n} 号",
        area_id=area_id,
        residence="rural",
        category="general",
        benefit_amount=56000,
    )
    session.add(household)
    await session.flush()
    for i in range(members):
        born = dt.date(1960 + i * 20, 1, 1) + dt.timedelta(days=n)
        member = Member(
            id=uuid.uuid4(),
            household_id=household.id,
            name=household.head_name if i == 0 else f"李{n}-{i}",
            relation="head" if i == 0 else "child",
            id_number=household.head_id_number if i == 0 else make_id_number("520111", born, n * 10 + i),
            sex="male" if i % 2 == 0 else "female",
            birth_date=born,
        )
        session.add(member)
    await session.flush()
    session.add(IncomeItem(household_id=household.id, kind="wages", monthly_amount=60000))
    await session.flush()
    return household


async def add_visit(
    session: AsyncSession,
    household: Household,
    assigned_to: uuid.UUID | None,
    *,
    partner_id: uuid.UUID | None = None,
    state: str | None = None,
    visit_on: dt.date | None = None,
) -> Visit:
    visit = Visit(
        id=uuid.uuid4(),
        household_id=household.id,
        area_id=household.area_id,
        reason="scheduled",
        due_on=dt.date(2026, 12, 1) + dt.timedelta(days=next(_serial) % 200),
        state=state or ("assigned" if assigned_to else "planned"),
        assigned_to=assigned_to,
        partner_id=partner_id,
        visit_on=visit_on,
    )
    session.add(visit)
    await session.flush()
    return visit


def make_visits(url: str, area_id: int, worker: uuid.UUID, n: int = 1, **kw: Any) -> list[tuple[str, str]]:
    """``n`` households with a visit assigned to ``worker``; returns (visit id, household id) pairs."""

    async def work(session: AsyncSession) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            household = await add_household(session, area_id)
            visit = await add_visit(session, household, worker, **kw)
            out.append((str(visit.id), str(household.id)))
        return out

    return run_db(url, work)


def reassign(url: str, visit_id: str, to: uuid.UUID | None) -> None:
    async def work(session: AsyncSession) -> None:
        visit = await session.get(Visit, uuid.UUID(visit_id))
        assert visit is not None
        if visit.state in ("submitted", "accepted", "cancelled"):
            return  # planning refuses to reassign work that is done
        if to is None:
            visit.assigned_to = None
            transition(visit, "planned", Actor.system("test"), session)
        else:
            visit.assigned_to = to
            if visit.state not in ("assigned", "downloaded", "returned"):
                transition(visit, "assigned", Actor.system("test"), session)
            touch(visit)

    run_db(url, work)


def cancel(url: str, visit_id: str) -> None:
    async def work(session: AsyncSession) -> None:
        visit = await session.get(Visit, uuid.UUID(visit_id))
        assert visit is not None
        transition(visit, "cancelled", Actor.system("test"), session)

    run_db(url, work)


def edit_household(url: str, household_id: str, **changes: Any) -> None:
    async def work(session: AsyncSession) -> None:
        household = await session.get(Household, uuid.UUID(household_id))
        assert household is not None
        for name, value in changes.items():
            setattr(household, name, value)

    run_db(url, work)


def visit_state(url: str, visit_id: str) -> str:
    async def work(session: AsyncSession) -> str:
        visit = await session.get(Visit, uuid.UUID(visit_id))
        assert visit is not None
        return visit.state

    return run_db(url, work)
