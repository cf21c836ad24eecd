"""A fast path for inserting many rows at once (proposals, audit entries, roster rows).

SQLAlchemy's executemany runs every value of every row through its generic type machinery;
at 100,000 proposals of ~40 columns that costs more than computing them. Here each column's
conversion is chosen once per statement and the rows go to the driver's own ``executemany``
(``exec_driver_sql``), storing values exactly as SQLAlchemy would on each engine: on SQLite,
UUIDs as 32-character hex, datetimes as naive-UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, dates as
ISO text, booleans as 0/1; on PostgreSQL native values. JSON columns are encoded with msgspec
(the engines' JSON serializer, see :mod:`server.db.session`). Same transaction as the caller.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import JSON, Boolean, Date, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.base import UTCDateTime

__all__ = ["fast_insert"]

_BATCH = 5000


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _sqlite_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: use timezone-aware UTC")
    v = value.astimezone(dt.UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


def _sqlite_uuid(value: uuid.UUID) -> str:
    return value.hex


def _pg_datetime(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: use timezone-aware UTC")
    return value


def _converter(column_type: Any, sqlite: bool) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _pg_datetime
    if isinstance(column_type, JSON):
        return _json
    if sqlite:
        if isinstance(column_type, Uuid):
            return _sqlite_uuid
        if isinstance(column_type, Date):
            return dt.date.isoformat
        if isinstance(column_type, Boolean):
            return int
    return None


async def fast_insert(connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, every value already final) into ``table``."""
    if not rows:
        return
    sqlite = connection.dialect.name == "sqlite"
    names = list(rows[0].keys())
    quote = connection.dialect.identifier_preparer.quote
    marks = ", ".join("?" if sqlite else f"${i}" for i in range(1, len(names) + 1))
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
    converters = [_converter(table.c[name].type, sqlite) for name in names]
    plan = list(zip(names, converters, strict=True))
    for start in range(0, len(rows), _BATCH):
        params = [
            tuple(
                None if (value := row[name]) is None else (convert(value) if convert is not None else value)
                for name, convert in plan
            )
            for row in rows[start : start + _BATCH]
        ]
        await connection.exec_driver_sql(sql, params)
