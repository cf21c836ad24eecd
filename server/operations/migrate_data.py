"""``recheck migrate-data --to URL``: move an install from the embedded SQLite to PostgreSQL.

A county starts on the embedded default and moves to PostgreSQL when it grows (docs/operations.md).
The copy goes table by table in foreign-key order through the application's own table
definitions — so every value is read and written with the column types the app uses on each
engine (UUIDs, aware UTC times, JSON), never as text guessed from the file — in one transaction
on the target: a failure leaves the target as empty as it was. The target must be migrated to
the same revision as the source and hold no rows; integer id sequences are moved past the
copied ids; the counts of every table are compared before the transaction commits. Photos stay
where they are (the media store is not part of the database): point ``RECHECK_MEDIA_URL`` at
the same folder, or copy it to S3 (docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Integer, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import Base
from server.db.session import make_engine

__all__ = ["MigrateDataError", "MigrationReport", "migrate_data"]

BATCH = 2000

#: Tables a fresh migration already fills (the change log's counter row): their rows are
#: replaced by the source's, and do not make the target count as in use.
SEEDED = frozenset({"sync_counter"})


class MigrateDataError(RuntimeError):
    """The copy was refused or failed; nothing was written to the target."""


@dataclass
class MigrationReport:
    """Rows copied per table, and how long it took."""

    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def render(self) -> str:
        rows = sum(self.tables.values())
        busy = ", ".join(f"{name} {count}" for name, count in self.tables.items() if count)
        return f"copied {rows} rows in {len(self.tables)} tables in {self.seconds:.1f} s ({busy})"


async def _revision(connection: AsyncConnection) -> str | None:
    try:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception:  # no alembic_version table: never migrated
        return None
    return ",".join(sorted(rows)) or None


async def _count(connection: AsyncConnection, table: Table) -> int:
    return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _copy_table(
    source: AsyncConnection, target: AsyncConnection, table: Table, progress: Callable[[str, int], None] | None
) -> int:
    copied = 0
    order = list(table.primary_key.columns) or list(table.columns)
    result = await source.stream(select(table).order_by(*order).execution_options(yield_per=BATCH))
    async for partition in result.mappings().partitions(BATCH):
        await target.execute(insert(table), [dict(row) for row in partition])
        copied += len(partition)
        if progress:
            progress(table.name, copied)
    return copied


async def _move_sequences(target: AsyncConnection, tables: list[Table]) -> None:
    """PostgreSQL hands out ids from a sequence the copy did not use: move each past the ids copied."""
    if target.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                sequence = (
                    await target.execute(
                        text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
                    )
                ).scalar_one_or_none()
                if sequence:
                    await target.execute(
                        text(
                            f"SELECT setval(:s, COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
                        ),
                        {"s": sequence},
                    )


async def migrate_data(
    source_url: str, target_url: str, *, progress: Callable[[str, int], None] | None = None
) -> MigrationReport:
    """Copy every row of the source database into the empty, migrated target (one transaction)."""
    if source_url == target_url:
        raise MigrateDataError("the source and the target are the same database")
    started = time.perf_counter()
    tables = [t for t in Base.metadata.sorted_tables if t.name != "alembic_version"]
    source_engine = make_engine(source_url, null_pool=True)
    target_engine = make_engine(target_url, null_pool=True)
    report = MigrationReport()
    try:
        async with source_engine.connect() as source, target_engine.begin() as target:
            have, want = await _revision(source), await _revision(target)
            if have is None:
                raise MigrateDataError("the source database has no recheck schema (run recheck migrate on it first)")
            if have != want:
                raise MigrateDataError(
                    f"the target is at revision {want or 'none'}, the source at {have}: "
                    "run `recheck migrate` against the target first, with the same version of recheck"
                )
            for table in tables:
                if table.name not in SEEDED and await _count(target, table):
                    raise MigrateDataError(f"the target is not empty (table {table.name} has rows): refused")
            for table in tables:
                if table.name in SEEDED:
                    await target.execute(table.delete())
            for table in tables:
                report.tables[table.name] = await _copy_table(source, target, table, progress)
            await _move_sequences(target, tables)
            for table in tables:
                there = await _count(target, table)
                if there != report.tables[table.name]:
                    raise MigrateDataError(
                        f"{table.name}: {report.tables[table.name]} rows read, {there} in the target"
                    )
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    report.seconds = time.perf_counter() - started
    return report
