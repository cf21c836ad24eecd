"""``recheck check`` on both engines: a sound install reports nothing; each kind of planted
damage (a deleted object, a changed object, a missing change row, a roster amount that differs,
a change-log counter behind its rows) is reported, exit code 1, and nothing is changed."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from server.cli import CommandError
from server.db.session import make_engine
from server.media.config import MediaConfig, open_media_store
from server.media.models import Photo
from server.operations.commands import run_check
from server.payments.models import RosterRow
from server.sync.models import CaptureRecord, SyncCounter
from tests.server.operations.helpers import install_everything, jpeg
from tests.support import LiveServer


async def _run(url: str, *statements: Any) -> list[Any]:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.begin() as connection:
            return [(await connection.execute(s)) for s in statements]
    finally:
        await engine.dispose()


async def _scalar(url: str, statement: Any) -> Any:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(statement)).scalar_one()
    finally:
        await engine.dispose()


def _check(live: LiveServer, capsys: pytest.CaptureFixture[str]) -> tuple[bool, list[str]]:
    try:
        run_check(argparse.Namespace(json=False, threads=2), live.settings)
        failed = False
    except CommandError:
        failed = True
    lines = capsys.readouterr().out.splitlines()
    return failed, lines


def test_a_sound_install_passes_and_each_planted_damage_is_reported(
    live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed = install_everything(live, tmp_path)
    url = live.settings.database_url
    failed, lines = _check(live, capsys)
    assert not failed, lines
    assert lines == ["0 problems" + lines[-1][len("0 problems") :]]

    photo = asyncio.run(_scalar(url, select(Photo.id).where(Photo.sha256 == installed.photo_sha256)))
    keys = asyncio.run(_run(url, select(Photo.sha256, Photo.review_sha256, Photo.thumb_sha256)))[0].one()
    assert all(keys), "the photo was stored with both renditions"
    store = open_media_store(live.settings, MediaConfig.from_env())
    original: Path = store.file_path(keys[0])  # type: ignore[attr-defined]
    review: Path = store.file_path(keys[1])  # type: ignore[attr-defined]
    original.unlink()
    review.write_bytes(jpeg((200, 0, 0)))
    asyncio.run(
        _run(
            url,
            delete(CaptureRecord).where(CaptureRecord.id == uuid.UUID(installed.capture_id)),
            update(RosterRow)
            .where(RosterRow.household_code == installed.household_code)
            .values(amount=RosterRow.amount + 1),
            update(SyncCounter).where(SyncCounter.name == "feed").values(value=0),
        )
    )
    amount_before = asyncio.run(
        _scalar(url, select(RosterRow.amount).where(RosterRow.household_code == installed.household_code))
    )

    failed, lines = _check(live, capsys)
    assert failed
    found = {tuple(line.split("\t")[:2]) for line in lines[:-1]}
    assert found == {
        ("photo_object_missing", f"photo {photo}"),
        ("photo_object_changed", f"photo {photo}"),
        ("receipt_without_change", next(s for k, s in found if k == "receipt_without_change")),
        ("roster_amount_differs", f"roster {installed.month} household {installed.household_code}"),
        ("feed_row_ahead_of_counter", "sync_counter feed"),
    }, lines
    assert any(installed.capture_id in line for line in lines if line.startswith("receipt_without_change"))
    # a small photo's thumbnail may be the original itself: its loss is then reported twice
    assert lines[-1].startswith(f"{len(lines) - 1} problems"), "\n".join(lines)
    # it only reads: the damage is still exactly as planted
    assert not original.exists()
    assert (
        asyncio.run(_scalar(url, select(RosterRow.amount).where(RosterRow.household_code == installed.household_code)))
        == amount_before
    )
    assert asyncio.run(_scalar(url, select(SyncCounter.value).where(SyncCounter.name == "feed"))) == 0
