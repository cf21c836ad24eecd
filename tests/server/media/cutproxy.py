"""A loopback TCP proxy that cuts upload connections mid-transfer, for resumable-upload tests.

Connections whose request starts with ``PATCH`` are cut (RST to the client, close to the server)
when the total bytes sent upstream across all connections cross the next of ``cut_at``. Every
other connection, and every one after the last cut, is relayed untouched.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

__all__ = ["CutProxy", "cut_proxy"]


class CutProxy:
    """Relay ``127.0.0.1:<port>`` to ``upstream``; see the module docstring."""

    def __init__(self, upstream_port: int, cut_at: list[int]) -> None:
        self.upstream_port = upstream_port
        self.cut_at = sorted(cut_at)
        self.cuts = 0
        self.sent = 0
        self.patch_bytes = 0
        self.patch_offsets: list[int] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = False
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CutProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        is_patch: bool | None = None
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                if is_patch is None:
                    is_patch = data.startswith(b"PATCH")
                    if is_patch:
                        self._note_offset(data)
                cut = False
                with self._lock:
                    if is_patch and self.cut_at and self.sent + len(data) >= self.cut_at[0]:
                        keep = self.cut_at.pop(0) - self.sent
                        data = data[: max(0, keep)]
                        cut = True
                        self.cuts += 1
                    self.sent += len(data)
                    if is_patch:
                        self.patch_bytes += len(data)
                if data:
                    upstream.sendall(data)
                if cut:
                    self._kill(client, upstream)
                    return
        except OSError:
            self._kill(client, upstream)

    def _note_offset(self, head: bytes) -> None:
        for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"upload-offset":
                with self._lock:
                    self.patch_offsets.append(int(value.strip()))

    def _pump_down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    client.shutdown(socket.SHUT_WR)
                    return
                client.sendall(data)
        except OSError:
            self._kill(client, upstream)

    @staticmethod
    def _kill(client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for sock in (client, upstream):
            # shutdown() acts at once (and wakes the other pump blocked in recv); close() alone
            # would wait for that recv, leaving the server waiting for the rest of the body.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def cut_proxy(upstream_port: int, cut_at: list[int]) -> Iterator[CutProxy]:
    proxy = CutProxy(upstream_port, cut_at).start()
    try:
        yield proxy
    finally:
        proxy.stop()
