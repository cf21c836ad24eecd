"""The published OpenAPI document says what the server really does (``server/openapi.py``).

Each statement is checked against the running app: the tus routes' statuses and headers, the
exports' content types, unknown fields refused, the period, month and cursor formats, and the
sync bodies in JSON and MessagePack.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
import pytest

from schemas.base import utcnow
from schemas.sync import PullRequest, PushRequest
from server.openapi import MONTH, PAGE_CURSOR, PERIOD, SYNC_CURSOR
from tests.support import LiveServer


@pytest.fixture
def document(live: LiveServer) -> dict[str, Any]:
    with live.client() as c:
        response = c.get("/schema/openapi.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def _worker(live: LiveServer) -> httpx.Client:
    return live.as_user("worker1", live.register_device("worker1"))


def test_tus_statuses_and_headers_are_the_protocols(live: LiveServer, document: dict[str, Any]) -> None:
    options = document["paths"]["/uploads"]["options"]["responses"]
    assert "204" in options
    assert "200" not in options
    assert {"Tus-Version", "Tus-Extension", "Tus-Max-Size"} <= set(options["204"]["headers"])
    create = document["paths"]["/uploads"]["post"]
    assert {"410", "412", "415", "460"} <= set(create["responses"])
    assert "Location" in create["responses"]["201"]["headers"]
    assert {"Upload-Length", "Upload-Metadata", "Tus-Resumable"} <= {p["name"] for p in create["parameters"]}
    append = document["paths"]["/uploads/{upload_id}"]["patch"]
    assert "204" in append["responses"]
    assert {"409", "410", "412", "415", "460"} <= set(append["responses"])
    assert "application/offset+octet-stream" in append["requestBody"]["content"]
    with live.client() as c, _worker(live) as worker:
        discovered = c.options("/uploads/")
        wrong_version = worker.post("/uploads/", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "1"})
        wrong_type = worker.patch(
            f"/uploads/{'0' * 8}-0000-0000-0000-{'0' * 12}",
            headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "text/plain"},
            content=b"x",
        )
    assert discovered.status_code == 204
    assert set(options["204"]["headers"]) <= {h.title() for h in discovered.headers}
    assert wrong_version.status_code == 412
    assert wrong_type.status_code == 415


def test_exports_are_documented_as_files(document: dict[str, Any]) -> None:
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    answers = {
        "/payments/months/{month}/export": {"text/csv", xlsx},
        "/reports/summary/export": {xlsx, "text/html"},
        "/decisions/notices/{notice_id}/export": {"application/pdf", xlsx},
    }
    for path, types in answers.items():
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content) == types, path
        assert "application/json" not in content


def test_unknown_fields_are_refused_in_the_document_as_by_the_server(
    live: LiveServer, document: dict[str, Any]
) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["LoginRequest"]["additionalProperties"] is False
    assert schemas["HouseholdCreate"]["additionalProperties"] is False
    with live.client() as c:
        refused = c.post("/auth/login", json={"username": "admin", "password": "x", "extra": 1})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["path"] == "$.extra"


def test_period_month_and_cursor_carry_their_formats(live: LiveServer, document: dict[str, Any]) -> None:
    def pattern(path: str, method: str, name: str) -> str:
        parameter = next(p for p in document["paths"][path][method]["parameters"] if p["name"] == name)
        schema = parameter["schema"]
        found = [s["pattern"] for s in (schema, *schema.get("oneOf", [])) if "pattern" in s]
        assert found, (path, name)
        return str(found[0])

    assert pattern("/reports/summary", "get", "period") == PERIOD
    assert pattern("/payments/months/{month}", "get", "month") == MONTH
    assert pattern("/households", "get", "cursor") == PAGE_CURSOR
    for period in ("2026-12", "2026Q4", "2026H2", "2026"):
        assert re.fullmatch(PERIOD, period)
    with live.as_user("admin") as admin:
        page = admin.get("/households/", params={"limit": "1"}).json()
        year_zero = admin.get("/payments/months/0000-01")
    if page.get("next_cursor"):
        assert re.fullmatch(PAGE_CURSOR, page["next_cursor"])
    assert year_zero.status_code == 422, year_zero.text  # was a 500: a month the document once allowed


def test_sync_bodies_are_documented_in_json_and_msgpack(live: LiveServer, document: dict[str, Any]) -> None:
    for path, body in (("/sync/pull", "PullRequest"), ("/sync/push", "PushRequest")):
        operation = document["paths"][path]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/json", "application/msgpack"}
        assert operation["requestBody"]["content"]["application/msgpack"]["schema"]["$ref"].endswith(body)
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "application/msgpack"}
    assert document["components"]["schemas"]["PushRequest"]["additionalProperties"] is False
    with _worker(live) as worker:
        packed = worker.post(
            "/sync/pull",
            content=msgspec.msgpack.encode(PullRequest(device_time=utcnow())),
            headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
        )
        pushed = worker.post("/sync/push", content=msgspec.json.encode(PushRequest(device_time=utcnow(), mutations=[])))
    assert packed.status_code == 200
    cursor = msgspec.msgpack.decode(packed.content)["cursor"]
    assert re.fullmatch(SYNC_CURSOR, cursor), cursor
    assert pushed.status_code == 200, pushed.text
