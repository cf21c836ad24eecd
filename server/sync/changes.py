"""Change capture: every committed change to a syncable record reaches the per-user feed.

Session hooks (installed once, on import of :mod:`server.sync`) watch visits, households,
members, income items and captures. Any service that changes them through the ORM (planning's
assignment, registry edits, the sync push) produces feed rows without calling this module:

- ``before_flush`` bumps ``version`` of a changed visit or household that did not bump it, and
  notes which household fields changed (for three-way merges of device edits);
- ``after_flush`` notes which records changed;
- ``before_commit`` takes the feed counter's row lock, recomputes who may see each changed
  record (scope: a worker holds the visits assigned to them or on which they are the partner,
  their households and their own captures), writes an upsert for each user in scope and a
  removal for each user who just left it, numbered from the counter.

Because the counter's row lock is held from numbering to commit, transactions commit in
sequence order, so a reader that has seen sequence ``n`` has seen every change below ``n``
(ARCHITECTURE rule 1). A transaction that holds the row locks of what it changes (a push, see
:func:`rows_locked`) computes its visit and capture rows before taking the counter's lock, so the
section every writer passes through in turn is only the numbering, the insert and the commit.

A visit's feed item carries its evidence status (the photos its captures refer to that are not
stored yet): a capture whose photo references change marks its visit changed here, and the media
area marks it when a photo is stored, so a tablet pulls the new list (ARCHITECTURE rule 6).

Writes that bypass the ORM (``session.execute(update(Visit)…)``) must call :func:`mark_changed` themselves.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, UOWTransaction

from schemas.auth import Role
from schemas.media import PhotoStatus
from schemas.sync import FeedItem, HouseholdItem, IncomeLine, ItemKind, MemberItem, VisitItem
from server.auth.models import User
from server.db.base import core_table, utcnow
from server.media.models import Photo
from server.planning.models import Visit
from server.registry.masking import mask_id_number, sees_full_id_number
from server.registry.models import Household, IncomeItem, Member
from server.sync.models import CaptureRecord, FeedRow, FieldWrite, SyncCounter

__all__ = [
    "ACTIVE_STATES",
    "HOUSEHOLD_MERGE_FIELDS",
    "install",
    "mark_changed",
    "rows_locked",
    "set_field_source",
]

#: Visit states in which the visit is on its workers' tablets.
ACTIVE_STATES = frozenset({"assigned", "downloaded", "submitted", "returned"})

#: Household fields whose writes are recorded for three-way merges of device edits.
HOUSEHOLD_MERGE_FIELDS = ("address", "phone", "lat", "lon", "category")

_DIRTY = "recheck.sync.dirty"
_SOURCES = "recheck.sync.sources"
_PRELOCKED = "recheck.sync.prelocked"
_json = msgspec.json.Encoder()


@dataclass
class _Dirty:
    visits: set[uuid.UUID] = field(default_factory=set)
    households: set[uuid.UUID] = field(default_factory=set)
    captures: set[uuid.UUID] = field(default_factory=set)
    field_writes: dict[tuple[str, uuid.UUID, str], tuple[int, str, int]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.visits or self.households or self.captures or self.field_writes)


def _dirty(session: Session) -> _Dirty:
    dirty: _Dirty | None = session.info.get(_DIRTY)
    if dirty is None:
        dirty = session.info[_DIRTY] = _Dirty()
    return dirty


def mark_changed(
    session: Any,
    *,
    visits: Iterable[uuid.UUID] = (),
    households: Iterable[uuid.UUID] = (),
    captures: Iterable[uuid.UUID] = (),
) -> None:
    """Note records changed without the ORM (bulk updates) so the feed picks them up at commit."""
    sync_session: Session = getattr(session, "sync_session", session)
    dirty = _dirty(sync_session)
    dirty.visits.update(visits)
    dirty.households.update(households)
    dirty.captures.update(captures)


def rows_locked(session: Any) -> None:
    """Declare that this transaction holds the row lock of every visit and capture it changes or
    whose visit it changes captures of (a push locks them as it loads them).

    Their feed rows are then computed before the feed counter's lock is taken: nobody else can
    change those rows, or who may see them, until this transaction ends. That keeps the one
    section every writer passes through in turn short. Household rows are still computed under
    the counter's lock: a household's payload includes members and incomes it does not lock.
    """
    sync_session: Session = getattr(session, "sync_session", session)
    sync_session.info[_PRELOCKED] = True


def set_field_source(session: Any, household_id: uuid.UUID, source: str, seq: int) -> None:
    """Attribute the next flushed household field writes to ``source`` (a device) instead of the server."""
    sync_session: Session = getattr(session, "sync_session", session)
    sync_session.info.setdefault(_SOURCES, {})[household_id] = (source, seq)


# ---------------------------------------------------------------- hooks


def _changed(obj: Any, name: str) -> bool:
    return bool(inspect(obj).attrs[name].history.has_changes())


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    now = utcnow()
    sources: dict[uuid.UUID, tuple[str, int]] = session.info.get(_SOURCES, {})
    for obj in session.dirty:
        if not isinstance(obj, Visit | Household) or not session.is_modified(obj, include_collections=False):
            continue
        if not _changed(obj, "version"):
            obj.version = (obj.version or 0) + 1
            obj.updated_at = now
        if isinstance(obj, Household):
            source, seq = sources.get(obj.id, ("server", 0))
            for name in HOUSEHOLD_MERGE_FIELDS:
                if _changed(obj, name):
                    _dirty(session).field_writes[("household", obj.id, name)] = (obj.version, source, seq)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    dirty = _dirty(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, Visit):
            dirty.visits.add(obj.id)
        elif isinstance(obj, Household):
            dirty.households.add(obj.id)
        elif isinstance(obj, Member | IncomeItem):
            history = inspect(obj).attrs["household_id"].history  # type: ignore[attr-defined]
            dirty.households.update(h for h in (*history.added, *history.deleted, *history.unchanged) if h)
        elif isinstance(obj, CaptureRecord):
            dirty.captures.add(obj.id)
            if _photos_changed(obj):
                # the visit's evidence status is part of its feed item: its tablets pull the new list
                dirty.visits.add(obj.visit_id)


def _photos_changed(capture: CaptureRecord) -> bool:
    history = inspect(capture).attrs["photo_hashes"].history
    if not history.added:
        return False
    before = {sha for hashes in history.deleted for sha in hashes or []}
    return {sha for hashes in history.added for sha in hashes or []} != before


def _before_commit(session: Session) -> None:
    if not session.info.get(_DIRTY) and not session.new and not session.dirty and not session.deleted:
        return
    session.flush()
    dirty: _Dirty | None = session.info.pop(_DIRTY, None)
    session.info.pop(_SOURCES, None)
    prelocked = bool(session.info.pop(_PRELOCKED, False))
    if dirty:
        write_feed(session, dirty, prelocked=prelocked)


def _after_soft_rollback(session: Session, previous: Any) -> None:
    if previous.parent is None:
        for key in (_DIRTY, _SOURCES, _PRELOCKED):
            session.info.pop(key, None)


_installed = False


def install() -> None:
    """Register the session hooks (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    _installed = True


# ---------------------------------------------------------------- feed computation


@dataclass
class _Row:
    user_id: uuid.UUID
    kind: str
    entity_id: uuid.UUID
    version: int = 0
    household_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    removed: bool = False
    reason: str | None = None
    payload: bytes | None = None


def _audience(state: str, assigned_to: uuid.UUID | None, partner_id: uuid.UUID | None) -> set[uuid.UUID]:
    if state not in ACTIVE_STATES:
        return set()
    return {u for u in (assigned_to, partner_id) if u is not None}


def _removal_reason(state: str | None) -> str:
    if state in ("cancelled", "accepted"):
        return state
    return "reassigned" if state in ACTIVE_STATES else "out_of_scope"


def visit_item(v: Any, missing_photos: Iterable[str] = ()) -> VisitItem:
    """The visit as the tablet holds it (the feed payload and the review answer both use this)."""
    return VisitItem(
        id=v.id,
        household_id=v.household_id,
        state=v.state,
        version=v.version,
        reason=v.reason,
        due_on=v.due_on,
        assigned_to=v.assigned_to,
        partner_id=v.partner_id,
        priority=v.priority or 0,
        period=v.period,
        visit_on=v.visit_on,
        route_order=v.route_order,
        return_comment=v.return_comment,
        route_leg_m=v.route_leg_m,
        missing_photos=sorted(missing_photos),
    )


def visit_payload(v: Any, missing_photos: Iterable[str] = ()) -> bytes:
    return _json.encode(visit_item(v, missing_photos))


def missing_photos(session: Session, visit_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """Per visit, the photo hashes its captures refer to that are not stored (the evidence status).

    The same rule as :func:`server.sync.evidence.evidence_for`, in the feed's synchronous session.
    """
    ids = set(visit_ids)
    out: dict[uuid.UUID, set[str]] = {v: set() for v in ids}
    if not ids:
        return out
    for visit_id, hashes in session.execute(
        select(CaptureRecord.visit_id, CaptureRecord.photo_hashes).where(CaptureRecord.visit_id.in_(ids))
    ):
        out[visit_id].update(hashes or [])
    stored = session.execute(
        select(Photo.visit_id, Photo.sha256).where(Photo.visit_id.in_(ids), Photo.status == PhotoStatus.stored.value)
    )
    for visit_id, sha in stored:
        out[visit_id].discard(sha)
    return out


def capture_payload(c: Any) -> bytes:
    doc: dict[str, Any] = {
        "id": str(c.id),
        "visit_id": str(c.visit_id),
        "version": c.version,
        "role": c.role,
        "form": c.form or {},
    }
    if c.submitted_at is not None:
        doc["submitted_at"] = c.submitted_at.isoformat().replace("+00:00", "Z")
    if c.review:
        doc["review"] = c.review
    return _json.encode(doc)


def household_payloads(
    session: Session, ids: Iterable[uuid.UUID], *, masked: bool
) -> dict[uuid.UUID, tuple[int, bytes]]:
    """Each household as a device receives it (members and incomes included)."""
    id_list = list(ids)
    if not id_list:
        return {}
    households = session.execute(select(Household).where(Household.id.in_(id_list))).scalars().all()
    members: dict[uuid.UUID, list[Member]] = defaultdict(list)
    for m in session.execute(
        select(Member).where(Member.household_id.in_(id_list)).order_by(Member.birth_date, Member.id)
    ).scalars():
        members[m.household_id].append(m)
    incomes: dict[uuid.UUID, list[IncomeItem]] = defaultdict(list)
    for i in session.execute(
        select(IncomeItem).where(IncomeItem.household_id.in_(id_list)).order_by(IncomeItem.id)
    ).scalars():
        incomes[i.household_id].append(i)
    out: dict[uuid.UUID, tuple[int, bytes]] = {}
    for h in households:
        item = HouseholdItem(
            id=h.id,
            code=h.code,
            head_name=h.head_name,
            area_id=h.area_id,
            residence=h.residence,  # type: ignore[arg-type]
            category=h.category,  # type: ignore[arg-type]
            status=h.status,
            benefit_amount=h.benefit_amount,
            version=h.version,
            address=h.address,
            members=[
                MemberItem(
                    id=m.id,
                    name=m.name,
                    relation=m.relation,  # type: ignore[arg-type]
                    id_number=mask_id_number(m.id_number) if masked else m.id_number,
                    sex=m.sex,  # type: ignore[arg-type]
                    birth_date=m.birth_date,
                    health=m.health,  # type: ignore[arg-type]
                    labour_capacity=m.labour_capacity,  # type: ignore[arg-type]
                    disability_grade=m.disability_grade,
                    employment=m.employment,
                )
                for m in members[h.id]
            ],
            incomes=[
                IncomeLine(
                    kind=i.kind,  # type: ignore[arg-type]
                    monthly_amount=i.monthly_amount,
                    member_id=i.member_id,
                    note=i.note,
                )
                for i in incomes[h.id]
            ],
            lat=h.lat,
            lon=h.lon,
            phone=h.phone,
            last_recheck_on=h.last_recheck_on,
        )
        out[h.id] = (h.version, _json.encode(item))
    return out


def _live_rows(session: Session, kind: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, Any]]:
    """Existing non-removed feed rows of ``kind`` for ``ids``: entity id → {user id → row}."""
    id_list = list(ids)
    out: dict[uuid.UUID, dict[uuid.UUID, Any]] = defaultdict(dict)
    if not id_list:
        return out
    query = select(FeedRow.entity_id, FeedRow.user_id, FeedRow.household_id).where(
        FeedRow.kind == kind, FeedRow.entity_id.in_(id_list), FeedRow.removed.is_(False)
    )
    for row in session.execute(query):
        out[row.entity_id][row.user_id] = row
    return out


def _lock_counter(session: Session) -> None:
    """Take the feed counter's row lock (PostgreSQL); SQLite's single writer already serialises."""
    query = select(SyncCounter.value).where(SyncCounter.name == "feed")
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    if session.execute(query).first() is None:  # a schema made by create_all rather than the migration
        session.execute(_upsert(session, SyncCounter, ["name"]), [{"name": "feed", "value": 0}])


_VISIT_COLUMNS = (
    Visit.id,
    Visit.household_id,
    Visit.state,
    Visit.version,
    Visit.reason,
    Visit.due_on,
    Visit.assigned_to,
    Visit.partner_id,
    Visit.priority,
    Visit.period,
    Visit.visit_on,
    Visit.route_order,
    Visit.return_comment,
    Visit.route_leg_m,
)


def write_feed(session: Session, dirty: _Dirty, *, prelocked: bool = False) -> None:
    """Recompute scope for the changed records and write the feed rows (see module docstring).

    With ``prelocked`` (see :func:`rows_locked`) the visit and capture rows are computed before
    the counter's lock is taken, and the captures already loaded in the session are used as
    they are instead of being read back.
    """
    if not prelocked:
        _lock_counter(session)
    rows, audience, households, moved = _visit_rows(session, dirty)
    rows += _capture_rows(session, dirty, audience, moved, loaded=prelocked)
    if households:
        if prelocked:
            _lock_counter(session)
        rows += _household_rows(session, dirty, households)
    if dirty.field_writes:
        _write_fields(session, dirty.field_writes)
    if rows:
        _write_rows(session, rows)


def _visit_rows(
    session: Session, dirty: _Dirty
) -> tuple[list[_Row], dict[uuid.UUID, set[uuid.UUID]], set[uuid.UUID], set[uuid.UUID]]:
    """Feed rows of the changed visits; also who may see each visit involved, the households
    whose scope may have changed, and the visits whose audience changed."""
    rows: list[_Row] = []
    capture_visit_ids: set[uuid.UUID] = set()
    if dirty.captures:
        capture_visit_ids = set(
            session.execute(select(CaptureRecord.visit_id).where(CaptureRecord.id.in_(dirty.captures))).scalars()
        )
    visit_ids = dirty.visits | capture_visit_ids
    visits = (
        {v.id: v for v in session.execute(select(*_VISIT_COLUMNS).where(Visit.id.in_(visit_ids)))} if visit_ids else {}
    )
    audience = {vid: _audience(v.state, v.assigned_to, v.partner_id) for vid, v in visits.items()}
    live_visits = _live_rows(session, "visit", dirty.visits)
    households: set[uuid.UUID] = set(dirty.households)
    moved: set[uuid.UUID] = set()  # visits whose audience changed: their households and captures follow
    missing = missing_photos(session, (vid for vid in dirty.visits if audience.get(vid)))
    for vid in dirty.visits:
        v = visits.get(vid)
        target = audience.get(vid, set())
        live = live_visits.get(vid, {})
        household_id = v.household_id if v else next((r.household_id for r in live.values()), None)
        if target != set(live):
            moved.add(vid)
            if household_id:
                households.add(household_id)
        if target and v is not None:
            payload = visit_payload(v, missing[vid])
            rows.extend(_Row(user, "visit", vid, v.version, household_id, vid, payload=payload) for user in target)
        for user in set(live) - target:
            reason = _removal_reason(v.state if v else "cancelled")
            rows.append(_Row(user, "visit", vid, household_id=household_id, visit_id=vid, removed=True, reason=reason))
    return rows, audience, households, moved


def _household_rows(session: Session, dirty: _Dirty, households: set[uuid.UUID]) -> list[_Row]:
    """Households are in scope for every user holding an active visit of theirs."""
    rows: list[_Row] = []
    h_target: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    query = select(Visit.household_id, Visit.state, Visit.assigned_to, Visit.partner_id).where(
        Visit.household_id.in_(households), Visit.state.in_(ACTIVE_STATES)
    )
    for r in session.execute(query):
        h_target[r.household_id] |= _audience(r.state, r.assigned_to, r.partner_id)
    live_h = _live_rows(session, "household", households)
    writes: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for hid in households:
        target = h_target.get(hid, set())
        live = live_h.get(hid, {})
        writes[hid] = target if hid in dirty.households else target - set(live)
        for user in set(live) - target:
            rows.append(_Row(user, "household", hid, household_id=hid, removed=True, reason="out_of_scope"))
    users = {u for us in writes.values() for u in us}
    if not users:
        return rows
    roles = dict(session.execute(select(User.id, User.role).where(User.id.in_(users))).all())
    by_mask: dict[bool, set[uuid.UUID]] = defaultdict(set)
    for hid, us in writes.items():
        for u in us:
            by_mask[not sees_full_id_number(Role(roles.get(u, "worker")))].add(hid)
    payloads = {masked: household_payloads(session, hids, masked=masked) for masked, hids in by_mask.items()}
    for hid, us in writes.items():
        for u in us:
            masked = not sees_full_id_number(Role(roles.get(u, "worker")))
            if hid in payloads[masked]:
                version, payload = payloads[masked][hid]
                rows.append(_Row(u, "household", hid, version, hid, payload=payload))
    return rows


def _capture_rows(
    session: Session,
    dirty: _Dirty,
    audience: dict[uuid.UUID, set[uuid.UUID]],
    moved: set[uuid.UUID],
    *,
    loaded: bool,
) -> list[_Row]:
    """Each author holds their own captures of the visits in their scope."""
    rows: list[_Row] = []
    capture_ids = set(dirty.captures)
    if moved:
        capture_ids |= set(session.execute(select(CaptureRecord.id).where(CaptureRecord.visit_id.in_(moved))).scalars())
    if not capture_ids:
        return rows
    captures = _captures(session, capture_ids, loaded=loaded)
    live_c = _live_rows(session, "capture", capture_ids)
    for c in captures:
        target = {c.author_id} & audience.get(c.visit_id, set())
        live = live_c.get(c.id, {})
        write = target if c.id in dirty.captures else target - set(live)
        if write:
            payload = capture_payload(c)
            rows.extend(_Row(u, "capture", c.id, c.version, c.household_id, c.visit_id, payload=payload) for u in write)
        for user in set(live) - target:
            rows.append(
                _Row(
                    user,
                    "capture",
                    c.id,
                    household_id=c.household_id,
                    visit_id=c.visit_id,
                    removed=True,
                    reason="out_of_scope",
                )
            )
    return rows


def _captures(session: Session, ids: set[uuid.UUID], *, loaded: bool) -> list[Any]:
    """The captures ``ids``; with ``loaded``, those the session already holds are not read back
    (their forms are the bulk of a push's rows, and the session's copies are what it wrote)."""
    held: list[Any] = []
    if loaded:
        for capture_id in ids:
            obj = session.identity_map.get(session.identity_key(CaptureRecord, capture_id))
            if obj is not None:
                held.append(obj)
    missing = ids - {c.id for c in held}
    if missing:
        held.extend(session.execute(select(CaptureRecord).where(CaptureRecord.id.in_(missing))).scalars())
    return held


def _upsert(session: Session, model: Any, keys: list[str]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = core_table(model)
    statement = insert(table)
    columns = [c.name for c in table.columns if c.name not in keys]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


def _feed_item(row: _Row) -> bytes:
    """The whole feed item, encoded once at write time: a pull only concatenates them."""
    if row.removed:
        item = FeedItem(kind=ItemKind(row.kind), id=row.entity_id, removed=True, reason=row.reason)
    else:
        item = FeedItem(
            kind=ItemKind(row.kind), id=row.entity_id, version=row.version, data=msgspec.Raw(row.payload or b"{}")
        )
    return _json.encode(item)


def _write_rows(session: Session, rows: list[_Row]) -> None:
    # the same (user, kind, id) may be computed twice (e.g. a visit and its capture both changed)
    unique: dict[tuple[uuid.UUID, str, uuid.UUID], _Row] = {}
    for row in rows:
        unique[(row.user_id, row.kind, row.entity_id)] = row
    n = len(unique)
    last = session.execute(
        update(SyncCounter)
        .where(SyncCounter.name == "feed")
        .values(value=SyncCounter.value + n)
        .returning(SyncCounter.value)
    ).scalar_one()
    now = utcnow()
    first = last - n + 1
    values = [
        {
            "user_id": r.user_id,
            "kind": r.kind,
            "entity_id": r.entity_id,
            "seq": first + i,
            "version": r.version,
            "household_id": r.household_id,
            "visit_id": r.visit_id,
            "removed": r.removed,
            "reason": r.reason,
            "payload": _feed_item(r),
            "changed_at": now,
        }
        for i, r in enumerate(unique.values())
    ]
    session.execute(_upsert(session, FeedRow, ["user_id", "kind", "entity_id"]), values)


def _write_fields(session: Session, writes: dict[tuple[str, uuid.UUID, str], tuple[int, str, int]]) -> None:
    values = [
        {"entity": e, "entity_id": i, "field": f, "version": v, "source": s, "seq": q}
        for (e, i, f), (v, s, q) in writes.items()
    ]
    session.execute(_upsert(session, FieldWrite, ["entity", "entity_id", "field"]), values)


def field_writes(session: Session, entity: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The recorded field writes of ``entity`` records: id → {field: FieldWrite}."""
    out: dict[uuid.UUID, dict[str, Any]] = defaultdict(dict)
    id_list = list(ids)
    if id_list:
        query = select(FieldWrite).where(FieldWrite.entity == entity, FieldWrite.entity_id.in_(id_list))
        for w in session.execute(query).scalars():
            out[w.entity_id][w.field] = w
    return out
