"""Machine-readable error bodies: every 4xx names the field (as a path) and the reason."""

from __future__ import annotations

import datetime as dt
import uuid

from schemas.base import Struct

__all__ = ["DeviceRevocation", "ErrorBody", "FieldError"]


class FieldError(Struct):
    """One problem with one field. ``path`` is a JSONPath-like string, e.g. ``$.members[2].id_number``
    or, for spreadsheets, ``row 14 / 身份证号``."""

    path: str
    reason: str


class DeviceRevocation(Struct):
    """Which tablet was revoked, when and by whom (sent with the code ``device_revoked``)."""

    device_id: uuid.UUID
    device_name: str
    revoked_at: dt.datetime
    revoked_by: uuid.UUID | None = None
    revoked_by_name: str | None = None
    """The display name of the supervisor or admin who revoked it."""


class ErrorBody(Struct):
    """The body of every error response."""

    status: int
    code: str
    message: str
    errors: list[FieldError] = []
    request_id: str | None = None
    revocation: DeviceRevocation | None = None
    """With ``device_revoked``: the tablet's unsent work stays on it (export it for a supervisor)."""
