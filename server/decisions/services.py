"""Decisions: rule versions, proposals for accepted visits, review, appraisal, public notice,
objections, approval, taking effect, and "why does this household get N yuan".

Sync (or the accept endpoint) calls :func:`propose_for_visit` when a visit is accepted, and
:func:`recompute_if_inputs_changed` after a late capture, a resolved conflict or a correction.
Bulk paths (:func:`generate`, :func:`approve`) load and write in batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.decisions import (
    ApplyResult,
    AppraisalCreate,
    AppraisalResult,
    ApprovalResult,
    NoticeCreate,
    ObjectionCreate,
    ProposalChange,
    ProposalOutcome,
    ProposalRead,
    ProposalState,
    ReviewAction,
    ReviewRequest,
    RuleSetRead,
    SkippedVisit,
)
from schemas.decisions import GenerateResult as GenerateResultRead
from schemas.decisions import Proposal as EngineProposal
from schemas.errors import FieldError
from server.audit.models import AuditEvent
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import core_table, utcnow
from server.decisions import bulk, inputs
from server.decisions.bulk import fast_insert
from server.decisions.models import Approval, CommunityAppraisal, Objection, Proposal, PublicNotice, RuleSet
from server.decisions.policy import SituationError, propose
from server.decisions.rules import NoStandardError, ProgrammeRules, RulesError, default_rules, parse_rules
from server.decisions.workflow import PENDING, IllegalStep, check_step, step
from server.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from server.payments.models import PaymentMonth
from server.planning.models import Visit
from server.registry.models import Area, Household

__all__ = [
    "NOTICE_DAYS",
    "add_months",
    "apply_effective",
    "approve",
    "compute_batch",
    "create_notice",
    "current_rules",
    "effective_month",
    "generate",
    "get_proposal",
    "list_proposals",
    "list_rule_sets",
    "load_rule_set",
    "notice_over_at",
    "object_to",
    "proposal_read",
    "propose_for_visit",
    "recompute_if_inputs_changed",
    "record_appraisal",
    "release",
    "review",
    "supersede",
    "today",
    "visit_changed",
]

#: Days a public notice runs (DOMAIN.md "After the proposal").
NOTICE_DAYS = 7
S = ProposalState

_PARSED: dict[str, ProgrammeRules] = {}


def today() -> dt.date:
    """The server's date (UTC)."""
    return utcnow().date()


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# ---------------------------------------------------------------- rules


def _rules_from(version: str, document: dict[str, Any]) -> ProgrammeRules:
    if version not in _PARSED:
        _PARSED[version] = parse_rules(msgspec.json.encode(document))
    return _PARSED[version]


async def current_rules(session: AsyncSession) -> ProgrammeRules:
    """The rules new proposals use: the newest stored version, else the shipped default."""
    row = (
        await session.execute(select(RuleSet.version, RuleSet.document).order_by(RuleSet.id.desc()).limit(1))
    ).first()
    if row is None:
        return default_rules()
    return _rules_from(row.version, row.document)


async def list_rule_sets(session: AsyncSession) -> list[RuleSetRead]:
    """Every stored version, newest first; the shipped default when none was loaded."""
    rows = (await session.scalars(select(RuleSet).order_by(RuleSet.id.desc()))).all()
    if not rows:
        rules = default_rules()
        return [
            RuleSetRead(
                version=rules.version,
                current=True,
                created_at=None,
                document=msgspec.to_builtins(rules),
                description=rules.description,
            )
        ]
    return [
        RuleSetRead(
            version=r.version,
            current=i == 0,
            created_at=r.created_at,
            document=r.document,
            created_by=r.created_by,
            description=r.description,
        )
        for i, r in enumerate(rows)
    ]


async def load_rule_set(session: AsyncSession, actor: Actor, document: bytes) -> RuleSetRead:
    """Check and store a rules document as a new version (it is in force for new proposals).

    Raises:
        InvalidInput: the document is refused (every problem with its path); nothing is stored.
        Conflict: a version of that name exists (versions are never changed).
    """
    try:
        rules = parse_rules(document)
    except RulesError as exc:
        raise InvalidInput(exc.message, exc.errors, code=exc.code) from None
    if await session.scalar(select(RuleSet.id).where(RuleSet.version == rules.version)):
        raise Conflict.field("$.version", f"rules version {rules.version!r} exists; give the new rules a new version")
    builtins = msgspec.to_builtins(rules)
    row = RuleSet(version=rules.version, document=builtins, description=rules.description, created_by=actor.user_id)
    session.add(row)
    await session.flush()
    record(session, actor, "create", "rule_set", row.id, {"version": rules.version})
    _PARSED[rules.version] = rules
    return RuleSetRead(
        version=row.version,
        current=True,
        created_at=row.created_at,
        document=builtins,
        created_by=row.created_by,
        description=row.description,
    )


# ---------------------------------------------------------------- proposals: making them


def _fields(result: EngineProposal) -> dict[str, Any]:
    """The proposal columns taken from the engine's result."""
    return {
        "outcome": result.outcome.value,
        "direction": result.direction.value if result.direction else None,
        "reasons": [r.value for r in result.reasons],
        "rule_version": result.rule_version,
        "standard": result.standard,
        "old_amount": result.old_amount,
        "new_amount": result.new_amount,
        "per_capita_income": result.per_capita_income,
        "calculated_amount": result.calculated_amount,
        "near_dibao": result.near_dibao,
        "needs_confirmation": result.needs_supervisor_confirmation,
        "phase_out_months": result.phase_out_months_remaining,
        "explanation_zh": result.explanation_zh,
        "explanation_en": result.explanation_en,
        "detail": {
            "members_counted": result.members_counted,
            "members_paid": result.members_paid,
            "counted_income": result.counted_income,
            "disregarded_income": result.disregarded_income,
            "deductions_allowed": result.deductions_allowed,
            # msgspec Structs: the JSON columns encode them directly (server.db.session).
            "counted": result.counted,
            "disregarded": result.disregarded,
            "deductions": result.deductions,
        },
    }


def _audit_row(
    actor: Actor, action: str, entity: str, entity_id: Any, changes: dict[str, Any], at: dt.datetime
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "device_id": actor.device_id,
        "request_id": actor.request_id,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "changes": changes,
    }


async def _blocked(session: AsyncSession, visit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Visits no proposal may be made for yet, with the reason."""
    blocked: dict[uuid.UUID, str] = {}
    for visit_id in await inputs.unresolved_conflicts(session, visit_ids):
        blocked[visit_id] = "the visit has an unresolved conflict"
    for visit_id, hashes in (await inputs.missing_evidence(session, visit_ids)).items():
        if hashes:
            blocked.setdefault(visit_id, f"evidence missing: {len(hashes)} photo(s) not yet received")
    return blocked


@dataclass(slots=True)
class _Computed:
    """One batch's proposals, as column values, ready to insert (picklable)."""

    rows: list[dict[str, Any]]
    follow: list[tuple[uuid.UUID, uuid.UUID, int]]
    skipped: list[tuple[uuid.UUID, str]]


def compute_batch(batch: inputs.RawBatch, rules: ProgrammeRules, day: dt.date) -> _Computed:
    """The pure part of making proposals: situations, the policy engine, the rows to store.

    No I/O: the rows it returns are written by :func:`generate`.
    """
    problems: dict[uuid.UUID, str] = {}
    loaded = inputs.build_inputs(batch, rules.version, day, problems)
    now = utcnow()
    out = _Computed(rows=[], follow=[], skipped=list(problems.items()))
    for visit in batch.visits:
        inp = loaded.get(visit.id)
        if inp is None:
            continue
        try:
            result = propose(inp.situation, rules, inp.on)
        except (SituationError, NoStandardError) as exc:
            out.skipped.append((visit.id, str(exc)))
            continue
        state = S.follow_up if result.outcome == ProposalOutcome.follow_up else S.proposed
        out.rows.append(
            {
                "id": uuid.uuid4(),
                "visit_id": visit.id,
                "household_id": visit.household_id,
                "area_id": visit.area_id,
                "state": state.value,
                **_fields(result),
                "situation": inp.situation,
                "inputs": inp.versions,
                "revision": 1,
                "changes": [],
                "objections": 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        if state == S.follow_up:
            out.follow.append((visit.id, visit.household_id, visit.area_id))
    return out


@dataclass(slots=True)
class _Prepared:
    """One batch's proposals and their audit entries as driver records, ready to write."""

    proposals: bulk.Prepared
    audits: bulk.Prepared
    follow: list[tuple[uuid.UUID, uuid.UUID, int]]
    skipped: list[tuple[uuid.UUID, str]]
    proposed: set[uuid.UUID]


def _prepare_batch(
    batch: inputs.RawBatch, rules: ProgrammeRules, day: dt.date, actor: Actor, dialect: str
) -> _Prepared:
    """:func:`compute_batch` plus one audit entry per proposal, both as driver records.

    The collector is paused meanwhile: the situations, engine results and row dicts of a batch
    are a few hundred thousand objects that would otherwise be walked again and again. They
    die when :func:`_records` returns, before the collector resumes; only the records live on.
    """
    with bulk.paused_gc():
        return _records(batch, rules, day, actor, dialect)


def _records(batch: inputs.RawBatch, rules: ProgrammeRules, day: dt.date, actor: Actor, dialect: str) -> _Prepared:
    computed = compute_batch(batch, rules, day)
    now = utcnow()
    audits = [
        _audit_row(
            actor,
            "propose",
            "proposal",
            row["id"],
            {
                "state": [None, row["state"]],
                "visit_id": str(row["visit_id"]),
                "outcome": row["outcome"],
                "new_amount": row["new_amount"],
                "rule_version": rules.version,
            },
            now,
        )
        for row in computed.rows
    ]
    return _Prepared(
        proposals=bulk.prepare(core_table(Proposal), computed.rows, dialect),
        audits=bulk.prepare(core_table(AuditEvent), audits, dialect),
        follow=computed.follow,
        skipped=computed.skipped,
        proposed={row["household_id"] for row in computed.rows if row["state"] == S.proposed.value},
    )


async def _alongside(writing: Coroutine[Any, Any, int], compute: Callable[[], _Prepared]) -> tuple[int, _Prepared]:
    """Run ``compute`` in a worker thread while ``writing`` runs on the event loop.

    The database server stores a batch (COPY, indexes, foreign keys: about as long as
    computing one) on its own core meanwhile; the event loop only needs the GIL now and then to
    feed the socket, so the two overlap. The write is awaited even when ``compute`` fails.
    """
    task = asyncio.ensure_future(writing)
    try:
        prepared = await asyncio.to_thread(compute)
    finally:
        written = await task
    return written, prepared


async def _make_proposals(
    session: AsyncSession, actor: Actor, visits: Sequence[Any], rules: ProgrammeRules, day: dt.date
) -> tuple[int, int, list[SkippedVisit]]:
    """Proposals for ``visits`` in batches: (created, follow-ups planned, skipped visits)."""
    connection = await session.connection()
    dialect = connection.dialect.name
    skipped: list[SkippedVisit] = []
    created = follow_ups = 0

    async def write(prepared: _Prepared) -> int:
        await bulk.insert(connection, prepared.proposals)
        await bulk.insert(connection, prepared.audits)
        await supersede(session, actor, prepared.proposed)
        return await inputs.schedule_follow_ups(session, actor, prepared.follow, day)

    # On PostgreSQL the server stores one batch while this process computes the next (see
    # _alongside). SQLite runs inside this process and would fight the computation for the GIL
    # row by row, so there each batch is written before the next is read.
    waiting: _Prepared | None = None
    waiting_households: set[uuid.UUID] = set()
    for start in range(0, len(visits), inputs.BATCH):
        chunk = visits[start : start + inputs.BATCH]
        households = {v.household_id for v in chunk}
        if waiting is not None and (dialect != "postgresql" or not households.isdisjoint(waiting_households)):
            # A household in both batches: its history must include the waiting proposal.
            follow_ups += await write(waiting)
            waiting = None
        blocked = await _blocked(session, [v.id for v in chunk])
        skipped.extend(SkippedVisit(visit_id=k, reason=why) for k, why in blocked.items())
        batch = await inputs.load_raw(session, [v for v in chunk if v.id not in blocked])
        compute = functools.partial(_prepare_batch, batch, rules, day, actor, dialect)
        if waiting is None:
            prepared = compute()
        else:
            written, prepared = await _alongside(write(waiting), compute)
            follow_ups += written
        skipped.extend(SkippedVisit(visit_id=k, reason=why) for k, why in prepared.skipped)
        created += len(prepared.proposals.records)
        waiting, waiting_households = prepared, households
    if waiting is not None:
        follow_ups += await write(waiting)
    return created, follow_ups, skipped


async def generate(
    session: AsyncSession,
    actor: Actor,
    *,
    user: CurrentUser | None = None,
    area_id: int | None = None,
    visit_ids: Sequence[uuid.UUID] | None = None,
    on: dt.date | None = None,
) -> GenerateResultRead:
    """Make proposals for accepted visits that have none (idempotent), in batches.

    Visits with an unresolved conflict or missing evidence are skipped (listed, at most 500).
    ``follow_up`` proposals (nobody home, refused) plan a follow-up visit. Each batch is read
    with a few set-based queries, computed by the pure :func:`compute_batch` and written with
    driver-level bulk inserts (:mod:`server.decisions.bulk`), one audit entry per proposal.
    """
    started = time.perf_counter()
    day = on or today()
    query = (
        select(Visit.id, Visit.household_id, Visit.area_id, Visit.version, Visit.visit_on)
        .outerjoin(Proposal, Proposal.visit_id == Visit.id)
        .where(Visit.state == "accepted", Proposal.id.is_(None))
    )
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or (user is not None and not user.can_see_area(area_id)):
            raise NotFound.field("$.area_id", "no such area in your areas")
        query = query.where(Visit.area_id.in_(select(Area.id).where(Area.path.startswith(area.path))))
    if user is not None:
        query = query.where(Visit.area_id.in_(user.visible_area_ids))
    if visit_ids is not None:
        query = query.where(Visit.id.in_(list(visit_ids)))
    connection = await session.connection()
    found = await connection.execute(query.order_by(Visit.id))
    with bulk.paused_gc():  # 100,000 rows: the collector would walk the growing list again and again
        visits = found.all()
    rules = await current_rules(session)
    async with bulk.roomy_sqlite_cache(connection):
        created, follow_ups, skipped = await _make_proposals(session, actor, visits, rules, day)
    return GenerateResultRead(
        created=created, follow_ups=follow_ups, skipped=skipped[:500], seconds=round(time.perf_counter() - started, 3)
    )


async def propose_for_visit(
    session: AsyncSession, visit_id: uuid.UUID, actor: Actor, *, on: dt.date | None = None
) -> Proposal | None:
    """The proposal for an accepted visit, made now if it has none (sync calls this on accept).

    Returns ``None`` while the visit is not accepted, has an unresolved conflict or missing
    evidence (call again when that changes, or let ``proposals:generate`` pick it up).
    """
    existing = await session.scalar(select(Proposal).where(Proposal.visit_id == visit_id))
    if existing is not None:
        return existing
    result = await generate(session, actor, visit_ids=[visit_id], on=on)
    if not result.created:
        return None
    return await session.scalar(select(Proposal).where(Proposal.visit_id == visit_id))


# ---------------------------------------------------------------- one live proposal per household


async def supersede(session: AsyncSession, actor: Actor, household_ids: Collection[uuid.UUID]) -> int:
    """Keep one live proposal per household (DOMAIN.md "Benefit and decision").

    Of a household's proposals not yet approved, the one from its latest visit stays (the newest
    one among visits of the same day); every other leaves review, notice and approval as
    ``superseded``, naming the proposal that replaced it and why (audited). Approved decisions
    are never touched. Returns how many proposals were superseded.
    """
    if not household_ids:
        return 0
    connection = await session.connection()
    pending = [state.value for state in PENDING]
    ids = list(household_ids)
    crowded: list[uuid.UUID] = []
    for start in range(0, len(ids), inputs.BATCH):
        chunk = ids[start : start + inputs.BATCH]
        crowded += (
            await session.scalars(
                select(Proposal.household_id)
                .where(inputs.ids_in(connection.dialect.name, Proposal.household_id, chunk))
                .where(Proposal.state.in_(pending))
                .group_by(Proposal.household_id)
                .having(func.count() > 1)
            )
        ).all()
    superseded = 0
    for start in range(0, len(crowded), inputs.BATCH):
        rows = (
            await session.execute(
                select(Proposal, Visit.visit_on)
                .join(Visit, Visit.id == Proposal.visit_id)
                .where(Proposal.household_id.in_(crowded[start : start + inputs.BATCH]))
                .where(Proposal.state.in_(pending))
            )
        ).all()
        by_household: dict[uuid.UUID, list[tuple[Proposal, dt.date | None]]] = {}
        for proposal, visit_on in rows:
            by_household.setdefault(proposal.household_id, []).append((proposal, visit_on))
        for group in by_household.values():
            group.sort(key=lambda row: (row[1] or dt.date.min, row[0].created_at, row[0].id))
            live, live_on = group[-1]
            for proposal, _visit_on in group[:-1]:
                _withdraw(session, actor, proposal, live, live_on)
                superseded += 1
    return superseded


def _withdraw(session: AsyncSession, actor: Actor, proposal: Proposal, live: Proposal, on: dt.date | None) -> None:
    """Take ``proposal`` out of review, notice and approval: ``live`` replaces it."""
    day = on.isoformat() if on else "?"
    reason = (
        f"已由{day}入户复核的新拟办意见取代（每户只保留一份在办意见）; "
        f"superseded by the proposal of the {day} recheck (one live proposal per household)"
    )
    changes: dict[str, Any] = {"superseded_by": str(live.id), "reason": reason}
    if proposal.notice_id is not None:
        changes["withdrawn_from_notice"] = str(proposal.notice_id)
    step(session, actor, proposal, S.superseded, "supersede", changes)
    proposal.superseded_by, proposal.superseded_reason = live.id, reason
    proposal.notice_id = None


# ---------------------------------------------------------------- recomputing


_COMPARED = ("outcome", "new_amount", "per_capita_income", "standard", "reasons", "rule_version", "old_amount")


async def _recompute(
    session: AsyncSession, actor: Actor, proposals: Sequence[Proposal], on: dt.date | None = None
) -> list[Proposal]:
    """Recompute the pending ``proposals`` whose recorded input versions differ; the changed ones.

    A recomputation whose outcome or amount differs sends the proposal back to ``proposed``
    (the notice and the review showed the old figures); each one appends a
    :class:`ProposalChange` so the reviewer sees what changed.
    """
    pending = [p for p in proposals if p.state in PENDING]
    if not pending:
        return []
    visits = (
        await session.execute(
            select(Visit.id, Visit.household_id, Visit.area_id, Visit.version, Visit.visit_on).where(
                Visit.id.in_([p.visit_id for p in pending])
            )
        )
    ).all()
    rules = await current_rules(session)
    blocked = await _blocked(session, [v.id for v in visits])
    loaded = await inputs.load_inputs(session, [v for v in visits if v.id not in blocked], rules.version, on or today())
    changed: list[Proposal] = []
    for proposal in pending:
        inp = loaded.get(proposal.visit_id)
        if inp is None or inp.versions == proposal.inputs:
            continue
        try:
            result = propose(inp.situation, rules, inp.on)
        except (SituationError, NoStandardError):
            continue
        new = _fields(result)
        fields = {k: [getattr(proposal, k), new[k]] for k in _COMPARED if getattr(proposal, k) != new[k]}
        input_diff = {k: [proposal.inputs.get(k), v] for k, v in inp.versions.items() if proposal.inputs.get(k) != v}
        for key, value in new.items():
            setattr(proposal, key, value)
        proposal.situation = msgspec.to_builtins(inp.situation)
        proposal.inputs = inp.versions
        proposal.revision += 1
        change = ProposalChange(at=utcnow(), revision=proposal.revision, inputs=input_diff, fields=fields)
        proposal.changes = [*proposal.changes, msgspec.to_builtins(change)]
        material = "outcome" in fields or "new_amount" in fields
        if material and proposal.state != S.proposed:
            step(
                session,
                actor,
                proposal,
                S.proposed,
                "recompute",
                {"revision": proposal.revision, "inputs": input_diff, "fields": fields},
            )
            proposal.decided_outcome = proposal.decided_amount = proposal.override_reason = None
            proposal.notice_id = None
        else:
            proposal.version += 1
            proposal.updated_at = utcnow()
            record(
                session,
                actor,
                "recompute",
                "proposal",
                proposal.id,
                {"revision": proposal.revision, "inputs": input_diff, "fields": fields},
            )
        changed.append(proposal)
    return changed


async def recompute_if_inputs_changed(
    session: AsyncSession, visit_id: uuid.UUID, actor: Actor | None = None
) -> ProposalChange | None:
    """Recompute the visit's proposal if an input changed and it is not approved yet.

    Sync calls this after storing a late capture or resolving a conflict of an accepted visit;
    the registry's corrections are noticed through the household version. Returns what
    changed, or ``None``.
    """
    proposal = await session.scalar(select(Proposal).where(Proposal.visit_id == visit_id))
    if proposal is None:
        return None
    changed = await _recompute(session, actor or Actor.system("recompute"), [proposal])
    if not changed:
        return None
    return msgspec.convert(changed[0].changes[-1], ProposalChange)


async def visit_changed(session: AsyncSession, visit_id: uuid.UUID, actor: Actor) -> None:
    """Sync calls this after a supervisor edits a capture or resolves a conflict of a visit: an
    accepted visit without a proposal gets one (unless something still blocks it); a proposal
    not yet approved is recomputed if an input changed."""
    if await session.scalar(select(Proposal.id).where(Proposal.visit_id == visit_id)) is None:
        await propose_for_visit(session, visit_id, actor)
    else:
        await recompute_if_inputs_changed(session, visit_id, actor)


async def _refuse_if_changed(session: AsyncSession, actor: Actor, proposals: Sequence[Proposal]) -> None:
    """Before a decision step: recompute; if anything changed, keep that and refuse the step."""
    changed = await _recompute(session, actor, proposals)
    if not changed:
        return
    await session.commit()
    raise Conflict(
        "inputs changed: the proposal was recomputed; review what changed before deciding",
        [FieldError(path=f"proposal {p.id}", reason=f"recomputed as revision {p.revision}") for p in changed],
        code="inputs_changed",
    )


# ---------------------------------------------------------------- reading


def proposal_read(p: Proposal, *, with_detail: bool = True) -> ProposalRead:
    return ProposalRead(
        id=p.id,
        visit_id=p.visit_id,
        household_id=p.household_id,
        area_id=p.area_id,
        state=ProposalState(p.state),
        outcome=ProposalOutcome(p.outcome),
        reasons=list(p.reasons),
        rule_version=p.rule_version,
        standard=p.standard,
        old_amount=p.old_amount,
        new_amount=p.new_amount,
        explanation_zh=p.explanation_zh,
        explanation_en=p.explanation_en,
        inputs=dict(p.inputs),
        revision=p.revision,
        version=p.version,
        created_at=p.created_at,
        updated_at=p.updated_at,
        direction=p.direction,  # type: ignore[arg-type]
        per_capita_income=p.per_capita_income,
        calculated_amount=p.calculated_amount,
        near_dibao=p.near_dibao,
        needs_supervisor_confirmation=p.needs_confirmation,
        phase_out_months=p.phase_out_months,
        decided_outcome=ProposalOutcome(p.decided_outcome) if p.decided_outcome else None,
        decided_amount=p.decided_amount,
        override_reason=p.override_reason,
        reviewed_by=p.reviewed_by,
        reviewed_at=p.reviewed_at,
        notice_id=p.notice_id,
        objections=p.objections,
        effective_from=p.effective_from,
        phase_out_until=p.phase_out_until,
        approved_by=p.approved_by,
        approved_at=p.approved_at,
        changes=[msgspec.convert(c, ProposalChange) for c in p.changes],
        detail=dict(p.detail) if with_detail else None,
        superseded_by=p.superseded_by,
        superseded_reason=p.superseded_reason,
    )


async def get_proposal(
    session: AsyncSession, user: CurrentUser, proposal_id: uuid.UUID, *, recompute: bool = True
) -> Proposal:
    """The proposal if it lies in the user's areas (404 otherwise), recomputed if an input changed."""
    proposal = await session.get(Proposal, proposal_id)
    if proposal is None or not user.can_see_area(proposal.area_id):
        raise NotFound.field("proposal_id", "no such proposal in your areas")
    if recompute and user.role.value != "auditor":
        await _recompute(session, Actor.of(user), [proposal])
    return proposal


async def list_proposals(
    session: AsyncSession,
    user: CurrentUser,
    *,
    state: ProposalState | None = None,
    area_id: int | None = None,
    household_id: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Proposal]:
    """Proposals in the user's areas, filtered, in id order (page with ``after`` = last id)."""
    query = select(Proposal).where(Proposal.area_id.in_(user.visible_area_ids))
    if state is not None:
        query = query.where(Proposal.state == state.value)
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or not user.can_see_area(area_id):
            raise NotFound.field("area_id", "no such area in your areas")
        query = query.where(Proposal.area_id.in_(select(Area.id).where(Area.path.startswith(area.path))))
    if household_id is not None:
        query = query.where(Proposal.household_id == household_id)
    if after is not None:
        query = query.where(Proposal.id > after)
    return list((await session.scalars(query.order_by(Proposal.id).limit(limit))).all())


# ---------------------------------------------------------------- review


def _check_version(proposal: Proposal, version: int | None) -> None:
    if version is not None and version != proposal.version:
        raise Conflict.field("$.version", f"stale: the proposal is at version {proposal.version}")


async def review(
    session: AsyncSession, user: CurrentUser, actor: Actor, proposal_id: uuid.UUID, data: ReviewRequest
) -> Proposal:
    """Supervisor review: confirm, override (written reason required) or return the visit."""
    proposal = await get_proposal(session, user, proposal_id, recompute=False)
    _check_version(proposal, data.version)
    if data.action == ReviewAction.return_visit:
        check_step(proposal, S.returned, "return")
        if not data.reason:
            raise InvalidInput.field("$.reason", "returning a visit needs a written reason")
        visit = await session.get(Visit, proposal.visit_id)
        assert visit is not None
        new_visit = await inputs.return_visit(session, actor, visit, data.reason, today())
        _reviewed(proposal, user)
        step(session, actor, proposal, S.returned, "return", {"reason": data.reason, "new_visit_id": str(new_visit)})
        return proposal
    check_step(proposal, S.confirmed, data.action.value)
    await _refuse_if_changed(session, actor, [proposal])
    if data.action == ReviewAction.confirm:
        if data.outcome is not None or data.new_amount is not None:
            raise InvalidInput.field(
                "$.outcome", "a confirmation takes the proposal as it is; use override to change it"
            )
        proposal.decided_outcome, proposal.decided_amount = proposal.outcome, proposal.new_amount
        changes: dict[str, Any] = {"decided_outcome": proposal.outcome, "decided_amount": proposal.new_amount}
        if data.reason:
            changes["note"] = data.reason
    else:
        problems: list[FieldError] = []
        if not data.reason:
            problems.append(FieldError(path="$.reason", reason="an override needs a written reason"))
        if data.outcome is None:
            problems.append(FieldError(path="$.outcome", reason="an override names the outcome decided"))
        elif data.outcome == ProposalOutcome.follow_up:
            problems.append(FieldError(path="$.outcome", reason="follow_up is not a decision"))
        elif data.outcome != ProposalOutcome.cancel and data.new_amount is None:
            problems.append(FieldError(path="$.new_amount", reason=f"an override to {data.outcome} needs the amount"))
        elif data.outcome == ProposalOutcome.cancel and data.new_amount:
            problems.append(FieldError(path="$.new_amount", reason="a cancellation pays nothing"))
        elif data.outcome == ProposalOutcome.keep and data.new_amount != proposal.old_amount:
            problems.append(
                FieldError(path="$.new_amount", reason=f"keep means the current amount {proposal.old_amount} fen")
            )
        if problems:
            raise InvalidInput("invalid override", problems)
        assert data.outcome is not None
        amount = 0 if data.outcome == ProposalOutcome.cancel else int(data.new_amount or 0)
        proposal.decided_outcome, proposal.decided_amount = data.outcome.value, amount
        proposal.override_reason = data.reason
        changes = {
            "override": True,
            "decided_outcome": [proposal.outcome, data.outcome.value],
            "decided_amount": [proposal.new_amount, amount],
            "reason": data.reason,
        }
    _reviewed(proposal, user)
    step(session, actor, proposal, S.confirmed, data.action.value, changes)
    return proposal


def _reviewed(proposal: Proposal, user: CurrentUser) -> None:
    proposal.reviewed_by = user.id
    proposal.reviewed_at = utcnow()


# ---------------------------------------------------------------- community appraisal


async def record_appraisal(
    session: AsyncSession, user: CurrentUser, actor: Actor, proposal_id: uuid.UUID, data: AppraisalCreate
) -> CommunityAppraisal:
    """Record the community appraisal. ``agreed`` moves a confirmed proposal on; ``disagreed``
    sends it back to supervisor review (from any state before approval)."""
    proposal = await get_proposal(session, user, proposal_id, recompute=False)
    if data.held_on > today():
        raise InvalidInput.field("$.held_on", "the meeting cannot be in the future")
    current = ProposalState(proposal.state)
    if current not in (S.confirmed, S.appraised, S.in_notice, S.held):
        raise IllegalStep(
            f"proposal {proposal.id}: cannot record an appraisal of a {current.value} proposal",
            [FieldError(path="state", reason=f"cannot record an appraisal of a proposal that is {current.value}")],
        )
    appraisal = CommunityAppraisal(
        proposal_id=proposal.id,
        held_on=data.held_on,
        participants=list(data.participants),
        result=data.result.value,
        note=data.note,
        recorded_by=user.id,
    )
    session.add(appraisal)
    await session.flush()
    details = {
        "appraisal_id": str(appraisal.id),
        "held_on": data.held_on.isoformat(),
        "participants": len(data.participants),
        "result": data.result.value,
    }
    if data.result == AppraisalResult.disagreed:
        step(session, actor, proposal, S.proposed, "appraisal", details)
        proposal.decided_outcome = proposal.decided_amount = proposal.override_reason = None
        proposal.notice_id = None
    elif current == S.confirmed:
        step(session, actor, proposal, S.appraised, "appraisal", details)
    else:
        proposal.version += 1
        proposal.updated_at = utcnow()
        record(session, actor, "appraisal", "proposal", proposal.id, details)
    return appraisal


# ---------------------------------------------------------------- public notice


async def create_notice(session: AsyncSession, user: CurrentUser, actor: Actor, data: NoticeCreate) -> PublicNotice:
    """Put confirmed (or appraised) proposals of one village or community on public notice."""
    area = await session.get(Area, data.area_id)
    if area is None or not user.can_see_area(data.area_id):
        raise NotFound.field("$.area_id", "no such area in your areas")
    day = today()
    starts_on = data.starts_on or day
    if starts_on < day:
        # a backdated notice would let approval follow at once: the 7 days run from now on
        raise InvalidInput.field("$.starts_on", f"a notice starts today ({day.isoformat()}) or later, never before")
    if len(set(data.proposal_ids)) != len(data.proposal_ids):
        raise InvalidInput.field("$.proposal_ids", "a proposal is listed twice")
    inside = set((await session.scalars(select(Area.id).where(Area.path.startswith(area.path)))).all())
    proposals = {
        p.id: p for p in (await session.scalars(select(Proposal).where(Proposal.id.in_(data.proposal_ids)))).all()
    }
    problems: list[FieldError] = []
    for i, pid in enumerate(data.proposal_ids):
        p = proposals.get(pid)
        path = f"$.proposal_ids[{i}]"
        if p is None or not user.can_see_area(p.area_id):
            problems.append(FieldError(path=path, reason="no such proposal in your areas"))
        elif p.area_id not in inside:
            problems.append(FieldError(path=path, reason=f"the household is not in {area.name}"))
        elif p.state not in (S.confirmed, S.appraised):
            problems.append(
                FieldError(path=path, reason=f"only confirmed proposals go on notice; this one is {p.state}")
            )
    if problems:
        raise Conflict("proposals cannot go on notice", problems, code="illegal_step")
    await _refuse_if_changed(session, actor, list(proposals.values()))
    days = data.days or NOTICE_DAYS
    notice = PublicNotice(
        area_id=area.id,
        starts_on=starts_on,
        ends_on=starts_on + dt.timedelta(days=days - 1),
        days=days,
        created_by=user.id,
    )
    session.add(notice)
    await session.flush()
    record(
        session,
        actor,
        "create",
        "public_notice",
        notice.id,
        {"area_id": area.id, "starts_on": starts_on, "ends_on": notice.ends_on, "proposals": len(proposals)},
    )
    for p in proposals.values():
        p.notice_id = notice.id
        step(
            session,
            actor,
            p,
            S.in_notice,
            "notice",
            {"notice_id": str(notice.id), "ends_on": notice.ends_on.isoformat()},
        )
    return notice


def notice_over_at(notice: PublicNotice) -> dt.datetime:
    """When a notice has run its full days: counted from when it was published, i.e. created
    (or its first day, if that is later), whatever ``starts_on`` says; never before the day
    after ``ends_on``."""
    first_day = dt.datetime.combine(notice.starts_on, dt.time(), tzinfo=dt.UTC)
    published = max(notice.created_at, first_day)
    after_last_day = dt.datetime.combine(notice.ends_on + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return max(published + dt.timedelta(days=notice.days), after_last_day)


async def get_notice(session: AsyncSession, user: CurrentUser, notice_id: uuid.UUID) -> PublicNotice:
    notice = await session.get(PublicNotice, notice_id)
    if notice is None or not user.can_see_area(notice.area_id):
        raise NotFound.field("notice_id", "no such notice in your areas")
    return notice


# ---------------------------------------------------------------- objections


async def object_to(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    proposal_id: uuid.UUID,
    data: ObjectionCreate,
    deadline_days: int = 10,
) -> Objection:
    """Register an objection during the notice: it becomes a complaint and holds the decision."""
    proposal = await get_proposal(session, user, proposal_id, recompute=False)
    if proposal.state not in (S.in_notice, S.held):
        raise IllegalStep(
            f"proposal {proposal.id}: objections are taken while it is on notice",
            [
                FieldError(
                    path="state", reason=f"objections are taken during the notice; the proposal is {proposal.state}"
                )
            ],
        )
    household = await session.get(Household, proposal.household_id)
    assert household is not None
    received_on = data.received_on or today()
    complaint_id = await inputs.open_complaint(
        session,
        user,
        actor,
        household=household,
        channel=data.channel,
        summary=data.summary,
        received_on=received_on,
        reporter_name=data.reporter_name,
        reporter_contact=data.reporter_contact,
        anonymous=data.anonymous,
        deadline_days=deadline_days,
    )
    objection = Objection(
        proposal_id=proposal.id,
        notice_id=proposal.notice_id,
        complaint_id=complaint_id,
        channel=data.channel,
        summary=data.summary,
        received_on=received_on,
        created_by=user.id,
    )
    session.add(objection)
    await session.flush()
    proposal.objections += 1
    details = {"objection_id": str(objection.id), "complaint_id": str(complaint_id)}
    if proposal.state == S.held:
        proposal.version += 1
        record(session, actor, "objection", "proposal", proposal.id, details)
    else:
        step(session, actor, proposal, S.held, "objection", details)
    return objection


async def release(
    session: AsyncSession, user: CurrentUser, actor: Actor, proposal_id: uuid.UUID, resolution: str
) -> Proposal:
    """Lift the hold once every objection's complaint has been resolved in the complaint
    register (after its recheck); ``resolution`` records the finding on the objections."""
    proposal = await get_proposal(session, user, proposal_id, recompute=False)
    check_step(proposal, S.in_notice, "release")
    if proposal.state != S.held:
        raise IllegalStep.field("state", f"only a held proposal is released; this one is {proposal.state}")
    open_objections = (
        await session.scalars(
            select(Objection).where(Objection.proposal_id == proposal.id, Objection.resolved_at.is_(None))
        )
    ).all()
    still_open = await inputs.open_complaints(session, [o.complaint_id for o in open_objections if o.complaint_id])
    if still_open:
        raise Conflict(
            "the objection is still being investigated",
            [
                FieldError(path="complaint_id", reason=f"complaint {number} is open: resolve it after its recheck")
                for number in still_open.values()
            ],
            code="objection_open",
        )
    now = utcnow()
    for objection in open_objections:
        objection.resolution, objection.resolved_by, objection.resolved_at = resolution, user.id, now
    step(
        session, actor, proposal, S.in_notice, "release", {"resolution": resolution, "objections": len(open_objections)}
    )
    return proposal


# ---------------------------------------------------------------- approval


async def _closed_months(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(PaymentMonth.month).where(PaymentMonth.state == "closed"))).all())


def _open_month_from(month: dt.date, closed: set[str], taken: Collection[dt.date] = ()) -> dt.date:
    """``month`` or the first later one whose roster is open and that is not in ``taken``."""
    while month_key(month) in closed or month in taken:
        month = add_months(month, 1)
    return month


async def effective_month(session: AsyncSession, day: dt.date) -> dt.date:
    """The first day of the month after ``day``, skipping months whose roster is closed."""
    return _open_month_from(add_months(day, 1), await _closed_months(session))


async def _decided_months(
    session: AsyncSession, household_ids: Collection[uuid.UUID], since: dt.date
) -> dict[uuid.UUID, set[dt.date]]:
    """Household id → the months from ``since`` in which an approved decision of it takes effect."""
    ids = list(household_ids)
    taken: dict[uuid.UUID, set[dt.date]] = {h: set() for h in ids}
    for start in range(0, len(ids), inputs.BATCH):
        rows = await session.execute(
            select(Proposal.household_id, Proposal.effective_from).where(
                Proposal.household_id.in_(ids[start : start + inputs.BATCH]),
                Proposal.state.in_([S.approved.value, S.effective.value]),
                Proposal.effective_from >= since,
            )
        )
        for household_id, month in rows:
            if month is not None:
                taken[household_id].add(month)
    return taken


async def approve(
    session: AsyncSession, user: CurrentUser, actor: Actor, proposal_ids: Sequence[uuid.UUID], note: str | None = None
) -> ApprovalResult:
    """Approve proposals, all or nothing: each in the approver's areas, on notice with the notice
    over, not held, and appraised when the notice drew an objection, at most one per household.
    Effective from the first day of the next open month, or of the first open month after it
    in which no approved decision of the household takes effect yet (one a month)."""
    if len(set(proposal_ids)) != len(proposal_ids):
        raise InvalidInput.field("$.proposal_ids", "a proposal is listed twice")
    proposals: dict[uuid.UUID, Proposal] = {}
    for start in range(0, len(proposal_ids), inputs.BATCH):
        chunk = list(proposal_ids[start : start + inputs.BATCH])
        proposals.update(
            {p.id: p for p in (await session.scalars(select(Proposal).where(Proposal.id.in_(chunk)))).all()}
        )
    notice_ids = {p.notice_id for p in proposals.values() if p.notice_id}
    notices = {
        n.id: n for n in (await session.scalars(select(PublicNotice).where(PublicNotice.id.in_(notice_ids)))).all()
    }
    appraised = set(
        (
            await session.scalars(
                select(CommunityAppraisal.proposal_id).where(
                    CommunityAppraisal.proposal_id.in_([p.id for p in proposals.values() if p.objections]),
                    CommunityAppraisal.result == AppraisalResult.agreed.value,
                )
            )
        ).all()
    )
    day, now = today(), utcnow()
    forbidden: list[FieldError] = []
    missing: list[FieldError] = []
    refused: list[FieldError] = []
    households: dict[uuid.UUID, int] = {}
    for i, pid in enumerate(proposal_ids):
        path = f"$.proposal_ids[{i}]"
        p = proposals.get(pid)
        if p is not None and households.setdefault(p.household_id, i) != i:
            refused.append(
                FieldError(
                    path=path,
                    reason=f"one decision per household: it is listed at $.proposal_ids[{households[p.household_id]}]",
                )
            )
        elif p is None:
            missing.append(FieldError(path=path, reason="no such proposal"))
        elif not user.can_see_area(p.area_id):
            forbidden.append(FieldError(path=path, reason="the household is outside your areas"))
        elif p.state != S.in_notice:
            refused.append(
                FieldError(path=path, reason=f"only a proposal on notice can be approved; this one is {p.state}")
            )
        elif p.notice_id is None or notice_over_at(notices[p.notice_id]) > now:
            ends = notice_over_at(notices[p.notice_id]).isoformat() if p.notice_id else "?"
            refused.append(FieldError(path=path, reason=f"the public notice runs until {ends}"))
        elif p.objections and p.id not in appraised:
            refused.append(
                FieldError(path=path, reason="the notice drew an objection: a community appraisal is needed first")
            )
    error: DomainError | None = None
    if forbidden:
        error = Forbidden("approval outside your areas refused; nothing was approved", forbidden)
    elif missing:
        error = NotFound("unknown proposals; nothing was approved", missing)
    elif refused:
        error = Conflict("some proposals cannot be approved; nothing was approved", refused, code="illegal_step")
    if error is not None:
        raise error
    ordered = [proposals[pid] for pid in proposal_ids]
    await _refuse_if_changed(session, actor, ordered)
    closed = await _closed_months(session)
    first_open = _open_month_from(add_months(day, 1), closed)
    taken = await _decided_months(session, households, first_open)
    batch_id = uuid.uuid4()
    approvals: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    months: dict[str, int] = {}
    total = 0
    running = await _running_phase_outs(session, [p for p in ordered if p.decided_outcome == ProposalOutcome.phase_out])
    for p in ordered:
        amount = p.decided_amount if p.decided_amount is not None else p.new_amount
        p.state = S.approved.value
        p.version += 1
        p.updated_at = now
        effective = _open_month_from(first_open, closed, taken[p.household_id])
        p.approved_by, p.approved_at, p.effective_from = user.id, now, effective
        phase_out: dict[str, Any] = {}
        if p.decided_outcome == ProposalOutcome.phase_out:
            left = _phase_out_months_left(p, running.get(p.household_id), effective)
            if left != p.phase_out_months:
                phase_out["phase_out_months"] = [p.phase_out_months, left]
            p.phase_out_months = left
            p.phase_out_until = add_months(effective, left) - dt.timedelta(days=1)
            phase_out["phase_out_until"] = p.phase_out_until.isoformat()
        approvals.append(
            {
                "id": uuid.uuid4(),
                "proposal_id": p.id,
                "batch_id": batch_id,
                "approver_id": user.id,
                "approved_at": now,
                "effective_from": effective,
                "amount": amount,
                "note": note,
            }
        )
        audits.append(
            _audit_row(
                actor,
                "approve",
                "proposal",
                p.id,
                {
                    "state": [S.in_notice.value, S.approved.value],
                    "batch_id": str(batch_id),
                    "effective_from": effective.isoformat(),
                    "amount": amount,
                    **phase_out,
                },
                now,
            )
        )
        months[month_key(effective)] = months.get(month_key(effective), 0) + 1
        total += amount
    try:
        await session.flush()
        connection = await session.connection()
        await fast_insert(connection, core_table(Approval), approvals)
    except IntegrityError:
        # another approval of these households (or proposals) committed meanwhile
        raise Conflict(
            "another approval of these households was made at the same time; nothing was approved",
            [FieldError(path="$.proposal_ids", reason="approved meanwhile: reload the proposals and try again")],
            code="approved_meanwhile",
        ) from None
    await fast_insert(connection, core_table(AuditEvent), audits)
    return ApprovalResult(batch_id=batch_id, approved=len(ordered), effective_from=months, total_new_amount=total)


async def _running_phase_outs(session: AsyncSession, proposals: Sequence[Proposal]) -> dict[uuid.UUID, dt.date]:
    """Household id → first month of its running phase-out, for the households of ``proposals``."""
    households = list({p.household_id for p in proposals})
    starts: dict[uuid.UUID, dt.date] = {}
    for start in range(0, len(households), inputs.BATCH):
        rows = (
            await session.execute(
                select(Proposal.household_id, Proposal.state, Proposal.decided_outcome, Proposal.effective_from).where(
                    Proposal.household_id.in_(households[start : start + inputs.BATCH]),
                    Proposal.state.in_([S.approved.value, S.effective.value]),
                )
            )
        ).all()
        by_household: dict[uuid.UUID, list[Any]] = {}
        for row in rows:
            by_household.setdefault(row.household_id, []).append(row)
        for household_id, decided in by_household.items():
            if (first := inputs.phase_out_start(decided)) is not None:
                starts[household_id] = first
    return starts


def _phase_out_months_left(proposal: Proposal, running_since: dt.date | None, effective: dt.date) -> int:
    """Months the phase-out pays from ``effective``: the phase-out's full length less the months
    the running one will have paid by then. The proposal counted them to the day it expected
    to take effect; approval fixes the day, so they are counted again to it (a later approval
    must not add months)."""
    assumed_paid = int(proposal.inputs.get("phase_out_months_paid") or 0)
    length = (proposal.phase_out_months or 0) + assumed_paid
    paid = inputs.months_between(running_since, effective) if running_since else 0
    return max(0, length - paid)


# ---------------------------------------------------------------- taking effect


async def apply_effective(session: AsyncSession, actor: Actor, on: dt.date | None = None) -> ApplyResult:
    """Write approved decisions whose month has come into the households (audited, version
    bump so sync sends the new amount), and cancel households whose phase-out has ended while
    it is still the decision in force."""
    day = on or today()
    if day > today():
        # the household's amount changes on the day the decision takes effect, not before
        raise InvalidInput.field("$.on", f"decisions take effect on their day: {day.isoformat()} has not come yet")
    due = (
        await session.scalars(
            select(Proposal)
            .where(Proposal.state == S.approved.value, Proposal.effective_from <= day)
            .order_by(Proposal.effective_from, Proposal.approved_at)
        )
    ).all()
    households = {
        h.id: h
        for h in (await session.scalars(select(Household).where(Household.id.in_({p.household_id for p in due})))).all()
    }
    now = utcnow()
    for p in due:
        household = households[p.household_id]
        outcome = p.decided_outcome or p.outcome
        amount = p.decided_amount if p.decided_amount is not None else p.new_amount
        before = {"benefit_amount": household.benefit_amount, "status": household.status}
        if outcome == ProposalOutcome.cancel:
            household.benefit_amount, household.status = 0, "cancelled"
        else:
            household.benefit_amount, household.status = amount, "active"
        household.approved_on = p.effective_from
        _touch(household, now)
        record(
            session,
            actor,
            "update",
            "household",
            household.id,
            {
                **{k: [v, getattr(household, k)] for k, v in before.items() if v != getattr(household, k)},
                "proposal_id": str(p.id),
            },
        )
        step(session, actor, p, S.effective, "take_effect", {"effective_from": (p.effective_from or day).isoformat()})
        p.applied_at = now
    ended = 0
    running = (
        await session.execute(
            select(Proposal.household_id, Proposal.id, Proposal.phase_out_until)
            .where(
                Proposal.state == S.effective.value,
                Proposal.decided_outcome == ProposalOutcome.phase_out.value,
                Proposal.phase_out_until < day,
            )
            .order_by(Proposal.effective_from)
        )
    ).all()
    for household_id, proposal_id, until in running:
        # The end applies only while the phase-out is the decision in force (as the roster
        # reads it): a decision that took effect after it replaced it, whenever that was.
        in_force = await session.scalar(
            select(Proposal.id)
            .where(
                Proposal.household_id == household_id,
                Proposal.state.in_([S.approved.value, S.effective.value]),
                Proposal.effective_from <= day,
            )
            .order_by(Proposal.effective_from.desc(), Proposal.approved_at.desc())
            .limit(1)
        )
        ending = await session.get(Household, household_id)
        if in_force != proposal_id or ending is None or ending.status != "active":
            continue
        record(
            session,
            actor,
            "update",
            "household",
            ending.id,
            {
                "benefit_amount": [ending.benefit_amount, 0],
                "status": [ending.status, "cancelled"],
                "proposal_id": str(proposal_id),
                "phase_out_ended": until.isoformat() if until else None,
            },
        )
        ending.benefit_amount, ending.status = 0, "cancelled"
        _touch(ending, now)
        ended += 1
    return ApplyResult(on=day, applied=len(due), phase_outs_ended=ended)


def _touch(household: Household, now: dt.datetime) -> None:
    household.version += 1
    household.updated_at = now
