"""The server as a real operating-system process that can be killed (SIGKILL) and restarted.

Runs ``python -m uvicorn --factory server.app:create_app`` with ``RECHECK_*`` variables, on a
fixed loopback port so a restart comes back at the same address and on the same database.
Nothing here imports the web framework: the process is a black box reached over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "free_port", "server_process"]


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One uvicorn process serving the app; :meth:`kill` it hard and :meth:`start` it again.

    Args:
        database_url: the SQLAlchemy URL (already migrated).
        media_url: ``file:///…`` or ``s3://…``.
        port: the loopback port (a free one when omitted); kept across restarts.
        env: extra ``RECHECK_*`` (or other) variables for the process.
        log_path: where the process's stdout and stderr go (appended across restarts).
    """

    def __init__(
        self,
        database_url: str,
        media_url: str,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.media_url = media_url
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECHECK_")}
        env.update(
            RECHECK_ENV="test",
            RECHECK_DATABASE_URL=self.database_url,
            RECHECK_MEDIA_URL=self.media_url,
            RECHECK_LOG_JSON="0",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until ``/health`` answers."""
        if self.running:
            raise RuntimeError("server process already running")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "server.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--no-proxy-headers",
                ],
                env=self._env(),
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self.starts += 1
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server process exited with {self.process.returncode} (see {self.log_path})")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"server on port {self.port} not healthy after {timeout}s (see {self.log_path})")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, open transactions cut off."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.kills += 1
        self.process.wait(10)
        self.process = None

    def restart(self, timeout: float = 30.0) -> None:
        self.kill()
        self.start(timeout)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not exit within 10 seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.process = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def server_process(database_url: str, media_url: str, **kwargs: object) -> Iterator[ServerProcess]:
    """A started :class:`ServerProcess`, stopped when the block ends."""
    server = ServerProcess(database_url, media_url, **kwargs)  # type: ignore[arg-type]
    with server:
        yield server
