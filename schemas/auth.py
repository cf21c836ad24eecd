"""Accounts, roles, tokens and devices on the wire."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated

import msgspec

from schemas.base import AreaId, Struct

__all__ = [
    "DeviceCreate",
    "DeviceRead",
    "DeviceRegistered",
    "LoginRequest",
    "RefreshRequest",
    "Role",
    "TokenPair",
    "UserCreate",
    "UserRead",
    "UserUpdate",
]

Username = Annotated[str, msgspec.Meta(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=200)]


class Role(enum.StrEnum):
    """Roles from DOMAIN.md."""

    admin = "admin"
    approver = "approver"
    supervisor = "supervisor"
    worker = "worker"
    auditor = "auditor"


class LoginRequest(Struct):
    """Password login; a tablet also names its device and proves it holds the device secret."""

    username: Username
    password: Annotated[str, msgspec.Meta(max_length=200)]
    device_id: uuid.UUID | None = None
    device_secret: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class RefreshRequest(Struct):
    refresh_token: Annotated[str, msgspec.Meta(max_length=200)]


class UserRead(Struct):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    active: bool
    area_ids: list[int]
    device_id: uuid.UUID | None = None


class TokenPair(Struct):
    """Access token (short-lived, bearer) and refresh token (rotated on every use)."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str
    user: UserRead | None = None


class UserCreate(Struct):
    username: Username
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    role: Role
    password: Password
    area_ids: Annotated[list[AreaId], msgspec.Meta(min_length=1)]
    phone: str | None = None


class UserUpdate(Struct):
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    area_ids: Annotated[list[AreaId], msgspec.Meta(min_length=1)] | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    """Admins only; the county's last active admin keeps the role."""


class DeviceCreate(Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class DeviceRegistered(Struct):
    """Returned once at registration: the secret is never shown again."""

    device_id: uuid.UUID
    device_secret: str
    name: str


class DeviceRead(Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    last_seen_at: dt.datetime | None = None
