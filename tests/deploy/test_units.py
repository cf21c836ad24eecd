"""The operator's files in deploy/: the nightly script really runs its jobs against an embedded
install (a backup kept per night, housekeeping, a clean check), and the systemd units call
commands that exist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from server.cli import COMMANDS
from tests.support import seed_world

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _run_nightly(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(DEPLOY / "nightly.sh")], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_nightly_script_backs_up_keeps_the_newest_and_checks(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'recheck.db'}"
    seed_world(url)
    wrapper = tmp_path / "recheck"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m server.cli "$@"\n')
    wrapper.chmod(0o755)
    (tmp_path / "media").mkdir()
    backups = tmp_path / "backups"
    env = {
        **os.environ,
        "RECHECK": str(wrapper),
        "RECHECK_DATABASE_URL": url,
        "RECHECK_MEDIA_URL": f"file://{tmp_path / 'media'}",
        "RECHECK_BACKUP_DIR": str(backups),
        "RECHECK_BACKUP_KEEP": "1",
        "PYTHONPATH": str(DEPLOY.parent),
    }
    first = _run_nightly(env)
    assert first.returncode == 0, first.stderr
    made = sorted(backups.iterdir())
    assert len(made) == 1
    manifest = json.loads((made[0] / "manifest.json").read_text())
    assert {"household", "visit"} <= set(manifest["counts"])
    assert "0 problems" in first.stdout
    time.sleep(1.1)  # backups are named by the second
    second = _run_nightly(env)
    assert second.returncode == 0, second.stderr
    kept = sorted(backups.iterdir())
    assert len(kept) == 1, "only the newest backup is kept"
    assert kept[0] != made[0]


def test_the_systemd_units_call_commands_that_exist() -> None:
    calls = []
    for unit in DEPLOY.glob("*.service"):
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                calls.append(line.split("=", 1)[1])
    assert calls
    for call in calls:
        if "/recheck " in call:
            command = re.search(r"/recheck (\S+)", call)
            assert command, call
            assert command.group(1) in COMMANDS, call
        else:
            assert call.endswith("deploy/nightly.sh")
    script = (DEPLOY / "nightly.sh").read_text()
    for command in re.findall(r'"\$RECHECK" (\S+)', script):
        assert command in COMMANDS, command
