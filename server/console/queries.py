"""Read-only queries of the console's lists and counts, scoped exactly as the API scopes them
(the caller's areas and everything below; see ``CurrentUser.visible_area_ids``). Every write
goes through the planning and auth services."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.auth.identity import CurrentUser
from server.auth.models import User
from server.db.base import utcnow
from server.decisions.models import Proposal, PublicNotice
from server.planning.models import Visit
from server.planning.states import OPEN
from server.registry.models import Area, Household

__all__ = [
    "PAGE_SIZE",
    "SORTS",
    "Counts",
    "VisitFilter",
    "area_choices",
    "counts",
    "in_areas",
    "list_visits",
    "month_bounds",
]

PAGE_SIZE = 50
_OPEN = sorted(s.value for s in OPEN)

#: Sort keys of the due-visit list (a leading ``-`` sorts descending).
SORTS: dict[str, Any] = {
    "due_on": Visit.due_on,
    "area": Area.code,
    "category": Household.category,
    "head_name": Household.head_name,
    "priority": Visit.priority,
    "visit_on": Visit.visit_on,
}


#: Past this many areas, scope filters read the visit table in order rather than through the
#: (area, due) index: one index search per area then a random row read per visit cost 180 ms
#: for a county of 100,000 visits on SQLite, a plain scan 30 ms (bench/console).
_SCAN_AREAS = 40


def in_areas(column: Any, areas: Collection[int]) -> Any:
    """``column IN areas``, written so the planner scans rather than probes when areas are many."""
    values = list(areas)
    return (column + 0).in_(values) if len(values) > _SCAN_AREAS else column.in_(values)


def month_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


@dataclass(frozen=True)
class Counts:
    due_month: int
    overdue: int
    urgent: int
    assigned: int
    unassigned: int
    submitted: int
    on_notice: int
    awaiting_approval: int


async def counts(session: AsyncSession, user: CurrentUser, today: dt.date | None = None) -> Counts:
    """The dashboard's figures for the caller's areas."""
    today = today or utcnow().date()
    first, last = month_bounds(today)
    areas = list(user.visible_area_ids)
    is_open = Visit.state.in_(_OPEN)

    def n(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = (
        await session.execute(
            select(
                n(and_(is_open, Visit.due_on >= first, Visit.due_on <= last)),
                n(and_(is_open, Visit.due_on < today)),
                n(and_(is_open, Visit.reason == "complaint")),
                n(and_(is_open, Visit.assigned_to.is_not(None))),
                n(and_(is_open, Visit.assigned_to.is_(None))),
                n(Visit.state == "submitted"),
            ).where(in_areas(Visit.area_id, areas))
        )
    ).one()
    notices = (
        await session.execute(
            select(n(PublicNotice.ends_on >= today), n(PublicNotice.ends_on < today))
            .select_from(Proposal)
            .join(PublicNotice, PublicNotice.id == Proposal.notice_id)
            .where(in_areas(Proposal.area_id, areas), Proposal.state == "in_notice")
        )
    ).one()
    due_month, overdue, urgent, assigned, unassigned, submitted = (int(v) for v in row)
    return Counts(
        due_month=due_month,
        overdue=overdue,
        urgent=urgent,
        assigned=assigned,
        unassigned=unassigned,
        submitted=submitted,
        on_notice=int(notices[0]),
        awaiting_approval=int(notices[1]),
    )


@dataclass(frozen=True)
class VisitFilter:
    """The due-visit list's filters, as read from the query string (already validated)."""

    area_id: int | None = None
    category: str | None = None
    due: str | None = None  # overdue | month | upcoming
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    urgent: bool = False
    assigned: str | None = None  # yes | no
    state: str | None = None  # open (default) | submitted | any state name
    worker_id: uuid.UUID | None = None
    visit_on: dt.date | None = None
    proposal: str | None = None  # on_notice | awaiting_approval
    sort: str = "due_on"
    page: int = 1


async def _subtree(session: AsyncSession, user: CurrentUser, area_id: int | None) -> list[int]:
    if area_id is None or not user.can_see_area(area_id):
        return list(user.visible_area_ids)
    path = await session.scalar(select(Area.path).where(Area.id == area_id))
    ids = (await session.scalars(select(Area.id).where(Area.path.startswith(path or "/")))).all()
    return [a for a in ids if user.can_see_area(a)]


def _household_sort(sort: str) -> bool:
    return sort.lstrip("-") in ("category", "head_name")


async def list_visits(
    session: AsyncSession, user: CurrentUser, f: VisitFilter, today: dt.date | None = None, limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], int]:
    """One page of visits in the caller's areas matching ``f``, and how many match in all.

    Filtered, counted and paged on the visit table alone (joining households only when a
    filter or the sort needs them), then the page's fifty rows are read with their household,
    area and pair: on 100,000 visits the join is done for a page, not for the county.
    """
    today = today or utcnow().date()
    ids = select(Visit.id).where(in_areas(Visit.area_id, await _subtree(session, user, f.area_id)))
    if f.category or _household_sort(f.sort):
        ids = ids.join(Household, Household.id == Visit.household_id)
    if f.sort.lstrip("-") == "area":
        ids = ids.join(Area, Area.id == Visit.area_id)
    if f.state in (None, "", "open"):
        ids = ids.where(Visit.state.in_(_OPEN))
    elif f.state != "any":
        ids = ids.where(Visit.state == f.state)
    if f.category:
        ids = ids.where(Household.category == f.category)
    if f.due == "overdue":
        ids = ids.where(Visit.due_on < today)
    elif f.due == "month":
        first, last = month_bounds(today)
        ids = ids.where(Visit.due_on >= first, Visit.due_on <= last)
    elif f.due == "upcoming":
        ids = ids.where(Visit.due_on >= today, Visit.due_on <= today + dt.timedelta(days=30))
    if f.due_from:
        ids = ids.where(Visit.due_on >= f.due_from)
    if f.due_to:
        ids = ids.where(Visit.due_on <= f.due_to)
    if f.urgent:
        ids = ids.where(Visit.reason == "complaint")
    if f.assigned == "yes":
        ids = ids.where(Visit.assigned_to.is_not(None))
    elif f.assigned == "no":
        ids = ids.where(Visit.assigned_to.is_(None))
    if f.worker_id:
        ids = ids.where(Visit.assigned_to == f.worker_id)
    if f.visit_on:
        ids = ids.where(Visit.visit_on == f.visit_on)
    if f.proposal in ("on_notice", "awaiting_approval"):
        ended = PublicNotice.ends_on < today if f.proposal == "awaiting_approval" else PublicNotice.ends_on >= today
        ids = ids.where(
            Visit.id.in_(
                select(Proposal.visit_id)
                .join(PublicNotice, PublicNotice.id == Proposal.notice_id)
                .where(Proposal.state == "in_notice", ended)
            )
        )
    total = int(await session.scalar(select(func.count()).select_from(ids.subquery())) or 0)
    column = SORTS.get(f.sort.lstrip("-"), Visit.due_on)
    order = column.desc() if f.sort.startswith("-") else column.asc()
    page = (
        await session.scalars(ids.order_by(order, Visit.id).offset((max(f.page, 1) - 1) * limit).limit(limit))
    ).all()
    if not page:
        return [], total
    lead, partner = aliased(User), aliased(User)
    query = (
        select(
            Visit.id,
            Visit.due_on,
            Visit.reason,
            Visit.state,
            Visit.priority,
            Visit.version,
            Visit.visit_on,
            Visit.assigned_to,
            Visit.partner_id,
            Visit.area_id,
            Household.code,
            Household.head_name,
            Household.address,
            Household.category,
            Household.lat,
            Household.lon,
            Household.last_recheck_on,
            Area.name.label("area_name"),
            lead.display_name.label("lead_name"),
            partner.display_name.label("partner_name"),
        )
        .join(Household, Household.id == Visit.household_id)
        .join(Area, Area.id == Visit.area_id)
        .outerjoin(lead, lead.id == Visit.assigned_to)
        .outerjoin(partner, partner.id == Visit.partner_id)
        .where(Visit.id.in_(page))
    )
    rows = {r.id: r for r in (await session.execute(query)).all()}
    return [
        dict(rows[v]._mapping) | {"overdue": rows[v].due_on < today and rows[v].state in _OPEN}
        for v in page
        if v in rows
    ], total


async def area_choices(session: AsyncSession, user: CurrentUser) -> list[tuple[int, str, str]]:
    """(id, code, name) of the caller's areas, in tree order."""
    rows = await session.execute(
        select(Area.id, Area.code, Area.name, Area.path).where(Area.id.in_(list(user.visible_area_ids)))
    )
    return [(a, c, n) for a, c, n, _ in sorted(rows.all(), key=lambda r: r[3])]
