"""Photo evidence: tus uploads kept in the database, the pipeline on completion, evidence records,
near-duplicate flags and signed download links.

Uploads (tus 1.0) are continued by whichever app worker receives the next request: the offset,
the object store's multipart ids, the parts sent and the buffered tail all live in the
``media_upload`` row, written in short transactions (never one held open while bytes stream).
Bytes are cut into parts at fixed boundaries (part *k* holds bytes ``[(k-1)·P, k·P)``), so a part
sent twice, by a request that died unnoticed and by its successor, has the same content.

Blocking work (object store, Pillow) runs in worker threads through ``anyio.to_thread``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import Integer, any_, bindparam, delete, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.images import (
    PHASH_BAND_BITS,
    PHASH_BANDS,
    ImageRejected,
    ProcessedImage,
    band_neighbours,
    hamming,
    phash_bands,
    process_image,
)
from media.store import LocalStore, MediaStore, MultipartUpload, ObjectNotFound, Part
from schemas.auth import Role
from schemas.errors import FieldError
from schemas.media import (
    DuplicateFlag,
    GeoFix,
    PhotoKind,
    PhotoLinks,
    PhotoRead,
    PhotoRef,
    PhotoStatus,
    VisitPhotos,
)
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.decisions.services import visit_changed
from server.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from server.media.config import MediaConfig
from server.media.models import Photo, Upload
from server.planning.models import Visit
from server.sync.changes import mark_changed

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "ChecksumMismatch",
    "ClientGone",
    "Completing",
    "Gone",
    "MediaContext",
    "TooLarge",
    "UploadMeta",
    "UploadRejected",
    "cleanup_expired_uploads",
    "create_upload",
    "discard_refused_creation",
    "evidence_status",
    "near_duplicate",
    "photo_links",
    "receive_bytes",
    "reference_photos",
    "terminate_upload",
    "upload_status",
    "visible_visit",
    "visit_photos",
]

#: ``Upload-Checksum`` algorithms accepted per chunk (sha256 preferred; sha1 is tuspy's default).
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}

log = logging.getLogger("recheck.media")

_LEASE = dt.timedelta(seconds=60)
#: A difference hash with fewer set bits than this (or more than 64 minus it) comes from a
#: featureless picture (a white wall, a dark night shot); such pictures all hash alike, so they
#: are never compared for reuse.
_MIN_HASH_BITS = 10
_HEAD_WAIT_SECONDS = 3.0
_TAKEOVER_WAIT_SECONDS = 3.0


class ClientGone(Exception):
    """The client's connection closed in the middle of a request body."""


class Gone(DomainError):
    """The upload expired, was terminated or was discarded (tus answers 410)."""

    status = 410
    code = "upload_gone"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class ChecksumMismatch(DomainError):
    """tus checksum extension: 460 Checksum Mismatch (the chunk or the whole upload)."""

    status = 460
    code = "checksum_mismatch"


class Completing(DomainError):
    """tus HEAD on an upload whose bytes are all in while another request completes it."""

    status = 423
    code = "upload_completing"


class UploadRejected(DomainError):
    """The completed upload is not an acceptable photo; everything was discarded."""

    status = 422
    code = "image_rejected"


class _LeaseLost(Exception):
    """A newer request took over the upload; this one's unsaved bytes are dropped."""


@dataclasses.dataclass(frozen=True)
class MediaContext:
    """What the upload services need besides the caller: sessions, the store, the settings."""

    session_factory: async_sessionmaker[AsyncSession]
    store: MediaStore
    config: MediaConfig

    @property
    def part_size(self) -> int:
        """Part boundary for new uploads: S3's part size, or the local store's file size."""
        return self.store.min_part_size if self.store.min_part_size > 1 else self.config.local_part_size


@dataclasses.dataclass(frozen=True)
class UploadMeta:
    """The ``Upload-Metadata`` a photo upload must carry."""

    sha256: str
    visit_id: uuid.UUID
    kind: PhotoKind
    filename: str | None
    raw: str


def _informative(phash: int) -> bool:
    bits = (phash & 0xFFFF_FFFF_FFFF_FFFF).bit_count()
    return _MIN_HASH_BITS <= bits <= 64 - _MIN_HASH_BITS


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _now() -> dt.datetime:
    return utcnow()


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


# -- visits and evidence -------------------------------------------------------------------------


def _assigned(visit: Visit, user: CurrentUser) -> bool:
    return user.id in (visit.assigned_to, visit.partner_id)


async def _captured_by(session: AsyncSession, visit: Visit, user: CurrentUser) -> bool:
    """The worker captured this visit before it was taken away: its photos must still arrive
    (ARCHITECTURE rule 10: such captures are accepted and go to the supervisor, with their evidence)."""
    from server.sync.models import CaptureRecord

    found = await session.scalar(
        select(CaptureRecord.id).where(CaptureRecord.visit_id == visit.id, CaptureRecord.author_id == user.id).limit(1)
    )
    return found is not None


async def visible_visit(session: AsyncSession, user: CurrentUser, visit_id: uuid.UUID) -> Visit:
    """The visit if the caller may see it: a worker only their own, others within their areas."""
    visit = await session.get(Visit, visit_id)
    if visit is None:
        raise NotFound.field("visit_id", "no such visit")
    if user.role == Role.worker:
        if not _assigned(visit, user):
            raise NotFound.field("visit_id", "no such visit")
    elif not user.can_see_area(visit.area_id):
        raise NotFound.field("visit_id", "no such visit")
    return visit


async def reference_photos(
    session: AsyncSession, visit_id: uuid.UUID, refs: Sequence[PhotoRef], actor: Actor | None = None
) -> list[Photo]:
    """Register the photos a visit references, possibly before their bytes arrive (for sync).

    Each new reference is a ``pending`` photo until its upload completes and passes the
    pipeline; references already known are left as they are. Returns the visit's photos for
    ``refs``, in order.
    """
    visit = await session.get(Visit, visit_id)
    if visit is None:
        raise NotFound.field("visit_id", "no such visit")
    existing = {
        p.sha256: p
        for p in (
            await session.scalars(
                select(Photo).where(Photo.visit_id == visit_id, Photo.sha256.in_([r.sha256 for r in refs]))
            )
        ).all()
    }
    photos: list[Photo] = []
    for ref in refs:
        photo = existing.get(ref.sha256)
        if photo is None:
            photo = Photo(
                visit_id=visit_id,
                household_id=visit.household_id,
                sha256=ref.sha256,
                kind=ref.kind.value,
                filename=ref.filename,
                status=PhotoStatus.pending.value,
            )
            session.add(photo)
            existing[ref.sha256] = photo
            if actor is not None:
                record(session, actor, "photo.referenced", "visit", visit_id, {"sha256": ref.sha256})
        photos.append(photo)
    await session.flush()
    return photos


async def evidence_status(session: AsyncSession, visit_id: uuid.UUID) -> list[str]:
    """The hashes of the visit's referenced photos not yet stored and verified (empty: complete).

    A visit with any is *evidence pending*. Rejected photos count as missing: the worker must
    take and send the photo again.
    """
    rows = await session.scalars(
        select(Photo.sha256)
        .where(Photo.visit_id == visit_id, Photo.status != PhotoStatus.stored.value)
        .order_by(Photo.created_at, Photo.sha256)
    )
    return list(rows.all())


def photo_links(store: MediaStore, photo: Photo, seconds: int, base_url: str = "") -> PhotoLinks | None:
    """Signed links to a stored photo's original and renditions (None if not stored)."""
    if photo.status != PhotoStatus.stored.value or not photo.review_sha256 or not photo.thumb_sha256:
        return None
    prefix = base_url.rstrip("/") if isinstance(store, LocalStore) else ""
    stem = (photo.filename or photo.sha256[:12]).rsplit(".", 1)[0]

    def link(key: str, content_type: str, filename: str) -> str:
        return prefix + store.download_url(key, expires_in=seconds, content_type=content_type, filename=filename)

    extension = (photo.content_type or "image/jpeg").split("/")[-1].replace("jpeg", "jpg")
    return PhotoLinks(
        original=link(photo.sha256, photo.content_type or "application/octet-stream", f"{stem}.{extension}"),
        review=link(photo.review_sha256, "image/jpeg", f"{stem}-review.jpg"),
        thumb=link(photo.thumb_sha256, "image/jpeg", f"{stem}-thumb.jpg"),
        expires_at=_now() + dt.timedelta(seconds=seconds),
    )


def _photo_read(photo: Photo, links: PhotoLinks | None) -> PhotoRead:
    duplicate = None
    if photo.duplicate_of_id and photo.duplicate_visit_id is not None:
        duplicate = DuplicateFlag(
            photo_id=photo.duplicate_of_id,
            visit_id=photo.visit_id,
            other_visit_id=photo.duplicate_visit_id,
            distance=photo.duplicate_distance or 0,
        )
    gps = None
    if photo.gps_lat is not None and photo.gps_lon is not None:
        gps = GeoFix(lat=photo.gps_lat, lon=photo.gps_lon, altitude=photo.gps_altitude)
    return PhotoRead(
        id=photo.id,
        visit_id=photo.visit_id,
        sha256=photo.sha256,
        kind=PhotoKind(photo.kind),
        status=PhotoStatus(photo.status),
        reject_reason=photo.reject_reason,
        filename=photo.filename,
        content_type=photo.content_type,
        byte_size=photo.byte_size,
        width=photo.width,
        height=photo.height,
        captured_at=photo.captured_at,
        capture_time_source=photo.capture_time_source,
        gps=gps,
        exif_notes=list(photo.exif_notes or []),
        duplicate_of=duplicate,
        links=links,
    )


async def visit_photos(
    session: AsyncSession,
    store: MediaStore,
    config: MediaConfig,
    user: CurrentUser,
    visit_id: uuid.UUID,
    base_url: str = "",
) -> VisitPhotos:
    """A visit's photos with short-lived signed links, for those allowed to see the visit."""
    await visible_visit(session, user, visit_id)
    photos = (
        await session.scalars(select(Photo).where(Photo.visit_id == visit_id).order_by(Photo.created_at, Photo.id))
    ).all()
    missing = [p.sha256 for p in photos if p.status != PhotoStatus.stored.value]
    return VisitPhotos(
        visit_id=visit_id,
        evidence_pending=bool(missing),
        missing=missing,
        photos=[_photo_read(p, photo_links(store, p, config.link_seconds, base_url)) for p in photos],
    )


# -- tus: creation, status, termination, expiry ---------------------------------------------------


async def create_upload(ctx: MediaContext, user: CurrentUser, actor: Actor, meta: UploadMeta, length: int) -> Upload:
    """Start an upload for a photo of one of the caller's visits (tus creation)."""
    if user.device_id is None:
        raise Forbidden("photos are uploaded from a registered device", code="device_required")
    if length > ctx.config.upload_max_bytes:
        raise TooLarge.field("Upload-Length", f"exceeds the limit of {ctx.config.upload_max_bytes} bytes")
    if length == 0:
        raise UploadRejected("empty upload", [FieldError(path="Upload-Length", reason="empty")])
    async with ctx.session_factory() as session, session.begin():
        visit = await session.get(Visit, meta.visit_id)
        if visit is None:
            raise NotFound.field("Upload-Metadata.visit_id", "no such visit")
        if not _assigned(visit, user) and not await _captured_by(session, visit, user):
            raise Forbidden.field("Upload-Metadata.visit_id", "not one of your visits", code="visit_not_assigned")
        handle: MultipartUpload = await _run(ctx.store.begin_multipart)
        now = _now()
        upload = Upload(
            user_id=user.id,
            device_id=user.device_id,
            visit_id=visit.id,
            sha256=meta.sha256,
            kind=meta.kind.value,
            filename=meta.filename,
            upload_metadata=meta.raw,
            length=length,
            offset=0,
            store_upload_id=handle.upload_id,
            staging_key=handle.staging_key,
            part_size=ctx.part_size,
            parts=[],
            tail=b"",
            created_at=now,
            updated_at=now,
            expires_at=now + dt.timedelta(seconds=ctx.config.upload_expiry_seconds),
        )
        session.add(upload)
        record(session, actor, "upload.created", "visit", visit.id, {"sha256": meta.sha256, "length": length})
    return upload


async def _owned(session: AsyncSession, user: CurrentUser, upload_id: uuid.UUID, *, lock: bool = False) -> Upload:
    upload = await session.get(Upload, upload_id, with_for_update=lock or None)
    if upload is None or upload.user_id != user.id:
        raise NotFound.field("upload", "no such upload")
    if upload.state == "failed":
        raise Gone.field("upload", f"upload was discarded: {upload.failure}")
    if upload.state == "open" and upload.expires_at <= _now():
        raise Gone.field("upload", "upload expired", code="upload_expired")
    return upload


async def upload_status(ctx: MediaContext, user: CurrentUser, actor: Actor, upload_id: uuid.UUID) -> Upload:
    """The upload's state for tus HEAD.

    Waits briefly while another request is still writing to it (a connection that just dropped),
    so the offset answered is the settled one. An upload whose bytes are all in but which was
    never completed (its worker died while completing it) is completed now.
    """
    deadline = asyncio.get_running_loop().time() + _HEAD_WAIT_SECONDS
    while True:
        async with ctx.session_factory() as session:
            upload = await _owned(session, user, upload_id)
        busy = upload.lock_token is not None and upload.locked_until is not None and upload.locked_until > _now()
        if busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            continue
        if not busy and upload.state == "open" and upload.offset == upload.length:
            progress = await _claim(ctx, user, upload_id, upload.length)
            if progress is not None:
                return await _complete(ctx, user, actor, progress)
        if upload.state == "open" and upload.offset == upload.length:
            # every byte is in but the upload is not complete (its completer is busy, or died holding
            # the lease): answering the full offset would tell the client it is done and the photo
            # would never be stored. Ask it to come back; once the lease is free this completes it.
            raise Completing.field("upload", "all bytes are in; the upload is being completed, retry shortly")
        return upload


def _handle(upload: Upload) -> MultipartUpload:
    return MultipartUpload(upload_id=upload.store_upload_id, staging_key=upload.staging_key)


async def _discard_objects(store: MediaStore, upload: Upload) -> None:
    await _run(store.abort_multipart, _handle(upload))


async def _forget(
    ctx: MediaContext, session: AsyncSession, actor: Actor, upload: Upload, action: str, **details: str
) -> None:
    if upload.state == "open":
        await _discard_objects(ctx.store, upload)
    await session.delete(upload)
    record(session, actor, action, "visit", upload.visit_id, {"sha256": upload.sha256, **details})


async def terminate_upload(ctx: MediaContext, user: CurrentUser, actor: Actor, upload_id: uuid.UUID) -> None:
    """tus termination: discard the bytes received and forget the upload."""
    async with ctx.session_factory() as session, session.begin():
        upload = await session.get(Upload, upload_id, with_for_update=True)
        if upload is None or upload.user_id != user.id:
            raise NotFound.field("upload", "no such upload")
        await _forget(ctx, session, actor, upload, "upload.terminated")


async def discard_refused_creation(ctx: MediaContext, actor: Actor, upload_id: uuid.UUID, reason: str) -> None:
    """A creation-with-upload whose body was refused leaves nothing behind: the client got no
    upload URL to resume, so a kept row would only wait for its expiry."""
    async with ctx.session_factory() as session, session.begin():
        upload = await session.get(Upload, upload_id, with_for_update=True)
        if upload is not None:
            await _forget(ctx, session, actor, upload, "upload.refused", reason=reason)


async def cleanup_expired_uploads(ctx: MediaContext, now: dt.datetime | None = None) -> int:
    """Discard uploads that expired unfinished and forget finished ones past their expiry.

    Called periodically (``recheck media-cleanup``). Returns the number of uploads removed.
    """
    now = now or _now()
    async with ctx.session_factory() as session:
        expired = (await session.scalars(select(Upload).where(Upload.expires_at <= now))).all()
    removed = 0
    for upload in expired:
        if upload.state == "open":
            await _discard_objects(ctx.store, upload)
        async with ctx.session_factory() as session, session.begin():
            result = await session.execute(delete(Upload).where(Upload.id == upload.id, Upload.expires_at <= now))
            removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


# -- tus: receiving bytes ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Progress:
    """What this request knows of the upload since it took the lease."""

    upload_id: uuid.UUID
    token: str
    offset: int
    length: int
    part_size: int
    handle: MultipartUpload
    parts: list[Part]
    tail: bytes


async def _save(
    ctx: MediaContext, progress: _Progress, pending: bytes, *, release: bool, flush_all: bool = False
) -> None:
    """Send every whole part in ``tail + pending`` to the store, then record the new offset.

    With ``flush_all`` (completion) the remainder is sent as the last part too. Raises
    `_LeaseLost` if a newer request owns the upload now (nothing of this one's is recorded).
    """
    data = progress.tail + pending
    parts = list(progress.parts)
    size = progress.part_size
    while len(data) >= size or (flush_all and data):
        chunk, data = data[:size], data[size:]
        parts.append(await _run(ctx.store.upload_part, progress.handle, len(parts) + 1, chunk))
    now = _now()
    async with ctx.session_factory() as session, session.begin():
        upload = await session.get(Upload, progress.upload_id, with_for_update=True)
        if upload is None or upload.lock_token != progress.token or upload.state != "open":
            raise _LeaseLost
        upload.parts = [p.to_dict() for p in parts]
        upload.tail = data
        upload.offset = progress.offset + len(pending)
        upload.updated_at = now
        upload.expires_at = now + dt.timedelta(seconds=ctx.config.upload_expiry_seconds)
        upload.lock_token = None if release else progress.token
        upload.locked_until = None if release else now + _LEASE
    progress.parts, progress.tail, progress.offset = parts, data, progress.offset + len(pending)


async def _release(ctx: MediaContext, progress: _Progress) -> None:
    async with ctx.session_factory() as session, session.begin():
        upload = await session.get(Upload, progress.upload_id, with_for_update=True)
        if upload is not None and upload.lock_token == progress.token:
            upload.lock_token = None
            upload.locked_until = None


async def _claim(ctx: MediaContext, user: CurrentUser, upload_id: uuid.UUID, offset: int) -> _Progress | None:
    """Take the upload's lease for a request writing at ``offset``; None if it is complete.

    If another request holds the lease, wait a moment for it to finish: it is usually one whose
    connection just dropped and which is saving what it received (the client asked for the offset
    before that was saved). After `_TAKEOVER_WAIT_SECONDS` the lease is taken over anyway: the
    holder's connection died without the server noticing, and its unsaved bytes are dropped.
    """
    token = secrets.token_hex(16)
    deadline = asyncio.get_running_loop().time() + _TAKEOVER_WAIT_SECONDS
    while True:
        async with ctx.session_factory() as session, session.begin():
            upload = await _owned(session, user, upload_id, lock=True)
            held = upload.lock_token is not None and upload.locked_until is not None and upload.locked_until > _now()
            if not held or asyncio.get_running_loop().time() >= deadline:
                if upload.state == "done":
                    if offset == upload.length:
                        return None
                    raise Conflict.field(
                        "Upload-Offset", f"upload is complete at {upload.length}", code="offset_mismatch"
                    )
                if offset != upload.offset:
                    raise Conflict.field(
                        "Upload-Offset", f"upload is at {upload.offset}, not {offset}", code="offset_mismatch"
                    )
                upload.lock_token = token
                upload.locked_until = _now() + _LEASE
                return _Progress(
                    upload_id=upload.id,
                    token=token,
                    offset=upload.offset,
                    length=upload.length,
                    part_size=upload.part_size,
                    handle=_handle(upload),
                    parts=[Part.from_dict(p) for p in upload.parts],
                    tail=bytes(upload.tail),
                )
        await asyncio.sleep(0.05)


async def receive_bytes(
    ctx: MediaContext,
    user: CurrentUser,
    actor: Actor,
    upload_id: uuid.UUID,
    offset: int,
    body: AsyncIterator[bytes],
    checksum: tuple[str, bytes] | None = None,
) -> Upload:
    """tus PATCH (and creation-with-upload): append ``body`` at ``offset``.

    Bytes are saved as they arrive (every whole part, and whatever arrived when the connection
    drops), unless the request carries ``Upload-Checksum``: then the chunk is kept only if it
    arrived whole and matches. When the last byte arrives the upload is completed: see
    `_complete`.

    Raises:
        Conflict: ``Upload-Offset`` is not the upload's offset (409).
        ChecksumMismatch: The chunk does not match ``Upload-Checksum`` (460), or the completed
            upload does not hash to the declared sha256 (460, ``sha256_mismatch``).
        UploadRejected: The completed upload is not an acceptable photo (422).
        Gone: Expired, terminated or discarded (410).
        ClientGone: The connection dropped (what arrived was saved; there is nobody to answer).
    """
    progress = await _claim(ctx, user, upload_id, offset)
    if progress is None:  # already complete: a retry of the last request
        async with ctx.session_factory() as session:
            return await _owned(session, user, upload_id)
    if progress.offset == progress.length:  # all bytes were in; completing had not finished
        return await _complete(ctx, user, actor, progress)
    digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    pending = bytearray()
    gone = False
    try:
        try:
            async for chunk in body:
                if progress.offset + len(pending) + len(chunk) > progress.length:
                    raise TooLarge.field("Upload-Length", "more bytes than the declared Upload-Length")
                pending += chunk
                if digest is not None:
                    digest.update(chunk)
                elif len(progress.tail) + len(pending) >= progress.part_size:
                    await _save(ctx, progress, bytes(pending), release=False)
                    pending.clear()
        except ClientGone:
            gone = True
        if checksum is not None and digest is not None:
            if gone:
                await _release(ctx, progress)  # an incomplete chunk cannot be checked: drop it
                raise ClientGone
            if digest.digest() != checksum[1]:
                await _release(ctx, progress)
                raise ChecksumMismatch.field("Upload-Checksum", f"chunk does not match its {checksum[0]}")
        complete = progress.offset + len(pending) == progress.length
        if not complete:
            await _save(ctx, progress, bytes(pending), release=True)
            if gone:
                raise ClientGone
            async with ctx.session_factory() as session:
                return await _owned(session, user, upload_id)
        await _save(ctx, progress, bytes(pending), release=False, flush_all=True)
    except _LeaseLost:
        raise Conflict.field("upload", "a newer request took over this upload", code="upload_taken_over") from None
    except ObjectNotFound:  # another request completed or discarded the upload's parts meanwhile
        raise Conflict.field("upload", "a newer request took over this upload", code="upload_taken_over") from None
    except BaseException:
        if not gone:
            await _release_quietly(ctx, progress)
        raise
    return await _complete(ctx, user, actor, progress)


async def _release_quietly(ctx: MediaContext, progress: _Progress) -> None:
    try:
        await _release(ctx, progress)
    except Exception:  # best effort: the lease expires anyway
        return


async def _complete(ctx: MediaContext, user: CurrentUser, actor: Actor, progress: _Progress) -> Upload:
    """All bytes are in: assemble, verify the sha256, run the pipeline, store, record.

    On a mismatch or a rejection every object of the upload is discarded, the upload is marked
    failed and the photo (if referenced) rejected, and the caller gets a 4xx naming the reason.
    """
    try:
        return await _complete_locked(ctx, user, actor, progress)
    except (DomainError, _LeaseLost):
        raise
    except BaseException:
        await _release_quietly(ctx, progress)  # a later HEAD or PATCH completes it again
        raise


async def _complete_locked(ctx: MediaContext, user: CurrentUser, actor: Actor, progress: _Progress) -> Upload:
    store = ctx.store
    async with ctx.session_factory() as session:
        upload = await session.get(Upload, progress.upload_id)
        assert upload is not None
    try:
        if not await _run(store.exists, upload.staging_key):
            if progress.tail:
                await _save(ctx, progress, b"", release=False, flush_all=True)
            await _run(store.complete_multipart, progress.handle, progress.parts)
        data: bytes = await _run(store.get, upload.staging_key)
    except ObjectNotFound:
        await _fail(ctx, actor, upload, "assembly_failed")
        raise Gone.field("upload", "the upload's parts were lost; start again", code="upload_lost") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != upload.sha256:
        await _fail(ctx, actor, upload, "sha256_mismatch")
        raise ChecksumMismatch(
            "the upload does not hash to the declared sha256",
            [FieldError(path="Upload-Metadata.sha256", reason="sha256_mismatch")],
            code="sha256_mismatch",
        )
    try:
        result: ProcessedImage = await _run(process_image, data, ctx.config.image_policy)
    except ImageRejected as exc:
        await _fail(ctx, actor, upload, exc.reason)
        raise UploadRejected(
            f"not an acceptable photo: {exc.message}", [FieldError(path="upload", reason=exc.reason)]
        ) from None
    await _run(_store_objects, store, upload.staging_key, upload.sha256, result)
    async with ctx.session_factory() as session, session.begin():
        row = await session.get(Upload, progress.upload_id, with_for_update=True)
        if row is None:
            raise Gone.field("upload", "upload was terminated")
        photo = await _record_photo(session, ctx.config, user, actor, row, result, len(data))
        row.state = "done"
        row.tail = b""
        row.lock_token = None
        row.locked_until = None
        row.updated_at = _now()
        record(session, actor, "photo.stored", "photo", photo.id, {"sha256": row.sha256, "visit": str(row.visit_id)})
    await _evidence_arrived(ctx, actor, row.visit_id)
    return row


async def _evidence_arrived(ctx: MediaContext, actor: Actor, visit_id: uuid.UUID) -> None:
    """An accepted visit that was waiting for this photo gets its proposal now (decisions makes
    none while evidence is missing). Its own transaction, after the photo's: the photo is stored
    whatever happens here, and ``recheck decisions propose`` picks up a visit this misses."""
    try:
        async with ctx.session_factory() as session, session.begin():
            state = await session.scalar(select(Visit.state).where(Visit.id == visit_id))
            if state == "accepted":
                await visit_changed(session, visit_id, actor)
    except Exception:
        log.exception("proposal after the last photo failed", extra={"visit_id": str(visit_id)})


def _store_objects(store: MediaStore, staging_key: str, sha256: str, result: ProcessedImage) -> None:
    store.put(result.review.sha256, result.review.data, content_type="image/jpeg")
    store.put(result.thumb.sha256, result.thumb.data, content_type="image/jpeg")
    store.promote(staging_key, sha256, content_type=result.content_type)


async def _fail(ctx: MediaContext, actor: Actor, upload: Upload, reason: str) -> None:
    """Discard every object of the upload and record why."""
    await _discard_objects(ctx.store, upload)
    async with ctx.session_factory() as session, session.begin():
        row = await session.get(Upload, upload.id, with_for_update=True)
        if row is not None:
            row.state = "failed"
            row.failure = reason
            row.tail = b""
            row.parts = []
            row.lock_token = None
            row.locked_until = None
        photo = await session.scalar(
            select(Photo).where(Photo.visit_id == upload.visit_id, Photo.sha256 == upload.sha256)
        )
        if photo is not None and photo.status != PhotoStatus.stored.value:
            photo.status = PhotoStatus.rejected.value
            photo.reject_reason = reason
        record(session, actor, "upload.rejected", "visit", upload.visit_id, {"sha256": upload.sha256, "reason": reason})


async def _record_photo(
    session: AsyncSession,
    config: MediaConfig,
    user: CurrentUser,
    actor: Actor,
    upload: Upload,
    result: ProcessedImage,
    size: int,
) -> Photo:
    """Create or complete the evidence record and flag a near duplicate from another household.

    The visit's row is locked first: a push changing its captures holds that lock while it
    computes the visit's evidence status for the feed, so the two cannot both compute it from
    what the other has not committed yet, and the last feed row always tells the truth.
    """
    visit = await session.get(Visit, upload.visit_id, with_for_update=True)
    assert visit is not None
    mark_changed(session, visits=[visit.id])  # its evidence status in the feed
    photo = await session.scalar(select(Photo).where(Photo.visit_id == visit.id, Photo.sha256 == upload.sha256))
    if photo is None:
        # a second upload of the same photo may be completing at this very moment: insert only if
        # absent (a plain insert made one of the two answer 500 on the unique key), then read it
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        values = {"visit_id": visit.id, "household_id": visit.household_id, "sha256": upload.sha256}
        await session.execute(
            insert(Photo)
            .values(id=uuid.uuid4(), kind=upload.kind, **values)
            .on_conflict_do_nothing(index_elements=["visit_id", "sha256"])
        )
        photo = await session.scalar(select(Photo).where(Photo.visit_id == visit.id, Photo.sha256 == upload.sha256))
        assert photo is not None
    photo.status = PhotoStatus.stored.value
    photo.reject_reason = None
    photo.filename = photo.filename or upload.filename
    photo.content_type = result.content_type
    photo.byte_size = size
    photo.width, photo.height = result.width, result.height
    photo.review_sha256, photo.thumb_sha256 = result.review.sha256, result.thumb.sha256
    photo.captured_at, photo.capture_time_source = result.captured_at, result.capture_time_source
    if result.gps is not None:
        photo.gps_lat, photo.gps_lon, photo.gps_altitude = result.gps.lat, result.gps.lon, result.gps.altitude
    photo.exif_notes = list(result.notes)
    photo.phash = _signed(result.phash)
    photo.phash_b0, photo.phash_b1, photo.phash_b2 = phash_bands(result.phash)
    photo.uploaded_by, photo.device_id = user.id, user.device_id
    photo.stored_at = _now()
    await session.flush()

    best = await near_duplicate(session, config, visit.household_id, result.phash)
    if best is not None:
        photo.duplicate_distance, photo.duplicate_of_id, photo.duplicate_visit_id = best
        record(
            session,
            actor,
            "photo.duplicate_flagged",
            "visit",
            visit.id,
            {"photo": str(photo.id), "other_photo": str(best[1]), "other_visit": str(best[2]), "distance": best[0]},
        )
    return photo


#: Above this band radius the lookup would list too many band values; it reads every photo instead.
_MAX_BAND_RADIUS = 3


async def near_duplicate(
    session: AsyncSession, config: MediaConfig, household_id: uuid.UUID, phash: int
) -> tuple[int, uuid.UUID, uuid.UUID] | None:
    """The stored photo of another household closest to ``phash`` within the configured distance:
    (distance, photo id, its visit id), or ``None``.

    Through the band index: a photo within ``d`` bits has a band within ``d // 3`` bits of ours,
    so only photos with such a band are read (few, whatever the number of photos), and the exact
    distance decides among them — the same answer as comparing with every photo, which is what a
    radius above 3 (a distance over 11) falls back to.
    """
    if not _informative(phash):
        return None
    limit = config.duplicate_max_distance
    query = select(Photo.id, Photo.visit_id, Photo.phash).where(
        Photo.status == PhotoStatus.stored.value, Photo.household_id != household_id, Photo.phash.is_not(None)
    )
    radius = limit // PHASH_BANDS
    if radius <= _MAX_BAND_RADIUS:
        columns = (Photo.phash_b0, Photo.phash_b1, Photo.phash_b2)
        near = [
            (column, band_neighbours(band, radius, bits))
            for column, band, bits in zip(columns, phash_bands(phash), PHASH_BAND_BITS, strict=True)
        ]
        if session.get_bind().dialect.name == "postgresql":
            # one array parameter per band: the statement stays the same, so it is prepared once
            arrays = (bindparam(f"band{i}", values, type_=ARRAY(Integer)) for i, (_c, values) in enumerate(near))
            query = query.where(
                or_(*(column == any_(values) for (column, _v), values in zip(near, arrays, strict=True)))
            )
        else:
            query = query.where(or_(*(column.in_(values) for column, values in near)))
    best: tuple[int, uuid.UUID, uuid.UUID] | None = None
    for other_id, other_visit, other_hash in await session.execute(query):
        if other_hash is None or not _informative(other_hash):
            continue
        distance = hamming(phash, other_hash)
        if distance <= limit and (best is None or (distance, str(other_id)) < (best[0], str(best[1]))):
            best = (distance, other_id, other_visit)
    return best


def parse_metadata(header: str | None) -> UploadMeta:
    """Decode and validate ``Upload-Metadata`` (``key base64value`` pairs, comma-separated)."""
    values: dict[str, str] = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded else ""
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput.field(f"Upload-Metadata.{key}", "not base64 of UTF-8 text") from None
    sha256 = values.get("sha256", "").lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput.field("Upload-Metadata.sha256", "required: the hex SHA-256 of the photo")
    try:
        visit_id = uuid.UUID(values.get("visit_id", ""))
    except ValueError:
        raise InvalidInput.field("Upload-Metadata.visit_id", "required: the visit's UUID") from None
    try:
        kind = PhotoKind(values.get("kind", ""))
    except ValueError:
        raise InvalidInput.field(
            "Upload-Metadata.kind", f"required: one of {', '.join(k.value for k in PhotoKind)}"
        ) from None
    filename = values.get("filename") or None
    if filename is not None and (len(filename) > 200 or any(ord(c) < 32 for c in filename)):
        raise InvalidInput.field("Upload-Metadata.filename", "at most 200 printable characters")
    return UploadMeta(sha256=sha256, visit_id=visit_id, kind=kind, filename=filename, raw=(header or "")[:2000])
