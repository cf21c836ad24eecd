"""A backup taken while the fleet of simulated tablets pushes through the fault proxy restores to
a server that has every capture any tablet held a receipt for when the backup began, and every
verified photo byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select

from server.db.session import command_transaction
from server.media.config import MediaConfig, open_media_store
from server.media.models import Photo
from server.operations.backup import BackupReport, backup, restore
from server.operations.check import check_all
from server.settings import Settings
from server.simulation import ADMIN, simulate
from server.sync.models import CaptureRecord
from sync.simulation.fleet import FleetConfig
from sync.simulation.process import ServerProcess

pytestmark = pytest.mark.slow


def _settings(root: Path) -> Settings:
    return Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{root / 'recheck.db'}", media_url=f"file://{root / 'media'}"
    )


def _receipt_count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
        try:
            return int(c.execute("SELECT count(*) FROM sync_receipt").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def _tablet_receipts(work: Path) -> dict[str, int]:
    """capture id → version, for every capture receipt the tablets hold right now."""
    held: dict[str, int] = {}
    for path in sorted(work.glob("device-*.sqlite")):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as c:
            for status, raw in c.execute("SELECT status, result FROM receipts"):
                result = msgspec.json.decode(raw)
                if status != "rejected" and result.get("entity") == "capture" and result.get("entity_id"):
                    held[result["entity_id"]] = max(held.get(result["entity_id"], 0), result.get("version") or 0)
    return held


class _BackupDuringRun:
    """Waits for the first receipts, notes what the tablets hold, then backs up the live install."""

    def __init__(self, work: Path, dest: Path, after_receipts: int) -> None:
        self.work, self.dest, self.after = work, dest, after_receipts
        self.held: dict[str, int] = {}
        self.report: BackupReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 600
            while _receipt_count(self.work / "recheck.db") < self.after and time.monotonic() < deadline:
                time.sleep(0.2)
            self.held = _tablet_receipts(self.work)
            settings = _settings(self.work)
            store = open_media_store(settings, MediaConfig())
            try:
                self.report = backup(settings, store, self.dest)
            finally:
                store.close()
        except BaseException as exc:
            self.error = exc

    @contextlib.contextmanager
    def __call__(self, _server: ServerProcess) -> Iterator[None]:
        self._thread.start()
        yield
        self._thread.join(600)


async def _visits_of(url: str) -> dict[str, str]:
    async with command_transaction(url) as session:
        rows = await session.execute(select(CaptureRecord.id, CaptureRecord.visit_id))
        return {str(c): str(v) for c, v in rows}


async def _stored_photos(url: str) -> dict[str, str]:
    async with command_transaction(url) as session:
        rows = await session.execute(select(Photo.sha256, Photo.visit_id).where(Photo.status == "stored"))
        return {sha: str(v) for sha, v in rows}


async def _problems(settings: Settings) -> list[str]:
    store = open_media_store(settings, MediaConfig())
    try:
        async with command_transaction(settings.database_url) as session:
            return [p.line() for p in await check_all(session, store)]
    finally:
        store.close()


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_backup_while_the_fleet_pushes_restores_every_receipted_capture(tmp_path: Path) -> None:
    work, dest, place = tmp_path / "live", tmp_path / "backup", tmp_path / "restored"
    config = FleetConfig(devices=8, days=2, visits_per_day=2, photos_per_visit=1, threads=4, seed=11)
    during = _BackupDuringRun(work, dest, after_receipts=6)
    result = simulate(config, fault_rate=0.1, work_dir=work, disturb=during)
    assert during.error is None, during.error
    assert result.report.captures_lost == 0, result.report.unconverged_detail
    assert during.report is not None
    assert during.report.missing == []
    assert during.held, "the tablets held receipts when the backup began"
    # the backup was taken mid-run: the server received more after it than it had in it
    assert _receipt_count(work / "recheck.db") > during.report.counts["sync_receipt"]

    target = _settings(place)
    store = open_media_store(target, MediaConfig())
    try:
        restore(target, store, dest)
    finally:
        store.close()
    assert asyncio.run(_problems(target)) == []

    live_visits = asyncio.run(_visits_of(result.database_url))
    photos = asyncio.run(_stored_photos(target.database_url))
    assert photos, "photos were verified before the backup"
    live_media = work / "media" / "objects"
    restored = ServerProcess(target.database_url, target.media_url, log_path=tmp_path / "restored.log")
    with restored as server, httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        for capture_id, version in during.held.items():
            review = _get(client, f"/reviews/visits/{live_visits[capture_id]}")
            served = {c["id"]: c["version"] for c in review["captures"]}
            assert served.get(capture_id, -1) >= version, f"capture {capture_id} v{version} lost"
        for visit_id in set(photos.values()):
            for photo in _get(client, f"/visits/{visit_id}/photos")["photos"]:
                if photo["status"] != "stored":
                    continue
                body = client.get(photo["links"]["original"]).content
                sha = photo["sha256"]
                assert hashlib.sha256(body).hexdigest() == sha
                assert body == (live_media / sha[:2] / sha).read_bytes()
    print(f"\n{during.report.render('backup')}\n{len(during.held)} receipted captures, {len(photos)} photos checked")
