"""``POST /sync/pull`` and ``POST /sync/push`` for tablets, and ``/reviews/…`` for supervisors.

Sync bodies are msgspec JSON, or MessagePack when the request's ``Content-Type`` (or, for the
response, ``Accept``) is ``application/msgpack``. Sync answers are compressed here rather than
by the app-wide compression: zstd or gzip as the device accepts, off the event loop
(:mod:`server.sync.compress`). Only a registered, unrevoked device may sync (the auth middleware
refuses a revoked one on every request).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody

from schemas.auth import Role
from schemas.sync import (
    CaptureEdit,
    CaptureItem,
    ConflictRead,
    ConflictResolve,
    DeviceImportResult,
    PrimaryChoice,
    PullRequest,
    PullResponse,
    PushResponse,
    ReturnRequest,
    VisitReview,
)
from server.auth.guards import allow
from server.deps import AppSettings, AuditActor, Caller, DbSession
from server.errors import DomainError
from server.media.controllers import media_context
from server.media.services import TooLarge
from server.params import ConflictId
from server.sync import apply, feed, recovery, review
from server.sync.compress import compress, negotiate
from sync.codec import MSGPACK, encode, error_from_msgspec

__all__ = ["ReviewController", "SyncController"]

_SUPERVISORS = allow(Role.supervisor, Role.admin)
_DEVICES = {**allow(Role.worker, Role.supervisor, device=True), "skip_compression": True}

_COMPRESS_MIN = 512


def _wants_msgpack(request: Request[Any, Any, Any]) -> bool:
    return MSGPACK in request.headers.get("accept", "")


def _sent_msgpack(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").startswith(MSGPACK)


async def _respond(request: Request[Any, Any, Any], value: Any) -> Response[Any]:
    msgpack = _wants_msgpack(request)
    body = encode(value, msgpack=msgpack)
    headers = {"Vary": "Accept, Accept-Encoding"}
    coding = negotiate(request.headers.get("accept-encoding", "")) if len(body) >= _COMPRESS_MIN else None
    if coding is not None:
        body = await compress(body, coding)
        headers["Content-Encoding"] = coding
    return Response(content=body, media_type=MSGPACK if msgpack else "application/json", headers=headers)


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @post("/pull", opt=_DEVICES, operation_id="sync_pull", status_code=200)
    async def pull(
        self, request: Request[Any, Any, Any], current_user: Caller, settings: AppSettings
    ) -> Response[PullResponse]:
        """The device's feed after its cursor, one page at a time; body: :class:`PullRequest`."""
        received_at = dt.datetime.now(dt.UTC)
        body = await request.body()
        try:
            data = (
                msgspec.msgpack.decode(body, type=PullRequest)
                if _sent_msgpack(request)
                else msgspec.json.decode(body, type=PullRequest)
            )
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            error = error_from_msgspec(exc)
            raise DomainError(f"{error.path}: {error.reason}", [error], code="validation") from exc
        result = await feed.pull(
            request.app.state.session_factory,
            current_user,
            settings.secret_key.encode(),
            data,
            received_at=received_at,
            msgpack=_wants_msgpack(request),
        )
        return await _respond(request, result)

    @post("/push", opt=_DEVICES, operation_id="sync_push", status_code=200)
    async def push(self, request: Request[Any, Any, Any], current_user: Caller) -> Response[PushResponse]:
        """Apply a batch of mutations (body: :class:`schemas.sync.PushRequest`), one result each."""
        received_at = dt.datetime.now(dt.UTC)
        body = await request.body()
        result = await apply.push(
            request.app.state.session_factory,
            current_user,
            body,
            received_at=received_at,
            msgpack=_sent_msgpack(request),
        )
        return await _respond(request, result)


class ReviewController(Controller):
    path = "/reviews"
    tags = ["sync"]

    @get("/visits/{visit_id:uuid}", opt=_SUPERVISORS, operation_id="review_visit")
    async def get_visit(self, db: DbSession, current_user: Caller, visit_id: uuid.UUID) -> VisitReview:
        """A visit with its captures, open conflict records and missing photos."""
        return await review.visit_review(db, current_user, visit_id)

    @post("/visits/{visit_id:uuid}/accept", opt=_SUPERVISORS, operation_id="accept_visit", status_code=200)
    async def accept(self, db: DbSession, current_user: Caller, actor: AuditActor, visit_id: uuid.UUID) -> VisitReview:
        """Accept a submitted visit (its primary capture is what decisions use)."""
        return await review.accept_visit(db, current_user, actor, visit_id)

    @post("/visits/{visit_id:uuid}/return", opt=_SUPERVISORS, operation_id="return_visit", status_code=200)
    async def return_(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        visit_id: uuid.UUID,
        data: JSONBody[ReturnRequest],
    ) -> VisitReview:
        """Return a submitted visit to the worker's tablet with a comment."""
        return await review.return_visit(db, current_user, actor, visit_id, data.comment)

    @post("/visits/{visit_id:uuid}/primary", opt=_SUPERVISORS, operation_id="choose_primary_capture", status_code=200)
    async def primary(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        visit_id: uuid.UUID,
        data: JSONBody[PrimaryChoice],
    ) -> VisitReview:
        """Choose which of a visit's captures counts (two devices, or a capture after reassignment)."""
        return await review.choose_primary(db, current_user, actor, visit_id, data.capture_id)

    @patch("/captures/{capture_id:uuid}", opt=_SUPERVISORS, operation_id="edit_capture")
    async def edit(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        capture_id: uuid.UUID,
        data: JSONBody[CaptureEdit],
    ) -> CaptureItem:
        """Correct a capture; ``base_version`` must be its current version."""
        return await review.edit_capture(db, current_user, actor, capture_id, data.base_version, data.fields)

    @post(
        "/devices/{device_id:uuid}/import",
        opt=_SUPERVISORS,
        operation_id="import_device_export",
        status_code=200,
        request_max_body_size=None,  # limited by RECHECK_IMPORT_MAX_BYTES below, before reading
    )
    async def import_device(
        self,
        request: Request[Any, Any, Any],
        current_user: Caller,
        actor: AuditActor,
        settings: AppSettings,
        device_id: uuid.UUID,
    ) -> DeviceImportResult:
        """Bring a revoked tablet's unsent work into review: body, the file ``recheck device export`` wrote."""
        length = request.content_length
        if length is None or length > settings.import_max_bytes:
            raise TooLarge.field(
                "Content-Length", f"required, and at most {settings.import_max_bytes} bytes (RECHECK_IMPORT_MAX_BYTES)"
            )
        return await recovery.import_device_export(
            request.app.state.session_factory,
            media_context(request.app.state),
            current_user,
            actor,
            device_id,
            await request.body(),
            received_at=dt.datetime.now(dt.UTC),
        )

    @get("/conflicts", opt=_SUPERVISORS, operation_id="list_conflicts")
    async def conflicts(
        self, db: DbSession, current_user: Caller, visit_id: uuid.UUID | None = None, open_only: bool = True
    ) -> list[ConflictRead]:
        """Conflict records (merges, second captures, captures after reassignment, clock skew)."""
        return await review.list_conflicts(db, current_user, visit_id=visit_id, open_only=open_only)

    @post("/conflicts/{conflict_id:int}/resolve", opt=_SUPERVISORS, operation_id="resolve_conflict", status_code=200)
    async def resolve(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        conflict_id: ConflictId,
        data: JSONBody[ConflictResolve],
    ) -> ConflictRead:
        """Close a conflict record, optionally applying the value that was not kept."""
        return await review.resolve_conflict(db, current_user, actor, conflict_id, data)
