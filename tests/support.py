"""Test support: databases, a seeded world of areas and users, and a live uvicorn server.

Everything here talks to real parts: SQLite files, the local PostgreSQL server, real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvicorn

from server.app import create_app
from server.auth.bootstrap import add_user
from server.db.migrate import upgrade
from server.db.session import make_engine, make_session_factory
from server.registry.models import Area
from server.settings import Settings

__all__ = [
    "PASSWORD",
    "LiveServer",
    "World",
    "create_postgres_database",
    "drop_postgres_database",
    "make_id_number",
    "off_loop",
    "postgres_available",
    "run_async",
    "seed_world",
    "start_live_server",
]

PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct-horse-battery"


T = TypeVar("T")


def off_loop(function: Callable[[], T]) -> T:
    """Call ``function`` here, or on a thread of its own when this thread already runs an event loop.

    Playwright's sync API keeps an event loop running in the test thread, and migrations and
    seeding call asyncio.run, which refuses to start inside one.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function()
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(function())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run that also works in a browser test (see ``off_loop``)."""
    return off_loop(lambda: asyncio.run(coroutine))


def postgres_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


async def _admin_execute(sql: str) -> None:
    engine = make_engine(PG_ADMIN_URL, null_pool=True, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            from sqlalchemy import text

            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def create_postgres_database() -> tuple[str, str]:
    """Create a uniquely named database; returns (name, async URL)."""
    name = f"recheck_test_{uuid.uuid4().hex[:12]}"
    run_async(_admin_execute(f'CREATE DATABASE "{name}"'))
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(name: str) -> None:
    run_async(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id_number(region: str, birth: dt.date, serial: int) -> str:
    """A valid resident ID number (GB 11643) for tests and demo data."""
    body = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


@dataclass
class World:
    """The seeded areas and users. Every user's password is :data:`PASSWORD`.

    Area tree: county C → townships T1, T2 → communities T1-a, T1-b (under T1), T2-a (under T2).
    Users: admin (C), approver (C), auditor (C), sup1 (T1), sup2 (T2), worker1 and worker1b (T1-a),
    worker2 (T2-a).
    """

    area_ids: dict[str, int] = field(default_factory=dict)
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)


USERS = {
    "admin": ("admin", "C"),
    "approver": ("approver", "C"),
    "auditor": ("auditor", "C"),
    "sup1": ("supervisor", "T1"),
    "sup2": ("supervisor", "T2"),
    "worker1": ("worker", "T1-a"),
    "worker1b": ("worker", "T1-a"),
    "worker2": ("worker", "T2-a"),
}

AREAS = [
    ("C", "Test county", "county", None, None, 26.40, 106.60),
    ("T1", "Township one", "township", "C", None, 26.45, 106.65),
    ("T2", "Township two", "township", "C", None, 26.35, 106.55),
    ("T1-a", "Community 1a", "community", "T1", "urban", 26.46, 106.66),
    ("T1-b", "Village 1b", "community", "T1", "rural", 26.47, 106.64),
    ("T2-a", "Village 2a", "community", "T2", "rural", 26.34, 106.54),
]


async def _seed(url: str) -> World:
    world = World()
    engine = make_engine(url, null_pool=True)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            for code, name, level, parent, residence, lat, lon in AREAS:
                parent_area = await session.get(Area, world.area_ids[parent]) if parent else None
                area = Area(code=code, name=name, level=level, parent_id=parent_area.id if parent_area else None)
                area.residence, area.lat, area.lon = residence, lat, lon
                session.add(area)
                await session.flush()
                area.path = f"{parent_area.path if parent_area else '/'}{area.id}/"
                world.area_ids[code] = area.id
            for username, (role, area_code) in USERS.items():
                user = add_user(session, username, role, PASSWORD, [world.area_ids[area_code]], username.title())
                world.user_ids[username] = user.id
    finally:
        await engine.dispose()
    return world


def seed_world(url: str) -> World:
    """Migrate ``url`` to head and add the test area tree and users."""
    off_loop(lambda: upgrade(url))
    return run_async(_seed(url))


class LiveServer:
    """A running app on a loopback port and helpers to call it as any seeded user."""

    def __init__(self, base_url: str, world: World, settings: Settings) -> None:
        self.base_url = base_url
        self.world = world
        self.settings = settings
        self._tokens: dict[tuple[str, str | None], str] = {}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def login(self, username: str, device: tuple[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        if device:
            body["device_id"], body["device_secret"] = device
        with self.client() as c:
            response = c.post("/auth/login", json=body)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def token(self, username: str, device: tuple[str, str] | None = None) -> str:
        key = (username, device[0] if device else None)
        if key not in self._tokens:
            self._tokens[key] = self.login(username, device)["access_token"]
        return self._tokens[key]

    def as_user(self, username: str, device: tuple[str, str] | None = None) -> httpx.Client:
        """A client sending ``username``'s bearer token (device-bound when ``device`` is given)."""
        return self.client(headers={"Authorization": f"Bearer {self.token(username, device)}"})

    def register_device(self, username: str, name: str = "tablet") -> tuple[str, str]:
        """Register a device for ``username``; returns (device_id, device_secret)."""
        with self.as_user(username) as c:
            response = c.post("/devices/", json={"name": name})
        response.raise_for_status()
        data = response.json()
        return data["device_id"], data["device_secret"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def start_live_server(database_url: str, media_url: str, world: World, **overrides: Any) -> Iterator[LiveServer]:
    """Serve the app with uvicorn in a background thread (its own event loop) until the block ends."""
    settings = Settings(env="test", database_url=database_url, media_url=media_url, log_json=False, **overrides)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", world, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
