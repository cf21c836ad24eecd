"""Domain errors and the exception handlers that turn every failure into an :class:`ErrorBody`.

Services raise :class:`DomainError` subclasses; handlers never build error responses by hand.
Decoding errors from msgspec carry the failing field as ``at `$.path```, which is lifted into
``errors[0].path`` so clients always get a field path and a reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from schemas.errors import DeviceRevocation, ErrorBody, FieldError

__all__ = [
    "Conflict",
    "DeviceRevoked",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Unauthorized",
    "exception_handlers",
]

log = logging.getLogger("recheck.errors")


class DomainError(Exception):
    """A refusal the client can act on. Subclasses fix the status and code."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None
    """Response headers the refusal carries (e.g. ``Retry-After``)."""

    def __init__(self, message: str, errors: list[FieldError] | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        if code:
            self.code = code

    @classmethod
    def field(cls, path: str, reason: str, *, code: str | None = None) -> DomainError:
        """The common case: one field is wrong."""
        return cls(f"{path}: {reason}", [FieldError(path=path, reason=reason)], code=code)


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class DeviceRevoked(Unauthorized):
    """The tablet's credential was revoked: said in words, with when and by whom."""

    code = "device_revoked"

    def __init__(self, revocation: DeviceRevocation) -> None:
        who = revocation.revoked_by_name or "a supervisor"
        when = revocation.revoked_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        super().__init__(
            f"this tablet ({revocation.device_name}) was revoked on {when} by {who}: it can no longer sync. "
            "What it has not sent stays on it: export it and hand the file to your supervisor",
            [FieldError(path="device_id", reason="revoked")],
        )
        self.revocation = revocation


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _respond(request: Request[Any, Any, Any], body: ErrorBody, headers: dict[str, str] | None = None) -> Response[Any]:
    body.request_id = _request_id(request)
    return Response(content=body, status_code=body.status, media_type=MediaType.JSON, headers=headers)


_AT_PATH = re.compile(r"\s*-\s*at `\$(?:\.data)?([^`]*)`")
_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _body_error(cause: msgspec.ValidationError) -> FieldError:
    """msgspec says ``Invalid UUID - at `$.data.device_id```; clients want ``$.device_id``."""
    message = str(cause)
    match = _AT_PATH.search(message)
    path = "$" + (match.group(1) if match else "")
    reason = _AT_PATH.sub("", message)
    if unknown := _UNKNOWN_FIELD.search(reason):
        path = f"{path}.{unknown.group(1)}"
    return FieldError(path=path, reason=reason)


def _validation_errors(exc: LitestarValidationException) -> list[FieldError]:
    """Field paths and reasons from a failed decode: ``$.…`` for the body, the name for parameters."""
    if isinstance(exc.__cause__, msgspec.ValidationError):
        return [_body_error(exc.__cause__)]
    errors = [
        FieldError(path=str(item.get("key") or "$"), reason=str(item.get("message") or "invalid"))
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    return errors or [FieldError(path="$", reason=str(exc.detail))]


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    body = ErrorBody(status=exc.status, code=exc.code, message=exc.message, errors=exc.errors)
    if isinstance(exc, DeviceRevoked):
        body.revocation = exc.revocation
    return _respond(request, body, headers=exc.headers)


def _validation(request: Request[Any, Any, Any], exc: LitestarValidationException) -> Response[Any]:
    errors = _validation_errors(exc)
    message = "; ".join(f"{e.path}: {e.reason}" for e in errors)
    return _respond(request, ErrorBody(status=400, code="validation", message=message, errors=errors))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        429: "rate_limited",
    }.get(exc.status_code, "http_error")
    if isinstance(exc, NotAuthorizedException):
        code = "unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        code = "forbidden"
    body = ErrorBody(status=exc.status_code, code=code, message=str(exc.detail))
    return _respond(request, body, headers=exc.headers)


def _recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """msgspec gives up on absurdly nested input with a RecursionError, which Litestar lets through."""
    if "deserializing" not in str(exc):
        return _unexpected(request, exc)
    error = FieldError(path="$", reason="the document is nested too deeply")
    return _respond(request, ErrorBody(status=400, code="validation", message=error.reason, errors=[error]))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", extra={"request_id": _request_id(request)})
    body = ErrorBody(status=HTTP_500_INTERNAL_SERVER_ERROR, code="internal", message="internal error")
    return _respond(request, body)


exception_handlers: dict[type[Exception], Any] = {
    DomainError: _domain,
    LitestarValidationException: _validation,
    HTTPException: _http,
    RecursionError: _recursion,
    Exception: _unexpected,
}
