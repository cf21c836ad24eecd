"""``recheck migrate-data``: an embedded install (SQLite) with one of everything moves to an empty
PostgreSQL — every row of every table identical, the integrity check clean, a server on the
target keeps working (new ids after the copied ones) — and a target that is not empty or not
migrated is refused with nothing written."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.cli import CommandError
from server.db.migrate import upgrade
from server.db.models import Base
from server.db.session import command_transaction, make_engine
from server.media.config import MediaConfig, open_media_store
from server.operations.check import check_all
from server.operations.commands import run_migrate_data
from tests.server.decisions.helpers import create_household
from tests.server.operations.helpers import install_everything
from tests.support import LiveServer, start_live_server


async def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url, null_pool=True)
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                found[table.name] = [tuple(r) for r in (await connection.execute(select(table).order_by(*order))).all()]
    finally:
        await engine.dispose()
    return found


async def _count(url: str, name: str) -> int:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            table = Base.metadata.tables[name]
            return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())
    finally:
        await engine.dispose()


async def _problems(url: str, live: LiveServer) -> list[Any]:
    store = open_media_store(live.settings, MediaConfig.from_env())
    try:
        async with command_transaction(url) as session:
            return await check_all(session, store, threads=2)
    finally:
        store.close()


def _migrate(live: LiveServer, target: str) -> None:
    run_migrate_data(argparse.Namespace(to=target, source=None), live.settings)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_embedded_install_moves_to_postgresql_unchanged(
    live: LiveServer, tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    install_everything(live, tmp_path)
    source = live.settings.database_url
    with pytest.raises(CommandError, match="run `recheck migrate` against the target"):
        _migrate(live, postgres_url)
    upgrade(postgres_url)
    _migrate(live, postgres_url)
    assert "copied" in capsys.readouterr().out
    before, after = asyncio.run(_rows(source)), asyncio.run(_rows(postgres_url))
    assert sum(map(len, before.values())) > 50
    for name, rows in before.items():
        assert after[name] == rows, name
    assert asyncio.run(_problems(postgres_url, live)) == []
    # a second copy into the now full target is refused, and nothing is added
    audit = asyncio.run(_count(postgres_url, "audit_event"))
    with pytest.raises(CommandError, match="not empty"):
        _migrate(live, postgres_url)
    assert asyncio.run(_count(postgres_url, "audit_event")) == audit
    # the server runs on the target: new rows get ids after the copied ones
    with start_live_server(postgres_url, live.settings.media_url, live.world) as moved:
        household = create_household(moved, "T1-a", head="赵六")
        with moved.as_user("admin") as admin:
            listed = admin.get("/households/", params={"limit": 200}).json()["items"]
    assert household["id"] in {h["id"] for h in listed}
    assert asyncio.run(_count(postgres_url, "audit_event")) > audit
