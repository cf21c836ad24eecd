"""The app as a whole: health, readiness, request ids, error bodies, schema, refusals."""

from __future__ import annotations

import pytest

from server.settings import DEV_SECRET, Settings, SettingsError
from tests.support import LiveServer


def test_health_ready_and_request_id(live: LiveServer) -> None:
    with live.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready", headers={"X-Request-ID": "abc123"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "media": "ok"}
    assert ready.headers["x-request-id"] == "abc123"


def test_openapi_schema_lists_every_operation(live: LiveServer) -> None:
    with live.client() as c:
        schema = c.get("/schema/openapi.json").json()
    operation_ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"login", "list_households", "create_household", "revoke_device"} <= operation_ids


def test_unauthenticated_request_gets_machine_readable_401(live: LiveServer) -> None:
    with live.client() as c:
        response = c.get("/households/")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["request_id"]


def test_malformed_json_and_unknown_fields_are_400_with_paths(live: LiveServer) -> None:
    with live.client() as c:
        broken = c.post("/auth/login", content=b'{"username": "admin", ', headers={"content-type": "application/json"})
        unknown = c.post("/auth/login", json={"username": "admin", "password": "x", "bogus": 1})
        wrong_type = c.post("/auth/login", json={"username": 5, "password": "x"})
    assert broken.status_code == 400
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["path"] == "$.bogus"
    assert wrong_type.status_code == 400
    assert wrong_type.json()["errors"][0]["path"] == "$.username"


def test_oversize_body_is_413(live: LiveServer) -> None:
    big = b'{"username": "' + b"a" * (live.settings.max_body_bytes + 10) + b'"}'
    with live.client() as c:
        response = c.post("/auth/login", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_production_refuses_development_secret() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings(env="production", secret_key=DEV_SECRET).check()
    Settings(env="production", secret_key="x" * 40).check()
