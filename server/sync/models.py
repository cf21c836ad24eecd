"""Sync tables: the per-user change feed, the sequence counter, mutation receipts, captures,
conflict records, per-device sync state and per-field write records for merges.

``sync_feed`` is a compacted change log: one row per (user, record), moved to a new sequence
number on every change, a tombstone (``removed``) when the record leaves the user's scope.
Sequence numbers come from the single ``sync_counter`` row, taken under its row lock right
before commit, so commit order equals sequence order (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, BigIntPk, JSONDoc, utcnow

__all__ = [
    "CaptureRecord",
    "ConflictRecord",
    "DeviceSyncState",
    "FeedRow",
    "FieldWrite",
    "MutationReceipt",
    "SyncCounter",
]


class SyncCounter(Base):
    """Named counters: ``feed`` (last sequence number handed out) and ``purged`` (tombstones
    with a sequence up to this value were deleted; older cursors get a full snapshot)."""

    __tablename__ = "sync_counter"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedRow(Base):
    """The latest change of one record for one user: ``payload`` is the encoded
    :class:`schemas.sync.FeedItem` (the record, or its removal) exactly as a pull sends it."""

    __tablename__ = "sync_feed"
    __table_args__ = (
        Index("ix_sync_feed_user_seq", "user_id", "seq", unique=True),
        Index("ix_sync_feed_visit", "visit_id"),
        Index("ix_sync_feed_household", "household_id"),
        Index("ix_sync_feed_removed_seq", "removed", "seq"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=0)
    household_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    visit_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(16), default=None)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MutationReceipt(Base):
    """A mutation applied (or rejected) once; replays get ``result`` back unchanged."""

    __tablename__ = "sync_receipt"

    mutation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID]
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    body_hash: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    result: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaptureRecord(Base):
    """The latest merged capture of a visit by one device (decisions read the primary one).

    ``form`` is the whole :class:`schemas.capture.Capture` as JSON; the columns beside it repeat
    what reviews and decisions filter on. ``field_meta`` records each field's last write
    (:class:`sync.merge.FieldMeta`) for three-way merges.
    """

    __tablename__ = "visit_capture"
    __table_args__ = (
        Index(
            "uq_visit_capture_primary",
            "visit_id",
            unique=True,
            sqlite_where=text("role = 'primary'"),
            postgresql_where=text("role = 'primary'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    role: Mapped[str] = mapped_column(String(10), default="primary")
    version: Mapped[int] = mapped_column(Integer, default=1)
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    field_meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    review: Mapped[str | None] = mapped_column(String(10), default=None)
    photo_hashes: Mapped[list[Any]] = mapped_column(default=list)
    clock_offset_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    clock_skew: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConflictRecord(Base):
    """Something a supervisor must see: a field both sides changed (with both values), a second
    capture of one visit, a capture made after reassignment, a category proposal, an edit after
    acceptance. Never deleted; ``resolved_at`` closes it."""

    __tablename__ = "sync_conflict"
    __table_args__ = (Index("ix_sync_conflict_visit_open", "visit_id", "resolved_at"),)

    id: Mapped[BigIntPk]
    kind: Mapped[str] = mapped_column(String(24))
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID]
    visit_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    field: Mapped[str | None] = mapped_column(String(40), default=None)
    kept: Mapped[str | None] = mapped_column(String(8), default=None)
    rule: Mapped[str | None] = mapped_column(String(20), default=None)
    why: Mapped[str | None] = mapped_column(String(200), default=None)
    server_value: Mapped[Any] = mapped_column(JSONDoc, nullable=True, default=None)
    device_value: Mapped[Any] = mapped_column(JSONDoc, nullable=True, default=None)
    base_version: Mapped[int | None] = mapped_column(Integer, default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    device_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    mutation_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(12), default=None)
    note: Mapped[str | None] = mapped_column(String(500), default=None)


class DeviceSyncState(Base):
    """Where each device is: its last acknowledged cursor, last syncs and measured clock offset."""

    __tablename__ = "sync_device"

    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_pull_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_push_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    clock_offset_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    clock_measured_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class FieldWrite(Base):
    """The last write of one mergeable field of a registry record (households), for merges."""

    __tablename__ = "sync_field_write"

    entity: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(48))
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
