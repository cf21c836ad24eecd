"""Schemathesis against the running app, once per role: requests, server errors, conformance failures.

Each role gets a fresh database (the seeded test world of ``tests/support.py``) and its own server
process, so one role's fuzzing (an admin deactivating users, a supervisor revoking devices) cannot
change what the next one sees. The standard ``schemathesis run`` command fetches the published
document (``/schema/openapi.json``) and sends its requests with the role's bearer token (every
check, every phase: examples, coverage, fuzzing, stateful); its NDJSON event report is read back
and summarised. ``tests/server/schemathesis_hooks.py`` is loaded for the tus and MessagePack bodies.

    .venv/bin/python bench/api/bench_fuzz.py [--roles admin,supervisor,worker] [--seeds 1,2]
        [--max-examples 10] [--engine sqlite|postgres] [--out results.json]

See ``bench/api/README.md`` for what is counted and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sync.simulation.process import ServerProcess  # noqa: E402
from tests.support import (  # noqa: E402
    LiveServer,
    create_postgres_database,
    drop_postgres_database,
    seed_world,
)

#: The seeded user each role fuzzes as (the worker from a registered device, as a tablet calls).
ROLE_USERS = {"admin": "admin", "supervisor": "sup1", "worker": "worker1"}

SERVER_ERROR_CHECKS = {"not_a_server_error"}
#: The answer does not match what the document says (status, content type, headers, body).
CONFORMANCE_CHECKS = {
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
}


@contextmanager
def _database(engine: str, folder: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'recheck.db'}"
        return
    name, url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@contextmanager
def _server(engine: str, folder: Path) -> Iterator[tuple[ServerProcess, LiveServer]]:
    with _database(engine, folder) as url:
        world = seed_world(url)
        media = f"file://{folder / 'media'}"
        # tokens must outlive a long run; the fuzzer's logins must not lock the bench out
        env = {"RECHECK_ACCESS_TOKEN_MINUTES": "240"}
        with ServerProcess(url, media, env=env, log_path=folder / "server.log", cwd=ROOT) as process:
            from server.settings import Settings

            settings = Settings(env="test", database_url=url, media_url=media, log_json=False)
            yield process, LiveServer(process.url, world, settings)


def _token(live: LiveServer, role: str) -> str:
    user = ROLE_USERS[role]
    if role == "worker":
        return live.token(user, live.register_device(user, "bench-tablet"))
    return live.token(user)


def _hooks_env() -> dict[str, str]:
    """Loads the serializers for tus bytes and MessagePack (``tests/server/schemathesis_hooks.py``)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SCHEMATHESIS_HOOKS": "tests.server.schemathesis_hooks"}


def _schemathesis(base_url: str, token: str, seed: int, max_examples: int, report: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/schema/openapi.json",
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    with report.with_suffix(".txt").open("w") as output:
        run = {"stdout": output, "stderr": subprocess.STDOUT, "cwd": report.parent, "env": _hooks_env()}
        subprocess.run(command, check=False, **run)  # type: ignore[call-overload]


def summarise(events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Requests, answers by status class, and failures by check, from schemathesis's NDJSON events.

    A failure is counted once per operation, check and kind of failure (what schemathesis calls a
    unique failure); ``failing_cases`` counts every test case a check failed on.
    """
    statuses: Counter[str] = Counter()
    unique: dict[str, set[tuple[str, str]]] = {}
    failing_cases: Counter[str] = Counter()
    for event in events:
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder") or {}
        for interaction in (recorder.get("interactions") or {}).values():
            response = interaction.get("response")
            statuses[f"{response['status_code'] // 100}xx" if response else "no answer"] += 1
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                failure = (check.get("failure_info") or {}).get("failure") or {}
                failing_cases[check["name"]] += 1
                key = (failure.get("operation") or recorder.get("label", "?"), failure.get("title", "?"))
                unique.setdefault(check["name"], set()).add(key)
    by_check = {name: len(keys) for name, keys in sorted(unique.items())}
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for c, n in by_check.items() if c in SERVER_ERROR_CHECKS),
        "conformance_failures": sum(n for c, n in by_check.items() if c in CONFORMANCE_CHECKS),
        "other_failures": {c: n for c, n in by_check.items() if c not in SERVER_ERROR_CHECKS | CONFORMANCE_CHECKS},
        "failing_cases": dict(sorted(failing_cases.items())),
        "failures": {name: sorted(f"{op}: {title}" for op, title in keys) for name, keys in sorted(unique.items())},
    }


def _events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as lines:
        for line in lines:
            yield json.loads(line)


def run_role(engine: str, role: str, seed: int, max_examples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{role}-") as tmp:
        folder = Path(tmp)
        with _server(engine, folder) as (_process, live):
            token = _token(live, role)
            events = folder / "events.ndjson"
            started = time.monotonic()
            _schemathesis(live.base_url, token, seed, max_examples, events)
            seconds = time.monotonic() - started
            summary = summarise(_events(events))
            errors_logged = (folder / "server.log").read_text(errors="replace").count("unhandled error")
    return {"role": role, "seed": seed, "seconds": round(seconds), "logged_errors": errors_logged, **summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default="admin,supervisor,worker")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = parser.parse_args(argv)
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for role in args.roles.split(","):
            result = run_role(args.engine, role, seed, args.max_examples)
            results.append(result)
            print(
                f"{role:<10} seed {seed}: {result['requests']} requests, {result['server_errors']} server errors, "
                f"{result['conformance_failures']} conformance failures, other {result['other_failures']}"
                f" ({result['seconds']} s)",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
