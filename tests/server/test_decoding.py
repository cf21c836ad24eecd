"""Request bodies are decoded strictly: a JSON value of the wrong type is a 400 naming the field.

Litestar's own decoding converts with msgspec's lax rules, which turned ``"false"`` and ``0`` into
``False`` and ``"2"`` into ``2``. Nothing of such a request may be stored.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from server.app import create_app
from server.decoding import StrictBody
from server.settings import Settings
from tests.support import PASSWORD, LiveServer


def _refused(response: Any, path: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation"
    assert body["errors"][0]["path"] == path, body


@pytest.mark.parametrize("active", ["false", 0, "0", 1, "true", None])
def test_a_flag_of_another_json_type_is_refused(live: LiveServer, active: Any) -> None:
    worker = live.world.user_ids["worker1b"]
    with live.as_user("admin") as admin:
        response = admin.patch(f"/users/{worker}", json={"active": active})
        _refused(response, "$.active")
        users = {u["username"]: u for u in admin.get("/users/").json()}
    assert users["worker1b"]["active"] is True
    assert live.login("worker1b")["access_token"]


def test_a_real_boolean_still_switches_a_user_off(live: LiveServer) -> None:
    with live.as_user("admin") as admin:
        response = admin.patch(f"/users/{live.world.user_ids['worker1b']}", json={"active": False})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False


def test_numbers_as_strings_are_refused_at_their_index(live: LiveServer) -> None:
    area = live.world.area_ids["T1-a"]
    body = {"username": "w9", "display_name": "W9", "role": "worker", "password": PASSWORD, "area_ids": [str(area)]}
    with live.as_user("admin") as admin:
        _refused(admin.post("/users/", json=body), "$.area_ids[0]")
        _refused(admin.post("/users/", json={**body, "area_ids": [float(area)]}), "$.area_ids[0]")
        users = {u["username"] for u in admin.get("/users/").json()}
        assert "w9" not in users
        created = admin.post("/users/", json={**body, "area_ids": [area]})
    assert created.status_code == 201, created.text


def test_nested_fields_and_other_areas_bodies_are_strict(live: LiveServer) -> None:
    area = live.world.area_ids["T1-a"]
    with live.as_user("sup1") as sup:
        households = sup.get("/households/").json()["items"]
        _refused(sup.post("/plans/", json={"period": "2027Q1", "area_ids": [True]}), "$.area_ids[0]")
        household = {
            "area_id": area,
            "residence": "urban",
            "category": "general",
            "address": "1 Road",
            "benefit_amount": "1000",
            "members": [{"name": "Li", "id_number": "x", "relation": "head"}],
        }
        _refused(sup.post("/households/", json=household), "$.benefit_amount")
        assert sup.get("/households/").json()["items"] == households


def test_query_parameters_keep_arriving_as_text(live: LiveServer) -> None:
    with live.as_user("sup1") as sup:
        response = sup.get("/households/", params={"area_id": str(live.world.area_ids["T1-a"])})
    assert response.status_code == 200, response.text


def test_every_wire_type_body_is_decoded_strictly() -> None:
    settings = Settings(env="test", database_url="sqlite+aiosqlite:///:memory:", media_url="file:///x", log_json=False)
    app = create_app(settings)
    bodies = [
        (route.path, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.parsed_data_field is not None and _is_struct_body(handler.parsed_data_field)
    ]
    assert len(bodies) >= 30
    for path, handler in bodies:
        assert handler.resolve_data_dto() is StrictBody, path


def _is_struct_body(field: FieldDefinition) -> bool:
    inner = field.inner_types[0] if field.is_non_string_collection else field
    return inner.is_subclass_of(msgspec.Struct)
