"""Password hashing (argon2), access tokens (HS256 JWT) and opaque secrets (refresh, device)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "decode_access_token",
    "hash_password",
    "hash_secret",
    "issue_access_token",
    "new_secret",
    "verify_password",
]

# Light parameters keep a login under ~50 ms on a 2-core box while staying memory-hard.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A random URL-safe secret (refresh tokens, device credentials)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Opaque secrets are high-entropy, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_access_token(
    key: str, user_id: uuid.UUID, role: str, device_id: uuid.UUID | None, minutes: int
) -> tuple[str, int]:
    """A signed short-lived token; returns it with its lifetime in seconds."""
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
        "typ": "access",
    }
    if device_id:
        claims["dev"] = str(device_id)
    return jwt.encode(claims, key, algorithm="HS256"), minutes * 60


def decode_access_token(key: str, token: str) -> dict[str, Any] | None:
    """The token's claims, or ``None`` if it is forged, expired or not an access token."""
    try:
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None
