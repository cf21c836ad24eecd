"""Push: apply a device's mutations at most once each, merging field by field.

The whole batch runs in one transaction that also stores a receipt per mutation, so a receipt
exists exactly when its effect is committed, and the response is sent only after the commit.
If the commit loses a race (two devices creating the same capture, a deadlock, a concurrent
replay of the same mutation), the transaction is retried from scratch: the replayed mutations
then find their receipts and answer ``duplicate``.

Per mutation (in the order sent; arrival order may differ from capture order):

- a known ``mutation_id`` returns the stored result (``duplicate``), unchanged;
- problems are rejections naming the field (``$.mutations[i]…``), and never touch the rest;
- captures merge with :func:`sync.merge.three_way_merge` under :data:`sync.merge.CAPTURE_RULES`;
  every field both sides changed leaves a conflict record, whichever side won;
- a capture for a visit the worker no longer holds (reassigned, cancelled) is kept as an
  ``alternate`` capture with a conflict record for the supervisor; a second capture of one
  visit (another device) likewise. Only a visit the worker was never given is refused;
- a change to a capture after its visit was accepted is kept in a conflict record only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.capture import CAPTURE_FIELDS, Capture, capture_photo_hashes
from schemas.errors import FieldError
from schemas.sync import (
    CaptureMutation,
    CaptureRole,
    EvidenceStatus,
    FieldConflict,
    HouseholdMutation,
    Mutation,
    MutationResult,
    PushResponse,
    ResultStatus,
)
from server.audit.models import AuditEvent
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import core_table
from server.errors import InvalidInput
from server.planning.models import Visit
from server.planning.states import can_transition, move
from server.registry.models import Household, Member
from server.sync.changes import HOUSEHOLD_MERGE_FIELDS, rows_locked, set_field_source
from server.sync.evidence import evidence_for, photo_refs, register_photos
from server.sync.feed import clock_offset_ms, record_device_contact, writer
from server.sync.models import CaptureRecord, ConflictRecord, FeedRow, FieldWrite, MutationReceipt
from sync.codec import DecodeProblem, decode_mutation, decode_push
from sync.merge import CAPTURE_RULES, HOUSEHOLD_RULES, FieldMeta, MergeOutcome, three_way_merge
from sync.validate import capture_problems

__all__ = ["CLOCK_SKEW_MS", "apply_capture_patch", "push", "recover"]

T = TypeVar("T")

log = logging.getLogger("recheck.sync")

#: A device clock further off than this is flagged to the supervisor on its captures.
CLOCK_SKEW_MS = 5 * 60 * 1000
_ACTIVE = frozenset({"assigned", "downloaded", "submitted", "returned"})
_DEFAULTS: dict[str, Any] = {name: msgspec.to_builtins(getattr(Capture(), name)) for name in CAPTURE_FIELDS}
_json = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(MutationResult)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _audience(visit: Visit) -> set[uuid.UUID]:
    if visit.state not in _ACTIVE:
        return set()
    return {u for u in (visit.assigned_to, visit.partner_id) if u is not None}


def _body_hash(mutation: Mutation) -> str:
    return hashlib.sha256(_json.encode(mutation)).hexdigest()[:32]


def _reject(index: int, mutation: Mutation | None, path: str, reason: str) -> MutationResult:
    return MutationResult(
        index=index,
        status=ResultStatus.rejected,
        mutation_id=mutation.mutation_id if mutation else None,
        entity=_entity(mutation) if mutation else None,
        entity_id=mutation.entity_id if mutation else None,
        errors=[FieldError(path=path, reason=reason)],
    )


def _entity(mutation: Mutation) -> str:
    return "capture" if isinstance(mutation, CaptureMutation) else "household"


def _patch(fields: msgspec.Struct) -> dict[str, Any]:
    return {
        name: msgspec.to_builtins(value)
        for name in fields.__struct_fields__
        if (value := getattr(fields, name)) is not msgspec.UNSET
    }


@dataclass
class _Batch:
    session: AsyncSession
    user: CurrentUser
    actor: Actor
    source: str
    now: dt.datetime
    offset_ms: int
    recovered: bool = False
    """Mutations from a revoked tablet's export, imported by a supervisor (see :func:`recover`)."""
    visits: dict[uuid.UUID, Visit] = field(default_factory=dict)
    captures: dict[uuid.UUID, CaptureRecord] = field(default_factory=dict)
    primary: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    members: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    ever_held: set[uuid.UUID] = field(default_factory=set)
    households: dict[uuid.UUID, Household] = field(default_factory=dict)
    household_writes: dict[uuid.UUID, dict[str, FieldMeta]] = field(default_factory=lambda: defaultdict(dict))
    touched_visits: set[uuid.UUID] = field(default_factory=set)
    new_photos: dict[uuid.UUID, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    audit: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)

    def note(self, action: str, entity: str, entity_id: Any, changes: dict[str, Any]) -> None:
        """An audit entry, written with the others in one statement at the end of the batch."""
        self.audit.append(
            {
                "at": self.now,
                "actor_id": self.actor.user_id,
                "actor_role": self.actor.role,
                "device_id": self.actor.device_id,
                "request_id": self.actor.request_id,
                "action": action,
                "entity": entity,
                "entity_id": str(entity_id),
                "changes": changes,
            }
        )


async def _locked(session: AsyncSession, model: Any, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The rows of ``model`` with these ids, locked in id order on PostgreSQL (SQLite has one writer)."""
    wanted = sorted(ids)
    if not wanted:
        return {}
    query = select(model).where(model.id.in_(wanted)).order_by(model.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: row for row in (await session.scalars(query)).all()}


async def _load(batch: _Batch, mutations: list[Mutation]) -> None:
    """Everything the batch needs, in a few queries.

    The visits and captures the batch may change are locked (visits first, each in id order, as
    other writers change a visit before its captures): nobody can change them, or move a visit
    to other workers, until the push commits, so its feed rows can be computed before the feed
    counter's lock is taken (:func:`server.sync.changes.rows_locked`).
    """
    session = batch.session
    captures = [m for m in mutations if isinstance(m, CaptureMutation)]
    visit_ids = sorted({m.visit_id for m in captures})
    batch.visits = await _locked(session, Visit, visit_ids)
    batch.captures = await _locked(session, CaptureRecord, {m.entity_id for m in captures})
    if visit_ids:
        primaries = await session.execute(
            select(CaptureRecord.visit_id, CaptureRecord.id).where(
                CaptureRecord.visit_id.in_(visit_ids), CaptureRecord.role == CaptureRole.primary.value
            )
        )
        batch.primary = {visit_id: capture_id for visit_id, capture_id in primaries}
        held = await session.scalars(
            select(FeedRow.entity_id).where(
                FeedRow.user_id == batch.user.id, FeedRow.kind == "visit", FeedRow.entity_id.in_(visit_ids)
            )
        )
        batch.ever_held = set(held.all())
        household_ids = {v.household_id for v in batch.visits.values()}
        for household_id, member_id in await session.execute(
            select(Member.household_id, Member.id).where(Member.household_id.in_(household_ids))
        ):
            batch.members[household_id].add(member_id)
    edited = sorted({m.entity_id for m in mutations if isinstance(m, HouseholdMutation)})
    if edited:
        batch.households = await _locked(session, Household, edited)
        writes = await session.scalars(
            select(FieldWrite).where(FieldWrite.entity == "household", FieldWrite.entity_id.in_(edited))
        )
        for w in writes.all():
            batch.household_writes[w.entity_id][w.field] = FieldMeta(w.version, w.source, w.seq)


async def _conflict_records(
    batch: _Batch,
    mutation: Mutation,
    entity: str,
    visit_id: uuid.UUID | None,
    outcome: MergeOutcome,
) -> list[FieldConflict]:
    records = [
        ConflictRecord(
            kind="field",
            entity=entity,
            entity_id=mutation.entity_id,
            visit_id=visit_id,
            field=c.field,
            kept=c.kept,
            rule=c.rule.value,
            why=c.why,
            server_value=c.server_value,
            device_value=c.device_value,
            base_version=mutation.base_version,
            user_id=batch.user.id,
            device_id=batch.user.device_id,
            mutation_id=mutation.mutation_id,
        )
        for c in outcome.conflicts
    ]
    if not records:
        return []
    batch.session.add_all(records)
    await batch.session.flush()
    return [FieldConflict(field=r.field or "", kept=r.kept or "", rule=r.rule or "", conflict_id=r.id) for r in records]


def _flag(batch: _Batch, kind: str, capture: CaptureRecord, mutation: Mutation, why: str, value: Any = None) -> None:
    batch.session.add(
        ConflictRecord(
            kind=kind,
            entity="capture",
            entity_id=capture.id,
            visit_id=capture.visit_id,
            why=why,
            device_value=value,
            user_id=batch.user.id,
            device_id=batch.user.device_id,
            mutation_id=mutation.mutation_id,
        )
    )


def _out_of_scope_why(batch: _Batch, visit: Visit) -> str:
    if batch.recovered:
        return f"recovered from a revoked tablet's export (the visit is {visit.state})"
    return f"captured after the visit became {visit.state}"


def _status(outcome: MergeOutcome, conflicts: list[FieldConflict]) -> ResultStatus:
    if conflicts:
        return ResultStatus.conflict
    if outcome.concurrent or outcome.superseded:
        return ResultStatus.merged
    return ResultStatus.applied


def apply_capture_patch(capture: CaptureRecord, outcome: MergeOutcome, form: Capture, source: str, seq: int) -> None:
    """Write the merged form, its field write records and the columns derived from it."""
    capture.version += 1
    meta = dict(capture.field_meta or {})
    for name in outcome.apply:
        meta[name] = FieldMeta(capture.version, source, seq).to_list()
    capture.field_meta = meta
    capture.form = msgspec.to_builtins(form)
    capture.outcome = form.outcome.value if form.outcome else None
    capture.started_at = form.started_at
    capture.ended_at = form.ended_at
    capture.photo_hashes = sorted(capture_photo_hashes(form))


def merge_form(capture: CaptureRecord, outcome: MergeOutcome) -> Capture:
    merged = {**_DEFAULTS, **(capture.form or {}), **outcome.apply}
    result: Capture = msgspec.convert(merged, Capture)
    return result


async def _apply_capture(batch: _Batch, index: int, m: CaptureMutation) -> MutationResult:
    prefix = f"$.mutations[{index}]"
    visit = batch.visits.get(m.visit_id)
    if visit is None:
        return _reject(index, m, f"{prefix}.visit_id", "no such visit")
    capture = batch.captures.get(m.entity_id)
    if capture is not None and capture.visit_id != visit.id:
        return _reject(index, m, f"{prefix}.visit_id", "this capture belongs to another visit")
    if capture is not None and capture.author_id != batch.user.id:
        return _reject(index, m, f"{prefix}.entity_id", "a capture by another worker cannot be changed here")
    if capture is None and m.base_version != 0:
        return _reject(index, m, f"{prefix}.base_version", "no capture with this id: a new capture has base_version 0")
    if capture is not None and m.base_version > capture.version:
        return _reject(index, m, f"{prefix}.base_version", f"ahead of the server's version {capture.version}")
    # a revoked tablet's work always goes to review: never the visit's primary capture by itself
    in_scope = not batch.recovered and batch.user.id in _audience(visit)
    if not in_scope and visit.id not in batch.ever_held:
        if not batch.user.can_see_area(visit.area_id):
            return _reject(index, m, f"{prefix}.visit_id", "this visit is outside your areas")
        return _reject(index, m, f"{prefix}.visit_id", "this visit was never assigned to you")
    patch = _patch(m.fields)
    if capture is not None and capture.role == CaptureRole.primary.value and visit.state == "accepted":
        _flag(batch, "late_edit", capture, m, "changed on the device after the visit was accepted", patch)
        batch.touched_visits.add(visit.id)
        return MutationResult(
            index=index,
            status=ResultStatus.conflict,
            mutation_id=m.mutation_id,
            entity="capture",
            entity_id=m.entity_id,
            version=capture.version,
        )
    new = capture is None
    if capture is None:
        capture = CaptureRecord(
            id=m.entity_id,
            visit_id=visit.id,
            household_id=visit.household_id,
            author_id=batch.user.id,
            device_id=batch.user.device_id,
            role=CaptureRole.alternate.value,
            version=0,
            form={},
            field_meta={},
            photo_hashes=[],
            created_at=batch.now,
        )
    outcome = three_way_merge(
        {**_DEFAULTS, **(capture.form or {})},
        {k: FieldMeta.from_list(v) for k, v in (capture.field_meta or {}).items()},
        patch,
        base_version=m.base_version,
        current_version=capture.version,
        source=batch.source,
        seq=m.device_seq,
        rules=CAPTURE_RULES,
    )
    form = merge_form(capture, outcome)
    problems = capture_problems(
        form,
        set(patch),
        member_ids=batch.members.get(visit.household_id, set()),
        submit=m.submit,
        prefix=f"{prefix}.fields",
        submitted=capture.submitted_at is not None and capture.review != "returned",
    )
    if problems:
        return MutationResult(
            index=index,
            status=ResultStatus.rejected,
            mutation_id=m.mutation_id,
            entity="capture",
            entity_id=m.entity_id,
            errors=problems,
        )
    resubmit = m.submit and (capture.submitted_at is None or capture.review == "returned")
    if new:
        if in_scope and visit.id not in batch.primary:
            capture.role = CaptureRole.primary.value
            batch.primary[visit.id] = capture.id
        batch.session.add(capture)
        batch.captures[capture.id] = capture
        if not in_scope:
            _flag(batch, "out_of_scope_capture", capture, m, _out_of_scope_why(batch, visit))
        elif capture.role == CaptureRole.alternate.value:
            _flag(batch, "duplicate_capture", capture, m, "a second capture of this visit (another device)")
    changed = bool(outcome.apply) or new or resubmit
    if changed:
        before = set(capture.photo_hashes or [])
        apply_capture_patch(capture, outcome, form, batch.source, m.device_seq)
        if set(capture.photo_hashes) - before:
            batch.new_photos[visit.id].update(photo_refs(form))
        capture.updated_at = batch.now
        capture.device_id = batch.user.device_id
    if batch.recovered and changed and not new:
        _flag(batch, "out_of_scope_capture", capture, m, "an edit " + _out_of_scope_why(batch, visit))
    if not batch.recovered:  # an import measures no clock: the capture keeps the offset its pushes measured
        if abs(batch.offset_ms) > CLOCK_SKEW_MS and not capture.clock_skew:
            capture.clock_skew = True
            _flag(batch, "clock_skew", capture, m, "the device clock is far off the server's", batch.offset_ms)
        capture.clock_offset_ms = batch.offset_ms
    if resubmit:
        capture.submitted_at = batch.now
        capture.review = None
        if (
            capture.role == CaptureRole.primary.value
            and in_scope
            and visit.state != "submitted"
            and can_transition(visit.state, "submitted")
        ):
            batch.note("transition", "visit", visit.id, move(visit, "submitted", "capture submitted from the device"))
    conflicts = await _conflict_records(batch, m, "capture", visit.id, outcome)
    if changed:
        batch.note(
            "capture.submit" if resubmit else "capture.merge",
            "capture",
            capture.id,
            {"visit_id": str(visit.id), "fields": sorted(outcome.apply), "mutation_id": str(m.mutation_id)},
        )
    batch.touched_visits.add(visit.id)
    return MutationResult(
        index=index,
        status=_status(outcome, conflicts),
        mutation_id=m.mutation_id,
        entity="capture",
        entity_id=capture.id,
        version=capture.version,
        conflicts=conflicts,
        superseded=outcome.superseded,
    )


async def _apply_household(batch: _Batch, index: int, m: HouseholdMutation) -> MutationResult:
    prefix = f"$.mutations[{index}]"
    household = batch.households.get(m.entity_id)
    if household is None:
        return _reject(index, m, f"{prefix}.entity_id", "no such household")
    if not batch.user.can_see_area(household.area_id):
        return _reject(index, m, f"{prefix}.entity_id", "this household is outside your areas")
    if m.base_version > household.version:
        return _reject(index, m, f"{prefix}.base_version", f"ahead of the server's version {household.version}")
    patch = _patch(m.fields)
    current = {name: getattr(household, name) for name in HOUSEHOLD_MERGE_FIELDS}
    outcome = three_way_merge(
        current,
        batch.household_writes[household.id],
        patch,
        base_version=m.base_version,
        current_version=household.version,
        source=batch.source,
        seq=m.device_seq,
        rules=HOUSEHOLD_RULES,
    )
    if outcome.apply:
        set_field_source(batch.session, household.id, batch.source, m.device_seq)
        for name, value in outcome.apply.items():
            setattr(household, name, value)
        household.version += 1
        household.updated_at = batch.now
        for name in outcome.apply:
            batch.household_writes[household.id][name] = FieldMeta(household.version, batch.source, m.device_seq)
        record(
            batch.session,
            batch.actor,
            "update",
            "household",
            household.id,
            {name: [current[name], value] for name, value in outcome.apply.items()},
        )
        await batch.session.flush()
    conflicts = await _conflict_records(batch, m, "household", None, outcome)
    return MutationResult(
        index=index,
        status=_status(outcome, conflicts),
        mutation_id=m.mutation_id,
        entity="household",
        entity_id=household.id,
        version=household.version,
        conflicts=conflicts,
        superseded=outcome.superseded,
    )


async def _apply_batch(
    session: AsyncSession,
    user: CurrentUser,
    decoded: list[Mutation | FieldError],
    now: dt.datetime,
    offset: int,
    recovered_by: Actor | None = None,
) -> tuple[list[MutationResult], set[uuid.UUID]]:
    assert user.device_id is not None
    batch = _Batch(
        session=session,
        user=user,
        actor=recovered_by or Actor.of(user),
        source=f"device:{user.device_id}",
        now=now,
        offset_ms=offset,
        recovered=recovered_by is not None,
    )
    mutations = [m for m in decoded if not isinstance(m, FieldError)]
    ids = [m.mutation_id for m in mutations]
    receipts: dict[uuid.UUID, MutationReceipt] = {}
    if ids:
        found = await session.scalars(select(MutationReceipt).where(MutationReceipt.mutation_id.in_(ids)))
        receipts = {r.mutation_id: r for r in found.all()}
    fresh = [m for m in mutations if m.mutation_id not in receipts]
    await _load(batch, fresh)
    results: list[MutationResult] = []
    answered: dict[uuid.UUID, tuple[str, MutationResult]] = {}
    for index, item in enumerate(decoded):
        if isinstance(item, FieldError):
            results.append(MutationResult(index=index, status=ResultStatus.rejected, errors=[item]))
            continue
        body_hash = _body_hash(item)
        stored = receipts.get(item.mutation_id)
        earlier = answered.get(item.mutation_id)
        if stored is not None or earlier is not None:
            first_hash, first = (
                (stored.body_hash, _result_decoder.decode(stored.result)) if stored is not None else earlier  # type: ignore[misc]
            )
            if first_hash != body_hash:
                results.append(
                    _reject(index, item, f"$.mutations[{index}].mutation_id", "already used for a different change")
                )
                continue
            results.append(
                msgspec.structs.replace(
                    first, index=index, status=ResultStatus.duplicate, first_status=first.first_status or first.status
                )
            )
            continue
        if isinstance(item, CaptureMutation):
            result = await _apply_capture(batch, index, item)
        else:
            result = await _apply_household(batch, index, item)
        answered[item.mutation_id] = (body_hash, result)
        results.append(result)
        batch.receipts.append(
            {
                "mutation_id": item.mutation_id,
                "device_id": user.device_id,
                "user_id": user.id,
                "entity": _entity(item),
                "entity_id": item.entity_id,
                "body_hash": body_hash,
                "status": result.status.value,
                "result": _json.encode(result),
                "created_at": now,
            }
        )
    batch.audit.extend(await register_photos(session, batch.new_photos, batch.actor, now))
    if batch.receipts:
        await session.execute(insert(core_table(MutationReceipt)), batch.receipts)
    if batch.audit:
        await session.execute(insert(core_table(AuditEvent)), batch.audit)
    return results, batch.touched_visits


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        return code in ("40001", "40P01") or "database is locked" in str(exc.orig)
    return False


async def push(
    factory: async_sessionmaker[AsyncSession],
    user: CurrentUser,
    body: bytes,
    *,
    received_at: dt.datetime,
    msgpack: bool = False,
    attempts: int = 8,
) -> PushResponse:
    """Apply a push body (JSON or MessagePack) and answer one result per mutation."""
    try:
        envelope = decode_push(body, msgpack=msgpack)
    except DecodeProblem as exc:
        raise InvalidInput(f"{exc.error.path}: {exc.error.reason}", [exc.error], code="validation") from exc
    decoded = [decode_mutation(raw, i, msgpack=msgpack) for i, raw in enumerate(envelope.mutations)]
    offset = clock_offset_ms(envelope.device_time, received_at)

    async def work(session: AsyncSession) -> tuple[list[MutationResult], list[EvidenceStatus]]:
        results, touched = await _apply_batch(session, user, decoded, received_at, offset)
        await record_device_contact(session, user, received_at, offset, pushed=True)
        return results, await evidence_for(session, touched)

    results, evidence = await _retried(factory, work, attempts)
    return PushResponse(results=results, evidence=evidence, server_time=received_at, clock_offset_ms=offset)


async def recover(
    factory: async_sessionmaker[AsyncSession],
    owner: CurrentUser,
    actor: Actor,
    mutations: list[msgspec.Raw],
    *,
    received_at: dt.datetime,
    attempts: int = 8,
) -> list[MutationResult]:
    """Apply a revoked tablet's exported outbox as that tablet's, each mutation at most once.

    ``owner`` is the tablet's worker with the tablet as device; ``actor`` the supervisor importing
    it (the audit trail's author). Captures are recorded as out-of-scope captures for review:
    none becomes a visit's primary capture or moves the visit by itself. A mutation the tablet
    had already delivered (its answer lost) answers ``duplicate``; importing a file twice changes
    nothing the second time.
    """
    decoded = [decode_mutation(raw, i) for i, raw in enumerate(mutations)]

    async def work(session: AsyncSession) -> list[MutationResult]:
        results, _touched = await _apply_batch(session, owner, decoded, received_at, 0, recovered_by=actor)
        return results

    return await _retried(factory, work, attempts)


async def _retried(
    factory: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]], attempts: int
) -> T:
    """Run ``work`` in one sync write transaction, again after a lost race (a unique key, a deadlock)."""
    for attempt in range(1, attempts + 1):
        try:
            async with writer(factory), factory() as session:
                rows_locked(session)  # _load locks what the batch changes
                result = await work(session)
                await session.commit()
            return result
        except (IntegrityError, DBAPIError) as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            log.info("push retried after a lost race", extra={"attempt": attempt, "error": type(exc).__name__})
            await asyncio.sleep(random.uniform(0, 0.02 * attempt))
    raise AssertionError("unreachable")
