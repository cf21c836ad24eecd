"""tus 1.0 uploads under ``/uploads/``, a visit's photos, and signed local downloads under ``/media/``.

The tus endpoints answer with the protocol's headers and status codes (``Tus-Resumable`` on every
answer, 204/201/409/410/412/415/460) and a machine-readable `ErrorBody` on refusals; any
standard tus client works with them.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, HttpMethod, MediaType, Request, Response, delete, get, head, patch, post, route
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.response import File

from media.store import LocalStore, SignatureRejected
from schemas.auth import Role
from schemas.errors import ErrorBody, FieldError
from schemas.media import VisitPhotos
from server.auth.guards import ALL_ROLES, PUBLIC, allow
from server.deps import AuditActor, Caller, DbSession
from server.errors import DomainError, InvalidInput
from server.media import services
from server.media.config import MediaConfig, open_media_store
from server.media.models import Upload
from server.media.services import MediaContext

__all__ = ["MediaDownloadController", "TusController", "VisitPhotoController", "media_context"]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
_OFFSET_STREAM = "application/offset+octet-stream"
_UPLOADER = allow(Role.worker, device=True)


def media_context(state: State) -> MediaContext:
    """The process's media context (store opened once, on first use, and shared)."""
    context: MediaContext | None = state.get("media_context")
    if context is None:
        config = MediaConfig.from_env()
        context = MediaContext(state.session_factory, open_media_store(state.settings, config), config)
        state.media_context = context
    return context


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _http_date(upload: Upload) -> str:
    return email.utils.format_datetime(upload.expires_at, usegmt=True)


def _error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    body = ErrorBody(
        status=exc.status,
        code=exc.code,
        message=exc.message,
        errors=exc.errors,
        request_id=request.scope.get("state", {}).get("request_id"),
    )
    return Response(content=body, status_code=exc.status, media_type=MediaType.JSON, headers=_tus_headers())


def _check_version(request: Request[Any, Any, Any]) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        raise _VersionMismatch.field("Tus-Resumable", f"this server speaks tus {TUS_VERSION}")


class _VersionMismatch(DomainError):
    status = 412
    code = "tus_version"


class _UnsupportedMedia(DomainError):
    status = 415
    code = "unsupported_media_type"


def _int_header(request: Request[Any, Any, Any], name: str) -> int:
    value = request.headers.get(name)
    if value is None or not value.isdigit():
        raise InvalidInput.field(name, "required: a non-negative integer")
    return int(value)


def _checksum(request: Request[Any, Any, Any]) -> tuple[str, bytes] | None:
    header = request.headers.get("upload-checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in services.CHECKSUM_ALGORITHMS:
        raise InvalidInput.field("Upload-Checksum", f"algorithm {algorithm!r} not supported (sha256, sha1)")
    try:
        return algorithm, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.field("Upload-Checksum", "digest is not base64") from None


async def _body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    """The request body as it arrives; `services.ClientGone` if the connection drops midway."""
    while True:
        message = await request.receive()
        if message["type"] == "http.request":
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise services.ClientGone


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


def _upload_headers(upload: Upload, **extra: str) -> dict[str, str]:
    return _tus_headers(
        **{"Upload-Offset": str(upload.offset if upload.state != "done" else upload.length)},
        **{"Upload-Expires": _http_date(upload)} if upload.state == "open" else {},
        **extra,
    )


class TusController(Controller):
    """tus 1.0: core, creation, creation-with-upload, checksum (sha256, sha1), termination, expiration."""

    path = "/uploads"
    tags = ["media"]

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        """Our OPTIONS handler first: registered after ``POST``, Litestar's generic one would win."""
        handlers = super().get_route_handlers()
        return sorted(handlers, key=lambda h: "OPTIONS" not in getattr(h, "http_methods", ()))

    @route("/", http_method=[HttpMethod.OPTIONS], opt=PUBLIC, operation_id="tus_options", status_code=200)
    async def discover(self, state: State) -> Response[None]:
        """What this tus server supports."""
        config = media_context(state).config
        return Response(
            content=None,
            status_code=204,
            headers=_tus_headers(
                **{
                    "Tus-Version": TUS_VERSION,
                    "Tus-Extension": TUS_EXTENSIONS,
                    "Tus-Max-Size": str(config.upload_max_bytes),
                    "Tus-Checksum-Algorithm": ",".join(services.CHECKSUM_ALGORITHMS),
                }
            ),
        )

    @post("/", opt=_UPLOADER, operation_id="tus_create", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], state: State, current_user: Caller, actor: AuditActor
    ) -> Response[Any]:
        """Create an upload (``Upload-Length``, ``Upload-Metadata``: sha256, visit_id, kind, filename);
        a body sent with it (creation-with-upload) is appended at once."""
        try:
            _check_version(request)
            if request.headers.get("upload-defer-length"):
                raise InvalidInput.field("Upload-Defer-Length", "not supported: send Upload-Length")
            length = _int_header(request, "upload-length")
            meta = services.parse_metadata(request.headers.get("upload-metadata"))
            context = media_context(state)
            upload = await services.create_upload(context, current_user, actor, meta, length)
            location = f"{str(request.base_url).rstrip('/')}/uploads/{upload.id}"
            if request.headers.get("content-type", "").startswith(_OFFSET_STREAM):
                try:
                    upload = await services.receive_bytes(
                        context, current_user, actor, upload.id, 0, _body(request), _checksum(request)
                    )
                except DomainError as exc:
                    await services.discard_refused_creation(context, actor, upload.id, exc.code)
                    raise
                return Response(content=None, status_code=201, headers=_upload_headers(upload, Location=location))
            return Response(
                content=None,
                status_code=201,
                headers=_tus_headers(Location=location, **{"Upload-Expires": _http_date(upload)}),
            )
        except DomainError as exc:
            return _error(request, exc)
        except services.ClientGone:
            return Response(content=None, status_code=400, headers=_tus_headers())

    @head("/{upload_id:uuid}", opt=_UPLOADER, operation_id="tus_status")
    async def status(
        self,
        request: Request[Any, Any, Any],
        state: State,
        current_user: Caller,
        actor: AuditActor,
        upload_id: uuid.UUID,
    ) -> Response[None]:
        """How many bytes of the upload the server has (``Upload-Offset``)."""
        try:
            upload = await services.upload_status(media_context(state), current_user, actor, upload_id)
        except DomainError as exc:
            return Response(content=None, status_code=exc.status, headers=_tus_headers())
        return Response(
            content=None,
            status_code=200,
            headers=_upload_headers(
                upload, **{"Upload-Length": str(upload.length), "Upload-Metadata": upload.upload_metadata}
            ),
        )

    @patch("/{upload_id:uuid}", opt=_UPLOADER, operation_id="tus_append", status_code=200)
    async def append(
        self,
        request: Request[Any, Any, Any],
        state: State,
        current_user: Caller,
        actor: AuditActor,
        upload_id: uuid.UUID,
    ) -> Response[Any]:
        """Append the body at ``Upload-Offset``; completes the upload with its last byte."""
        try:
            _check_version(request)
            if not request.headers.get("content-type", "").startswith(_OFFSET_STREAM):
                raise _UnsupportedMedia.field("Content-Type", f"must be {_OFFSET_STREAM}")
            offset = _int_header(request, "upload-offset")
            upload = await services.receive_bytes(
                media_context(state), current_user, actor, upload_id, offset, _body(request), _checksum(request)
            )
        except DomainError as exc:
            return _error(request, exc)
        except services.ClientGone:
            return Response(content=None, status_code=400, headers=_tus_headers())
        return Response(content=None, status_code=204, headers=_upload_headers(upload))

    @delete("/{upload_id:uuid}", opt=_UPLOADER, operation_id="tus_terminate", status_code=200)
    async def terminate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        current_user: Caller,
        actor: AuditActor,
        upload_id: uuid.UUID,
    ) -> Response[Any]:
        """Discard the upload and whatever it received (termination)."""
        try:
            _check_version(request)
            await services.terminate_upload(media_context(state), current_user, actor, upload_id)
        except DomainError as exc:
            return _error(request, exc)
        return Response(content=None, status_code=204, headers=_tus_headers())


class VisitPhotoController(Controller):
    path = "/visits"
    tags = ["media"]

    @get("/{visit_id:uuid}/photos", opt=allow(*ALL_ROLES), operation_id="list_visit_photos")
    async def list_photos(
        self, request: Request[Any, Any, Any], state: State, db: DbSession, current_user: Caller, visit_id: uuid.UUID
    ) -> VisitPhotos:
        """The visit's photos with short-lived signed links (a worker: only their own visits)."""
        context = media_context(state)
        return await services.visit_photos(
            db, context.store, context.config, current_user, visit_id, str(request.base_url)
        )


class MediaDownloadController(Controller):
    """Signed downloads from the local store (S3 serves its presigned links itself)."""

    path = "/media"
    tags = ["media"]

    @get("/{key:str}", opt=PUBLIC, operation_id="download_media", media_type=MediaType.JSON)
    async def download(self, request: Request[Any, Any, Any], state: State, key: str) -> Response[Any] | File:
        """Send a stored object to whoever holds a valid, unexpired signed link to it."""
        store = media_context(state).store
        if not isinstance(store, LocalStore):
            return _error(request, services.Gone("media is served from object storage", code="not_found"))
        try:
            granted = store.verify_download(key, dict(request.query_params))
        except SignatureRejected as exc:
            code = "link_expired" if exc.reason == "expired" else "link_invalid"
            error = _Forbidden(
                str(exc), [FieldError(path="sig" if exc.reason != "expired" else "exp", reason=exc.reason)]
            )
            error.code = code
            return _error(request, error)
        path = store.file_path(granted.key)
        if not path.is_file():
            return _error(request, services.Gone("no such object", code="not_found"))
        return File(
            path=path,
            media_type=granted.content_type or "application/octet-stream",
            filename=granted.filename or key,
            content_disposition_type="inline",
            headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
        )


class _Forbidden(DomainError):
    status = 403
    code = "link_invalid"
