"""Users, their areas, devices (tablets), refresh tokens and login attempts."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["Device", "LoginAttempt", "RefreshToken", "User", "UserArea"]


class User(Base):
    """A person who logs in. ``role`` is one of :class:`schemas.auth.Role`."""

    __tablename__ = "user_account"

    id: Mapped[UuidPk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    home_lat: Mapped[float | None] = mapped_column(default=None)
    home_lon: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UserArea(Base):
    """The areas a user works in; they see everything below each of them in the area tree."""

    __tablename__ = "user_area"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), primary_key=True)


class Device(Base):
    """A registered tablet with its own revocable credential (only the secret's hash is kept)."""

    __tablename__ = "device"

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    clock_offset_ms: Mapped[int | None] = mapped_column(Integer, default=None)


class RefreshToken(Base):
    """A refresh token (hash only). Each use rotates it; reuse of a rotated one is refused."""

    __tablename__ = "refresh_token"

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class LoginAttempt(Base):
    """A failed login, keyed by account (``user:name``) and by address (``addr:ip``).

    Kept in the database so the rate limit holds across app workers.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
