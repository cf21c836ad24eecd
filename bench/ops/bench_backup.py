"""Backup, restore and the integrity check on a county-sized embedded install.

Seeds a SQLite database with N households (members, incomes, one accepted visit each; the
decisions bench's seed) and P stored photos whose objects are real files in the local media
folder (random bytes of the given size, each unique, with its SHA-256 on the photo row), then
times ``recheck backup``, ``recheck restore`` into an empty place and ``recheck check`` through
the same functions the commands call, and prints the figures with the machine's load.

    .venv/bin/python -m bench.ops.bench_backup --households 100000 --photos 20000 --photo-kb 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select

from bench.decisions.common import seed
from server.db.base import utcnow
from server.db.migrate import upgrade
from server.db.session import command_transaction, make_engine
from server.media.config import MediaConfig, open_media_store
from server.media.models import Photo
from server.operations.backup import backup, restore
from server.operations.check import check_all
from server.planning.models import Visit
from server.settings import Settings


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


async def _photos(settings: Settings, count: int, size: int) -> None:
    store = open_media_store(settings, MediaConfig.from_env())
    engine = make_engine(settings.database_url, null_pool=True)
    now = utcnow()
    try:
        async with engine.begin() as connection:
            visits = (await connection.execute(select(Visit.id, Visit.household_id).limit(count))).all()
            rows = []
            for i in range(count):
                visit_id, household_id = visits[i % len(visits)]
                data = os.urandom(size)
                sha = hashlib.sha256(data).hexdigest()
                store.put(sha, data, content_type="image/jpeg")
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "visit_id": visit_id,
                        "household_id": household_id,
                        "sha256": sha,
                        "kind": "house_outside",
                        "status": "stored",
                        "byte_size": size,
                        "content_type": "image/jpeg",
                        "created_at": now,
                    }
                )
                if len(rows) == 5000:
                    await connection.execute(insert(Photo), rows)
                    rows = []
            if rows:
                await connection.execute(insert(Photo), rows)
    finally:
        await engine.dispose()
        store.close()


async def _check(settings: Settings) -> int:
    store = open_media_store(settings, MediaConfig.from_env())
    try:
        async with command_transaction(settings.database_url) as session:
            return len(await check_all(session, store, threads=4))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=20_000)
    parser.add_argument("--photo-kb", type=int, default=200, help="bytes of each photo object, in KiB")
    parser.add_argument("--work", type=Path, default=None, help="folder for the install (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="recheck-bench-ops-"))
    work.mkdir(parents=True, exist_ok=True)
    live = Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{work / 'live.db'}", media_url=f"file://{work / 'media'}"
    )
    figures: dict[str, object] = {"households": args.households, "photos": args.photos, "photo_kib": args.photo_kb}
    started = time.perf_counter()
    upgrade(live.database_url)
    asyncio.run(seed(live.database_url, args.households))
    asyncio.run(_photos(live, args.photos, args.photo_kb * 1024))
    figures["seed_s"] = round(time.perf_counter() - started, 1)
    figures["database_mb"] = round((work / "live.db").stat().st_size / 1e6, 1)
    figures["media_mb"] = round(_size(work / "media") / 1e6, 1)

    store = open_media_store(live, MediaConfig.from_env())
    started = time.perf_counter()
    report = backup(live, store, work / "backup")
    figures["backup_s"] = round(time.perf_counter() - started, 1)
    figures["backup_mb"] = round(_size(work / "backup") / 1e6, 1)
    figures["backup_objects"] = report.objects
    store.close()

    restored = Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{work / 'restored.db'}", media_url=f"file://{work / 'restored'}"
    )
    store = open_media_store(restored, MediaConfig.from_env())
    started = time.perf_counter()
    restore(restored, store, work / "backup")
    figures["restore_s"] = round(time.perf_counter() - started, 1)
    store.close()

    started = time.perf_counter()
    figures["check_problems"] = asyncio.run(_check(live))
    figures["check_s"] = round(time.perf_counter() - started, 1)
    figures["load_average"] = [round(x, 1) for x in os.getloadavg()]
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
