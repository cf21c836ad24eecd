"""The reused-photo lookup at 1k / 10k / 100k / 1M stored photos, through the band index and,
for comparison, by comparing with every photo (what it did before the index).

Seeds the photo table directly (no images: random 64-bit hashes with their bands, spread over
1,000 households' visits) in steps, and after each step times ``near_duplicate`` — the lookup
an upload's completion runs — for random hashes, some planted 6 bits from a stored one.

    .venv/bin/python -m bench.media.bench_phash --engine sqlite
    .venv/bin/python -m bench.media.bench_phash --engine postgres --sizes 1000,10000,100000,1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid

from sqlalchemy import insert, select, text

from bench.decisions.common import database, seed
from media.images import hamming, phash_bands
from server.db.session import make_engine, make_session_factory
from server.media.config import MediaConfig
from server.media.models import Photo
from server.media.services import _informative, _signed, near_duplicate
from server.planning.models import Visit

BATCH = 10_000


async def _grow(
    url: str, visits: list[tuple[uuid.UUID, uuid.UUID]], hashes: list[int], target: int, rng: random.Random
) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            while len(hashes) < target:
                rows = []
                for _ in range(min(BATCH, target - len(hashes))):
                    h = rng.getrandbits(64)
                    hashes.append(h)
                    visit, household = rng.choice(visits)
                    b0, b1, b2 = phash_bands(h)
                    pid = uuid.uuid4()
                    rows.append(
                        {
                            "id": pid,
                            "visit_id": visit,
                            "household_id": household,
                            "sha256": pid.hex * 2,
                            "kind": "house_outside",
                            "status": "stored",
                            "phash": _signed(h),
                            "phash_b0": b0,
                            "phash_b1": b1,
                            "phash_b2": b2,
                        }
                    )
                await connection.execute(insert(Photo), rows)
        async with engine.begin() as connection:
            # a live table has its statistics; a freshly loaded one needs them for the planner
            await connection.execute(text("ANALYZE photo"))
    finally:
        await engine.dispose()


async def _time(url: str, hashes: list[int], rng: random.Random, rounds: int, full_scan: bool) -> dict[str, float]:
    engine = make_engine(url, null_pool=True)
    config = MediaConfig()
    household = uuid.uuid4()  # a household with no photos: every stored photo is a candidate
    index_ms, scan_ms, found = [], [], 0
    try:
        async with make_session_factory(engine)() as session:
            for i in range(rounds):
                q = rng.getrandbits(64)
                if i % 2:  # half the queries are a reused photo: 6 bits from a stored one
                    q = rng.choice(hashes)
                    for bit in rng.sample(range(64), 6):
                        q ^= 1 << bit
                started = time.perf_counter()
                best = await near_duplicate(session, config, household, q)
                index_ms.append((time.perf_counter() - started) * 1000)
                found += best is not None
                if full_scan and i < 5:
                    started = time.perf_counter()
                    rows = await session.execute(select(Photo.id, Photo.phash).where(Photo.status == "stored"))
                    [r for r in rows if _informative(r.phash) and hamming(q, r.phash) <= config.duplicate_max_distance]
                    scan_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    figures = {
        "lookup_p50_ms": statistics.median(index_ms),
        "lookup_p95_ms": sorted(index_ms)[int(0.95 * (len(index_ms) - 1))],
        "found": found,
    }
    if scan_ms:
        figures["full_scan_p50_ms"] = statistics.median(scan_ms)
    return figures


async def _visits(url: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            return [(v, h) for v, h in (await connection.execute(select(Visit.id, Visit.household_id))).all()]
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--scan-up-to", type=int, default=1_000_000, help="also time the full scan up to this size")
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"engine {args.engine}, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'photos':>9} {'lookup p50':>11} {'p95':>8} {'full scan p50':>14} {'reused found':>13}")
    with database(args.engine) as url:
        asyncio.run(seed(url, 1000))
        visits = asyncio.run(_visits(url))
        hashes: list[int] = []
        for size in (int(s) for s in args.sizes.split(",")):
            asyncio.run(_grow(url, visits, hashes, size, rng))
            f = asyncio.run(_time(url, hashes, rng, args.rounds, size <= args.scan_up_to))
            scan = f"{f['full_scan_p50_ms']:>12.1f} ms" if "full_scan_p50_ms" in f else f"{'-':>15}"
            print(
                f"{size:>9,} {f['lookup_p50_ms']:>8.1f} ms {f['lookup_p95_ms']:>5.1f} ms {scan} "
                f"{int(f['found']):>6}/{args.rounds // 2}"
            )
    print(f"load afterwards {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
