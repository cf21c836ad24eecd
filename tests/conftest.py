"""Shared fixtures: databases on both engines, a live server over real HTTP, seeded actors.

``database_url`` is parametrised over SQLite and PostgreSQL: every test using it (directly or
through ``live``) runs on both. PostgreSQL tests create and drop their own database; they skip
with a reason when no server is reachable, except under ``CI=true`` where they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import (
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
    seed_world,
    start_live_server,
)

# Debian's Chromium: browsers cannot be downloaded here, so Playwright drives the system one.
CHROMIUM = os.environ.get("RECHECK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The machine's network is closed: without these flags Chromium keeps trying outside hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last.

    Playwright's sync API keeps an event loop running in the test thread from its first use to
    the end of the session, and every other test that calls asyncio.run would fail after it.
    """
    items.sort(key=lambda item: "playwright" in getattr(item, "fixturenames", ()))


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("RECHECK_ENV", "test")
    os.environ.setdefault("RECHECK_LOG_JSON", "0")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards (required under CI=true)."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required under CI=true")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 (start it to run these tests)")
    name, url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'recheck.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A migrated, seeded database served by uvicorn on a free loopback port, with an HTTP client."""
    media = tmp_path_factory.mktemp("media")
    world = seed_world(database_url)
    with start_live_server(database_url, f"file://{media}", world) as server:
        yield server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium; without it browser tests skip, except under CI=true."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required under CI=true (not found at {CHROMIUM}; see README)")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Pages open in Chinese, as a county office's browsers do; tests switch to English where they check it."""
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
