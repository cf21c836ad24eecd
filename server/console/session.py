"""The console's browser session: one signed, HttpOnly cookie.

The cookie carries a CSRF nonce, the time of the last request (for the idle timeout) and, once
signed in, the secret of a refresh-token row issued by the API's own login service. So the
session lives in the database like every other credential: signing out, disabling the account
or reaching the refresh token's lifetime ends it on every app worker, and nothing is kept in
process memory. The cookie is re-signed on every answer, which slides the idle timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.identity import CurrentUser
from server.auth.models import RefreshToken
from server.auth.secrets import hash_secret
from server.auth.services import resolve_user
from server.db.base import utcnow

__all__ = ["COOKIE", "SessionData", "load_user", "read_cookie", "write_cookie"]

#: The session cookie's name.
COOKIE = "recheck_console"


class SessionData(msgspec.Struct, frozen=True):
    """What the cookie holds: ``n`` the CSRF nonce, ``r`` the refresh secret (empty when signed
    out), ``t`` the last request's time in epoch milliseconds."""

    n: str
    r: str = ""
    t: int = 0

    @classmethod
    def fresh(cls) -> SessionData:
        """A signed-out session with a new CSRF nonce."""
        return cls(n=secrets.token_urlsafe(24), t=int(time.time() * 1000))


def _key(secret_key: str) -> bytes:
    # A key of its own, so a console cookie can never pass for another signed value.
    return hashlib.sha256(f"console-session:{secret_key}".encode()).digest()


def write_cookie(secret_key: str, data: SessionData) -> str:
    """The signed cookie value for ``data``."""
    body = base64.urlsafe_b64encode(msgspec.json.encode(data)).decode().rstrip("=")
    mac = hmac.new(_key(secret_key), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def read_cookie(secret_key: str, value: str | None) -> SessionData | None:
    """The session in a cookie value, or ``None`` when absent, forged or damaged."""
    if not value or "." not in value or len(value) > 1000:
        return None
    body, _, mac = value.rpartition(".")
    expected = hmac.new(_key(secret_key), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=SessionData)
    except (ValueError, msgspec.DecodeError):
        return None


@dataclass(frozen=True, slots=True)
class SessionState:
    """The outcome of reading a request's cookie: the session to write back, the user if still
    signed in, and whether a signed-in session just ran out (idle or ended elsewhere)."""

    data: SessionData
    user: CurrentUser | None
    expired: bool


async def load_user(
    session: AsyncSession, data: SessionData | None, idle_seconds: int, now: float | None = None
) -> SessionState:
    """Resolve the cookie's user exactly as the API resolves a token's (account active, role,
    areas); an idle, revoked or expired session is signed out, keeping the CSRF nonce so the
    form that was being posted can be posted again after signing in."""
    now = time.time() if now is None else now
    if data is None:
        return SessionState(SessionData.fresh(), None, False)
    if not data.r:
        return SessionState(msgspec.structs.replace(data, t=int(now * 1000)), None, False)
    signed_out = SessionData(n=data.n, t=int(now * 1000))
    if now * 1000 - data.t > idle_seconds * 1000:
        return SessionState(signed_out, None, True)
    stored = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_secret(data.r)))
    if stored is None or stored.revoked_at is not None or stored.expires_at <= utcnow() or stored.device_id:
        return SessionState(signed_out, None, True)
    user = await resolve_user(session, stored.user_id, None)
    if user is None:
        return SessionState(signed_out, None, True)
    return SessionState(msgspec.structs.replace(data, t=int(now * 1000)), user, False)
