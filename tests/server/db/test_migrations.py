"""Migrations run unchanged on SQLite and PostgreSQL, both ways, and match the models exactly."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from server.db.migrate import downgrade, upgrade
from server.db.models import Base
from server.db.session import make_engine


def _run(url: str, fn: Any) -> Any:
    async def go() -> Any:
        engine = make_engine(url, null_pool=True)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    upgrade(database_url)
    assert _run(database_url, _tables) == set(Base.metadata.tables)
    downgrade(database_url, "base")
    assert _run(database_url, _tables) == set()
    upgrade(database_url)
    assert _run(database_url, _tables) == set(Base.metadata.tables)


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade(database_url)
    assert _run(database_url, _diff) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"

    def pragmas(connection: Connection) -> tuple[str, int]:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        return str(journal), int(foreign_keys or 0)

    assert _run(url, pragmas) == ("wal", 1)
