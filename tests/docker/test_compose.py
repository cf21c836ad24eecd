"""The compose file validates (``docker compose config`` needs a client, not an engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"


def _compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) if present, else the standalone ``docker-compose``."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client installed (docker compose plugin or docker-compose)")
    return subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_compose_file_validates() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECHECK_")}
    result = _config({**env, "RECHECK_SECRET_KEY": "x" * 48})
    assert result.returncode == 0, result.stderr


def test_compose_requires_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECHECK_")}
    result = _config(env)
    assert result.returncode != 0
    assert "RECHECK_SECRET_KEY" in result.stderr


def test_image_runs_as_non_root_from_the_lock_file() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install -r requirements.lock" in dockerfile
    assert "\nUSER recheck\n" in dockerfile
    assert '"recheck", "serve", "--host", "0.0.0.0"' in dockerfile
