"""The state-check digest: one short string summarising every record a device holds.

Both sides compute it the same way over ``(kind, id, version)`` triples, in any order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

__all__ = ["EMPTY_DIGEST", "digest"]


def _hex(item_id: uuid.UUID | str) -> str:
    return item_id.hex if isinstance(item_id, uuid.UUID) else item_id.replace("-", "").lower()


def digest(items: Iterable[tuple[str, uuid.UUID | str, int]]) -> str:
    """SHA-256 over the sorted ``kind:id:version`` lines, first 32 hex digits."""
    lines = sorted(f"{kind}:{_hex(item_id)}:{version}" for kind, item_id, version in items)
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


#: The digest of an empty store.
EMPTY_DIGEST = digest(())
