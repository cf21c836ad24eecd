"""``Idempotency-Key`` on creates, against a live server on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from server.app import create_app
from server.auth.models import Device
from server.db.session import make_engine, make_session_factory
from server.idempotency.commands import run_idempotency
from server.idempotency.models import StoredAnswer
from server.settings import Settings
from sync.client import DeviceClient
from tests.server.registry.test_households import household, member
from tests.support import LiveServer, run_async, start_live_server

KEY = "Idempotency-Key"


def key(value: str) -> dict[str, str]:
    return {KEY: value}


async def _scalar(url: str, query: Any) -> Any:
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session:
            return await session.scalar(query)
    finally:
        await engine.dispose()


def scalar(live: LiveServer, query: Any) -> Any:
    return run_async(_scalar(live.settings.database_url, query))


@contextlib.contextmanager
def writes_blocked(url: str) -> Iterator[None]:
    """Hold a lock that makes every household insert wait (reads go on), until the block ends."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None, timeout=30)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    ready, release = threading.Event(), threading.Event()

    async def hold() -> None:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE household IN EXCLUSIVE MODE")
                ready.set()
                await asyncio.to_thread(release.wait, 30)
        finally:
            await connection.close()

    thread = threading.Thread(target=lambda: asyncio.run(hold()))
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def test_same_key_and_body_replays_the_answer_and_creates_once(live: LiveServer) -> None:
    body = household(live, "T1-a", 1)
    with live.as_user("sup1") as c:
        first = c.post("/households/", json=body, headers=key("create-hh-1"))
        again = c.post("/households/", json=body, headers=key("create-hh-1"))
        without_key = c.post("/households/", json=body)
        listed = c.get("/households/").json()["items"]
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/json")
    assert "idempotent-replayed" not in first.headers
    assert without_key.status_code == 409  # a plain retry still meets the household it made
    assert [h["id"] for h in listed] == [first.json()["id"]]


def test_structured_field_string_is_the_same_key(live: LiveServer) -> None:
    body = {"code": "T1-z", "name": "New village", "level": "community", "parent_id": live.world.area_ids["T1"]}
    with live.as_user("admin") as c:
        first = c.post("/areas/", json=body, headers=key('"area-9"'))
        again = c.post("/areas/", json=body, headers=key("area-9"))
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()


def test_same_key_with_another_body_is_422(live: LiveServer) -> None:
    with live.as_user("sup1") as c:
        first = c.post("/households/", json=household(live, "T1-a", 2), headers=key("k-2"))
        other = c.post("/households/", json=household(live, "T1-a", 3), headers=key("k-2"))
        elsewhere = c.post(
            f"/households/{first.json()['id']}/members",
            json=member("张三", "child", 77, dt.date(2010, 1, 1)),
            headers=key("k-2"),
        )
        listed = c.get("/households/").json()["items"]
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0]["path"] == KEY
    assert elsewhere.status_code == 422
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert len(listed) == 1


def test_keys_are_per_user(live: LiveServer) -> None:
    with live.as_user("sup1") as one, live.as_user("admin") as two:
        mine = one.post("/households/", json=household(live, "T1-a", 4), headers=key("shared"))
        theirs = two.post("/households/", json=household(live, "T2-a", 5), headers=key("shared"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


def test_a_refused_create_stores_nothing_under_its_key(live: LiveServer) -> None:
    bad = household(live, "T1-a", 6)
    bad["members"][0]["relation"] = "child"  # no head
    with live.as_user("sup1") as c:
        refused = c.post("/households/", json=bad, headers=key("k-6"))
        again = c.post("/households/", json=bad, headers=key("k-6"))
        fixed = c.post("/households/", json=household(live, "T1-a", 6), headers=key("k-6"))
    assert refused.status_code == again.status_code == 422
    assert "idempotent-replayed" not in again.headers
    assert fixed.status_code == 201, fixed.text
    assert scalar(live, select(func.count()).select_from(StoredAnswer)) == 1


@pytest.mark.parametrize("bad", ["", "x" * 256, "ключ", '"open'])
def test_a_malformed_key_is_400_naming_the_header(live: LiveServer, bad: str) -> None:
    with live.as_user("sup1") as c:
        response = c.post("/households/", json=household(live, "T1-a", 7), headers={KEY: bad.encode()})
        listed = c.get("/households/").json()["items"]
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == KEY
    assert listed == []


def test_a_concurrent_request_with_the_key_in_flight_is_409(live: LiveServer) -> None:
    body = household(live, "T1-a", 8)
    with live.as_user("sup1") as c, concurrent.futures.ThreadPoolExecutor(1) as pool:
        with writes_blocked(live.settings.database_url):
            first = pool.submit(c.post, "/households/", json=body, headers=key("k-8"))
            time.sleep(1.0)  # the first request holds the key, waiting for the database
            second = c.post("/households/", json=body, headers=key("k-8"))
            assert not first.done()
        created = first.result(30)
        third = c.post("/households/", json=body, headers=key("k-8"))
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "idempotency_in_flight"
    assert second.headers["retry-after"] == "1"
    assert created.status_code == 201, created.text
    assert third.status_code == 201
    assert third.json() == created.json()


def test_postgres_workers_share_the_in_flight_claim(live: LiveServer, tmp_path: Any) -> None:
    """Two app processes on one database: the advisory lock, not the process, holds the claim."""
    if live.settings.is_sqlite:
        pytest.skip("an SQLite file is served by one process")
    body = household(live, "T1-a", 9)
    token = live.token("sup1")
    auth = {"Authorization": f"Bearer {token}"}
    with (
        start_live_server(live.settings.database_url, f"file://{tmp_path}", live.world) as other,
        live.client(headers=auth) as a,
        other.client(headers=auth) as b,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        with writes_blocked(live.settings.database_url):
            first = pool.submit(a.post, "/households/", json=body, headers=key("k-9"))
            time.sleep(1.0)
            second = b.post("/households/", json=body, headers=key("k-9"))
        created = first.result(30)
        replayed = b.post("/households/", json=body, headers=key("k-9"))
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_in_flight"
    assert created.status_code == 201
    assert replayed.status_code == 201
    assert replayed.json() == created.json()


def test_the_answer_outlives_the_server(live: LiveServer, tmp_path: Any) -> None:
    """Stored in the database with the create: a restarted server (say after a crash) replays it."""
    body = household(live, "T1-a", 10)
    token = live.token("sup1")
    with live.client(headers={"Authorization": f"Bearer {token}"}) as c:
        first = c.post("/households/", json=body, headers=key("k-10"))
    with (
        start_live_server(live.settings.database_url, f"file://{tmp_path}", live.world) as restarted,
        restarted.client(headers={"Authorization": f"Bearer {token}"}) as c,
    ):
        again = c.post("/households/", json=body, headers=key("k-10"))
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()


def test_a_device_registration_replays_its_secret_which_is_stored_sealed(live: LiveServer) -> None:
    with live.as_user("worker1") as c:
        first = c.post("/devices/", json={"name": "tablet"}, headers=key("register-1"))
        again = c.post("/devices/", json={"name": "tablet"}, headers=key("register-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    sealed = scalar(live, select(StoredAnswer.sealed))
    assert first.json()["device_secret"].encode() not in sealed
    assert first.json()["device_id"].encode() not in sealed
    assert scalar(live, select(func.count()).select_from(Device)) == 1


def test_expired_answers_are_not_replayed_and_are_purged(live: LiveServer, tmp_path: Any) -> None:
    body = household(live, "T1-a", 11)
    token = live.token("sup1")
    auth = {"Authorization": f"Bearer {token}"}
    url = live.settings.database_url
    with (
        start_live_server(url, f"file://{tmp_path}", live.world, idempotency_hours=0) as forgetful,
        forgetful.client(headers=auth) as c,
    ):
        first = c.post("/households/", json=body, headers=key("k-11"))
        again = c.post("/households/", json=body, headers=key("k-11"))
    assert first.status_code == 201
    assert again.status_code == 409  # expired at once: the retry ran the create again
    with live.client(headers=auth) as c:
        c.post("/households/", json=household(live, "T1-a", 12), headers=key("k-12"))
    assert scalar(live, select(func.count()).select_from(StoredAnswer)) == 2
    run_idempotency(argparse.Namespace(action="purge"), Settings(env="test", database_url=url))
    assert scalar(live, select(func.count()).select_from(StoredAnswer)) == 1  # the 24-hour one stays


def test_every_create_route_honours_the_key() -> None:
    """A POST answering 201 must use the request's session (where the guard lives), so none
    silently ignores the header; tus creation is the exception (docs/idempotency.md)."""
    app = create_app(Settings(env="test"))
    creates = []
    for route in app.routes:
        for method, entry in getattr(route, "route_handler_map", {}).items():
            handler = entry[0] if isinstance(entry, tuple) else entry
            if method == "POST" and handler.status_code == 201 and handler.opt.get("idempotent", True):
                creates.append(handler.operation_id)
                if handler.operation_id != "tus_create":
                    assert "db" in handler.parsed_fn_signature.parameters, handler.operation_id
    assert {"create_household", "create_user", "register_device", "create_complaint"} <= set(creates)


def test_the_reference_client_registers_once_when_the_answer_is_lost(live: LiveServer, tmp_path: Any) -> None:
    """The answer to the tablet's registration is lost on the way back: logging in again must
    not register a second device."""
    inner = httpx.HTTPTransport()
    dropped: list[str] = []

    class LosesFirstRegistration(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = inner.handle_request(request)
            if request.url.path == "/devices/" and not dropped:
                response.read()
                dropped.append(request.headers.get(KEY, ""))
                raise httpx.ReadError("connection reset", request=request)
            return response

    http = httpx.Client(base_url=live.base_url, transport=LosesFirstRegistration(), timeout=30)
    client = DeviceClient(tmp_path / "tablet.sqlite", live.base_url, http=http)
    try:
        with pytest.raises(httpx.ReadError):
            client.login("worker1", "correct-horse-battery", "tablet")
        client.login("worker1", "correct-horse-battery", "tablet")
        assert client.pull().state_check in ("ok", "skipped")
    finally:
        client.close()
    assert dropped
    assert dropped[0]
    assert scalar(live, select(func.count()).select_from(Device)) == 1
