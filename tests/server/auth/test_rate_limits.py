"""Login rate limits through real HTTP: Retry-After, X-Forwarded-For only from trusted proxies,
and a shared address slowed down but never locked (an account is locked)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.auth.address import parse_networks
from tests.support import PASSWORD, LiveServer, start_live_server


def _fail(c: httpx.Client, username: str, **headers: str) -> httpx.Response:
    return c.post("/auth/login", json={"username": username, "password": "wrong-password"}, headers=headers)


def _login(c: httpx.Client, username: str, **headers: str) -> httpx.Response:
    return c.post("/auth/login", json={"username": username, "password": PASSWORD}, headers=headers)


@pytest.fixture
def behind_proxy(live: LiveServer, tmp_path: Path) -> Iterator[LiveServer]:
    """The same database served by an app that trusts the loopback proxy's X-Forwarded-For."""
    url = live.settings.database_url
    with start_live_server(url, f"file://{tmp_path}", live.world, trusted_proxies="127.0.0.1") as server:
        yield server


def test_a_locked_account_says_when_to_retry(live: LiveServer) -> None:
    with live.client() as c:
        for _ in range(live.settings.login_max_failures_per_account):
            assert _fail(c, "worker2").status_code == 401
        locked = _login(c, "worker2")
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    window = live.settings.login_window_minutes * 60
    assert 0 < int(locked.headers["retry-after"]) <= window


def test_a_shared_address_is_slowed_down_not_locked(live: LiveServer) -> None:
    """20 wrong passwords from one office's address (several colleagues mistyping): the next
    attempt must wait a moment, then a colleague with the right password gets in."""
    limit = live.settings.login_max_failures_per_address
    with live.client() as c:
        for n in range(limit):
            assert _fail(c, f"colleague{n}").status_code == 401
        slowed = _login(c, "sup1")
        time.sleep(int(slowed.headers.get("retry-after", "1")) + 0.1)
        colleague = _login(c, "sup1")
        second_failure = _fail(c, "colleague-new")
        slower = _login(c, "sup1")
    assert slowed.status_code == 429
    assert slowed.json()["code"] == "slow_down"
    assert slowed.headers["retry-after"] == "1"
    assert colleague.status_code == 200, colleague.text
    assert second_failure.status_code == 401
    assert slower.status_code == 429
    assert slower.headers["retry-after"] == "2"  # each further failure doubles the pause


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(live: LiveServer) -> None:
    """A guesser writing a new X-Forwarded-For on every attempt is still one address."""
    limit = live.settings.login_max_failures_per_address
    with live.client() as c:
        for n in range(limit):
            assert _fail(c, f"guess{n}", **{"X-Forwarded-For": f"198.51.100.{n + 1}"}).status_code == 401
        again = _fail(c, "guess-new", **{"X-Forwarded-For": "198.51.100.200"})
    assert again.status_code == 429
    assert again.json()["code"] == "slow_down"


def test_a_trusted_proxy_forwards_the_clients_address(behind_proxy: LiveServer) -> None:
    limit = behind_proxy.settings.login_max_failures_per_address
    office = "203.0.113.7"
    with behind_proxy.client() as c:
        for n in range(limit):
            assert _fail(c, f"typo{n}", **{"X-Forwarded-For": office}).status_code == 401
        same_office = _fail(c, "typo-a", **{"X-Forwarded-For": office})
        spoofed = _fail(c, "typo-b", **{"X-Forwarded-For": f"192.0.2.1, {office}"})  # the client wrote the left one
        elsewhere = _login(c, "sup2", **{"X-Forwarded-For": "198.51.100.9"})
        direct = _login(c, "sup1")  # the proxy itself (no header) is another address
    assert same_office.status_code == 429
    assert spoofed.status_code == 429
    assert elsewhere.status_code == 200
    assert direct.status_code == 200


def test_trusted_proxies_are_addresses_or_networks() -> None:
    networks = parse_networks(" 10.0.0.5, 172.18.0.0/16 ,::1,")
    assert [str(n) for n in networks] == ["10.0.0.5/32", "172.18.0.0/16", "::1/128"]
    with pytest.raises(ValueError, match="proxy"):
        parse_networks("proxy.example")
