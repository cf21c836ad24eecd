"""Pull: the device's feed after its cursor, in pages, with the state check and reference data.

A pull runs two short transactions: the first acknowledges what the device's cursor proves it
received (assigned → downloaded) and records the device's clock offset; the second reads the
page. The page never goes past the feed counter read *before* the rows, and the counter only
moves when a transaction commits under its lock, so nothing below the returned cursor can
still appear later (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import weakref
from typing import Any

import msgspec
from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.base import MAX_INT32
from schemas.sync import FeedItem, ItemKind, PullRequest, PullResponse, StateCheck
from server.auth.identity import Actor, CurrentUser
from server.auth.models import Device
from server.db.base import core_table
from server.errors import DomainError
from server.planning.models import Visit
from server.planning.states import transition
from server.sync.models import DeviceSyncState, FeedRow, SyncCounter
from sync.cursor import CursorError, decode_cursor, encode_cursor
from sync.digest import digest
from sync.reference import reference_data

__all__ = [
    "CONTACT_EVERY",
    "clock_offset_ms",
    "pull",
    "purge_removals",
    "record_device_contact",
    "writer",
]


#: Sync write transactions a worker process runs at once, per engine. SQLite has one writer at a
#: time anyway, and waiting here is far cheaper than its busy handler's sleep-and-retry under many
#: devices. On PostgreSQL two: one computes while the other waits on the database. More would only
#: interleave their CPU work on the one event loop, and a push that holds the feed counter's lock
#: (to its commit) would wait for other pushes' Python work while every other writer waits on it.
_WRITERS = {"sqlite": 1, "postgresql": 2}
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def writer(factory: async_sessionmaker[AsyncSession]) -> asyncio.Semaphore:
    """The per-process gate sync write transactions pass through (see :data:`_WRITERS`)."""
    engine = factory.kw.get("bind")
    dialect = engine.dialect.name if engine is not None else "sqlite"
    # one gate per event loop: tests run several servers in one process
    gates = _writers.setdefault(asyncio.get_running_loop(), {})
    if dialect not in gates:
        gates[dialect] = asyncio.Semaphore(_WRITERS.get(dialect, 2))
    return gates[dialect]


def clock_offset_ms(device_time: dt.datetime, received_at: dt.datetime) -> int:
    """Device clock minus server clock, in milliseconds (positive: the device is ahead)."""
    return round((device_time - received_at).total_seconds() * 1000)


async def _counter(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(SyncCounter.value).where(SyncCounter.name == name))
    return int(value or 0)


async def record_device_contact(
    session: AsyncSession,
    user: CurrentUser,
    now: dt.datetime,
    offset_ms: int,
    *,
    cursor_seq: int | None = None,
    pushed: bool = False,
) -> None:
    """Remember when the device last synced, where its cursor is and how far its clock is off."""
    assert user.device_id is not None
    values: dict[str, Any] = {
        "device_id": user.device_id,
        "user_id": user.id,
        "clock_offset_ms": offset_ms,
        "clock_measured_at": now,
    }
    if pushed:
        values["last_push_at"] = now
    else:
        values["last_pull_at"] = now
    if cursor_seq is not None:
        values["cursor_seq"] = cursor_seq
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DeviceSyncState).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id"], set_={k: statement.excluded[k] for k in values if k != "device_id"}
    )
    await session.execute(statement)
    await session.execute(
        update(Device)
        .where(Device.id == user.device_id)
        # the device row's column is 32 bits (about 24.8 days either way); captures keep the exact offset
        .values(last_seen_at=now, clock_offset_ms=max(-MAX_INT32, min(offset_ms, MAX_INT32)))
    )


#: Per worker process: device → (cursor, clock offset, when) of the contact last written. A poll
#: that changes none of them writes nothing — 5,000 tablets polling every few minutes must not be
#: 5,000 write transactions — until :data:`CONTACT_EVERY` has passed, so "last seen" stays fresh
#: to within that. The cursor not moving also means there is nothing new to acknowledge: visits
#: assigned since have feed rows above it.
_contacts: dict[uuid.UUID, tuple[int, int, dt.datetime]] = {}
CONTACT_EVERY = dt.timedelta(minutes=5)
#: A clock offset that moved less than this is the same offset (network jitter).
_OFFSET_JITTER_MS = 2000


def _contact_is_news(device_id: uuid.UUID, cursor: int, offset: int, now: dt.datetime) -> bool:
    last = _contacts.get(device_id)
    if last is None or last[0] != cursor or abs(last[1] - offset) > _OFFSET_JITTER_MS:
        return True
    return now - last[2] >= CONTACT_EVERY


def _remember_contact(device_id: uuid.UUID, cursor: int, offset: int, now: dt.datetime) -> None:
    if len(_contacts) >= 65536:  # bounded like the digest cache: the oldest entry goes
        _contacts.pop(next(iter(_contacts)))
    _contacts[device_id] = (cursor, offset, now)


async def _acknowledge(session: AsyncSession, user: CurrentUser, cursor: int) -> None:
    """Visits the device has provably received (their feed row is at or below its cursor) are downloaded."""
    received = select(FeedRow.entity_id).where(
        FeedRow.user_id == user.id, FeedRow.kind == "visit", FeedRow.seq <= cursor, FeedRow.removed.is_(False)
    )
    visits = await session.scalars(
        select(Visit).where(Visit.assigned_to == user.id, Visit.state == "assigned", Visit.id.in_(received))
    )
    actor = Actor.of(user)
    for visit in visits.all():
        transition(visit, "downloaded", actor, session, "received by the device")


def _item(row: Any, msgpack: bool) -> msgspec.Raw:
    """A stored feed item as sent: JSON as stored, or converted to MessagePack."""
    if msgpack:
        return msgspec.Raw(msgspec.msgpack.encode(msgspec.json.decode(row.payload)))
    return msgspec.Raw(row.payload)


#: Core columns, not the ORM entity's: a page is thousands of rows, and ORM row loading was a
#: third of a pull's server time.
_FEED = core_table(FeedRow)
_COLUMNS = (_FEED.c.payload, _FEED.c.seq)
#: Entity ids as text: parsing thousands of UUIDs only to hash them again is the slow part of a check.
_ID_TEXT = cast(_FEED.c.entity_id, String)


#: Per worker process: user → (their latest feed sequence, digest of their live rows). A cache
#: only (any worker recomputes on a miss); the key changes whenever any of the user's rows does.
_digests: dict[uuid.UUID, tuple[int | None, str]] = {}


def _remember_digest(user_id: uuid.UUID, latest: int | None, value: str) -> None:
    if len(_digests) >= 4096:
        _digests.pop(next(iter(_digests)))
    _digests[user_id] = (latest, value)


async def _state_check(
    session: AsyncSession, user_id: uuid.UUID, request: PullRequest, msgpack: bool
) -> tuple[StateCheck, list[Any]]:
    """Compare the device's digest with its live feed rows; repair exactly the difference if it sent ``held``."""
    latest = await session.scalar(select(func.max(_FEED.c.seq)).where(_FEED.c.user_id == user_id))
    cached = _digests.get(user_id)
    if request.held is None and cached is not None and cached[0] == latest:
        return (StateCheck.ok if cached[1] == request.digest else StateCheck.mismatch), []
    rows = (
        await session.execute(
            select(_FEED.c.kind, _ID_TEXT, _FEED.c.version).where(
                _FEED.c.user_id == user_id, _FEED.c.removed.is_(False)
            )
        )
    ).all()
    live = {(kind, entity_id.replace("-", "").lower()): version for kind, entity_id, version in rows}
    server_digest = digest((k, i, v) for (k, i), v in live.items())
    _remember_digest(user_id, latest, server_digest)
    if server_digest == request.digest:
        return StateCheck.ok, []
    if request.held is None:
        return StateCheck.mismatch, []
    held = {(h.kind.value, h.id.hex): h.version for h in request.held}
    stale = [key for key, version in live.items() if held.get(key) != version]
    items: list[Any] = [
        FeedItem(kind=ItemKind(kind), id=uuid.UUID(entity_id), removed=True, reason="repair")
        for (kind, entity_id) in held
        if (kind, entity_id) not in live
    ]
    if stale:
        wanted = {uuid.UUID(entity_id) for _, entity_id in stale}
        found = await session.execute(
            select(*_COLUMNS).where(
                _FEED.c.user_id == user_id, _FEED.c.entity_id.in_(wanted), _FEED.c.removed.is_(False)
            )
        )
        items.extend(_item(row, msgpack) for row in found)
    return StateCheck.repaired, items


async def pull(
    factory: async_sessionmaker[AsyncSession],
    user: CurrentUser,
    secret: bytes,
    request: PullRequest,
    *,
    received_at: dt.datetime,
    msgpack: bool = False,
) -> PullResponse:
    """One page of the caller's feed (see module docstring)."""
    device_id = user.device_id
    assert device_id is not None
    cursor = 0
    if request.cursor:
        try:
            cursor = decode_cursor(secret, device_id, request.cursor)
        except CursorError as exc:
            raise DomainError.field("$.cursor", str(exc), code="bad_cursor") from exc
    offset = clock_offset_ms(request.device_time, received_at)
    if _contact_is_news(device_id, cursor, offset, received_at):
        async with writer(factory), factory() as session:
            await record_device_contact(session, user, received_at, offset, cursor_seq=cursor)
            if cursor:
                await _acknowledge(session, user, cursor)
            await session.commit()
        _remember_contact(device_id, cursor, offset, received_at)
    async with factory() as session:
        reset = False
        rows: list[Any] = []
        while True:
            head = await _counter(session, "feed")
            if cursor > head:  # a cursor from the future: the database was restored from a backup
                cursor, reset = 0, True
            query = select(*_COLUMNS).where(_FEED.c.user_id == user.id, _FEED.c.seq > cursor, _FEED.c.seq <= head)
            if cursor == 0:
                query = query.where(_FEED.c.removed.is_(False))
            rows = list((await session.execute(query.order_by(_FEED.c.seq).limit(request.limit + 1))).all())
            # read after the rows: removals below ``purged`` are gone, so an older cursor gets a snapshot
            if cursor and cursor < await _counter(session, "purged"):
                cursor, reset = 0, True
                continue
            break
        has_more = len(rows) > request.limit
        rows = rows[: request.limit]
        items: list[Any] = [_item(row, msgpack) for row in rows]
        next_seq = rows[-1].seq if has_more else head
        check = StateCheck.skipped
        if not rows and request.digest is not None:
            check, repairs = await _state_check(session, user.id, request, msgpack)
            items.extend(repairs)
    reference = reference_data()
    return PullResponse(
        items=items,
        cursor=encode_cursor(secret, device_id, next_seq),
        has_more=has_more,
        server_time=received_at,
        clock_offset_ms=offset,
        state_check=check,
        reset=reset,
        reference=reference if request.ref_version != reference.version else None,
    )


async def purge_removals(session: AsyncSession, before: dt.datetime) -> int:
    """Delete removal rows older than ``before`` (the change log's retention).

    Devices whose cursor is older than the newest deleted removal can no longer be told what to
    remove, so their next pull is a full snapshot followed by a state check that repairs the
    difference, removals included (ARCHITECTURE rule 9). Returns the number of rows deleted.
    """
    horizon = await session.scalar(
        select(func.max(FeedRow.seq)).where(FeedRow.removed.is_(True), FeedRow.changed_at < before)
    )
    if horizon is None:
        return 0
    deleted = await session.execute(delete(FeedRow).where(FeedRow.removed.is_(True), FeedRow.seq <= horizon))
    await session.execute(
        update(SyncCounter).where(SyncCounter.name == "purged", SyncCounter.value < horizon).values(value=horizon)
    )
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]
