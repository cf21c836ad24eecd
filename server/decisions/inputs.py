"""Everything decisions read from other areas (sync, planning, media), in one place.

The policy engine needs a :class:`~schemas.decisions.HouseholdSituation`; it is built here from
the visit's stored capture (when sync has stored one), the registry (household, members,
incomes) and the household's earlier proposals (failed attempts, running phase-out). Each
input's version is recorded so a later change is noticed (:func:`input_versions`).

All loaders are batch-first (``visit_ids`` in, dict out) so generating 100,000 proposals is a
few dozen queries, not 100,000.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import ARRAY, Uuid, any_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from schemas.capture import Assets, Capture, DepositsBand, EmploymentStatus, MemberAdd, MemberRemove
from schemas.capture import Outcome as CaptureOutcome
from schemas.decisions import (
    Deduction,
    HouseholdSituation,
    IncomeLine,
    MemberSituation,
    PropertySituation,
    ProposalOutcome,
    ProposalState,
    VisitOutcome,
)
from schemas.errors import FieldError
from schemas.media import PhotoStatus
from schemas.planning import ComplaintChannel, ComplaintCreate, ComplaintSubject
from schemas.registry import Category, Health, IncomeKind, LabourCapacity, Residence
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import core_table, utcnow
from server.decisions.bulk import fast_insert, paused_gc
from server.decisions.models import Proposal
from server.decisions.policy import SituationError
from server.media.models import Photo
from server.planning.complaints import create_complaint
from server.planning.models import Complaint, Visit
from server.registry.models import Household, MemberChange
from server.sync.models import CaptureRecord, ConflictRecord

__all__ = [
    "BATCH",
    "CaptureIncomplete",
    "RawBatch",
    "StoredCapture",
    "VisitInputs",
    "build_inputs",
    "ids_in",
    "load_inputs",
    "load_raw",
    "missing_evidence",
    "months_between",
    "next_month",
    "open_complaint",
    "open_complaints",
    "phase_out_start",
    "return_visit",
    "schedule_follow_ups",
    "situation_from_capture",
    "unresolved_conflicts",
]

#: Rows per batch of the bulk loaders (well below SQLite's and asyncpg's parameter limits).
BATCH = 4000

_WORKING = frozenset({EmploymentStatus.employed, EmploymentStatus.self_employed})
_WORKING_VALUES = frozenset(e.value for e in _WORKING)
_HEALTH = {h.value: h for h in Health}
_LABOUR = {c.value: c for c in LabourCapacity}
_KIND = {k.value: k for k in IncomeKind}
_LEFT_BY_DEATH = frozenset({"death"})
_DECIDED = frozenset({ProposalState.approved.value, ProposalState.effective.value})


class CaptureIncomplete(SituationError):
    """A completed capture lacks what the decision is computed from (a member's income answer, the
    deposits amount), so the situation is unknown, never zero: no proposal until it is given."""

    code = "capture_incomplete"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.message = "capture incomplete: " + "; ".join(f"{e.path}: {e.reason}" for e in errors)
        self.args = (self.message,)


@dataclass(frozen=True, slots=True)
class StoredCapture:
    """The latest merged capture of a visit and its version (as sync stores it)."""

    version: int
    capture: Capture


@dataclass(frozen=True, slots=True)
class VisitInputs:
    """The engine's input for one visit, the date whose rules apply, and input versions."""

    visit_id: uuid.UUID
    household_id: uuid.UUID
    area_id: int
    on: dt.date
    situation: HouseholdSituation
    versions: dict[str, Any]


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ids_in(dialect: str, column: Any, ids: Iterable[uuid.UUID]) -> Any:
    """``column IN ids`` with the ids in one bound parameter (a JSON array on SQLite, an array
    on PostgreSQL): a plain ``IN`` of thousands of values costs SQLAlchemy more to compile than
    the query takes to run."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid())))
    values = func.json_each(msgspec.json.encode([i.hex for i in ids]).decode()).table_valued("value")
    return column.in_(select(values.c.value))


# ---------------------------------------------------------------- other areas' state


async def load_captures(session: AsyncSession, visit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredCapture]:
    """The latest merged primary capture per visit (sync's store). Visits without one are absent."""
    captures: dict[uuid.UUID, StoredCapture] = {}
    for chunk in _chunks(list(visit_ids)):
        connection = await session.connection()
        rows = await connection.execute(
            select(CaptureRecord.visit_id, CaptureRecord.version, CaptureRecord.form).where(
                ids_in(connection.dialect.name, CaptureRecord.visit_id, chunk), CaptureRecord.role == "primary"
            )
        )
        for visit_id, version, form in rows:
            captures[visit_id] = StoredCapture(version=version, capture=msgspec.convert(form or {}, Capture))
    return captures


async def unresolved_conflicts(session: AsyncSession, visit_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The visits with a conflict record nobody has resolved yet (sync's conflict records)."""
    found: set[uuid.UUID] = set()
    for chunk in _chunks(list(visit_ids)):
        connection = await session.connection()
        rows = await connection.scalars(
            select(ConflictRecord.visit_id)
            .where(
                ids_in(connection.dialect.name, ConflictRecord.visit_id, chunk), ConflictRecord.resolved_at.is_(None)
            )
            .distinct()
        )
        found.update(v for v in rows.all() if v is not None)
    return found


async def missing_evidence(session: AsyncSession, visit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Per visit, the referenced photo hashes not yet stored and verified (media's evidence
    status, as :func:`server.media.services.evidence_status` gives it for one visit)."""
    missing: dict[uuid.UUID, list[str]] = {}
    for chunk in _chunks(list(visit_ids)):
        wanted: defaultdict[uuid.UUID, set[str]] = defaultdict(set)
        connection = await session.connection()
        for visit_id, hashes in await connection.execute(
            select(CaptureRecord.visit_id, CaptureRecord.photo_hashes).where(
                ids_in(connection.dialect.name, CaptureRecord.visit_id, chunk), CaptureRecord.role == "primary"
            )
        ):
            wanted[visit_id].update(hashes or [])
        stored: defaultdict[uuid.UUID, set[str]] = defaultdict(set)
        for visit_id, sha256, status in await connection.execute(
            select(Photo.visit_id, Photo.sha256, Photo.status).where(
                ids_in(connection.dialect.name, Photo.visit_id, chunk)
            )
        ):
            if status == PhotoStatus.stored.value:
                stored[visit_id].add(sha256)
            else:
                wanted[visit_id].add(sha256)
        for visit_id, hashes in wanted.items():
            if lacking := sorted(hashes - stored[visit_id]):
                missing[visit_id] = lacking
    return missing


async def open_complaint(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    *,
    household: Household,
    channel: str,
    summary: str,
    received_on: dt.date,
    reporter_name: str | None,
    reporter_contact: str | None,
    anonymous: bool,
    deadline_days: int,
) -> uuid.UUID:
    """Register a notice objection as a complaint in planning's register (which also makes the
    household's recheck urgent); the complaint's id."""
    complaint, _visit_state = await create_complaint(
        session,
        user,
        actor,
        ComplaintCreate(
            channel=ComplaintChannel(channel),
            summary=summary[:2000],
            subject=ComplaintSubject(household_id=household.id),
            received_on=received_on,
            reporter_name=None if anonymous else reporter_name,
            reporter_contact=None if anonymous else reporter_contact,
            anonymous=anonymous,
        ),
        deadline_days,
    )
    return complaint.id


async def open_complaints(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The complaints among ``complaint_ids`` that are not resolved yet, with their numbers."""
    if not complaint_ids:
        return {}
    rows = await session.execute(
        select(Complaint.id, Complaint.number).where(
            Complaint.id.in_(list(complaint_ids)), Complaint.status != "resolved"
        )
    )
    return {complaint_id: number for complaint_id, number in rows.all()}


async def schedule_follow_ups(
    session: AsyncSession, actor: Actor, visits: Sequence[tuple[uuid.UUID, uuid.UUID, int]], today: dt.date
) -> int:
    """Plan a follow-up visit (reason ``follow_up``, due in a week) per (visit, household, area)."""
    if not visits:
        return 0
    due = today + dt.timedelta(days=7)
    rows = [
        {
            "id": uuid.uuid4(),
            "household_id": household_id,
            "area_id": area_id,
            "reason": "follow_up",
            "due_on": due,
            "priority": 1,
            "state": "planned",
            "version": 1,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        for _visit_id, household_id, area_id in visits
    ]
    await fast_insert(await session.connection(), core_table(Visit), rows)
    for row, (visit_id, _h, _a) in zip(rows, visits, strict=True):
        record(session, actor, "create", "visit", row["id"], {"reason": "follow_up", "after_visit": str(visit_id)})
    return len(rows)


async def return_visit(session: AsyncSession, actor: Actor, visit: Visit, reason: str, today: dt.date) -> uuid.UUID:
    """The supervisor wants another look: an accepted visit is final, so a new visit is planned."""
    new_id = uuid.uuid4()
    session.add(
        Visit(
            id=new_id,
            household_id=visit.household_id,
            area_id=visit.area_id,
            reason="follow_up",
            due_on=today + dt.timedelta(days=7),
            priority=1,
            state="planned",
            return_comment=reason[:500],
        )
    )
    record(
        session,
        actor,
        "create",
        "visit",
        new_id,
        {"reason": "follow_up", "after_visit": str(visit.id), "comment": reason[:500]},
    )
    return new_id


# ---------------------------------------------------------------- the situation


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole calendar months from ``start``'s month to ``end``'s (0 if ``end`` is not later)."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def phase_out_start(rows: Iterable[Any]) -> dt.date | None:
    """The first month of the household's running phase-out, from its decisions (rows with
    ``state``, ``decided_outcome``, ``effective_from``): the start of the unbroken run of
    phase-out decisions at the end of its approved history, so a second phase-out continues the
    first one's months instead of starting them again; ``None`` when none is running."""
    decided = sorted(
        (r for r in rows if r.state in _DECIDED and r.effective_from is not None),
        key=lambda r: r.effective_from,
        reverse=True,
    )
    start = None
    for row in decided:
        if row.decided_outcome != ProposalOutcome.phase_out:
            break
        start = row.effective_from
    return start


def _history(rows: Sequence[Any], effective: dt.date) -> tuple[int, int]:
    """(consecutive failed attempts before now, months of the running phase-out paid by the time
    a decision made now takes effect on ``effective`` — not merely by the visit day: the
    phase-out amount goes on being paid until the new decision replaces it)."""
    failed = 0
    for row in sorted(rows, key=lambda r: r.created_at, reverse=True):
        if row.outcome != ProposalOutcome.follow_up:
            break
        failed += 1
    start = phase_out_start(rows)
    paid = months_between(start, effective) if start else 0
    return failed, paid


def _check_income_stated(capture: Capture, members: Sequence[MemberSituation]) -> None:
    """Every member still in the household has an income answer in the completed capture.

    Raises:
        CaptureIncomplete: a member without one (an absent income list is unknown income, not
            zero: read as zero it pays the full standard).
    """
    answered = {s.member_id for s in capture.members if s.no_income} | {i.member_id for i in capture.incomes}
    missing = [
        FieldError(path="$.capture.members", reason=f"member {m.id}: neither an income item nor no_income")
        for m in members
        if not (m.deceased or m.moved_out) and m.id not in answered
    ]
    if missing:
        raise CaptureIncomplete(missing)


def _deposits(assets: Assets, completed: bool) -> int | None:
    """The household's deposits in fen as the property limit judges them, ``None`` if not known.

    Raises:
        CaptureIncomplete: a completed capture gives only a band (other than ``none``): judged
            at its lower bound, "over 50k" would never be over a 53,760 limit.
    """
    if assets.deposits_amount is not None:
        return assets.deposits_amount
    if assets.deposits is None:
        return None
    if assets.deposits is DepositsBand.none:
        return 0
    if completed:
        reason = f"deposits given only as the band {assets.deposits.value}: the property limit needs the amount"
        raise CaptureIncomplete([FieldError(path="$.capture.assets.deposits_amount", reason=reason)])
    return None


def situation_from_capture(
    capture: Capture | None,
    household: Any,
    members: Sequence[Any],
    incomes: Sequence[Any],
    *,
    failed_attempts: int = 0,
    phase_out_months_paid: int = 0,
    departed: dict[uuid.UUID, str] | None = None,
) -> HouseholdSituation:
    """The engine's input from the capture (when there is one) and the registry.

    Members come from the registry plus those the capture adds; a capture's removals mark
    members ``deceased`` (reason ``death``) or ``moved_out`` (any other reason). Health,
    disability, labour capacity come from the capture's member statuses when given; a member
    counts as ``newly_employed`` when the capture says employed or self-employed and the
    registry did not. A completed capture's income list replaces the registry's, and it must
    say for every member still in the household whether they have income (else
    :class:`CaptureIncomplete`: a missing answer is never read as no income). Deposits are the
    capture's amount in fen, compared with the limit by the policy (a completed capture with
    only a band is :class:`CaptureIncomplete`); vehicles, extra or commercial housing and a business
    are property flags.

    ``departed``: the members this visit's acceptance already removed from the registry (member
    id → reason); they still count as having left, so their income is set aside.
    """
    statuses = {s.member_id: s for s in capture.members} if capture else {}
    removed: dict[uuid.UUID, str] = {}
    added: list[MemberAdd] = []
    if capture:
        for change in capture.member_changes:
            if isinstance(change, MemberRemove):
                removed[change.member_id] = change.reason.value
            elif isinstance(change, MemberAdd):
                added.append(change)
    situation_members: list[MemberSituation] = []
    for m in members:
        status = statuses.get(m.id)
        registered_work = (m.employment or "") in _WORKING_VALUES
        situation_members.append(
            MemberSituation(
                id=m.id,
                health=status.health if status else _HEALTH[m.health],
                disability_grade=status.disability_grade if status else m.disability_grade,
                labour_capacity=status.labour_capacity if status else _LABOUR[m.labour_capacity],
                newly_employed=bool(status and status.employment in _WORKING and not registered_work),
                job_referrals_refused=status.job_referrals_refused if status else 0,
                deceased=bool(removed) and removed.get(m.id) in _LEFT_BY_DEATH,
                moved_out=bool(removed) and m.id in removed and removed[m.id] not in _LEFT_BY_DEATH,
            )
        )
    registered = {m.id for m in members}
    for member_id, why in (departed or {}).items():
        if member_id in registered:
            continue
        status = statuses.get(member_id)
        situation_members.append(
            MemberSituation(
                id=member_id,
                health=status.health if status else Health.healthy,
                disability_grade=status.disability_grade if status else None,
                labour_capacity=status.labour_capacity if status else LabourCapacity.full,
                deceased=why in _LEFT_BY_DEATH,
                moved_out=why not in _LEFT_BY_DEATH,
            )
        )
    known = registered if added else set()
    for add in added:
        if add.member_id in known:
            continue
        status = statuses.get(add.member_id)
        situation_members.append(
            MemberSituation(
                id=add.member_id,
                health=status.health if status else Health.healthy,
                disability_grade=status.disability_grade if status else None,
                labour_capacity=status.labour_capacity if status else LabourCapacity.full,
                newly_employed=bool(status and status.employment in _WORKING),
                job_referrals_refused=status.job_referrals_refused if status else 0,
            )
        )
    if capture and capture.outcome == CaptureOutcome.completed:
        _check_income_stated(capture, situation_members)
        member_ids = {m.id for m in situation_members}
        lines = [
            IncomeLine(
                kind=i.kind,
                monthly_amount=i.monthly_amount,
                member_id=i.member_id if i.member_id in member_ids else None,
            )
            for i in capture.incomes
        ]
        deductions = [
            Deduction(
                kind=d.kind,
                monthly_amount=d.monthly_amount,
                member_id=d.member_id if d.member_id in member_ids else None,
            )
            for d in capture.deductions
        ]
    else:
        lines = [
            IncomeLine(kind=_KIND[i.kind], monthly_amount=i.monthly_amount, member_id=i.member_id) for i in incomes
        ]
        deductions = []
    found = PropertySituation()
    if capture and capture.assets:
        assets = capture.assets
        found = PropertySituation(
            deposits=_deposits(assets, capture.outcome == CaptureOutcome.completed),
            vehicle=assets.vehicles > 0,
            extra_housing=assets.extra_housing or assets.commercial_property,
            business=assets.business,
        )
    outcome = VisitOutcome(capture.outcome.value) if capture and capture.outcome else VisitOutcome.completed
    return HouseholdSituation(
        category=Category(household.category),
        residence=Residence(household.residence),
        benefit_amount=household.benefit_amount,
        members=situation_members,
        incomes=lines,
        deductions=deductions,
        property=found,
        visit_outcome=outcome,
        prior_failed_attempts=min(failed_attempts, 1000),
        phase_out_months_paid=min(phase_out_months_paid, 1000),
        area_id=household.area_id,
    )


class _VisitRow(NamedTuple):
    id: uuid.UUID
    household_id: uuid.UUID
    area_id: int
    version: int
    visit_on: dt.date | None


class _HouseholdRow(NamedTuple):
    id: uuid.UUID
    category: str
    residence: str
    benefit_amount: int
    area_id: int
    version: int


class _MemberRow(NamedTuple):
    id: uuid.UUID
    household_id: uuid.UUID
    health: str
    disability_grade: int | None
    labour_capacity: str
    employment: str | None


class _IncomeRow(NamedTuple):
    household_id: uuid.UUID
    kind: str
    monthly_amount: int
    member_id: uuid.UUID | None


class _HistoryRow(NamedTuple):
    household_id: uuid.UUID
    visit_id: uuid.UUID
    outcome: str
    decided_outcome: str | None
    state: str
    effective_from: dt.date | None
    created_at: dt.datetime


_MEMBERS = msgspec.json.Decoder(list[_MemberRow])
_INCOMES = msgspec.json.Decoder(list[_IncomeRow])


@dataclass(slots=True)
class RawBatch:
    """Everything one batch of visits needs, as plain picklable rows; members and incomes stay
    JSON text until :func:`build_inputs` decodes them (inside the caller's paused collector)."""

    visits: list[_VisitRow]
    households: dict[uuid.UUID, _HouseholdRow]
    members: dict[uuid.UUID, str]
    incomes: dict[uuid.UUID, str]
    history: dict[uuid.UUID, list[_HistoryRow]]
    captures: dict[uuid.UUID, tuple[int, dict[str, Any]]]
    departed: dict[uuid.UUID, dict[uuid.UUID, str]] = field(default_factory=dict)
    """Per visit, the members its acceptance removed from the registry (member id → reason)."""


def _grouped(rows: Iterable[Any], make: Any) -> dict[uuid.UUID, list[Any]]:
    out: defaultdict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        item = make(*row)
        out[item.household_id].append(item)
    return dict(out)


#: One query per batch returns each household with its members and incomes aggregated as JSON
#: arrays in the order of the row types below, decoded by msgspec straight into those types:
#: several times cheaper than three result sets through the ORM's type machinery.
_HOUSEHOLDS_SQLITE = """
SELECT h.id, h.category, h.residence, h.benefit_amount, h.area_id, h.version,
 (SELECT json_group_array(json_array(m.id, m.household_id, m.health, m.disability_grade, m.labour_capacity,
                                     m.employment))
    FROM (SELECT * FROM member m WHERE m.household_id = h.id ORDER BY m.birth_date, m.id) m),
 (SELECT json_group_array(json_array(i.household_id, i.kind, i.monthly_amount, i.member_id))
    FROM (SELECT * FROM income_item i WHERE i.household_id = h.id ORDER BY i.id) i)
FROM household h WHERE h.id IN ({marks})
"""
_HOUSEHOLDS_POSTGRES = """
SELECT h.id, h.category, h.residence, h.benefit_amount, h.area_id, h.version,
 (SELECT coalesce(json_agg(json_build_array(m.id, m.household_id, m.health, m.disability_grade, m.labour_capacity,
                                            m.employment) ORDER BY m.birth_date, m.id), '[]')::text
    FROM member m WHERE m.household_id = h.id),
 (SELECT coalesce(json_agg(json_build_array(i.household_id, i.kind, i.monthly_amount, i.member_id)
                           ORDER BY i.id), '[]')::text
    FROM income_item i WHERE i.household_id = h.id)
FROM household h WHERE h.id = ANY($1::uuid[])
"""


async def _households(
    connection: AsyncConnection, household_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, _HouseholdRow], dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    households: dict[uuid.UUID, _HouseholdRow] = {}
    members: dict[uuid.UUID, str] = {}
    incomes: dict[uuid.UUID, str] = {}
    if not household_ids:
        return households, members, incomes
    if connection.dialect.name == "sqlite":
        by_key = {h.hex: h for h in household_ids}
        result = await connection.exec_driver_sql(
            _HOUSEHOLDS_SQLITE.format(marks=",".join("?" * len(household_ids))), tuple(by_key)
        )
    else:
        by_key = {str(h): h for h in household_ids}
        result = await connection.exec_driver_sql(_HOUSEHOLDS_POSTGRES, (list(household_ids),))
    with paused_gc():
        for row in result.all():
            key, category, residence, amount, area_id, version, member_json, income_json = tuple(row)
            household_id = by_key[key if isinstance(key, str) else str(key)]
            households[household_id] = _HouseholdRow(household_id, category, residence, amount, area_id, version)
            members[household_id] = member_json
            incomes[household_id] = income_json
    return households, members, incomes


async def load_raw(session: AsyncSession, visits: Sequence[Any]) -> RawBatch:
    """One batch's rows (``visits``: rows with ``id``, ``household_id``, ``area_id``,
    ``version``, ``visit_on``; at most :data:`BATCH`)."""
    connection = await session.connection()
    visit_rows = [_VisitRow(v.id, v.household_id, v.area_id, v.version, v.visit_on) for v in visits]
    visit_ids = [v.id for v in visit_rows]
    household_ids = list({v.household_id for v in visit_rows})
    households, members, incomes = await _households(connection, household_ids)
    history = _grouped(
        await connection.execute(
            select(
                Proposal.household_id,
                Proposal.visit_id,
                Proposal.outcome,
                Proposal.decided_outcome,
                Proposal.state,
                Proposal.effective_from,
                Proposal.created_at,
            ).where(ids_in(connection.dialect.name, Proposal.household_id, household_ids))
        ),
        _HistoryRow,
    )
    captures: dict[uuid.UUID, tuple[int, dict[str, Any]]] = {}
    for visit_id, version, form in await connection.execute(
        select(CaptureRecord.visit_id, CaptureRecord.version, CaptureRecord.form).where(
            ids_in(connection.dialect.name, CaptureRecord.visit_id, visit_ids), CaptureRecord.role == "primary"
        )
    ):
        captures[visit_id] = (version, form or {})
    departed: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
    for visit_id, member_id, reason in await connection.execute(
        select(MemberChange.visit_id, MemberChange.member_id, MemberChange.reason).where(
            ids_in(connection.dialect.name, MemberChange.visit_id, visit_ids),
            MemberChange.change == "remove",
            MemberChange.applied.is_(True),
        )
    ):
        departed.setdefault(visit_id, {})[member_id] = reason
    return RawBatch(visit_rows, households, members, incomes, history, captures, departed)


def build_inputs(
    batch: RawBatch, rule_version: str, today: dt.date, problems: dict[uuid.UUID, str] | None = None
) -> dict[uuid.UUID, VisitInputs]:
    """The engine's inputs for a batch (pure). The rules' date is the planned visit day (server
    data, never the tablet's clock), else ``today``. A visit whose capture cannot be read as a
    situation (:class:`CaptureIncomplete`) is left out, its reason put in ``problems``."""
    result: dict[uuid.UUID, VisitInputs] = {}
    no_rows: list[Any] = []
    for visit in batch.visits:
        household = batch.households[visit.household_id]
        stored = batch.captures.get(visit.id)
        capture = msgspec.convert(stored[1], Capture) if stored else None
        on = visit.visit_on or today
        history = batch.history.get(visit.household_id, no_rows)
        # a decision made now takes effect the first day of next month at the earliest
        effective = next_month(max(on, today))
        failed, paid = _history([p for p in history if p.visit_id != visit.id], effective) if history else (0, 0)
        try:
            situation = situation_from_capture(
                capture,
                household,
                _MEMBERS.decode(batch.members.get(visit.household_id, "[]")),
                _INCOMES.decode(batch.incomes.get(visit.household_id, "[]")),
                failed_attempts=failed,
                phase_out_months_paid=paid,
                departed=batch.departed.get(visit.id),
            )
        except CaptureIncomplete as exc:
            if problems is not None:
                problems[visit.id] = exc.message
            continue
        result[visit.id] = VisitInputs(
            visit_id=visit.id,
            household_id=visit.household_id,
            area_id=visit.area_id,
            on=on,
            situation=situation,
            versions={
                "visit": visit.version,
                "household": household.version,
                "capture": stored[0] if stored else None,
                "rules": rule_version,
                "failed_attempts": failed,
                "phase_out_months_paid": paid,
            },
        )
    return result


async def load_inputs(
    session: AsyncSession, visits: Sequence[Any], rule_version: str, today: dt.date
) -> dict[uuid.UUID, VisitInputs]:
    """The engine's inputs for ``visits`` (rows with ``id``, ``household_id``, ``area_id``,
    ``version``, ``visit_on``), batch-loaded (see :func:`load_raw`, :func:`build_inputs`)."""
    result: dict[uuid.UUID, VisitInputs] = {}
    for chunk in _chunks(list(visits)):
        result.update(build_inputs(await load_raw(session, chunk), rule_version, today))
    return result
