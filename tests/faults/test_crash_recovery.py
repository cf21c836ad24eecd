"""Crash recovery: the server SIGKILLed again and again during pushes and uploads, and a PostgreSQL
server restarted under load, while a fleet of tablets keeps working.

Afterwards: no capture lost or duplicated, no half-written visit, every device converged, and the
expiry job removes every upload the crashes orphaned (nothing left in the database or the store).
The PostgreSQL test runs its own private cluster (Debian's binaries, a free port, a temporary data
folder) so restarting it never disturbs anyone else's database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import io
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from server.db.session import make_engine, make_session_factory
from server.media.config import MediaConfig, open_media_store
from server.media.models import Upload
from server.media.services import MediaContext, cleanup_expired_uploads
from server.settings import Settings
from server.simulation import SimulationResult, simulate
from sync.simulation.fleet import FleetConfig, FleetReport
from sync.simulation.process import ServerProcess, free_port
from tests.support import LiveServer, make_id_number

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _assert_whole(report: FleetReport) -> None:
    print("\n" + report.render())
    assert report.captures_made > 0
    assert report.captures_lost == 0, report.unconverged_detail
    assert report.captures_duplicated == 0
    assert report.photos_lost == report.photos_duplicated == 0
    assert report.half_written_visits == 0
    assert report.unconverged == 0, report.unconverged_detail
    assert report.captures_stored == report.captures_made


async def _uploads_and_sweep(result: SimulationResult) -> tuple[int, int, int]:
    """(uploads left unfinished, removed by the expiry job a day later, uploads left after it)."""
    engine = make_engine(result.database_url, null_pool=True)
    settings = Settings(env="test", database_url=result.database_url, media_url=f"file://{result.work_dir / 'media'}")
    config = MediaConfig()
    store = open_media_store(settings, config)
    try:
        factory = make_session_factory(engine)
        async with factory() as session:
            unfinished = await session.scalar(select(func.count()).select_from(Upload).where(Upload.state == "open"))
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        removed = await cleanup_expired_uploads(MediaContext(factory, store, config), later)
        async with factory() as session:
            left = await session.scalar(select(func.count()).select_from(Upload))
        return int(unfinished or 0), removed, int(left or 0)
    finally:
        store.close()
        await engine.dispose()


async def _half_written(database_url: str) -> int:
    """Visits marked submitted or accepted without any stored capture (must be none)."""
    engine = make_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM visit v WHERE v.state IN ('submitted', 'accepted') "
                    "AND NOT EXISTS (SELECT 1 FROM visit_capture c WHERE c.visit_id = v.id)"
                )
            )
        return int(found or 0)
    finally:
        await engine.dispose()


def test_sigkill_during_pushes_and_uploads(tmp_path: Path) -> None:
    config = FleetConfig(
        devices=3, days=1, visits_per_day=3, photos_per_visit=2, photo_pixels=(480, 360), threads=3, seed=11
    )
    result = simulate(config, work_dir=tmp_path, kill_interval=(1.5, 3.5), min_kills=3)
    report = result.report
    _assert_whole(report)
    assert report.server_kills >= 3, "the server must have been killed several times"
    assert asyncio.run(_half_written(result.database_url)) == 0
    unfinished, removed, left = asyncio.run(_uploads_and_sweep(result))
    print(f"uploads orphaned by the kills: {unfinished}; removed by the expiry job: {removed}; left: {left}")
    assert left == 0
    media = result.work_dir / "media"
    leftovers = [p for sub in ("multipart", "staging") for p in (media / sub).rglob("*") if p.is_file()]
    assert not leftovers, leftovers


# -- PostgreSQL restarted under load ------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL cluster owned by the ``postgres`` user, on a free loopback port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="recheck-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.restarts = 0
        if os.geteuid() == 0:  # root runs the cluster as the postgres user (initdb refuses root)
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)

    def _pg(self, *args: str, timeout: float = 120) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", *extra, action)

    def restart(self) -> None:
        """A crash-like restart: immediate shutdown (no checkpoint), recovery from the WAL on start."""
        self._ctl("restart", "-m", "immediate")
        self.restarts += 1

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        async def create() -> None:
            engine = make_engine(self.admin_url, null_pool=True, isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as connection:
                    await connection.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                await engine.dispose()

        asyncio.run(create())
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


class Restarter:
    """Restarts the database at seeded random moments while the fleet works."""

    def __init__(self, pg: PrivatePostgres, seed: int, interval: tuple[float, float]) -> None:
        self.pg = pg
        self.rng = random.Random(seed)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-restarter", daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(*self.interval)):
            try:
                self.pg.restart()
            except subprocess.SubprocessError as exc:
                self.errors.append(repr(exc))

    def stop(self, min_restarts: int = 2) -> None:
        """No more restarts, after at least ``min_restarts`` (a fast run must not escape them)."""
        deadline = time.monotonic() + 300
        while self.pg.restarts < min_restarts and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(180)

    def __enter__(self) -> Restarter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_postgres_restart_under_load(tmp_path: Path) -> None:
    if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL binaries are required under CI=true ({PG_BIN})")
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN}")
    config = FleetConfig(devices=3, days=1, visits_per_day=3, photos_per_visit=1, threads=3, seed=23)
    with private_postgres() as pg:
        url = pg.create_database("recheck_restart")
        restarter: list[Restarter] = []

        def disturb(server: ServerProcess) -> Restarter:
            restarter.append(Restarter(pg, config.seed, (0.3, 1.5)))
            return restarter[0]

        result = simulate(config, database_url=url, work_dir=tmp_path, disturb=disturb)
        print(f"database restarts: {pg.restarts}")
        _assert_whole(result.report)
        assert pg.restarts >= 2, "the database must have been restarted under load"
        assert not restarter[0].errors, restarter[0].errors
        assert asyncio.run(_half_written(url)) == 0


# -- an upload whose completer died ------------------------------------------------------------------


async def _kill_completer(database_url: str, upload_id: str, data: bytes, lease: dt.timedelta) -> None:
    """Leave the upload as a worker killed while completing it does: all bytes in, lease held."""
    engine = make_engine(database_url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            upload = await session.get(Upload, uuid.UUID(upload_id))
            assert upload is not None
            assert upload.parts == [], "a small photo stays in the tail"
            upload.tail = data
            upload.offset = len(data)
            upload.lock_token = "killed-worker"
            upload.locked_until = dt.datetime.now(dt.UTC) + lease
    finally:
        await engine.dispose()


def test_head_never_reports_an_uncompleted_upload_as_done(live: LiveServer, tmp_path: Path) -> None:
    """Found by the SIGKILL run: tus HEAD answered Upload-Offset = length for an upload whose
    completer had died, so the client stopped and the photo was never stored."""
    visit_id = _own_visit(live)
    device = live.register_device("worker1", "head-tablet")
    token = live.token("worker1", device)
    photo = _jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("sha256", sha), ("visit_id", visit_id), ("kind", "house_outside"))
    )
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    with live.client(headers=headers) as c:
        created = c.post("/uploads/", headers={"Upload-Length": str(len(photo)), "Upload-Metadata": meta})
        assert created.status_code == 201, created.text
        location = "/uploads/" + created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        upload_id = location.rsplit("/", 1)[-1]
        asyncio.run(_kill_completer(live.settings.database_url, upload_id, photo, dt.timedelta(minutes=5)))
        busy = c.head(location)
        assert busy.status_code != 200 or int(busy.headers["upload-offset"]) < len(photo), busy.headers
        asyncio.run(_kill_completer(live.settings.database_url, upload_id, photo, -dt.timedelta(seconds=1)))
        done = c.head(location)
        assert done.status_code == 200, done.headers
        assert int(done.headers["upload-offset"]) == len(photo)
    with live.as_user("sup1") as sup:
        photos = sup.get(f"/visits/{visit_id}/photos").json()
    assert [p["sha256"] for p in photos.get("photos", []) if p["status"] == "stored"] == [sha]


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def _own_visit(live: LiveServer) -> str:
    with live.as_user("admin") as admin:
        body = {
            "area_id": live.world.area_ids["T1-a"],
            "residence": "urban",
            "category": "general",
            "address": "completion lane",
            "members": [
                {
                    "name": "Head",
                    "relation": "head",
                    "id_number": make_id_number("520111", dt.date(1971, 2, 3), 55),
                    "sex": "female",
                    "birth_date": "1971-02-03",
                }
            ],
        }
        household = admin.post("/households/", json=body).json()
        complaint = admin.post(
            "/complaints/", json={"channel": "visit", "summary": "x", "subject": {"household_id": household["id"]}}
        ).json()
        item = {"visit_id": complaint["visit_id"], "worker_id": str(live.world.user_ids["worker1"])}
        assert admin.post("/assignments/", json={"items": [item]}).status_code == 200
    return str(complaint["visit_id"])
