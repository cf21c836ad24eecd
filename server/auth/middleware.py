"""Bearer-token authentication: every request re-checks the account and the device in the
database, so disabling a user or revoking a lost tablet takes effect on its very next request,
on every app worker."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server.auth.secrets import decode_access_token
from server.auth.services import device_revoked, resolve_user, revoked_device

__all__ = ["TokenAuthMiddleware"]


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer <access token>`` into a :class:`CurrentUser`."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("missing bearer token")
        state = connection.app.state
        claims = decode_access_token(state.settings.secret_key, token.strip())
        if claims is None:
            raise NotAuthorizedException("access token is invalid or expired")
        try:
            user_id = uuid.UUID(claims["sub"])
            device_id = uuid.UUID(claims["dev"]) if claims.get("dev") else None
        except (ValueError, TypeError) as exc:
            raise NotAuthorizedException("access token is malformed") from exc
        async with state.session_factory() as session:
            user = await resolve_user(session, user_id, device_id)
            if user is None and (device := await revoked_device(session, user_id, device_id)) is not None:
                raise await device_revoked(session, device)
        if user is None:
            raise NotAuthorizedException("account disabled or device revoked")
        return AuthenticationResult(user=user, auth=claims)
