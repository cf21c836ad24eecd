"""``Idempotency-Key`` on creates (draft-ietf-httpapi-idempotency-key-header).

A client that never got the answer to a create sends it again with the same key:

* same key, same request (method, path, query, body): the stored answer is replayed, status and
  body, with ``Idempotent-Replayed: true``, and nothing is created again;
* same key, another request: 422 ``idempotency_key_reused``;
* same key while the first request is still being processed: 409 ``idempotency_in_flight``
  (with ``Retry-After``).

The answer is stored in the create's own transaction (:func:`server.deps.provide_db` adds it
just before the commit), so a server killed after the commit still replays it, and one killed
before the commit leaves nothing behind: the retry simply runs the create. Keys are per user and
kept for ``RECHECK_IDEMPOTENCY_HOURS``; ``recheck idempotency purge`` deletes expired answers.

"In flight" is a claim held by the live request, never a stored row, so a killed server leaves
no stale claim: in this process a set of claimed keys, across processes on PostgreSQL an advisory
lock taken in the request's transaction (released with it, or with the connection when the
process dies).

Routes: every POST answering 201 that uses the request's database session, and any route that
sets ``opt={"idempotent": True}``; ``opt={"idempotent": False}`` opts out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar import Request, Response
from litestar.response.base import ASGIResponse
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.errors import FieldError
from server.auth.identity import CurrentUser
from server.db.base import utcnow
from server.errors import Conflict, DomainError, InvalidInput
from server.idempotency.models import StoredAnswer
from server.settings import Settings

__all__ = [
    "HEADER",
    "REPLAYED",
    "AnswerRecordingResponse",
    "Guard",
    "Replay",
    "applies",
    "purge_expired",
    "replay_response",
]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_STATE_KEY = "idempotency_guard"
#: Headers not worth keeping: recomputed on replay, or this request's own.
_UNSTORED = frozenset({"content-length", "content-type", "x-request-id", "date"})


class InFlight(Conflict):
    code = "idempotency_in_flight"
    headers = {"Retry-After": "1"}


class KeyReused(InvalidInput):
    code = "idempotency_key_reused"


class BadKey(DomainError):
    status = 400
    code = "validation"


class Replay(Exception):
    """Raised before the handler runs: answer with the stored response instead."""

    def __init__(self, status: int, content_type: str | None, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.body = body


def replay_response(request: Request[Any, Any, Any], exc: Replay) -> Response[bytes]:
    headers = dict(exc.headers)
    headers[REPLAYED] = "true"
    return Response(content=exc.body, status_code=exc.status, headers=headers, media_type=exc.content_type or "")


def applies(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's route is a create that honours the header."""
    handler = request.route_handler
    flag = handler.opt.get("idempotent")
    if flag is not None:
        return bool(flag)
    return request.method == "POST" and handler.status_code == 201


def parse_key(raw: str) -> str:
    """The key from the header: a structured-field string (``"…"``), or the bare value as most
    clients send it. Printable ASCII, 1 to 255 characters."""
    value = raw.strip()
    quoted = value.startswith('"')
    if quoted and len(value) >= 2 and value.endswith('"'):
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        quoted = False
    if quoted or not 0 < len(value) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        reason = f"1 to {MAX_KEY_LENGTH} printable ASCII characters, bare or as one quoted string"
        raise BadKey(f"{HEADER}: {reason}", [FieldError(path=HEADER, reason=reason)])
    return value


def _derive(secret: str, purpose: bytes, user_id: uuid.UUID, key: str) -> bytes:
    """A per-purpose secret from the server's secret, the user and the client's key."""
    return hmac.new(secret.encode(), purpose + b"\0" + user_id.bytes + key.encode(), hashlib.sha256).digest()


def _fingerprint(request: Request[Any, Any, Any], body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.scope["path"], request.scope.get("query_string", b"").decode("latin-1")):
        digest.update(part.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


class _Sealed(msgspec.Struct, array_like=True):
    content_type: str | None
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Guard:
    """One create request carrying an ``Idempotency-Key``."""

    user_id: uuid.UUID
    key_hash: str
    seal_key: bytes
    fingerprint: str
    lifetime: dt.timedelta
    claims: set[tuple[uuid.UUID, str]]
    answer: ASGIResponse | None = None
    _claimed: bool = field(default=False, repr=False)

    @classmethod
    async def of(
        cls, request: Request[Any, Any, Any], settings: Settings, claims: set[tuple[uuid.UUID, str]]
    ) -> Guard | None:
        """The guard for ``request``, or ``None`` when it sends no key or its route is no create."""
        raw = request.headers.get(HEADER)
        user = request.scope.get("user")
        if raw is None or not isinstance(user, CurrentUser) or not applies(request):
            return None
        key = parse_key(raw)
        guard = cls(
            user_id=user.id,
            key_hash=_derive(settings.secret_key, b"idempotency-lookup", user.id, key).hex(),
            seal_key=_derive(settings.secret_key, b"idempotency-seal", user.id, key),
            fingerprint=_fingerprint(request, await request.body()),
            lifetime=dt.timedelta(hours=settings.idempotency_hours),
            claims=claims,
        )
        request.scope["state"][_STATE_KEY] = guard
        return guard

    @property
    def _claim(self) -> tuple[uuid.UUID, str]:
        return (self.user_id, self.key_hash)

    async def enter(self, session: AsyncSession) -> None:
        """Claim the key, then replay or refuse if an answer is stored. Call first in the transaction."""
        if self._claim in self.claims:
            raise InFlight(f"a request with this {HEADER} is still being processed; retry shortly")
        self.claims.add(self._claim)
        self._claimed = True
        if session.get_bind().dialect.name == "postgresql":
            lock = int.from_bytes(bytes.fromhex(self.key_hash)[:8], "big", signed=True)
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(lock))):
                raise InFlight(f"a request with this {HEADER} is still being processed; retry shortly")
        stored = await session.get(StoredAnswer, self._claim)
        if stored is None:
            return
        if stored.expires_at <= utcnow():
            await session.delete(stored)
            await session.flush()
            return
        if stored.fingerprint != self.fingerprint:
            raise KeyReused.field(HEADER, "already used for another request: send a new key")
        sealed = self._unseal(stored.sealed)
        if sealed is None:  # sealed under another server secret: nothing can be replayed
            await session.delete(stored)
            await session.flush()
            return
        raise Replay(stored.status, sealed.content_type, sealed.headers, sealed.body)

    def record(self, response: ASGIResponse) -> None:
        """Keep the rendered answer (called as the handler's response is built, before the commit)."""
        if response.status_code < 400:
            self.answer = response

    async def store(self, session: AsyncSession) -> None:
        """Add the recorded answer to the create's transaction (just before its commit)."""
        if self.answer is None:
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.answer.headers.headers]
        sealed = _Sealed(
            content_type=self.answer.headers.get("content-type"),
            headers=[(k, v) for k, v in headers if k.lower() not in _UNSTORED],
            body=self.answer.body,
        )
        now = utcnow()
        session.add(
            StoredAnswer(
                user_id=self.user_id,
                key_hash=self.key_hash,
                fingerprint=self.fingerprint,
                status=self.answer.status_code,
                sealed=self._seal(sealed),
                created_at=now,
                expires_at=now + self.lifetime,
            )
        )
        await session.flush()

    def release(self) -> None:
        """Give up the in-process claim (after the commit or the rollback)."""
        if self._claimed:
            self.claims.discard(self._claim)
            self._claimed = False

    def _seal(self, sealed: _Sealed) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.seal_key).encrypt(nonce, msgspec.msgpack.encode(sealed), self.key_hash.encode())

    def _unseal(self, data: bytes) -> _Sealed | None:
        try:
            plain = AESGCM(self.seal_key).decrypt(data[:12], data[12:], self.key_hash.encode())
        except InvalidTag:
            return None
        return msgspec.msgpack.decode(plain, type=_Sealed)


class AnswerRecordingResponse(Response[Any]):
    """The app's response class: hands the rendered answer of a guarded create to its guard."""

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(app, request, **kwargs)
        guard = request.scope.get("state", {}).get(_STATE_KEY)
        if isinstance(guard, Guard):
            guard.record(response)
        return response


async def purge_expired(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Delete the answers whose keys have expired; returns how many."""
    result = await session.execute(delete(StoredAnswer).where(StoredAnswer.expires_at <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
