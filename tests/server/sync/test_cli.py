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
