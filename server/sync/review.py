"""The supervisor's side of captures: review a visit, accept it or return it to the worker,
choose which capture counts, correct a capture, and close conflict records."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.capture import Capture, CapturePatch
from schemas.sync import CaptureItem, CaptureRole, ConflictRead, ConflictResolve, VisitReview
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.decisions.services import propose_for_visit, visit_changed
from server.errors import Conflict, InvalidInput, NotFound
from server.planning.models import Visit
from server.planning.states import transition
from server.registry.member_changes import apply_visit_changes
from server.registry.models import Household, Member
from server.sync.apply import apply_capture_patch, merge_form
from server.sync.changes import visit_item
from server.sync.evidence import evidence_for
from server.sync.models import CaptureRecord, ConflictRecord
from sync.merge import CAPTURE_RULES, MergeOutcome
from sync.validate import capture_problems

__all__ = [
    "accept_visit",
    "choose_primary",
    "edit_capture",
    "list_conflicts",
    "resolve_conflict",
    "return_visit",
    "visit_review",
]


async def _visit(session: AsyncSession, user: CurrentUser, visit_id: uuid.UUID) -> Visit:
    visit = await session.get(Visit, visit_id)
    if visit is None or not user.can_see_area(visit.area_id):
        raise NotFound.field("visit_id", "no such visit in your areas")
    return visit


async def _captures(session: AsyncSession, visit_id: uuid.UUID) -> list[CaptureRecord]:
    rows = await session.scalars(
        select(CaptureRecord).where(CaptureRecord.visit_id == visit_id).order_by(CaptureRecord.created_at)
    )
    return list(rows.all())


def capture_item(c: CaptureRecord) -> CaptureItem:
    return CaptureItem(
        id=c.id,
        visit_id=c.visit_id,
        version=c.version,
        role=CaptureRole(c.role),
        form=msgspec.convert(c.form or {}, Capture),
        submitted_at=c.submitted_at,
        review=c.review,
    )


def conflict_read(c: ConflictRecord) -> ConflictRead:
    return ConflictRead(
        id=c.id,
        kind=c.kind,
        entity=c.entity,
        entity_id=c.entity_id,
        created_at=c.created_at,
        field=c.field,
        kept=c.kept,
        rule=c.rule,
        server_value=c.server_value,
        device_value=c.device_value,
        visit_id=c.visit_id,
        user_id=c.user_id,
        device_id=c.device_id,
        mutation_id=c.mutation_id,
        resolved_at=c.resolved_at,
        resolution=c.resolution,
    )


async def visit_review(session: AsyncSession, user: CurrentUser, visit_id: uuid.UUID) -> VisitReview:
    """A visit with all its captures, its open conflict records and the photos still missing."""
    visit = await _visit(session, user, visit_id)
    captures = await _captures(session, visit.id)
    conflicts = await session.scalars(
        select(ConflictRecord)
        .where(ConflictRecord.visit_id == visit.id, ConflictRecord.resolved_at.is_(None))
        .order_by(ConflictRecord.id)
    )
    evidence = await evidence_for(session, [visit.id])
    missing = evidence[0].missing if evidence else []
    skews = [c.clock_offset_ms for c in captures if c.clock_skew and c.clock_offset_ms is not None]
    return VisitReview(
        visit=visit_item(visit, missing),
        captures=[capture_item(c) for c in captures],
        conflicts=[conflict_read(c) for c in conflicts.all()],
        missing_photos=missing,
        clock_skew_ms=max(skews, key=abs) if skews else None,
    )


def _primary(captures: list[CaptureRecord]) -> CaptureRecord | None:
    return next((c for c in captures if c.role == CaptureRole.primary.value), None)


async def accept_visit(session: AsyncSession, user: CurrentUser, actor: Actor, visit_id: uuid.UUID) -> VisitReview:
    """Accept a submitted visit: its primary capture becomes the record decisions use."""
    visit = await _visit(session, user, visit_id)
    primary = _primary(await _captures(session, visit.id))
    if primary is None or primary.submitted_at is None:
        raise Conflict.field("visit_id", "the visit has no submitted primary capture to accept")
    transition(visit, "accepted", actor, session)
    primary.review = "accepted"
    primary.version += 1
    household = await session.get(Household, visit.household_id)
    if household is not None and primary.outcome == "completed":
        # the next recheck counts from the last *completed* one (DOMAIN.md); nobody at home or a
        # refusal leads to a follow-up visit instead
        household.last_recheck_on = (primary.ended_at or utcnow()).date()
    await session.flush()
    # the visit's births, deaths and moves become the registry's members before the proposal
    form = msgspec.convert(primary.form or {}, Capture)
    day = visit.visit_on or utcnow().date()
    await apply_visit_changes(session, actor, visit.id, visit.household_id, form, day)
    await propose_for_visit(session, visit.id, actor)
    return await visit_review(session, user, visit.id)


async def return_visit(
    session: AsyncSession, user: CurrentUser, actor: Actor, visit_id: uuid.UUID, comment: str
) -> VisitReview:
    """Send a submitted visit back to the worker's tablet with a comment."""
    visit = await _visit(session, user, visit_id)
    transition(visit, "returned", actor, session, comment)
    primary = _primary(await _captures(session, visit.id))
    if primary is not None:
        primary.review = "returned"
        primary.version += 1
    await session.flush()
    return await visit_review(session, user, visit.id)


async def choose_primary(
    session: AsyncSession, user: CurrentUser, actor: Actor, visit_id: uuid.UUID, capture_id: uuid.UUID
) -> VisitReview:
    """Make ``capture_id`` the visit's primary capture (the other one is kept as alternate)."""
    visit = await _visit(session, user, visit_id)
    captures = await _captures(session, visit.id)
    chosen = next((c for c in captures if c.id == capture_id), None)
    if chosen is None:
        raise InvalidInput.field("$.capture_id", "not a capture of this visit")
    current = _primary(captures)
    if current is not chosen:
        if current is not None:
            current.role = CaptureRole.alternate.value
            current.version += 1
            await session.flush()
        chosen.role = CaptureRole.primary.value
        chosen.version += 1
        record(session, actor, "capture.primary", "visit", visit.id, {"capture_id": str(chosen.id)})
        await session.flush()
    return await visit_review(session, user, visit.id)


async def edit_capture(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    capture_id: uuid.UUID,
    base_version: int,
    patch: CapturePatch,
) -> CaptureItem:
    """A supervisor's correction of a capture. The worker's tablet receives it through the feed;
    later device edits of the same fields win there (observations) and leave conflict records."""
    capture = await session.get(CaptureRecord, capture_id)
    if capture is None:
        raise NotFound.field("capture_id", "no such capture")
    await _visit(session, user, capture.visit_id)
    if base_version != capture.version:
        raise Conflict.field("$.base_version", f"stale: the capture is at version {capture.version}")
    changes = {
        name: msgspec.to_builtins(value)
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET
    }
    unknown = set(changes) - set(CAPTURE_RULES)
    if unknown:
        raise InvalidInput.field(f"$.{sorted(unknown)[0]}", "not a capture field")
    outcome = MergeOutcome(apply={k: v for k, v in changes.items() if (capture.form or {}).get(k) != v})
    if outcome.apply:
        form = merge_form(capture, outcome)
        members = await session.scalars(select(Member.id).where(Member.household_id == capture.household_id))
        problems = capture_problems(
            form,
            set(outcome.apply),
            member_ids=set(members.all()),
            submit=False,
            prefix="$",
            submitted=capture.submitted_at is not None,
        )
        if problems:
            raise InvalidInput("the correction leaves the capture inconsistent", problems)
        apply_capture_patch(capture, outcome, form, f"server:{user.id}", 0)
        capture.updated_at = utcnow()
        record(session, actor, "capture.edit", "capture", capture.id, {"fields": sorted(outcome.apply)})
        await session.flush()
        await visit_changed(session, capture.visit_id, actor)
    return capture_item(capture)


async def list_conflicts(
    session: AsyncSession, user: CurrentUser, *, visit_id: uuid.UUID | None = None, open_only: bool = True
) -> list[ConflictRead]:
    """Conflict records of visits in the caller's areas (and household ones), oldest first."""
    query = select(ConflictRecord).order_by(ConflictRecord.id).limit(1000)
    if visit_id is not None:
        await _visit(session, user, visit_id)
        query = query.where(ConflictRecord.visit_id == visit_id)
    if open_only:
        query = query.where(ConflictRecord.resolved_at.is_(None))
    rows = (await session.scalars(query)).all()
    areas: dict[uuid.UUID, int] = {}
    visit_ids = {r.visit_id for r in rows if r.visit_id}
    if visit_ids:
        areas = dict((await session.execute(select(Visit.id, Visit.area_id).where(Visit.id.in_(visit_ids)))).all())
    household_ids = {r.entity_id for r in rows if r.entity == "household"}
    if household_ids:
        found = await session.execute(select(Household.id, Household.area_id).where(Household.id.in_(household_ids)))
        areas.update(found.all())
    return [conflict_read(r) for r in rows if user.can_see_area(areas.get(r.visit_id or r.entity_id, -1))]


async def resolve_conflict(
    session: AsyncSession, user: CurrentUser, actor: Actor, conflict_id: int, data: ConflictResolve
) -> ConflictRead:
    """Close a conflict record; ``use_other`` applies the value that was not kept."""
    conflict = await session.get(ConflictRecord, conflict_id)
    if conflict is None:
        raise NotFound.field("conflict_id", "no such conflict")
    area: Any = None
    if conflict.visit_id:
        area = await session.scalar(select(Visit.area_id).where(Visit.id == conflict.visit_id))
    elif conflict.entity == "household":
        area = await session.scalar(select(Household.area_id).where(Household.id == conflict.entity_id))
    if area is None or not user.can_see_area(area):
        raise NotFound.field("conflict_id", "no such conflict")
    if conflict.resolved_at is not None:
        raise Conflict.field("conflict_id", "already resolved")
    if data.resolution == "use_other":
        if conflict.kind != "field" or conflict.field is None:
            raise InvalidInput.field("$.resolution", "only a field conflict has another value to use")
        other = conflict.server_value if conflict.kept == "device" else conflict.device_value
        if conflict.entity == "capture":
            capture = await session.get(CaptureRecord, conflict.entity_id)
            if capture is None:
                raise NotFound.field("conflict_id", "the capture is gone")
            outcome = MergeOutcome(apply={conflict.field: other})
            apply_capture_patch(capture, outcome, merge_form(capture, outcome), f"server:{user.id}", 0)
            capture.updated_at = utcnow()
        else:
            household = await session.get(Household, conflict.entity_id)
            if household is None:
                raise NotFound.field("conflict_id", "the household is gone")
            setattr(household, conflict.field, other)
    conflict.resolved_at = utcnow()
    conflict.resolved_by = user.id
    conflict.resolution = data.resolution
    conflict.note = data.note
    record(session, actor, "conflict.resolve", "conflict", conflict.id, {"resolution": data.resolution})
    await session.flush()
    if conflict.visit_id is not None:
        await visit_changed(session, conflict.visit_id, actor)
    return conflict_read(conflict)
