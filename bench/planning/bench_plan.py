"""Plan generation for a county of 1,000,000 households, on SQLite and on PostgreSQL.

Builds a fresh migrated database per engine, fills it with households by bulk load (the
driver's ``executemany`` on SQLite, ``COPY`` on PostgreSQL — not timed), then times
:func:`server.planning.services.generate_plan` for the whole county, commit included, and
a second run (which must create nothing). Seeded: every run sees the same households.

    .venv/bin/python bench/planning/bench_plan.py [--households 1000000] [--engine both] [--period 2027Q1]

PostgreSQL is expected on 127.0.0.1:5432 (user ``postgres``); its engine is skipped with a note
when it is not reachable. The floor is 30 s per engine on the development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from server.auth.identity import Actor
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.planning.models import Visit
from server.planning.services import generate_plan

PG_HOST, PG_PORT = "127.0.0.1", 5432
TOWNSHIPS, COMMUNITIES = 20, 10
CATEGORIES = (("general", 0.70), ("extreme_hardship", 0.20), ("three_no", 0.10))


def _areas() -> list[tuple[int, str, str, str, int | None, str, float, float]]:
    """(id, code, name, level, parent, path, lat, lon): one county, 20 townships, 200 communities."""
    rows: list[tuple[int, str, str, str, int | None, str, float, float]] = [
        (1, "C", "County", "county", None, "/1/", 26.4, 106.6)
    ]
    next_id = 2
    for t in range(TOWNSHIPS):
        tid = next_id
        next_id += 1
        lat, lon = 26.0 + (t // 5) * 0.15, 106.2 + (t % 5) * 0.15
        rows.append((tid, f"T{t:02d}", f"Township {t}", "township", 1, f"/1/{tid}/", lat, lon))
        for c in range(COMMUNITIES):
            rows.append(
                (
                    next_id,
                    f"T{t:02d}-{c:02d}",
                    f"Village {t}-{c}",
                    "community",
                    tid,
                    f"/1/{tid}/{next_id}/",
                    lat + (c % 3) * 0.02,
                    lon + (c // 3) * 0.02,
                )
            )
            next_id += 1
    return rows


def _households(n: int, start: dt.date) -> Iterator[tuple[Any, ...]]:
    """(id, code, head_name, head_id_number, address, area_id, residence, lat, lon, category,
    status, benefit_amount, approved_on, last_recheck_on, version, created_at, updated_at)."""
    rng = random.Random(20270101)
    communities = [a[0] for a in _areas() if a[3] == "community"]
    cats = [c for c, _ in CATEGORIES]
    weights = [w for _, w in CATEGORIES]
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for i in range(n):
        category = rng.choices(cats, weights)[0]
        last = start - dt.timedelta(days=rng.randrange(1, 730))
        approved = last - dt.timedelta(days=rng.randrange(0, 1500))
        fresh = rng.random() < 0.05  # approved, never rechecked yet
        status = "cancelled" if rng.random() < 0.03 else "active"
        located = rng.random() < 0.95
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            f"H{i:08d}",
            f"户主{i}",
            f"{i:018d}",
            f"lane {i % 500}",
            rng.choice(communities),
            "rural",
            26.0 + rng.random() if located else None,
            106.2 + rng.random() if located else None,
            category,
            status,
            50000,
            approved if not fresh else last,
            None if fresh else last,
            1,
            now,
            now,
        )


_COLUMNS = (
    "id, code, head_name, head_id_number, address, area_id, residence, lat, lon, category, status, "
    "benefit_amount, approved_on, last_recheck_on, version, created_at, updated_at"
)


def _seed_sqlite(path: Path, n: int, start: dt.date) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(
            "INSERT INTO area (id, code, name, level, parent_id, path, lat, lon) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            _areas(),
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for r in _households(n, start):
                yield (
                    r[0].hex,
                    *r[1:12],
                    r[12].isoformat(),
                    r[13].isoformat() if r[13] else None,
                    r[14],
                    r[15].strftime("%Y-%m-%d %H:%M:%S.%f"),
                    r[16].strftime("%Y-%m-%d %H:%M:%S.%f"),
                )

        connection.executemany(f"INSERT INTO household ({_COLUMNS}) VALUES ({', '.join('?' * 17)})", rows())
        connection.execute("ANALYZE")
    connection.close()


async def _seed_postgres(database: str, n: int, start: dt.date) -> None:
    import asyncpg

    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=database)
    try:
        await connection.copy_records_to_table(
            "area",
            records=_areas(),
            columns=["id", "code", "name", "level", "parent_id", "path", "lat", "lon"],
        )
        await connection.execute("SELECT setval(pg_get_serial_sequence('area', 'id'), 1000)")
        await connection.copy_records_to_table(
            "household", records=_households(n, start), columns=[c.strip() for c in _COLUMNS.split(",")]
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _server_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL backend on this machine (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _plan(url: str, period: str) -> list[tuple[float, float, int]]:
    """(wall seconds, CPU seconds, visits created) for a first and a second run, commits included.

    CPU is this process's (SQLite runs in it) plus the PostgreSQL backend's: on a shared machine
    it shows the work done, whatever else competes for the cores.
    """
    # Pooled, not NullPool: the PostgreSQL backend must outlive the commit for its CPU to be read
    # after it (a closed connection's backend exits, and its CPU time read as 0).
    engine = make_engine(url)
    runs: list[tuple[float, float, int]] = []
    try:
        factory = make_session_factory(engine)
        for _ in range(2):
            async with factory() as session, session.begin():
                pid = None
                if engine.dialect.name == "postgresql":
                    pid = int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                wall, cpu, server = time.perf_counter(), time.process_time(), _server_cpu(pid)
                result = await generate_plan(session, Actor.system("bench"), period)
                await session.commit()
                runs.append(
                    (
                        time.perf_counter() - wall,
                        time.process_time() - cpu + _server_cpu(pid) - server,
                        result.created,
                    )
                )
        async with factory() as session:
            total = await session.scalar(select(func.count()).select_from(Visit))
            assert total == runs[0][2], (total, runs)
        return runs
    finally:
        await engine.dispose()


def _report(engine: str, n: int, seed_s: float, runs: list[tuple[float, float, int]]) -> None:
    (wall, cpu, created), (wall2, cpu2, again) = runs
    load = os.getloadavg()[0]
    print(
        f"{engine:9s} {n:>9,} households  seed {seed_s:6.1f} s | plan {wall:6.2f} s wall, {cpu:6.2f} s CPU, "
        f"{created:,} visits ({created / wall:,.0f}/s) | second run {wall2:5.2f} s wall, {cpu2:5.2f} s CPU, "
        f"{again} new | load {load:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--period", default="2027Q1")
    args = parser.parse_args()
    from server.planning.schedule import parse_period

    start, _ = parse_period(args.period)
    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.db"
            url = f"sqlite+aiosqlite:///{path}"
            upgrade(url)
            began = time.perf_counter()
            _seed_sqlite(path, args.households, start)
            seed_s = time.perf_counter() - began
            _report("sqlite", args.households, seed_s, asyncio.run(_plan(url, args.period)))
    if args.engine in ("postgres", "both"):
        try:
            socket.create_connection((PG_HOST, PG_PORT), timeout=1).close()
        except OSError:
            print(f"postgres   skipped: nothing listening on {PG_HOST}:{PG_PORT}")
            return
        name = f"recheck_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
            upgrade(url)
            began = time.perf_counter()
            asyncio.run(_seed_postgres(name, args.households, start))
            seed_s = time.perf_counter() - began
            _report("postgres", args.households, seed_s, asyncio.run(_plan(url, args.period)))
        finally:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
