"""Schema-driven fuzzing of every endpoint, as every role, against a real server process.

Schemathesis generates requests for each operation of the OpenAPI document the app publishes
(valid ones and, for half the budget, invalid ones), sends them as an anonymous caller and as each
role (a worker from a registered device), and checks each answer against the document: never a
5xx, and a documented status code, content type, headers and body. Each role runs with two
seeds. The budget is bounded: a few examples per operation and role, and a hard time limit per
role and seed (``RECHECK_FUZZ_SECONDS``, default 10; raise it for a long run). The totals are
printed (``-s``) and kept in :data:`TOTALS` for the closing note.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from server.app import create_app
from server.settings import Settings
from sync.simulation.process import ServerProcess
from tests.server import schemathesis_hooks  # noqa: F401  (registers the serializers)
from tests.support import LiveServer, seed_world

EXAMPLES_PER_OPERATION = 3
"""Examples per operation, role and generation mode (positive / negative)."""
SECONDS_PER_ROLE = float(os.environ.get("RECHECK_FUZZ_SECONDS", "10"))
"""Hard budget per role. Each role starts at a different operation, so together the roles cover
every operation even when one role's budget runs out; what was not reached is counted."""

#: Totals over the module, printed at the end: requests sent and answers by status class.
TOTALS: Counter[str] = Counter()


def _schema() -> Any:
    settings = Settings(
        env="test", database_url="sqlite+aiosqlite:///:memory:", media_url="file:///nonexistent", log_json=False
    )
    document = create_app(settings).openapi_schema.to_schema()
    return schemathesis.openapi.from_dict(document)


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

ITEMS = [(op, mode) for op in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]

ROLES = ("anonymous", "admin", "approver", "auditor", "sup1", "worker1@device")
SEEDS = (1, 2)

#: No server error, and the answer is what the document says (status, content type, headers, body).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{root / 'recheck.db'}"
    world = seed_world(url)
    media = f"file://{root / 'media'}"
    with ServerProcess(url, media, log_path=root / "server.log") as process:
        live = LiveServer(process.url, world, Settings(env="test", database_url=url, media_url=media, log_json=False))
        # every token first: fuzzing the login endpoint trips the per-address rate limit
        tokens = {name: live.token(name) for name in ("admin", "approver", "auditor", "sup1")}
        tokens["worker1@device"] = live.token("worker1", live.register_device("worker1", "fuzz-tablet"))
        yield live, tokens
    print(f"\nfuzzing totals ({len(ITEMS)} operation-modes, {len(ROLES)} roles): {dict(sorted(TOTALS.items()))}")


_STRATEGIES: dict[tuple[str, GenerationMode], Any] = {}


def _strategy(operation: Any, mode: GenerationMode) -> Any:
    """Strategies are built once and shared by the roles (building them is the slow part)."""
    key = (operation.label, mode)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = operation.as_strategy(generation_mode=mode)
    return _STRATEGIES[key]


def _fuzz_operation(
    operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode, run_seed: int
) -> list[str]:
    """Run the examples for one operation; returns the failures (5xx or schema violations)."""
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(run_seed)
    @given(case=_strategy(operation, mode))
    def run(case: Any) -> None:
        merged = {**(case.headers or {}), **headers}
        try:
            response = case.call(base_url=base_url, headers=merged, timeout=30)
        except Exception as exc:  # a dropped connection is a failure too
            failures.append(f"{operation.label}: transport error {exc!r}")
            return
        TOTALS["requests"] += 1
        TOTALS[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{operation.label} [{mode.value}] -> {response.status_code}: {str(exc)[:600]}")

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        run()
    return failures


@pytest.mark.parametrize("run_seed", SEEDS)
@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_endpoint(fuzz_server: tuple[LiveServer, dict[str, str]], role: str, run_seed: int) -> None:
    live, tokens = fuzz_server
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
    deadline = time.monotonic() + SECONDS_PER_ROLE
    failures: list[str] = []
    skipped: list[str] = []
    start = ROLES.index(role) * len(ITEMS) // len(ROLES)
    for operation, mode in ITEMS[start:] + ITEMS[:start]:
        if time.monotonic() > deadline:
            skipped.append(f"{operation.label} [{mode.value}]")
            continue
        failures += _fuzz_operation(operation, live.base_url, headers, mode, run_seed)
    TOTALS["operation-modes"] += len(ITEMS) - len(skipped)
    TOTALS["5xx"] += 0
    assert not failures, "\n".join(failures[:30])
    with live.client() as c:  # the server survived all of it
        assert c.get("/health").status_code == 200


def test_error_answers_are_documented_as_error_bodies() -> None:
    """Litestar's own 400 shape is replaced by the ErrorBody the app really sends, on every operation."""
    document = SCHEMA.raw_schema
    for path, item in document["paths"].items():
        if path.startswith("/schema"):
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation or method == "head":
                continue  # HEAD answers have no body
            for status in ("400", "401", "403", "404", "409", "422"):
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
