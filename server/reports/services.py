"""Reports per period and area: households and people on the allowance, decisions by outcome,
money rostered and paid, complaints received and resolved, rechecks done against the plan.

Every figure is one grouped query over the area subtree, so a county report is a handful of
queries whatever its size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Executable, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.decisions import ProposalState
from schemas.reports import ReportRead, ReportRow
from server.auth.identity import CurrentUser
from server.db.base import utcnow
from server.decisions.models import Proposal
from server.errors import InvalidInput, NotFound
from server.payments.models import RosterRow
from server.planning.models import Complaint, Visit
from server.planning.schedule import PeriodError, parse_period, periods_within
from server.registry.models import Area, Household, Member

__all__ = ["FIELDS", "build_report"]

#: The figures of a row, in display order (also the XLSX columns).
FIELDS = tuple(f for f in ReportRow.__struct_fields__ if f not in ("area_id", "area_code", "area_name"))


def _months(start: dt.date, end: dt.date) -> list[str]:
    out, day = [], start.replace(day=1)
    while day <= end:
        out.append(f"{day.year:04d}-{day.month:02d}")
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


async def _grouped(session: AsyncSession, query: Executable) -> Iterable[Any]:
    return (await session.execute(query)).all()


async def build_report(session: AsyncSession, user: CurrentUser, period: str, area_id: int | None = None) -> ReportRead:
    """The report for ``period`` over ``area_id``'s subtree (default: all of the user's areas)."""
    try:
        start, end = parse_period(period)
    except PeriodError as exc:
        raise InvalidInput.field("period", str(exc)) from None
    area_name = "all areas"
    scope = set(user.visible_area_ids)
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or not user.can_see_area(area_id):
            raise NotFound.field("area_id", "no such area in your areas")
        area_name = area.name
        scope &= set((await session.scalars(select(Area.id).where(Area.path.startswith(area.path)))).all())
    ids = sorted(scope)
    rows: dict[int, ReportRow] = {}

    def row(key: int) -> ReportRow:
        if key not in rows:
            rows[key] = ReportRow(area_id=key, area_code="", area_name="")
        return rows[key]

    since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    on_allowance = (Household.status == "active") & (Household.benefit_amount > 0) & Household.area_id.in_(ids)
    for key, households in await _grouped(
        session, select(Household.area_id, func.count()).where(on_allowance).group_by(Household.area_id)
    ):
        row(key).households = households
    for key, people in await _grouped(
        session,
        select(Household.area_id, func.count(Member.id))
        .join(Member, Member.household_id == Household.id)
        .where(on_allowance)
        .group_by(Household.area_id),
    ):
        row(key).people = people
    outcome = func.coalesce(Proposal.decided_outcome, Proposal.outcome)
    for key, name, count in await _grouped(
        session,
        select(Proposal.area_id, outcome, func.count())
        .where(
            Proposal.area_id.in_(ids),
            Proposal.state.in_([ProposalState.approved.value, ProposalState.effective.value]),
            Proposal.approved_at >= since,
            Proposal.approved_at < until,
        )
        .group_by(Proposal.area_id, outcome),
    ):
        if name in ("keep", "adjust", "cancel", "phase_out"):
            setattr(row(key), name, count)
    paid = case((RosterRow.status == "paid", RosterRow.amount), else_=0)
    failed = case((RosterRow.status == "failed", RosterRow.amount), else_=0)
    for key, rostered, paid_total, failed_total in await _grouped(
        session,
        select(RosterRow.area_id, func.sum(RosterRow.amount), func.sum(paid), func.sum(failed))
        .where(RosterRow.area_id.in_(ids), RosterRow.month.in_(_months(start, end)))
        .group_by(RosterRow.area_id),
    ):
        r = row(key)
        r.rostered, r.paid, r.failed = int(rostered or 0), int(paid_total or 0), int(failed_total or 0)
    for key, received in await _grouped(
        session,
        select(Complaint.area_id, func.count())
        .where(Complaint.area_id.in_(ids), Complaint.received_on.between(start, end))
        .group_by(Complaint.area_id),
    ):
        row(key).complaints_received = received
    for key, resolved in await _grouped(
        session,
        select(Complaint.area_id, func.count())
        .where(Complaint.area_id.in_(ids), Complaint.resolved_on.between(start, end))
        .group_by(Complaint.area_id),
    ):
        row(key).complaints_resolved = resolved
    done = func.sum(case((Visit.state == "accepted", 1), else_=0))
    # A plan's visit belongs to the plan's period, whatever its due date (an overdue household's
    # visit in the 2027Q1 plan is due in 2026); a visit outside any plan counts by its due date.
    in_plan = or_(
        Visit.period.in_(periods_within(start, end)), and_(Visit.period.is_(None), Visit.due_on.between(start, end))
    )
    for key, planned, accepted in await _grouped(
        session,
        select(Visit.area_id, func.count(), done)
        .where(Visit.area_id.in_(ids), in_plan, Visit.state != "cancelled")
        .group_by(Visit.area_id),
    ):
        r = row(key)
        r.rechecks_planned, r.rechecks_done = planned, int(accepted or 0)
    if rows:
        for a_id, a_code, a_name in (
            await session.execute(select(Area.id, Area.code, Area.name).where(Area.id.in_(rows)))
        ).all():
            rows[a_id].area_code, rows[a_id].area_name = a_code, a_name
    ordered = sorted(rows.values(), key=lambda r: r.area_code)
    totals = ReportRow(area_id=area_id, area_code="TOTAL", area_name=area_name)
    for r in ordered:
        for name in FIELDS:
            setattr(totals, name, getattr(totals, name) + getattr(r, name))
    return ReportRead(
        period=period.strip().upper(),
        starts_on=start,
        ends_on=end,
        area_id=area_id,
        area_name=area_name,
        generated_at=utcnow(),
        rows=ordered,
        totals=totals,
    )
