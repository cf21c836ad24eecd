"""A fault-injecting HTTP/1.1 proxy for loopback tests: the network a tablet meets in a village.

The proxy sits between reference clients and a real server process. It reads each request and
each response as a whole HTTP/1.1 message (``Content-Length`` or chunked framing) and, on a seeded
random schedule, decides one fault per request:

``drop_request``
    forward the head and part of the body, then close both sides: the server never sees a
    complete request, the client sees a dead connection.
``drop_response``
    forward the whole request, let the server answer, then close the client's connection
    before a single response byte: the write happened, the client does not know it.
``truncate``
    forward the response head and part of its body, then close (FIN): a short read.
``reset``
    forward the request, then abort the client connection with a TCP RST (``SO_LINGER`` 0).
``delay``
    hold the request, and the response, for a random time within ``delay_range``.
``duplicate``
    deliver the request twice to the server (the second copy on its own connection, as a
    retrying middlebox would); the client gets the first answer only.

Everything is bounded: loopback addresses only, a cap on concurrent connections and on the
size of a buffered message. Faults are counted by kind in :attr:`FaultProxy.faults`.
The proxy runs its own event loop in a daemon thread so synchronous clients can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultProxy", "HttpMessage", "ProtocolError", "read_message"]

FAULT_KINDS = ("drop_request", "drop_response", "truncate", "reset", "delay", "duplicate")

_MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """A message the proxy cannot frame (it then closes the connection)."""


@dataclass(frozen=True)
class FaultPlan:
    """Probability of each fault per request (the rest pass untouched) and the bounds of the proxy."""

    drop_request: float = 0.0
    drop_response: float = 0.0
    truncate: float = 0.0
    reset: float = 0.0
    delay: float = 0.0
    duplicate: float = 0.0
    delay_range: tuple[float, float] = (0.05, 0.5)
    """Seconds, drawn uniformly, for ``delay`` faults."""
    max_connections: int = 1024
    """Open client connections at once (idle kept-alive ones count: one per simulated tablet)."""
    max_message_bytes: int = 64 * 1024 * 1024
    idle_timeout: float = 30.0
    """A connection silent this long is closed (bounds a stuck client or server)."""

    def __post_init__(self) -> None:
        total = sum(getattr(self, kind) for kind in FAULT_KINDS)
        if any(getattr(self, kind) < 0 for kind in FAULT_KINDS) or total > 1:
            raise ValueError("fault probabilities must be >= 0 and sum to at most 1")

    @classmethod
    def uniform(cls, rate: float, **overrides: object) -> FaultPlan:
        """Every fault kind equally likely, ``rate`` in total per request."""
        each = rate / len(FAULT_KINDS)
        return cls(**{kind: each for kind in FAULT_KINDS}, **overrides)  # type: ignore[arg-type]

    def choose(self, rng: random.Random) -> str | None:
        """The fault for one request, or ``None``."""
        draw = rng.random()
        for kind in FAULT_KINDS:
            draw -= getattr(self, kind)
            if draw < 0:
                return kind
        return None


@dataclass
class HttpMessage:
    """One HTTP/1.1 message as read from the wire: its head (start line + headers) and body bytes."""

    head: bytes
    body: bytes
    start_line: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    until_close: bool = False
    """The body ran to the end of the connection (no length given)."""

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def keep_alive(self) -> bool:
        return not self.until_close and self.headers.get("connection", "").lower() != "close"


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"malformed header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The chunked body as it was on the wire (sizes, data, trailers), to forward unchanged."""
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the empty line
                trailer = await reader.readuntil(b"\r\n")
                out += trailer
                if trailer == b"\r\n":
                    return bytes(out)
        out += await reader.readexactly(size + 2)
        if len(out) > limit:
            raise ProtocolError("chunked body over the proxy's limit")


async def read_message(
    reader: asyncio.StreamReader, *, response_to: str | None = None, limit: int = 64 * 1024 * 1024
) -> HttpMessage | None:
    """Read one message; ``None`` on a clean end of stream before any byte.

    ``response_to`` is the request method when reading a response (a HEAD response has no body).
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("message head too large") from exc
    start_line, headers = _parse_head(head)
    message = HttpMessage(head=head, body=b"", start_line=start_line, headers=headers)
    if response_to is not None:
        parts = start_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if response_to == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return message
    if "chunked" in headers.get("transfer-encoding", "").lower():
        message.body = await _read_chunked(reader, limit)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length < 0 or length > limit:
            raise ProtocolError("content-length out of the proxy's bounds")
        message.body = await reader.readexactly(length)
    elif response_to is not None:
        message.body = await reader.read(limit)
        message.until_close = True
    return message


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        loopback = False
    if not loopback:
        raise ValueError(f"the fault proxy only runs on loopback addresses, not {host!r}")


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 2)


class FaultProxy:
    """Proxy ``127.0.0.1:<port>`` to ``upstream`` with faults drawn from ``plan`` using ``seed``.

    ``upstream_port`` may list several ports — app workers behind one address, as nginx puts them
    in ``docker/compose.yaml``: each new upstream connection goes to the next in turn, and one
    that refuses (a killed worker) is skipped for the next, as nginx's ``proxy_next_upstream``
    does for connection errors.

    Use as a context manager (``with FaultProxy(...) as proxy: proxy.url``) or call
    :meth:`start` / :meth:`stop`. Set :attr:`enabled` to ``False`` to pass traffic untouched
    (e.g. for a final convergence round). Thread-safe to read :attr:`faults` and :attr:`requests`.
    """

    def __init__(
        self,
        upstream_port: int | Sequence[int],
        plan: FaultPlan,
        *,
        seed: int = 0,
        upstream_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        _require_loopback(upstream_host)
        _require_loopback(listen_host)
        ports = [upstream_port] if isinstance(upstream_port, int) else list(upstream_port)
        self.upstreams = [(upstream_host, port) for port in ports]
        self._turn = 0
        self.plan = plan
        self.seed = seed
        self.enabled = True
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.upstream_refused = 0
        self._listen = (listen_host, listen_port)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self._listen[0]}:{self.port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        if self._start_error is not None:
            raise RuntimeError("fault proxy did not start") from self._start_error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> dict[str, int]:
        """Faults injected so far by kind (every kind present, zero when none)."""
        with self._lock:
            return {kind: self.faults.get(kind, 0) for kind in FAULT_KINDS}

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
            self._ready.set()
            loop.run_forever()
        except BaseException as exc:  # report start-up failures to the starting thread
            self._start_error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._slots = asyncio.Semaphore(self.plan.max_connections)
        self._server = await asyncio.start_server(
            self._on_connection, self._listen[0], self._listen[1], limit=_MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        assert self._loop is not None
        self._loop.call_soon(self._loop.stop)

    # -- per connection ----------------------------------------------------------------------

    def _draw(self) -> tuple[str | None, random.Random]:
        with self._lock:
            self.requests += 1
            kind = self.plan.choose(self._rng) if self.enabled else None
            if kind:
                self.faults[kind] += 1
            return kind, random.Random(self._rng.getrandbits(64))

    async def _on_connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        assert self._slots is not None
        self._tasks.add(task)
        upstream_w: asyncio.StreamWriter | None = None
        try:
            if self._slots.locked():  # over the bound: refuse rather than queue
                _abort(client_w)
                return
            async with self._slots:
                upstream_w = await self._relay(client_r, client_w)
        except (ProtocolError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            _abort(client_w)
        except asyncio.CancelledError:
            _abort(client_w)
        finally:
            await _close(upstream_w)
            await _close(client_w)
            self._tasks.discard(task)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        failure: BaseException | None = None
        with self._lock:
            first = self._turn
            self._turn += 1
        for step in range(len(self.upstreams)):
            target = self.upstreams[(first + step) % len(self.upstreams)]
            try:
                return await asyncio.wait_for(asyncio.open_connection(*target, limit=_MAX_HEAD), 5)
            except (OSError, TimeoutError) as exc:
                with self._lock:
                    self.upstream_refused += 1
                failure = exc
        assert failure is not None
        raise failure

    async def _relay(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        """Relay requests on one client connection until it closes or a fault ends it."""
        plan = self.plan
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await asyncio.wait_for(
                    read_message(client_r, limit=plan.max_message_bytes), plan.idle_timeout
                )
                if request is None:
                    return upstream[1] if upstream else None
                kind, rng = self._draw()
                method = request.start_line.split(" ", 1)[0]
                if upstream is None or upstream[0].at_eof():
                    if upstream is not None:
                        await _close(upstream[1])
                    upstream = await self._open_upstream()
                up_r, up_w = upstream
                if kind == "delay":
                    await asyncio.sleep(rng.uniform(*plan.delay_range))
                if kind == "drop_request":
                    cut = rng.randint(0, max(len(request.raw) - 1, 0))
                    up_w.write(request.raw[:cut])
                    await up_w.drain()
                    _abort(up_w)
                    _abort(client_w)
                    return None
                up_w.write(request.raw)
                await up_w.drain()
                if kind == "duplicate":
                    await self._duplicate(request)
                if kind == "reset":
                    _abort(client_w)
                    # let the server finish reading the request it was sent, then hang up on it
                    await self._drain_response(up_r, method)
                    return up_w
                response = await asyncio.wait_for(
                    read_message(up_r, response_to=method, limit=plan.max_message_bytes), plan.idle_timeout
                )
                if response is None:
                    raise ProtocolError("upstream closed without answering")
                if kind == "drop_response":
                    _abort(client_w)
                    return up_w
                if kind == "truncate":
                    raw = response.raw
                    cut = rng.randint(len(response.head) // 2, max(len(raw) - 1, len(response.head) // 2))
                    client_w.write(raw[:cut])
                    await client_w.drain()
                    return up_w
                if kind == "delay":
                    await asyncio.sleep(rng.uniform(*plan.delay_range))
                client_w.write(response.raw)
                await client_w.drain()
                if not response.keep_alive or not request.keep_alive:
                    return up_w
        except BaseException:
            if upstream is not None:
                _abort(upstream[1])
            raise

    async def _drain_response(self, up_r: asyncio.StreamReader, method: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                read_message(up_r, response_to=method, limit=self.plan.max_message_bytes), self.plan.idle_timeout
            )

    async def _duplicate(self, request: HttpMessage) -> None:
        """Send a copy of ``request`` on a fresh connection and wait for (and discard) its answer."""
        method = request.start_line.split(" ", 1)[0]
        try:
            dup_r, dup_w = await self._open_upstream()
        except (OSError, TimeoutError):
            return
        try:
            dup_w.write(request.raw)
            await dup_w.drain()
            await self._drain_response(dup_r, method)
        finally:
            await _close(dup_w)


@contextlib.contextmanager
def fault_proxy(upstream_port: int, plan: FaultPlan, seed: int = 0) -> Iterator[FaultProxy]:
    """``with fault_proxy(port, plan, seed) as proxy:`` — started and stopped around the block."""
    proxy = FaultProxy(upstream_port, plan, seed=seed)
    with proxy:
        yield proxy
