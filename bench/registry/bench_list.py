"""Requests per second and latency of ``GET /households/`` (pages of 50) on a 100,000-household database.

For each engine: a fresh database is migrated, given the demo areas and the 100,000-household roster
(``make_roster.py``), plus an admin and a township supervisor; a real uvicorn server process serves
it; a few concurrent httpx clients then list households for a bounded time — first pages with
random filters and sorts, then following ``next_cursor`` a few pages deep — as the admin (whole
county) and as the supervisor (one township). Prints requests/s and p50/p95/p99 latency.

    .venv/bin/python bench/registry/bench_list.py [--engines sqlite postgres] [--seconds 20] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import PG_ADMIN, _admin, fresh_database, load_areas

from server.auth.bootstrap import add_user
from server.auth.identity import Actor
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.registry.models import Area
from server.registry.roster import read_roster
from server.registry.roster_import import import_roster

PASSWORD = "bench-password-2026"
_QUIET = ("--log-level", "warning", "--no-access-log")
SORTS = ["code", "-code", "head_name", "benefit_amount", "-benefit_amount", "-updated_at"]
FILTERS: list[dict[str, str]] = [
    {},
    {},
    {"category": "general"},
    {"category": "three_no"},
    {"residence": "urban"},
    {"status": "active"},
    {"q": "王"},
]


async def prepare(url: str, roster: Path) -> None:
    """Areas, the roster's households, and two users (admin for the county, sup for one township)."""
    await load_areas(url)
    parsed = await asyncio.to_thread(read_roster, roster, max_bytes=1 << 30, max_rows=10_000_000)
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            await import_roster(session, parsed, Actor.system("bench"))
        async with make_session_factory(engine)() as session, session.begin():
            county = await session.scalar(select(Area.id).where(Area.level == "county"))
            town = await session.scalar(select(Area.id).where(Area.code == "520199101"))
            assert county is not None
            assert town is not None
            add_user(session, "admin", "admin", PASSWORD, [county], "Admin")
            add_user(session, "sup", "supervisor", PASSWORD, [town], "Supervisor")
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, media: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "RECHECK_DATABASE_URL": url,
        "RECHECK_MEDIA_URL": f"file://{media}",
        "RECHECK_LOG_JSON": "0",
        "RECHECK_ENV": "development",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--port", str(port), *_QUIET],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


async def hammer(base: str, seconds: float, clients: int) -> tuple[list[float], int]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        tokens = {
            user: (await c.post("/auth/login", json={"username": user, "password": PASSWORD})).json()["access_token"]
            for user in ("admin", "sup")
        }
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        rng = random.Random(k)
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while time.monotonic() < stop:
                user = "admin" if rng.random() < 0.5 else "sup"
                params: dict[str, Any] = {"limit": 50, "sort": rng.choice(SORTS), **rng.choice(FILTERS)}
                headers = {"Authorization": f"Bearer {tokens[user]}"}
                for _ in range(rng.randint(1, 5)):
                    started = time.perf_counter()
                    response = await c.get("/households/", params=params, headers=headers)
                    latencies.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        errors += 1
                        break
                    cursor = response.json().get("next_cursor")
                    if not cursor or time.monotonic() >= stop:
                        break
                    params["cursor"] = cursor

    await asyncio.gather(*(client(k) for k in range(clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--roster", type=Path, default=Path("var/bench/roster_100000.csv"))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines:
            url, pg_name = fresh_database(engine, Path(folder))
            try:
                started = time.perf_counter()
                upgrade(url)
                asyncio.run(prepare(url, args.roster))
                print(f"{engine}: database ready in {time.perf_counter() - started:.0f} s")
                process, base = start_server(url, Path(folder) / "media")
                try:
                    asyncio.run(hammer(base, 2, args.clients))  # warm-up
                    latencies, errors = asyncio.run(hammer(base, args.seconds, args.clients))
                finally:
                    process.terminate()
                    process.wait(timeout=30)
                latencies.sort()
                ms = [x * 1000 for x in latencies]
                p95 = ms[int(len(ms) * 0.95)]
                p99 = ms[int(len(ms) * 0.99)]
                print(
                    f"{engine:8s} {len(ms) / args.seconds:7.1f} req/s  p50 {statistics.median(ms):6.1f} ms  "
                    f"p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  ({len(ms)} requests, {errors} errors, "
                    f"{args.clients} clients, {args.seconds:.0f} s)"
                )
            finally:
                if pg_name:
                    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


if __name__ == "__main__":
    assert PG_ADMIN
    main()
