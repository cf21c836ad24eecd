"""``recheck backup`` / ``recheck restore`` of the embedded default: a round trip that a check
finds sound, and every refusal (over an install, a damaged backup, PostgreSQL or S3) changing
nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from server.db.session import command_transaction
from server.media.config import MediaConfig, open_media_store
from server.operations.backup import BackupError, backup, restore
from server.operations.check import check_all
from server.settings import Settings
from tests.server.operations.helpers import install_everything
from tests.support import LiveServer


def _place(root: Path) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite+aiosqlite:///{root / 'recheck.db'}",
        media_url=f"file://{root / 'media'}",
    )


def _backup(settings: Settings, dest: Path):  # type: ignore[no-untyped-def]
    store = open_media_store(settings, MediaConfig())
    try:
        return backup(settings, store, dest)
    finally:
        store.close()


def _restore(settings: Settings, src: Path):  # type: ignore[no-untyped-def]
    store = open_media_store(settings, MediaConfig())
    try:
        return restore(settings, store, src)
    finally:
        store.close()


def _problems(settings: Settings) -> list[str]:
    async def run() -> list[str]:
        store = open_media_store(settings, MediaConfig())
        try:
            async with command_transaction(settings.database_url) as session:
                return [p.line() for p in await check_all(session, store)]
        finally:
            store.close()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("database_url", "media_url"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1/recheck", "file:///tmp/recheck-media"),
        ("sqlite+aiosqlite:////tmp/recheck.db", "s3://recheck-media/originals"),
    ],
)
def test_postgres_and_s3_get_their_own_tools_named(database_url: str, media_url: str, tmp_path: Path) -> None:
    store = open_media_store(_place(tmp_path), MediaConfig())  # any store: the refusal comes first
    with pytest.raises(BackupError, match="pg_dump"):
        backup(Settings(env="test", database_url=database_url, media_url=media_url), store, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(BackupError, match="pg_dump"):
        restore(Settings(env="test", database_url=database_url, media_url=media_url), store, tmp_path)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_round_trip_and_refusals(live: LiveServer, tmp_path: Path) -> None:
    installed = install_everything(live, tmp_path)
    source = live.settings
    dest = tmp_path / "backup"
    made = _backup(source, dest)
    assert made.missing == []
    assert made.objects >= 2
    assert made.counts["visit_capture"] == 1
    assert made.counts["roster_row"] >= 1
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["revision"]
    assert manifest["database"]["sha256"]
    assert {key for key, _size in manifest["objects"]} >= {installed.photo_sha256}

    with pytest.raises(BackupError, match="not empty"):
        _backup(source, dest)

    target = _place(tmp_path / "restored")
    done = _restore(target, dest)
    assert done.objects == made.objects
    assert _problems(target) == []
    live_root = open_media_store(source, MediaConfig()).root  # type: ignore[attr-defined]
    restored_root = open_media_store(target, MediaConfig()).root  # type: ignore[attr-defined]
    for key, _size in manifest["objects"]:
        relative = Path("objects") / key[:2] / key
        assert (restored_root / relative).read_bytes() == (live_root / relative).read_bytes()
    restored_db = sqlite3.connect(tmp_path / "restored" / "recheck.db")
    for table, count in made.counts.items():
        assert restored_db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count, table
    restored_db.close()

    # over an install: refused, the install untouched
    before = (tmp_path / "restored" / "recheck.db").read_bytes()
    with pytest.raises(BackupError, match="already holds data"):
        _restore(target, dest)
    assert (tmp_path / "restored" / "recheck.db").read_bytes() == before

    # a tampered object, a truncated database, a damaged manifest: refused, nothing written
    for damage in ("object", "database", "manifest"):
        broken = tmp_path / f"broken-{damage}"
        shutil.copytree(dest, broken)
        if damage == "object":
            victim = next(p for p in (broken / "media" / "objects").rglob("*") if p.is_file())
            victim.write_bytes(victim.read_bytes()[:-1] + b"x")
            expected = "no longer match"
        elif damage == "database":
            db = broken / "recheck.db"
            db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
            expected = "recheck.db"
        else:
            (broken / "manifest.json").write_text("{")
            expected = "damaged"
        place = tmp_path / f"place-{damage}"
        with pytest.raises(BackupError, match=expected):
            _restore(_place(place), broken)
        assert not (place / "recheck.db").exists()
        assert not (place / "media" / "objects").exists() or not any((place / "media" / "objects").iterdir())
