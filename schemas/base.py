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
    "MAX_INT32",
    "MAX_INT64",
    "AreaId",
    "Fen",
    "Struct",
    "UtcDateTime",
    "Version",
    "utcnow",
]


class Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base for all wire types (see module docstring for why these options)."""


#: Money is integer fen (分). 1,000,000 yuan a month is the absurdity ceiling.
Fen = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_00, description="amount in fen (1/100 yuan)")]

#: The largest values of the integer columns: INTEGER is 32 bits on PostgreSQL, BIGINT 64 bits.
#: A number beyond its column's range must be refused at decoding, not by the database driver.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

#: An area's id (a 32-bit key on PostgreSQL).
AreaId = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT32)]

#: A record's version counter for optimistic locking (a 32-bit column).
Version = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT32)]

#: Times on the wire must carry a timezone; they are normalised to UTC by the server.
UtcDateTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def utcnow() -> dt.datetime:
    """Current time, UTC, timezone-aware (the only clock the server trusts)."""
    return dt.datetime.now(dt.UTC)
