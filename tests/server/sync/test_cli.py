"""``recheck device``: a person plays a field worker from a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli import main
from tests.server.sync.factory import make_visits, visit_state
from tests.support import PASSWORD, LiveServer


def test_device_command_round_trip(live: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = live.settings.database_url
    ((visit_id, _),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    base = ["device", "--store", str(tmp_path / "tablet.sqlite"), "--server", live.base_url]

    def run(*args: str) -> object:
        capsys.readouterr()
        assert main([*base, *args]) == 0
        return json.loads(capsys.readouterr().out)

    assert run("login", "worker1", "--password", PASSWORD)["user"] == "worker1"  # type: ignore[index]
    assert run("pull")["upserts"] == 2  # type: ignore[index]
    listed = run("visits", "--all")
    assert [v["visit_id"] for v in listed] == [visit_id]  # type: ignore[union-attr]
    form = tmp_path / "form.json"
    form.write_text(json.dumps({"outcome": "nobody_home", "notes": "家中无人"}, ensure_ascii=False))
    assert run("capture", visit_id, str(form), "--submit")["queued"] is True  # type: ignore[index]
    assert run("status")["outbox_pending"] == 1  # type: ignore[index]
    assert run("push")["acknowledged"] == 1  # type: ignore[index]
    assert visit_state(url, visit_id) == "submitted"
    status = run("status")
    assert status["outbox_pending"] == 0  # type: ignore[index]
    bad = tmp_path / "bad.json"
    bad.write_text('{"outcome": "abducted"}')
    with pytest.raises(SystemExit, match=r"abducted|Invalid"):
        main([*base, "capture", visit_id, str(bad)])


def test_sync_purge_command_keeps_removals_within_the_retention(
    live: LiveServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select

    from server.settings import get_settings
    from server.sync.models import FeedRow
    from tests.server.sync.factory import cancel, run_db

    url = live.settings.database_url
    monkeypatch.setenv("RECHECK_DATABASE_URL", url)
    get_settings.cache_clear()
    ((visit_id, _),) = make_visits(url, live.world.area_ids["T1-a"], live.world.user_ids["worker1"])
    cancel(url, visit_id)

    async def removals(session: object) -> int:
        query = select(func.count()).select_from(FeedRow).where(FeedRow.removed.is_(True))
        return int(await session.scalar(query))  # type: ignore[attr-defined]

    before = run_db(url, removals)
    assert before >= 2  # the visit and its household left the worker's tablet
    try:
        assert main(["sync", "purge"]) == 0  # default retention: these removals are minutes old
        assert run_db(url, removals) == before
        assert main(["sync", "purge", "--days", "0"]) == 0
        assert run_db(url, removals) == 0
    finally:
        get_settings.cache_clear()
    assert f"{before} removal rows older than 0 days purged" in capsys.readouterr().out
