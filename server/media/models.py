"""Uploads in progress (tus) and photo evidence records."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["Photo", "Upload"]


class Upload(Base):
    """One tus upload, its whole state in the database so any app worker can continue it.

    Bytes already received live in the object store as multipart parts (``parts``: number, etag,
    size, in order, each exactly the part size) plus ``tail``, the bytes after the last whole
    part, kept here until a part is full or the upload completes. ``offset`` is always
    ``sum(part sizes) + len(tail)``.

    A request streaming into the upload holds a lease (``lock_token`` until ``locked_until``);
    a newer request takes it over, and the older one's later writes are refused by the
    ``lock_token`` check, so a connection that died unnoticed never corrupts the state.
    """

    __tablename__ = "media_upload"
    __table_args__ = (Index("ix_media_upload_expires_at", "expires_at"),)

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(200), default=None)
    upload_metadata: Mapped[str] = mapped_column(String(2000), default="")
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    store_upload_id: Mapped[str] = mapped_column(String(1024))
    staging_key: Mapped[str] = mapped_column(String(64))
    part_size: Mapped[int] = mapped_column(Integer)
    parts: Mapped[list[Any]] = mapped_column(default=list)
    tail: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    state: Mapped[str] = mapped_column(String(16), default="open")
    """``open`` (receiving), ``done`` (stored), ``failed`` (rejected; everything discarded)."""
    failure: Mapped[str | None] = mapped_column(String(40), default=None)
    lock_token: Mapped[str | None] = mapped_column(String(32), default=None)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class Photo(Base):
    """A photo of a visit: referenced by the visit (possibly before its bytes), then stored.

    ``status``: ``pending`` (referenced, bytes not yet arrived and verified), ``stored``
    (original and renditions in the store) or ``rejected`` (the upload failed the pipeline;
    ``reject_reason`` says why). ``sha256`` is the original's content address; ``review_sha256``
    and ``thumb_sha256`` those of the renditions. ``phash`` is the 64-bit difference hash as a
    signed 64-bit integer, and ``phash_b0`` … ``phash_b2`` its three bands (22, 21, 21 bits), each indexed, so
    a near-duplicate lookup reads only the photos sharing a close band (``media.images.phash_bands``)
    instead of every photo. ``duplicate_of_id`` / ``duplicate_visit_id`` name a photo of another
    household that looks the same (``duplicate_distance`` bits apart), for the supervisor.
    """

    __tablename__ = "photo"
    __table_args__ = (
        UniqueConstraint("visit_id", "sha256"),
        Index("ix_photo_household_status", "household_id", "status"),
        Index("ix_photo_sha256", "sha256"),
        *(Index(f"ix_photo_phash_b{i}", f"phash_b{i}") for i in range(3)),
    )

    id: Mapped[UuidPk]
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    filename: Mapped[str | None] = mapped_column(String(200), default=None)
    content_type: Mapped[str | None] = mapped_column(String(40), default=None)
    byte_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    review_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    thumb_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    captured_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    capture_time_source: Mapped[str | None] = mapped_column(String(16), default=None)
    gps_lat: Mapped[float | None] = mapped_column(Float, default=None)
    gps_lon: Mapped[float | None] = mapped_column(Float, default=None)
    gps_altitude: Mapped[float | None] = mapped_column(Float, default=None)
    exif_notes: Mapped[list[Any]] = mapped_column(default=list)
    phash: Mapped[int | None] = mapped_column(BigInteger, default=None)
    phash_b0: Mapped[int | None] = mapped_column(Integer, default=None)
    phash_b1: Mapped[int | None] = mapped_column(Integer, default=None)
    phash_b2: Mapped[int | None] = mapped_column(Integer, default=None)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("photo.id"), default=None)
    duplicate_visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit.id"), default=None)
    duplicate_distance: Mapped[int | None] = mapped_column(Integer, default=None)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("device.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[dt.datetime | None] = mapped_column(default=None)
