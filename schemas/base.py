"""The one base Struct every wire type derives from, and the shared small types.

Wire types forbid unknown fields so a typo in a client is a clear 400 naming the field rather
than silently dropped data, and omit defaults so unchanged optional fields cost no bytes on a
2G link. New fields must always get a default so older tablets keep decoding (schema evolution).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

__all__ = [
    "Fen",
    "Struct",
    "UtcDateTime",
    "utcnow",
]


class Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base for all wire types (see module docstring for why these options)."""


#: Money is integer fen (分). 1,000,000 yuan a month is the absurdity ceiling.
Fen = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_00, description="amount in fen (1/100 yuan)")]

#: Times on the wire must carry a timezone; they are normalised to UTC by the server.
UtcDateTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def utcnow() -> dt.datetime:
    """Current time, UTC, timezone-aware (the only clock the server trusts)."""
    return dt.datetime.now(dt.UTC)
