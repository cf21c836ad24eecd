"""Every integer query and path parameter is range-checked where it is declared, on both engines.

A number beyond 64 bits used to reach the database driver (SQLite's OverflowError, asyncpg's
out-of-range error) and answer 500. Each integer parameter the API publishes is sent too large and
too small, as the first role allowed to call the operation; the answer must be a 400 naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.settings import Settings
from tests.support import PASSWORD, LiveServer

ROLES = ("admin", "sup1", "approver", "auditor")
#: A valid body where the operation needs one, so that only the parameter can be wrong.
BODIES = {"/reviews/conflicts/{conflict_id}/resolve": {"resolution": "keep"}}


def _document() -> dict[str, Any]:
    settings = Settings(env="test", database_url="sqlite+aiosqlite:///:memory:", media_url="file:///x", log_json=False)
    document: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return document


def _is_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" or any(s.get("type") == "integer" for s in schema.get("oneOf", []))


def _integer_parameters() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
            for parameter in parameters:
                if parameter["in"] in ("query", "path") and _is_integer(parameter["schema"]):
                    found.append((method, path, parameter, operation))
    return found


INTEGER_PARAMETERS = _integer_parameters()


def _placeholder(parameter: dict[str, Any]) -> str:
    """A well-formed value for the other path parameters (the one under test decides the answer)."""
    schema = parameter["schema"]
    if _is_integer(schema):
        return "1"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date":
        return "2026-12-01"
    return "2026-12"  # the payment month, the only other path text (and the report period in queries)


def _call(client: httpx.Client, method: str, path: str, operation: dict[str, Any], name: str, value: int) -> Any:
    location = {p["name"]: p["in"] for p in operation.get("parameters", [])}[name]
    url = path
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            text = str(value) if parameter["name"] == name else _placeholder(parameter)
            url = url.replace("{" + parameter["name"] + "}", text)
    params = {p["name"]: "2026-12" for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}
    if location == "query":
        params[name] = str(value)
    body = BODIES.get(path)
    return client.request(method.upper(), url, params=params, json=body)


def test_the_document_lists_the_integer_parameters() -> None:
    names = {(path, p["name"]) for _m, path, p, _o in INTEGER_PARAMETERS}
    assert ("/households", "area_id") in names
    assert ("/reviews/conflicts/{conflict_id}/resolve", "conflict_id") in names
    for _method, path, parameter, _operation in INTEGER_PARAMETERS:
        schema = parameter["schema"]
        bounded = [schema, *schema.get("oneOf", [])]
        assert any("maximum" in s and "minimum" in s for s in bounded), (path, parameter["name"], schema)


def _bounds(parameter: dict[str, Any]) -> tuple[int, int]:
    schema = parameter["schema"]
    for candidate in (schema, *schema.get("oneOf", [])):
        if "maximum" in candidate:
            return int(candidate["minimum"]), int(candidate["maximum"])
    raise AssertionError(f"{parameter['name']} has no range")


def _as_allowed_role(
    clients: dict[str, httpx.Client], method: str, path: str, operation: dict[str, Any], name: str, value: int
) -> httpx.Response:
    for role in ROLES:
        response: httpx.Response = _call(clients[role], method, path, operation, name, value)
        if response.status_code != 403:
            break
    return response


@pytest.fixture
def clients(live: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    clients = {role: live.as_user(role) for role in ROLES}
    yield clients
    for client in clients.values():
        client.close()


BEYOND: dict[str, Callable[[int, int], int]] = {
    "just above": lambda low, high: high + 1,
    "just below": lambda low, high: low - 1,
    "past 64 bits": lambda low, high: 2**64,
    "below 64 bits": lambda low, high: -(2**64),
    "30 digits": lambda low, high: 10**30,
}


@pytest.mark.parametrize("beyond", BEYOND)
def test_integers_out_of_range_are_refused_naming_the_parameter(
    live: LiveServer, clients: dict[str, httpx.Client], beyond: str
) -> None:
    for method, path, parameter, operation in INTEGER_PARAMETERS:
        name = parameter["name"]
        minimum, maximum = _bounds(parameter)
        value = BEYOND[beyond](minimum, maximum)
        response = _as_allowed_role(clients, method, path, operation, name, value)
        assert response.status_code == 400, (method, path, name, value, response.status_code, response.text)
        assert f"$.{name}" in [e["path"] for e in response.json()["errors"]], (method, path, response.text)
    with live.client() as c:
        assert c.get("/health").status_code == 200


@pytest.mark.parametrize("end", ["minimum", "maximum"])
def test_each_end_of_the_range_is_served(clients: dict[str, httpx.Client], end: str) -> None:
    """The declared range is the column's: its ends reach the database and answer, never 500."""
    for method, path, parameter, operation in INTEGER_PARAMETERS:
        name = parameter["name"]
        minimum, maximum = _bounds(parameter)
        value = minimum if end == "minimum" else maximum
        response = _as_allowed_role(clients, method, path, operation, name, value)
        assert response.status_code < 500, (method, path, name, value, response.text)
        if response.status_code == 400:
            assert f"$.{name}" not in [e["path"] for e in response.json()["errors"]], (method, path, response.text)


def test_body_ids_and_versions_beyond_their_columns_are_refused(live: LiveServer) -> None:
    """The same holds for integers in bodies: an area id or version past 32 bits is a 400, not the driver's 500."""
    body = {"username": "w9", "display_name": "W9", "role": "worker", "password": PASSWORD}
    with live.as_user("admin") as admin:
        too_big = admin.post("/users/", json={**body, "area_ids": [2**31]})
        households = admin.get("/households/").json()["items"]
        stale = admin.patch(f"/households/{households[0]['id']}", json={"version": 2**40}) if households else None
        notice = admin.post("/decisions/notices", json={"area_id": 2**40})
    assert too_big.status_code == 400, too_big.text
    assert too_big.json()["errors"][0]["path"] == "$.area_ids[0]"
    assert notice.status_code == 400, notice.text
    assert notice.json()["errors"][0]["path"] == "$.area_id"
    if stale is not None:
        assert stale.status_code == 400, stale.text
