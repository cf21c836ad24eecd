"""Integer query and path parameters with their ranges, declared once for every controller.

An integer beyond what the column holds (``?area_id=<30 digits>``) used to reach the database
driver, which raised (SQLite's ``OverflowError`` past 64 bits, asyncpg's out-of-range error past
the column's 32 or 64 bits), and the caller got a 500. With the range declared on the parameter,
Litestar refuses it first with a 400 naming the parameter, and the OpenAPI document carries
``minimum`` and ``maximum`` so generated clients know them too. Each range is the narrower of the
two engines' columns: area ids and roster line numbers are INTEGER (32 bits on PostgreSQL), audit
and conflict ids BIGINT.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from schemas.base import MAX_INT32, MAX_INT64

__all__ = ["AreaIdQuery", "AuditAfter", "ConflictId", "Offset", "RosterSeqAfter"]

#: An area filter (``?area_id=``); absent means all of the caller's areas.
AreaIdQuery = Annotated[int | None, Parameter(ge=1, le=MAX_INT32)]

#: A sync conflict record's id in a path.
ConflictId = Annotated[int, Parameter(ge=1, le=MAX_INT64)]

#: How many rows to skip (``?offset=``).
Offset = Annotated[int, Parameter(ge=0, le=MAX_INT64)]

#: Audit paging: only entries after this id (``?after_id=``).
AuditAfter = Annotated[int, Parameter(ge=0, le=MAX_INT64)]

#: Roster paging: only rows after this line number (``?after_seq=``).
RosterSeqAfter = Annotated[int, Parameter(ge=0, le=MAX_INT32)]
