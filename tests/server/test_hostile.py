"""Hostile input against a real server process: oversized and deeply nested JSON, slow-loris bodies,
path tricks in every path identifier, and the hostile image corpus uploaded over tus.

Each case checks the answer (a 4xx, never a 5xx, nothing leaked) and that the server still serves
everyone else while and after it is attacked.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from sync.simulation.process import ServerProcess
from tests.server.test_access_matrix import OPERATIONS
from tests.support import LiveServer, make_id_number, seed_world

MAX_BODY = 256 * 1024


@dataclass
class Hostile:
    live: LiveServer
    process: ServerProcess
    admin: httpx.Client
    root: Path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    url = f"sqlite+aiosqlite:///{root / 'recheck.db'}"
    world = seed_world(url)
    media = f"file://{root / 'media'}"
    env = {"RECHECK_MAX_BODY_BYTES": str(MAX_BODY)}
    with ServerProcess(url, media, env=env, log_path=root / "server.log") as process:
        live = LiveServer(process.url, world, Settings(env="test", database_url=url, media_url=media, log_json=False))
        with live.as_user("admin") as admin:
            yield Hostile(live, process, admin, root)


def _healthy(live: LiveServer, within: float = 5.0) -> float:
    """Seconds a normal authenticated request takes; fails if it takes longer than ``within``."""
    started = time.monotonic()
    with live.as_user("sup1") as c:
        response = c.get("/households/", timeout=within)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return elapsed


# -- oversized and deeply nested JSON ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/households/", "/sync/push", "/auth/login", "/decisions/rules"])
def test_oversized_json_is_refused_with_413(hostile: Hostile, path: str) -> None:
    body = b'{"address": "' + b"x" * (MAX_BODY * 2) + b'"}'
    response = hostile.admin.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (401, 403, 413), response.text  # refused before or at the size check
    assert response.status_code < 500
    _healthy(hostile.live)


def test_a_lying_content_length_does_not_hang_a_worker(hostile: Hostile) -> None:
    """Announce a huge body and send a little: the server refuses early or waits on that one socket."""
    with socket.create_connection(("127.0.0.1", hostile.process.port), timeout=10) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{"
        )
        sock.settimeout(2)
        try:
            answer = sock.recv(200)
        except TimeoutError:
            answer = b""
        assert not answer or b" 413 " in answer.split(b"\r\n")[0] or b" 400 " in answer.split(b"\r\n")[0]
        assert _healthy(hostile.live) < 5


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("path", ["/households/", "/sync/push", "/auth/login", "/assignments/"])
def test_deeply_nested_json_is_a_400(hostile: Hostile, path: str, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    if len(body) > MAX_BODY:
        body = b"[" * (MAX_BODY // 2 - 1) + b"]" * (MAX_BODY // 2 - 1)
    nested_object = (b'{"a":' * depth + b"1" + b"}" * depth)[:MAX_BODY]
    for content in (body, nested_object):
        response = hostile.admin.post(path, content=content, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
    _healthy(hostile.live)


def test_deeply_nested_msgpack_push_is_a_400(hostile: Hostile) -> None:
    device = hostile.live.register_device("worker1", "nested-tablet")
    token = hostile.live.token("worker1", device)
    body = b"\x91" * 100_000 + b"\x90"  # 100,000 nested one-element arrays
    response = httpx.post(
        f"{hostile.live.base_url}/sync/push",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/msgpack"},
        timeout=30,
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    _healthy(hostile.live)


# -- slow loris --------------------------------------------------------------------------------------


def _loris(port: int, stop_at: float, headers_only: bool) -> int:
    """Trickle a request a byte at a time until ``stop_at``; returns the bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
        if not headers_only:
            sock.sendall(head + b"\r\n")
            head = b'{"username": "' + b"a" * 100_000
        for byte in head:
            if time.monotonic() > stop_at:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # the server hung up on us: that is fine too
            sent += 1
            time.sleep(0.2)
    return sent


def test_slow_loris_bodies_and_headers_do_not_starve_others(hostile: Hostile) -> None:
    stop_at = time.monotonic() + 4
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        lorises = [pool.submit(_loris, hostile.process.port, stop_at, i % 2 == 0) for i in range(40)]
        time.sleep(1)
        timings = [_healthy(hostile.live, within=3) for _ in range(5)]
        for future in lorises:
            future.result()
    assert max(timings) < 3, timings
    _healthy(hostile.live)


# -- path tricks ---------------------------------------------------------------------------------------

TRICKS = [
    "..",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "....//....//etc/passwd",
    "%00",
    "abc%00.jpg",
    "%ff%fe",
    "%C0%AE%C0%AE%2F",
    "😀",
    "x" * 5_000,
    "1" * 400,
    "-1",
    "0",
    "1e309",
    "' OR '1'='1",
    "%3Cscript%3E",
    str(uuid.UUID(int=0)),
]


def test_path_tricks_in_every_identifier(hostile: Hostile) -> None:
    """Every path parameter of every operation, filled with traversal, NUL, overlong and odd values."""
    problems = []
    sent = 0
    with hostile.live.client() as anonymous:
        for op in OPERATIONS:
            if not op.params:
                continue
            client = anonymous if op.public else hostile.admin
            for name in op.params:
                for trick in TRICKS:
                    values = dict.fromkeys(op.params, str(uuid.uuid4()))
                    if "visit_on" in values:
                        values["visit_on"] = "2026-11-26"
                    if "month" in values:
                        values["month"] = "2026-11"
                    values[name] = trick
                    url = hostile.live.base_url + op.path.format(**values)
                    try:
                        response = client.request(op.method, url, json={} if op.has_body else None, timeout=30)
                    except httpx.HTTPError as exc:
                        problems.append(f"{op.label} {name}={trick[:40]!r}: {exc!r}")
                        continue
                    sent += 1
                    if response.status_code >= 500 or b"root:x:0:0" in response.content:
                        problems.append(
                            f"{op.label} {name}={trick[:40]!r}: {response.status_code} {response.text[:200]}"
                        )
    assert sent > 100
    assert not problems, "\n".join(problems[:30])
    _healthy(hostile.live)


# -- the hostile image corpus over tus -------------------------------------------------------------------


def _own_visit(hostile: Hostile) -> str:
    admin, world = hostile.admin, hostile.live.world
    body = {
        "area_id": world.area_ids["T1-a"],
        "residence": "urban",
        "category": "general",
        "address": "hostile lane 1",
        "members": [
            {
                "name": "Hostile Head",
                "relation": "head",
                "id_number": make_id_number("520111", __import__("datetime").date(1970, 1, 1), 901),
                "sex": "male",
                "birth_date": "1970-01-01",
            }
        ],
    }
    household = admin.post("/households/", json=body)
    assert household.status_code == 201, household.text
    complaint = admin.post(
        "/complaints/",
        json={"channel": "visit", "summary": "hostile", "subject": {"household_id": household.json()["id"]}},
    )
    assert complaint.status_code == 201, complaint.text
    visit_id: str = complaint.json()["visit_id"]
    item = {"visit_id": visit_id, "worker_id": str(world.user_ids["worker1"]), "visit_on": "2026-11-26"}
    assert admin.post("/assignments/", json={"items": [item]}).status_code == 200
    return visit_id


def test_hostile_images_are_rejected_without_a_5xx(hostile: Hostile) -> None:
    from tests.media.test_images import HOSTILE

    visit_id = _own_visit(hostile)
    device = hostile.live.register_device("worker1", "corpus-tablet")
    token = hostile.live.token("worker1", device)
    problems = []
    with hostile.live.client(headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}) as c:
        for name, (data, _reason) in HOSTILE.items():
            sha = hashlib.sha256(data).hexdigest()

            def b64(value: str) -> str:
                return base64.b64encode(value.encode()).decode()

            meta = f"sha256 {b64(sha)},visit_id {b64(visit_id)},kind {b64('document')},filename {b64(name[:50])}"
            created = c.post(
                "/uploads/",
                headers={
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": meta,
                    "Content-Type": "application/offset+octet-stream",
                },
                content=data,
            )
            if created.status_code >= 500:
                problems.append(f"{name}: {created.status_code} {created.text[:200]}")
        photos = c.get(f"/visits/{visit_id}/photos")
    assert not problems, problems
    assert photos.status_code == 200, photos.text
    stored = [p for p in photos.json().get("photos", []) if p["status"] == "stored"]
    assert not stored, f"hostile files stored as evidence: {stored}"
    _healthy(hostile.live)
