"""Complaints (举报): intake, the urgent recheck each one causes, resolution, and the report.

Every complaint about a household creates an urgent recheck visit or joins one already open;
a complaint about a person not yet matched to a household gets its visit when it is matched.
A complaint is resolved only with a written resolution, once its recheck is no longer open.
The reporter's name and contact are shown to approvers only and never enter the audit trail.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.planning import (
    ComplaintChannel,
    ComplaintCreate,
    ComplaintRead,
    ComplaintReport,
    ComplaintReportRow,
    ComplaintResolve,
    ComplaintStatus,
    Priority,
    VisitReason,
    VisitState,
)
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.errors import Conflict, InvalidInput, NotFound
from server.planning.models import Complaint, Visit
from server.planning.states import OPEN, touch
from server.registry.models import Area, Household

__all__ = [
    "DEFAULT_DEADLINE_DAYS",
    "add_working_days",
    "complaint_read",
    "complaint_report",
    "create_complaint",
    "get_complaint",
    "list_complaints",
    "match_complaint",
    "resolve_complaint",
]

#: Working days to investigate and answer a complaint (DOMAIN.md), unless configured otherwise.
DEFAULT_DEADLINE_DAYS = 10

_OPEN_VISIT = sorted(s.value for s in OPEN)


def add_working_days(day: dt.date, days: int) -> dt.date:
    """``day`` plus ``days`` working days (Monday to Friday; public holidays are not known)."""
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def _sees_reporter(role: Role) -> bool:
    """DOMAIN.md: reporter identity is visible to approvers only."""
    return role == Role.approver


def _status(complaint: Complaint, today: dt.date) -> ComplaintStatus:
    if complaint.status == ComplaintStatus.resolved.value:
        return ComplaintStatus.resolved
    return ComplaintStatus.overdue if today > complaint.deadline_on else ComplaintStatus.open


def complaint_read(
    complaint: Complaint, role: Role, visit_state: str | None = None, today: dt.date | None = None
) -> ComplaintRead:
    today = today or utcnow().date()
    end = complaint.resolved_on or today
    show = _sees_reporter(role)
    return ComplaintRead(
        id=complaint.id,
        number=complaint.number,
        channel=ComplaintChannel(complaint.channel),
        summary=complaint.summary,
        area_id=complaint.area_id,
        status=_status(complaint, today),
        received_on=complaint.received_on,
        deadline_on=complaint.deadline_on,
        created_at=complaint.created_at,
        version=complaint.version,
        household_id=complaint.household_id,
        subject_name=complaint.subject_name,
        subject_id_number=complaint.subject_id_number,
        subject_address=complaint.subject_address,
        visit_id=complaint.visit_id,
        visit_state=VisitState(visit_state) if visit_state else None,
        anonymous=complaint.anonymous,
        staff_relative=complaint.staff_relative,
        reporter_name=complaint.reporter_name if show else None,
        reporter_contact=complaint.reporter_contact if show else None,
        resolution=complaint.resolution,
        substantiated=complaint.substantiated,
        resolved_on=complaint.resolved_on,
        resolved_by=complaint.resolved_by,
        days_open=max(0, (end - complaint.received_on).days),
    )


async def _household(session: AsyncSession, user: CurrentUser, household_id: uuid.UUID, path: str) -> Household:
    household = await session.get(Household, household_id)
    if household is None or not user.can_see_area(household.area_id):
        raise NotFound.field(path, "no such household in your areas")
    return household


async def _scheduled_on(session: AsyncSession, visit: Visit, day: dt.date) -> bool:
    """True if moving a scheduled ``visit`` to ``day`` would clash with another scheduled visit."""
    if visit.reason != VisitReason.scheduled.value:
        return False
    clash = await session.scalar(
        select(Visit.id).where(
            Visit.household_id == visit.household_id,
            Visit.reason == VisitReason.scheduled.value,
            Visit.due_on == day,
            Visit.id != visit.id,
        )
    )
    return clash is not None


async def _urgent_visit(
    session: AsyncSession, actor: Actor, household: Household, deadline: dt.date, number: str
) -> Visit:
    """The household's open visit made urgent, or a new urgent complaint visit."""
    visit = await session.scalar(
        select(Visit)
        .where(Visit.household_id == household.id, Visit.state.in_(_OPEN_VISIT))
        .order_by(Visit.priority.desc(), Visit.due_on)
        .limit(1)
    )
    if visit is not None:
        changes: dict[str, Any] = {"complaint": number}
        if visit.priority < Priority.urgent:
            changes["priority"] = [visit.priority, int(Priority.urgent)]
            visit.priority = int(Priority.urgent)
        if visit.due_on > deadline and not await _scheduled_on(session, visit, deadline):
            changes["due_on"] = [visit.due_on.isoformat(), deadline.isoformat()]
            visit.due_on = deadline
        touch(visit)
        record(session, actor, "attach_complaint", "visit", visit.id, changes)
        return visit
    visit = Visit(
        id=uuid.uuid4(),
        household_id=household.id,
        area_id=household.area_id,
        reason=VisitReason.complaint.value,
        due_on=deadline,
        priority=int(Priority.urgent),
        state=VisitState.planned.value,
        version=1,
    )
    session.add(visit)
    record(
        session,
        actor,
        "create",
        "visit",
        visit.id,
        {"reason": "complaint", "household_id": str(household.id), "complaint": number},
    )
    await session.flush()  # the complaint row refers to it
    return visit


async def create_complaint(
    session: AsyncSession, user: CurrentUser, actor: Actor, data: ComplaintCreate, deadline_days: int
) -> tuple[Complaint, str | None]:
    """Register a complaint and start its urgent recheck.

    Raises:
        InvalidInput: no subject (``$.subject``), an unmatched person without ``name`` or
            ``area_id``, or reporter details on an anonymous complaint (422 naming the field).
        NotFound: the household or area is not in the caller's areas.
    """
    subject = data.subject
    if subject is None or (subject.household_id is None and not (subject.name or "").strip()):
        raise InvalidInput.field(
            "$.subject", "a complaint needs a subject: a household_id, or the name and area_id of the person"
        )
    if data.anonymous and (data.reporter_name or data.reporter_contact):
        raise InvalidInput.field("$.reporter_contact", "an anonymous complaint keeps no reporter details")
    today = utcnow().date()
    received = data.received_on or today
    if received > today:
        raise InvalidInput.field("$.received_on", "cannot be in the future")
    household: Household | None = None
    if subject.household_id is not None:
        household = await _household(session, user, subject.household_id, "$.subject.household_id")
        area_id = household.area_id
    else:
        if subject.area_id is None:
            raise InvalidInput.field("$.subject.area_id", "needed when the person is not matched to a household")
        if await session.get(Area, subject.area_id) is None or not user.can_see_area(subject.area_id):
            raise NotFound.field("$.subject.area_id", "no such area in your areas")
        area_id = subject.area_id
    deadline = add_working_days(received, deadline_days)
    complaint = Complaint(
        id=uuid.uuid4(),
        number=f"TS{received:%Y%m%d}-{secrets.token_hex(3).upper()}",
        channel=data.channel.value,
        summary=data.summary,
        area_id=area_id,
        household_id=household.id if household else None,
        subject_name=subject.name or (household.head_name if household else None),
        subject_id_number=subject.id_number,
        subject_address=subject.address,
        reporter_name=data.reporter_name,
        reporter_contact=data.reporter_contact,
        anonymous=data.anonymous,
        staff_relative=data.staff_relative,
        received_on=received,
        deadline_on=deadline,
        status=ComplaintStatus.open.value,
        created_by=user.id,
        version=1,
    )
    visit_state: str | None = None
    if household is not None:
        visit = await _urgent_visit(session, actor, household, deadline, complaint.number)
        complaint.visit_id, visit_state = visit.id, visit.state
    session.add(complaint)
    await session.flush()
    record(
        session,
        actor,
        "create",
        "complaint",
        complaint.id,
        {
            "number": complaint.number,
            "channel": complaint.channel,
            "area_id": area_id,
            "household_id": str(household.id) if household else None,
            "visit_id": str(complaint.visit_id) if complaint.visit_id else None,
            "deadline_on": deadline.isoformat(),
        },
    )
    return complaint, visit_state


async def _complaint(session: AsyncSession, user: CurrentUser, complaint_id: uuid.UUID) -> Complaint:
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None or not user.can_see_area(complaint.area_id):
        raise NotFound.field("complaint_id", "no such complaint in your areas")
    return complaint


async def _visit_state(session: AsyncSession, visit_id: uuid.UUID | None) -> str | None:
    return None if visit_id is None else await session.scalar(select(Visit.state).where(Visit.id == visit_id))


async def get_complaint(session: AsyncSession, user: CurrentUser, complaint_id: uuid.UUID) -> ComplaintRead:
    complaint = await _complaint(session, user, complaint_id)
    return complaint_read(complaint, user.role, await _visit_state(session, complaint.visit_id))


async def match_complaint(
    session: AsyncSession, user: CurrentUser, actor: Actor, complaint_id: uuid.UUID, household_id: uuid.UUID
) -> ComplaintRead:
    """Attach a complaint about an unmatched person to their household, and start the recheck."""
    complaint = await _complaint(session, user, complaint_id)
    if complaint.household_id is not None:
        raise Conflict.field("$.household_id", "the complaint is already about a household")
    if complaint.status == ComplaintStatus.resolved.value:
        raise Conflict.field("$.household_id", "the complaint is resolved")
    household = await _household(session, user, household_id, "$.household_id")
    visit = await _urgent_visit(session, actor, household, complaint.deadline_on, complaint.number)
    complaint.household_id, complaint.area_id, complaint.visit_id = household.id, household.area_id, visit.id
    complaint.version += 1
    complaint.updated_at = utcnow()
    record(
        session,
        actor,
        "match",
        "complaint",
        complaint.id,
        {"household_id": str(household.id), "visit_id": str(visit.id)},
    )
    await session.flush()
    return complaint_read(complaint, user.role, visit.state)


async def resolve_complaint(
    session: AsyncSession, user: CurrentUser, actor: Actor, complaint_id: uuid.UUID, data: ComplaintResolve
) -> ComplaintRead:
    """Close a complaint with a written resolution, once its recheck is done (or cancelled).

    Raises:
        Conflict: already resolved, or the recheck visit is still open (409 naming the field).
    """
    complaint = await _complaint(session, user, complaint_id)
    if complaint.status == ComplaintStatus.resolved.value:
        raise Conflict.field("status", "the complaint is already resolved")
    state = await _visit_state(session, complaint.visit_id)
    if state in _OPEN_VISIT:
        raise Conflict.field(
            "visit_id", f"the recheck visit is still {state}: resolve the complaint once it is submitted"
        )
    complaint.status = ComplaintStatus.resolved.value
    complaint.resolution = data.resolution
    complaint.substantiated = data.substantiated
    complaint.resolved_on = utcnow().date()
    complaint.resolved_by = user.id
    complaint.version += 1
    complaint.updated_at = utcnow()
    record(
        session,
        actor,
        "resolve",
        "complaint",
        complaint.id,
        {"substantiated": data.substantiated, "resolution": data.resolution[:200]},
    )
    return complaint_read(complaint, user.role, state)


def _filtered(user: CurrentUser, status: ComplaintStatus | None, today: dt.date) -> Any:
    query = select(Complaint, Visit.state).outerjoin(Visit, Visit.id == Complaint.visit_id)
    query = query.where(Complaint.area_id.in_(user.visible_area_ids))
    if status == ComplaintStatus.resolved:
        query = query.where(Complaint.status == ComplaintStatus.resolved.value)
    elif status == ComplaintStatus.overdue:
        query = query.where(Complaint.status == ComplaintStatus.open.value, Complaint.deadline_on < today)
    elif status == ComplaintStatus.open:
        query = query.where(Complaint.status == ComplaintStatus.open.value)
    return query


async def list_complaints(
    session: AsyncSession,
    user: CurrentUser,
    *,
    status: ComplaintStatus | None = None,
    area_id: int | None = None,
    household_id: uuid.UUID | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[ComplaintRead]:
    """Complaints in the caller's areas, oldest first. ``status=open`` includes overdue ones."""
    today = utcnow().date()
    query = _filtered(user, status, today)
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or not user.can_see_area(area_id):
            raise NotFound.field("area_id", "no such area in your areas")
        below = select(Area.id).where(Area.path.startswith(area.path))
        query = query.where(Complaint.area_id.in_(below))
    if household_id is not None:
        query = query.where(Complaint.household_id == household_id)
    rows = (
        await session.execute(query.order_by(Complaint.received_on, Complaint.number).limit(limit).offset(offset))
    ).all()
    return [complaint_read(c, user.role, s, today) for c, s in rows]


async def complaint_report(
    session: AsyncSession,
    user: CurrentUser,
    *,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    deadline_days: int = DEFAULT_DEADLINE_DAYS,
) -> ComplaintReport:
    """Every complaint received in the window: open, overdue or resolved, per area and listed."""
    if received_from and received_to and received_from > received_to:
        raise InvalidInput.field("received_from", "must not be after received_to")
    today = utcnow().date()
    query = _filtered(user, None, today)
    if received_from:
        query = query.where(Complaint.received_on >= received_from)
    if received_to:
        query = query.where(Complaint.received_on <= received_to)
    rows = (await session.execute(query.order_by(Complaint.received_on, Complaint.number))).all()
    reads = [complaint_read(c, user.role, s, today) for c, s in rows]
    codes = dict((await session.execute(select(Area.id, Area.code))).all())
    per_area: dict[int, ComplaintReportRow] = {}
    for r in reads:
        row = per_area.setdefault(
            r.area_id,
            ComplaintReportRow(area_id=r.area_id, area_code=codes.get(r.area_id, ""), open=0, overdue=0, resolved=0),
        )
        if r.status == ComplaintStatus.resolved:
            row.resolved += 1
        elif r.status == ComplaintStatus.overdue:
            row.overdue += 1
        else:
            row.open += 1
    count = {s: sum(1 for r in reads if r.status == s) for s in ComplaintStatus}
    return ComplaintReport(
        as_of=today,
        received_from=received_from,
        received_to=received_to,
        deadline_days=deadline_days,
        total=len(reads),
        open=count[ComplaintStatus.open],
        overdue=count[ComplaintStatus.overdue],
        resolved=count[ComplaintStatus.resolved],
        areas=sorted(per_area.values(), key=lambda r: r.area_code),
        complaints=reads,
    )
