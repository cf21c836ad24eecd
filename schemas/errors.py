"""Machine-readable error bodies: every 4xx names the field (as a path) and the reason."""

from __future__ import annotations

from schemas.base import Struct

__all__ = ["ErrorBody", "FieldError"]


class FieldError(Struct):
    """One problem with one field. ``path`` is a JSONPath-like string, e.g. ``$.members[2].id_number``
    or, for spreadsheets, ``row 14 / 身份证号``."""

    path: str
    reason: str


class ErrorBody(Struct):
    """The body of every error response."""

    status: int
    code: str
    message: str
    errors: list[FieldError] = []
    request_id: str | None = None
