"""A fast path for inserting many rows at once (proposals, audit entries, roster rows).

SQLAlchemy's executemany runs every value of every row through its generic type machinery;
at 100,000 proposals of ~40 columns that costs more than computing them. Here the rows are
turned into tuples in C (``itemgetter``), each column that needs a conversion is converted as a
whole, and the tuples go to the driver: binary ``COPY`` on PostgreSQL, its own ``executemany``
on SQLite. Values are stored exactly as SQLAlchemy stores them on each engine: on SQLite, UUIDs as
32-character hex, datetimes as naive-UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, dates as ISO text,
booleans as 0/1; on PostgreSQL native values. JSON columns are encoded with msgspec (the
engines' JSON serializer, see :mod:`server.db.session`). Same transaction as the caller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import JSON, Boolean, Date, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.base import UTCDateTime
from server.db.batch import convert_column, paused_gc

__all__ = ["Prepared", "fast_insert", "insert", "paused_gc", "prepare", "roomy_sqlite_cache"]

_BATCH = 5000
_encode = msgspec.json.Encoder().encode


def _json(value: Any) -> str:
    return _encode(value).decode()


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """Rows of one table as the driver takes them (built by :func:`prepare`, no I/O)."""

    table: Table
    names: list[str]
    records: list[tuple[Any, ...]]
    sqlite: bool


def prepare(table: Table, rows: Sequence[Mapping[str, Any]], dialect: str) -> Prepared:
    """``rows`` (dicts with the same keys, every value final) as driver records for ``dialect``.

    Pure: callers that build many rows run this inside :func:`paused_gc` together with the
    building, so the dicts die before the collector could walk them.
    """
    sqlite = dialect == "sqlite"
    names = list(rows[0].keys()) if rows else []
    if not rows:
        return Prepared(table, names, [], sqlite)
    pick = operator.itemgetter(*names)
    records = [pick(row) for row in rows] if len(names) > 1 else [(pick(row),) for row in rows]
    converters = [_converter(table.c[name].type, sqlite) for name in names]
    if any(converters):
        columns = [
            convert_column(convert, values, hashable=convert is not _json) if convert is not None else values
            for convert, values in zip(converters, zip(*records, strict=True), strict=True)
        ]
        records = list(zip(*columns, strict=True))
    return Prepared(table, names, records, sqlite)


async def insert(connection: AsyncConnection, prepared: Prepared) -> None:
    """Write prepared records in the caller's transaction."""
    if not prepared.records:
        return
    table, names = prepared.table, prepared.names
    if prepared.sqlite:
        quote = connection.dialect.identifier_preparer.quote
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({marks})"
        for start in range(0, len(prepared.records), _BATCH):
            await connection.exec_driver_sql(sql, prepared.records[start : start + _BATCH])
        return
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # COPY goes round SQLAlchemy: a statement through it first opens the transaction
        # SQLAlchemy tracks, so the rows commit or roll back with the caller's work.
        await connection.exec_driver_sql("SELECT 1")
    for start in range(0, len(prepared.records), _BATCH):
        await driver.copy_records_to_table(table.name, records=prepared.records[start : start + _BATCH], columns=names)


async def fast_insert(connection: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, every value already final) into ``table``."""
    await insert(connection, prepare(table, rows, connection.dialect.name))


@contextlib.asynccontextmanager
async def roomy_sqlite_cache(connection: AsyncConnection, kib: int = 65536) -> AsyncIterator[None]:
    """A larger SQLite page cache for one bulk write (no-op on other engines).

    With the default 2 MB cache, inserting 100,000 proposals (five indexes, random ids) spills
    and re-reads the same index pages again and again; 64 MB cut the inserts' CPU time by a
    fifth. Set back afterwards; after an error the connection just keeps the larger cache.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int((await connection.exec_driver_sql("PRAGMA cache_size")).scalar_one())
    await connection.exec_driver_sql(f"PRAGMA cache_size=-{int(kib)}")
    yield
    await connection.exec_driver_sql(f"PRAGMA cache_size={before}")
