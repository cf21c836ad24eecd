"""The fault proxy against a real uvicorn process: each fault kind does what it says, on a seed."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest

from sync.simulation.faultproxy import FAULT_KINDS, FaultPlan, FaultProxy
from sync.simulation.process import ServerProcess, free_port
from tests.support import PASSWORD, World, seed_world


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, World]]:
    root = tmp_path_factory.mktemp("proxy")
    url = f"sqlite+aiosqlite:///{root / 'recheck.db'}"
    world = seed_world(url)
    with ServerProcess(url, f"file://{root / 'media'}", log_path=root / "server.log") as process:
        yield process, world


def _token(base_url: str, username: str) -> str:
    response = httpx.post(f"{base_url}/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _devices(server: ServerProcess, token: str) -> list[str]:
    response = httpx.get(f"{server.url}/devices/", headers={"Authorization": f"Bearer {token}"})
    return [d["name"] for d in response.json()]


def test_no_faults_passes_keep_alive_chunked_and_gzip(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    with FaultProxy(process.port, FaultPlan(), seed=1) as proxy, httpx.Client(base_url=proxy.url) as c:
        for _ in range(5):
            assert c.get("/health").json() == {"status": "ok"}
        schema = c.get("/schema/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert schema.status_code == 200
        assert "paths" in schema.json()
        login = c.post("/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200
    assert proxy.requests == 7
    assert sum(proxy.snapshot().values()) == 0


@pytest.mark.parametrize("kind", ["drop_request", "drop_response", "truncate", "reset"])
def test_breaking_faults_fail_the_client_call(server: tuple[ServerProcess, World], kind: str) -> None:
    process, _ = server
    plan = FaultPlan(**{kind: 1.0})  # type: ignore[arg-type]
    with (
        FaultProxy(process.port, plan, seed=2) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as c,
        pytest.raises(httpx.TransportError),
    ):
        c.get("/schema/openapi.json")
    assert proxy.snapshot()[kind] == 1


def test_drop_response_means_the_write_happened_unseen(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    token = _token(process.url, "worker1")
    name = f"tablet-{random.randrange(10**9)}"
    with FaultProxy(process.port, FaultPlan(drop_response=1.0)) as proxy, pytest.raises(httpx.TransportError):
        httpx.post(f"{proxy.url}/devices/", json={"name": name}, headers={"Authorization": f"Bearer {token}"})
    assert _devices(process, token).count(name) == 1


def test_drop_request_means_the_server_saw_nothing(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    token = _token(process.url, "worker1")
    name = f"tablet-{random.randrange(10**9)}"
    with FaultProxy(process.port, FaultPlan(drop_request=1.0), seed=5) as proxy:
        for _ in range(5):  # cut points differ per request; none may reach the handler whole
            with pytest.raises(httpx.TransportError):
                httpx.post(f"{proxy.url}/devices/", json={"name": name}, headers={"Authorization": f"Bearer {token}"})
    assert name not in _devices(process, token)


def test_duplicate_delivers_the_request_twice(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    token = _token(process.url, "worker2")
    name = f"tablet-{random.randrange(10**9)}"
    with FaultProxy(process.port, FaultPlan(duplicate=1.0)) as proxy:
        response = httpx.post(
            f"{proxy.url}/devices/", json={"name": name}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 201
    assert _devices(process, token).count(name) == 2  # not idempotent by design: the proxy is honest


def test_delay_slows_but_answers(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    plan = FaultPlan(delay=1.0, delay_range=(0.2, 0.2))
    with FaultProxy(process.port, plan) as proxy, httpx.Client(base_url=proxy.url) as c:
        response = c.get("/health")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.35  # held on the way in and on the way out


def test_same_seed_same_schedule_and_counts_by_kind(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    plan = FaultPlan.uniform(0.6, delay_range=(0.0, 0.01))

    def run(seed: int) -> tuple[list[str], dict[str, int]]:
        outcomes = []
        with FaultProxy(process.port, plan, seed=seed) as proxy:
            for _ in range(20):
                try:
                    outcomes.append(str(httpx.get(f"{proxy.url}/health", timeout=10).status_code))
                except httpx.TransportError:
                    outcomes.append("error")
            return outcomes, proxy.snapshot()

    first, counts = run(7)
    again, counts_again = run(7)
    other, _ = run(8)
    assert first == again
    assert counts == counts_again
    assert first != other
    assert set(counts) == set(FAULT_KINDS)
    assert sum(counts.values()) > 5
    assert first.count("error") == sum(counts[k] for k in ("drop_request", "drop_response", "truncate", "reset"))


def test_upstream_down_is_a_failed_call_not_a_hang() -> None:
    with FaultProxy(free_port(), FaultPlan()) as proxy, pytest.raises(httpx.TransportError):
        httpx.get(f"{proxy.url}/health", timeout=10)
    assert proxy.upstream_refused == 1


def test_several_upstreams_take_turns_and_a_dead_one_is_skipped(server: tuple[ServerProcess, World]) -> None:
    process, _ = server
    dead = free_port()
    with FaultProxy([dead, process.port], FaultPlan(), seed=1) as proxy:
        for _ in range(4):  # a new connection each time: each starts with the next upstream in turn
            assert httpx.get(f"{proxy.url}/health", timeout=10).json() == {"status": "ok"}
    assert proxy.requests == 4
    assert proxy.upstream_refused == 2, "every second connection tried the dead worker first"


def test_refuses_non_loopback_and_bad_plans() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(80, FaultPlan(), upstream_host="192.0.2.1")
    with pytest.raises(ValueError, match="sum"):
        FaultPlan(drop_request=0.7, reset=0.7)
