"""The request log and request ids: every answer is logged with its real status and carries the id."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer, seed_world, start_live_server


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def by_id(self, request_id: str) -> list[logging.LogRecord]:
        """The request's lines; the line is written just after the answer's last byte, so wait a moment."""
        deadline = time.monotonic() + 5
        while True:
            found = [r for r in self.records if getattr(r, "request_id", None) == request_id]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'recheck.db'}"
    media: Path = tmp_path_factory.mktemp("media")
    with start_live_server(url, f"file://{media}", seed_world(url)) as live:
        yield live


@pytest.fixture
def log(server: LiveServer) -> Iterator[_Records]:
    records = _Records()
    logger = logging.getLogger("recheck.http")
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/households/", {}, 401),  # no token
        ("GET", "/households/", {"Authorization": "Bearer forged.token.here"}, 401),
        ("GET", "/households/", {"Authorization": "Basic YWRtaW46eA=="}, 401),
        ("DELETE", "/health", {}, 405),
        ("PUT", "/households/", {}, 405),
        ("GET", "/no/such/route", {}, 404),
        ("GET", "/health", {}, 200),
    ],
)
def test_every_answer_is_logged_with_its_status_and_carries_the_request_id(
    server: LiveServer, log: _Records, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    with server.client() as c:
        response = c.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    request_id = response.headers["x-request-id"]
    if status >= 400:
        assert response.json()["request_id"] == request_id
    logged = log.by_id(request_id)
    assert [(r.method, r.path, r.status) for r in logged] == [(method, path, status)]  # type: ignore[attr-defined]


def test_the_clients_request_id_is_kept_on_a_refusal(server: LiveServer, log: _Records) -> None:
    with server.client() as c:
        response = c.get("/households/", headers={"X-Request-ID": "tablet-42-7"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "tablet-42-7"
    assert [r.status for r in log.by_id("tablet-42-7")] == [401]  # type: ignore[attr-defined]
