"""Console fixtures: a live server whose sessions go idle after three seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer, seed_world, start_live_server


@pytest.fixture
def idle_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'recheck.db'}"
    world = seed_world(url)
    media = tmp_path_factory.mktemp("media")
    with start_live_server(url, f"file://{media}", world, console_idle_seconds=3) as server:
        yield server
