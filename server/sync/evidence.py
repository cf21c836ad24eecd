"""Evidence status: which photos a visit's captures refer to whose bytes the server lacks.

The one place sync talks to the media area (ARCHITECTURE rule 6): captures register the photos
they reference (pending until the tus upload completes and passes the pipeline), and every push
answer lists, per visit, the referenced hashes not yet stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.capture import Capture, capture_photo_refs
from schemas.media import PhotoKind, PhotoStatus
from schemas.sync import EvidenceStatus
from server.auth.identity import Actor
from server.db.base import core_table
from server.media.models import Photo
from server.planning.models import Visit
from server.sync.models import CaptureRecord

__all__ = ["evidence_for", "photo_refs", "register_photos"]


def photo_refs(form: Capture) -> dict[str, PhotoKind]:
    """Every photo a capture refers to, with what it shows."""
    return capture_photo_refs(form)


async def register_photos(
    session: AsyncSession, refs: Mapping[uuid.UUID, Mapping[str, PhotoKind]], actor: Actor, now: dt.datetime
) -> list[dict[str, Any]]:
    """Tell the media area which photos each visit now references (``pending`` until uploaded).

    The batched form of :func:`server.media.services.reference_photos` (one query and one insert
    for a whole push instead of three statements per visit); references already known are left
    alone. Returns the audit rows to write (one per visit) with the push's others.
    """
    wanted = {(visit_id, sha): kind for visit_id, by_hash in refs.items() for sha, kind in by_hash.items()}
    if not wanted:
        return []
    visit_ids = sorted(refs)
    known = set(
        (await session.execute(select(Photo.visit_id, Photo.sha256).where(Photo.visit_id.in_(visit_ids)))).all()
    )
    households = dict(
        (await session.execute(select(Visit.id, Visit.household_id).where(Visit.id.in_(visit_ids)))).all()
    )
    rows: list[dict[str, Any]] = []
    added: dict[uuid.UUID, list[str]] = {}
    for (visit_id, sha), kind in sorted(wanted.items()):
        if (visit_id, sha) in known or visit_id not in households:
            continue
        rows.append(
            {
                "id": uuid.uuid4(),
                "visit_id": visit_id,
                "household_id": households[visit_id],
                "sha256": sha,
                "kind": kind.value,
                "status": PhotoStatus.pending.value,
                "created_at": now,
            }
        )
        added.setdefault(visit_id, []).append(sha)
    if rows:
        await session.execute(insert(core_table(Photo)), rows)
    return [
        {
            "at": now,
            "actor_id": actor.user_id,
            "actor_role": actor.role,
            "device_id": actor.device_id,
            "request_id": actor.request_id,
            "action": "photo.referenced",
            "entity": "visit",
            "entity_id": str(visit_id),
            "changes": {"sha256": hashes},
        }
        for visit_id, hashes in added.items()
    ]


async def evidence_for(session: AsyncSession, visit_ids: Iterable[uuid.UUID]) -> list[EvidenceStatus]:
    """Per visit, the photo hashes referenced by any of its captures and not yet stored."""
    ids = sorted(set(visit_ids))
    if not ids:
        return []
    referenced: dict[uuid.UUID, set[str]] = {v: set() for v in ids}
    rows = await session.execute(
        select(CaptureRecord.visit_id, CaptureRecord.photo_hashes).where(CaptureRecord.visit_id.in_(ids))
    )
    for visit_id, hashes in rows:
        referenced[visit_id].update(hashes or [])
    stored: dict[uuid.UUID, set[str]] = {v: set() for v in ids}
    found = await session.execute(
        select(Photo.visit_id, Photo.sha256).where(Photo.visit_id.in_(ids), Photo.status == PhotoStatus.stored.value)
    )
    for visit_id, sha in found:
        stored[visit_id].add(sha)
    return [EvidenceStatus(visit_id=v, missing=sorted(referenced[v] - stored[v])) for v in ids]
