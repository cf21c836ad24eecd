"""A revoked tablet's work, recovered: a supervisor imports the file ``recheck device export`` wrote.

Nothing a revoked tablet held is lost (ARCHITECTURE rules 7 and 10). The file is checked first —
it must come from this tablet (its device credential), the tablet must be revoked (a working one
sends its own work) and the supervisor must manage it — then:

- its outbox is applied as that tablet's own pushes would be (:func:`server.sync.apply.recover`):
  each mutation at most once, merged field by field, every capture reaching review as an
  out-of-scope capture;
- its photos are stored through the tus services, exactly as if uploaded: checksum, the image
  pipeline, the evidence status in the feed;
- the import is audited with what it carried and what became of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.base import Struct, UtcDateTime
from schemas.media import PhotoStatus
from schemas.sync import DeviceImportResult, ExportedPhoto, ImportedPhoto
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.auth.secrets import hash_secret
from server.auth.services import device_owner, managed_device
from server.errors import Conflict, DomainError, InvalidInput
from server.media import services as media
from server.media.models import Photo
from server.sync.apply import recover
from sync.codec import error_from_msgspec

__all__ = ["import_device_export"]


class _Export(Struct):
    """:class:`schemas.sync.DeviceExport` with the mutations left encoded: each is decoded on its
    own, so one bad mutation is one rejected result, never a refused file (ARCHITECTURE rule 3)."""

    format: Literal["recheck-device-export"]
    version: Annotated[int, msgspec.Meta(ge=1, le=1)]
    device_id: uuid.UUID
    device_secret: Annotated[str, msgspec.Meta(max_length=200)]
    user_id: uuid.UUID
    exported_at: UtcDateTime
    mutations: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=100_000)]
    photos: Annotated[list[ExportedPhoto], msgspec.Meta(max_length=10_000)] = []
    username: Annotated[str, msgspec.Meta(max_length=64)] | None = None


_decoder = msgspec.json.Decoder(_Export)


def _decode(body: bytes) -> _Export:
    try:
        return _decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = error_from_msgspec(exc)
        raise InvalidInput(f"{error.path}: {error.reason}", [error], code="validation") from exc


async def _check(session: AsyncSession, supervisor: CurrentUser, device_id: uuid.UUID, export: _Export) -> CurrentUser:
    """The tablet's worker (as that tablet) once the file is proven to be this revoked tablet's."""
    device = await managed_device(session, supervisor, device_id)
    if export.device_id != device.id:
        raise InvalidInput.field("$.device_id", "the file was written by another tablet", code="not_this_device")
    if export.user_id != device.user_id or hash_secret(export.device_secret) != device.secret_hash:
        raise InvalidInput.field("$.device_secret", "does not match this tablet's credential", code="not_this_device")
    if device.revoked_at is None:
        raise Conflict.field(
            "device_id", "this tablet is not revoked: it sends its own work when it syncs", code="device_active"
        )
    return await device_owner(session, device)


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _store_photo(
    ctx: media.MediaContext, owner: CurrentUser, actor: Actor, photo: ExportedPhoto
) -> ImportedPhoto:
    """One photo through the upload services (as a creation with its whole body)."""

    def answer(status: str, reason: str | None = None) -> ImportedPhoto:
        return ImportedPhoto(visit_id=photo.visit_id, sha256=photo.sha256, status=status, reason=reason)

    if hashlib.sha256(photo.data).hexdigest() != photo.sha256:
        return answer("refused", "sha256_mismatch")
    async with ctx.session_factory() as session:
        status = await session.scalar(
            select(Photo.status).where(Photo.visit_id == photo.visit_id, Photo.sha256 == photo.sha256)
        )
    if status == PhotoStatus.stored.value:
        return answer("already_stored")
    meta = media.UploadMeta(
        sha256=photo.sha256, visit_id=photo.visit_id, kind=photo.kind, filename=photo.filename, raw=""
    )
    try:
        upload = await media.create_upload(ctx, owner, actor, meta, len(photo.data))
    except DomainError as exc:
        return answer("refused", exc.code)
    try:
        await media.receive_bytes(ctx, owner, actor, upload.id, 0, _bytes(photo.data))
    except DomainError as exc:
        await media.discard_refused_creation(ctx, actor, upload.id, exc.code)
        return answer("refused", exc.code)
    return answer("stored")


async def import_device_export(
    factory: async_sessionmaker[AsyncSession],
    ctx: media.MediaContext,
    supervisor: CurrentUser,
    actor: Actor,
    device_id: uuid.UUID,
    body: bytes,
    *,
    received_at: dt.datetime,
) -> DeviceImportResult:
    """Import a revoked tablet's export file (see the module docstring)."""
    export = _decode(body)
    async with factory() as session:
        owner = await _check(session, supervisor, device_id, export)
    results = await recover(factory, owner, actor, export.mutations, received_at=received_at)
    photos = [await _store_photo(ctx, owner, actor, photo) for photo in export.photos]
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    async with factory() as session, session.begin():
        record(
            session,
            actor,
            "device.import",
            "device",
            device_id,
            {
                "user_id": str(owner.id),
                "exported_at": export.exported_at.isoformat(),
                "mutations": len(results),
                "results": counts,
                "photos": {p.sha256: p.status if p.reason is None else f"{p.status}: {p.reason}" for p in photos},
            },
        )
    return DeviceImportResult(device_id=device_id, user_id=owner.id, results=results, photos=photos)
