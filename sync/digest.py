"""The state-check digest: one short string summarising every record a device holds.

Both sides compute it the same way over ``(kind, id, version)`` triples, in any order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

__all__ = ["EMPTY_DIGEST", "digest"]


def digest(items: Iterable[tuple[str, uuid.UUID | str, int]]) -> str:
    """SHA-256 over the sorted ``kind:id:version`` lines, first 32 hex digits."""
    lines = sorted(f"{kind}:{uuid.UUID(str(item_id)).hex}:{version}" for kind, item_id, version in items)
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()[:32]


#: The digest of an empty store.
EMPTY_DIGEST = digest(())
