"""Import a roster into fresh SQLite and PostgreSQL databases; print seconds and rows per second.

Each run migrates a new database, loads the demo county's *areas* (the roster's area codes), then
times ``recheck import roster``'s two stages in-process: reading + checking the file, and the
database work (load, compare, bulk writes, commit). A second import of the same file shows the
idempotent path (everything unchanged, nothing written).

    .venv/bin/python bench/registry/make_roster.py                # once: var/bench/roster_100000.{csv,xlsx}
    .venv/bin/python bench/registry/bench_import.py [--engines sqlite postgres] [--files …]

PostgreSQL: the server on 127.0.0.1:5432 (user postgres, trust auth); the script creates and
drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from server.auth.identity import Actor
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.demo import DemoCounty, build_areas, load_demo
from server.registry.roster import read_roster
from server.registry.roster_import import import_roster

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _admin(sql: str) -> None:
    engine = make_engine(PG_ADMIN, null_pool=True, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


async def load_areas(url: str, seed: int = 7) -> None:
    """The demo county's area tree only (no households, no users), as built with ``make_roster``'s seed."""
    county = DemoCounty(seed=seed)
    build_areas(county, random.Random(seed))
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            await load_demo(session, county)
    finally:
        await engine.dispose()


async def timed_import(url: str, path: Path) -> tuple[float, float, str]:
    """(read seconds, database seconds, summary) for one import of ``path``; the summary has CPU seconds."""
    cpu = time.process_time()
    started = time.perf_counter()
    roster = await asyncio.to_thread(read_roster, path, max_bytes=1 << 30, max_rows=10_000_000)
    read = time.perf_counter() - started
    engine = make_engine(url, null_pool=True)
    started = time.perf_counter()
    try:
        async with make_session_factory(engine)() as session, session.begin():
            result = await import_roster(session, roster, Actor.system("bench"), source=path.name)
    finally:
        await engine.dispose()
    database = time.perf_counter() - started
    summary = (
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}; "
        f"CPU {time.process_time() - cpu:.1f} s, load {os.getloadavg()[0]:.1f}"
    )
    return read, database, summary


def fresh_database(engine: str, folder: Path) -> tuple[str, str | None]:
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}", None
    name = f"recheck_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument(
        "--files",
        nargs="+",
        type=Path,
        default=[Path("var/bench/roster_100000.csv"), Path("var/bench/roster_100000.xlsx")],
    )
    parser.add_argument("--again", action="store_true", help="also time a second, unchanged import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines:
            for path in args.files:
                url, pg_name = fresh_database(engine, Path(folder))
                try:
                    upgrade(url)
                    asyncio.run(load_areas(url))
                    rows = sum(1 for _ in path.open("rb")) - 1 if path.suffix == ".csv" else None
                    read, database, summary = asyncio.run(timed_import(url, path))
                    total = read + database
                    rate = f"{rows / total:,.0f} rows/s" if rows else ""
                    print(
                        f"{engine:8s} {path.name:22s} read {read:5.1f} s + database {database:5.1f} s"
                        f" = {total:5.1f} s  {rate}  ({summary})"
                    )
                    if args.again:
                        read, database, summary = asyncio.run(timed_import(url, path))
                        print(
                            f"{engine:8s} {path.name:22s} again: read {read:5.1f} s + database {database:5.1f} s"
                            f" = {read + database:5.1f} s  ({summary})"
                        )
                finally:
                    if pg_name:
                        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
