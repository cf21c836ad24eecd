"""Shared set-up for the decisions benchmarks: a migrated database on SQLite or PostgreSQL with
a county of 20 townships × 10 villages and N households (1–4 members, 0–3 income lines)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from server.db.base import utcnow
from server.db.migrate import upgrade
from server.db.session import make_engine
from server.planning.models import Visit
from server.registry.models import Area, Household, IncomeItem, Member

__all__ = ["PG_ADMIN", "database", "seed"]

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
KINDS = ("wages", "business", "support", "pension", "resident_basic_pension", "social_assistance")
BATCH = 10_000


async def _admin(sql: str) -> None:
    engine = make_engine(PG_ADMIN, null_pool=True, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def postgres_up() -> bool:
    """True when a PostgreSQL server listens on 127.0.0.1:5432."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def database(engine: str) -> Iterator[str]:
    """A fresh migrated database URL on ``engine`` (``sqlite`` or ``postgres``), dropped after."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    name = f"recheck_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _id_number(n: int) -> str:
    """A unique 18-character number (bench data; not checksum-valid)."""
    return f"52{n:016d}"


async def seed(url: str, households: int, *, visits: bool = True, seed_value: int = 7) -> dict[str, Any]:
    """Areas, ``households`` households with members and incomes, and (optionally) one
    accepted visit each. Returns counts and the seconds taken."""
    started = time.perf_counter()
    rng = random.Random(seed_value)
    engine = make_engine(url, null_pool=True)
    now = utcnow()
    today = now.date()
    counts = {"households": 0, "members": 0, "incomes": 0, "visits": 0}
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Area), [{"id": 1, "code": "C", "name": "Bench county", "level": "county", "path": "/1/"}]
            )
            villages: list[tuple[int, str]] = []
            next_id = 2
            for t in range(20):
                township = next_id
                next_id += 1
                await connection.execute(
                    insert(Area),
                    [
                        {
                            "id": township,
                            "code": f"T{t:02d}",
                            "name": f"Township {t}",
                            "level": "township",
                            "parent_id": 1,
                            "path": f"/1/{township}/",
                        }
                    ],
                )
                rows = []
                for v in range(10):
                    residence = "rural" if v % 3 else "urban"
                    rows.append(
                        {
                            "id": next_id,
                            "code": f"T{t:02d}-{v}",
                            "name": f"Village {t}-{v}",
                            "level": "community",
                            "parent_id": township,
                            "path": f"/1/{township}/{next_id}/",
                            "residence": residence,
                        }
                    )
                    villages.append((next_id, residence))
                    next_id += 1
                await connection.execute(insert(Area), rows)
            for start in range(0, households, BATCH):
                h_rows, m_rows, i_rows, v_rows = [], [], [], []
                for n in range(start, min(households, start + BATCH)):
                    area_id, residence = villages[n % len(villages)]
                    hid = uuid.UUID(int=n + 1)
                    size = rng.choice((1, 1, 2, 2, 3, 3, 4))
                    category = rng.choice(("general", "general", "general", "extreme_hardship", "three_no"))
                    h_rows.append(
                        {
                            "id": hid,
                            "code": f"H{n:07d}",
                            "head_name": f"王{n}",
                            "head_id_number": _id_number(n * 8),
                            "address": f"lane {n}",
                            "area_id": area_id,
                            "residence": residence,
                            "category": category,
                            "status": "active",
                            "benefit_amount": rng.randrange(100, 2000) * 100,
                            "bank_name": "农村信用社",
                            "bank_account": f"6217{n:012d}",
                            "version": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    member_ids = []
                    for k in range(size):
                        mid = uuid.UUID(int=(n + 1) * 8 + k + 1 << 64)
                        member_ids.append(mid)
                        m_rows.append(
                            {
                                "id": mid,
                                "household_id": hid,
                                "name": f"王{n}-{k}",
                                "relation": "head" if k == 0 else "child",
                                "id_number": _id_number(n * 8 + k) if k else _id_number(n * 8),
                                "sex": "male" if k % 2 == 0 else "female",
                                "birth_date": dt.date(1950 + k * 15, 1 + n % 12, 1),
                                "health": "healthy",
                                "labour_capacity": "full",
                            }
                        )
                    for _ in range(rng.randrange(0, 4)):
                        i_rows.append(
                            {
                                "id": uuid.uuid4(),
                                "household_id": hid,
                                "member_id": rng.choice([None, *member_ids]),
                                "kind": rng.choice(KINDS),
                                "monthly_amount": rng.randrange(0, 120_000),
                            }
                        )
                    if visits:
                        v_rows.append(
                            {
                                "id": uuid.UUID(int=n + 1 << 80),
                                "household_id": hid,
                                "area_id": area_id,
                                "reason": "scheduled",
                                "due_on": today,
                                "priority": 0,
                                "state": "accepted",
                                "visit_on": today,
                                "version": 3,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
                await connection.execute(insert(Household), h_rows)
                await connection.execute(insert(Member), m_rows)
                if i_rows:
                    await connection.execute(insert(IncomeItem), i_rows)
                if v_rows:
                    await connection.execute(insert(Visit), v_rows)
                counts["households"] += len(h_rows)
                counts["members"] += len(m_rows)
                counts["incomes"] += len(i_rows)
                counts["visits"] += len(v_rows)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execute(text("ANALYZE"))
                await connection.commit()
    finally:
        await engine.dispose()
    return {**counts, "seconds": round(time.perf_counter() - started, 1)}
