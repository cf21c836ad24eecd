"""HTTP for the tablet: JSON or MessagePack, zstd or gzip answers, exponential backoff with full jitter.

Network failures, timeouts, 5xx and 429 are retried (``Retry-After`` is honoured); other 4xx
answers are final and raised as :class:`Refused` with the server's error body. A 401 triggers
one token refresh through the ``refresh`` callback and a retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import msgspec

from sync.codec import MSGPACK

__all__ = ["Backoff", "Refused", "Transport", "TransportStats", "Unreachable"]

T = TypeVar("T")


class Unreachable(Exception):
    """The server could not be reached (or kept failing) after every retry."""


class Refused(Exception):
    """The server answered with a final 4xx; ``body`` is its error body (dict) when it sent one."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class Backoff:
    """Delay before retry ``n`` (1-based): uniform in ``[0, min(cap, base * factor**(n-1))]``."""

    base: float = 0.2
    factor: float = 2.0
    cap: float = 30.0
    attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * self.factor ** (attempt - 1)))


@dataclass
class TransportStats:
    requests: int = 0
    retries: int = 0
    sent_bytes: int = 0
    received_bytes: int = 0
    latencies: list[float] = field(default_factory=list)


class Transport:
    """Posts sync messages to ``base_url`` with retries."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client | None = None,
        msgpack: bool = False,
        compress: bool = True,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self.msgpack = msgpack
        self.compress = compress
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = TransportStats()
        self.token: Callable[[], str | None] = lambda: None
        self.refresh: Callable[[], bool] = lambda: False

    def close(self) -> None:
        self.http.close()

    def _headers(self, authenticated: bool) -> dict[str, str]:
        media = MSGPACK if self.msgpack else "application/json"
        headers = {
            "Content-Type": media,
            "Accept": media,
            # zstd first (smaller and cheaper to unpack on a tablet); httpx decodes either
            "Accept-Encoding": "zstd, gzip" if self.compress else "identity",
        }
        token = self.token() if authenticated else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def encode(self, value: Any) -> bytes:
        return msgspec.msgpack.encode(value) if self.msgpack else msgspec.json.encode(value)

    def post(self, path: str, body: bytes, response_type: type[T], *, authenticated: bool = True) -> T:
        """POST an encoded body; decode the answer as ``response_type``. Retries as described above."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = self.http.post(path, content=body, headers=self._headers(authenticated))
            except httpx.TransportError as exc:
                if attempt >= self.backoff.attempts:
                    raise Unreachable(f"{path}: {exc!r}") from exc
                self.stats.retries += 1
                self.sleep(self.backoff.delay(attempt, self.rng))
                continue
            self.stats.requests += 1
            self.stats.sent_bytes += len(body)
            self.stats.received_bytes += response.num_bytes_downloaded
            self.stats.latencies.append(time.perf_counter() - started)
            status = response.status_code
            if status == 401 and authenticated and not refreshed and self.refresh():
                refreshed = True
                continue
            if status == 429 or status >= 500:
                if attempt >= self.backoff.attempts:
                    raise Unreachable(f"{path}: HTTP {status} after {attempt} attempts")
                self.stats.retries += 1
                retry_after = response.headers.get("retry-after", "")
                wait = float(retry_after) if retry_after.isdigit() else self.backoff.delay(attempt, self.rng)
                self.sleep(wait)
                continue
            if status >= 400:
                try:
                    detail: Any = response.json()
                except ValueError:
                    detail = response.text
                raise Refused(status, detail)
            if response.headers.get("content-type", "").startswith(MSGPACK):
                return msgspec.msgpack.decode(response.content, type=response_type)
            return msgspec.json.decode(response.content, type=response_type)
