"""Every endpoint declares the roles it allows; one app-wide guard enforces the declaration.

Handlers say ``opt=allow(Role.supervisor, Role.admin)`` (add ``device=True`` for endpoints only a
registered tablet may call). An endpoint that declares nothing is refused to everyone: forgetting
the declaration fails closed. Public endpoints use ``opt=PUBLIC``.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from schemas.auth import Role
from server.auth.identity import CurrentUser

__all__ = ["ALL_ROLES", "PUBLIC", "SCHEMA_PATH", "allow", "role_guard"]

ALL_ROLES = tuple(Role)

#: The OpenAPI documents and viewers are public (they describe the API, they hold no data).
SCHEMA_PATH = "/schema"

#: Options for endpoints that need no login (health, login, schema).
PUBLIC: dict[str, Any] = {"exclude_from_auth": True, "roles": ()}


def allow(*roles: Role, device: bool = False) -> dict[str, Any]:
    """Handler options declaring the roles allowed (and whether a registered device is required)."""
    return {"roles": tuple(roles), "device_required": device}


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse callers whose role the handler does not declare (403, machine-readable)."""
    if handler.opt.get("exclude_from_auth") or connection.scope["path"].startswith(SCHEMA_PATH):
        return
    user = connection.scope.get("user")
    roles = handler.opt.get("roles") or ()
    if not isinstance(user, CurrentUser) or user.role not in roles:
        raise PermissionDeniedException("your role may not use this endpoint")
    if handler.opt.get("device_required") and user.device_id is None:
        raise PermissionDeniedException("this endpoint needs a registered device: log in with its credential")
