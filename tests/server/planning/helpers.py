"""Households, plans and assignments made through the API for the planning tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from typing import Any

import httpx
from sqlalchemy import update

from server.db.session import make_engine
from server.planning.models import Visit
from tests.support import LiveServer, make_id_number

_serials = itertools.count(1)


def add_household(
    live: LiveServer,
    area: str,
    *,
    category: str = "general",
    approved_on: dt.date | None = None,
    last_recheck_on: dt.date | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> dict[str, Any]:
    """Register a household in ``area`` (as admin) and return it."""
    n = next(_serials)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n)
    body: dict[str, Any] = {
        "area_id": live.world.area_ids[area],
        "residence": "rural",
        "category": category,
        "address": f"{area} lane {n}",
        "members": [
            {
                "name": f"王{n}",
                "relation": "head",
                "id_number": make_id_number("520111", born, n),
                "sex": "male",
                "birth_date": born.isoformat(),
            }
        ],
        "benefit_amount": 50000,
    }
    for key, value in (
        ("approved_on", approved_on),
        ("last_recheck_on", last_recheck_on),
        ("lat", lat),
        ("lon", lon),
    ):
        if value is not None:
            body[key] = value.isoformat() if isinstance(value, dt.date) else value
    with live.as_user("admin") as c:
        response = c.post("/households/", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def update_household(live: LiveServer, household_id: str, **changes: Any) -> None:
    with live.as_user("admin") as c:
        response = c.patch(f"/households/{household_id}", json=changes)
    assert response.status_code == 200, response.text


def plan(live: LiveServer, user: str, period: str, areas: list[str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"period": period}
    if areas is not None:
        body["area_ids"] = [live.world.area_ids[a] for a in areas]
    with live.as_user(user) as c:
        return c.post("/plans/", json=body)


def visits(live: LiveServer, user: str, **params: Any) -> list[dict[str, Any]]:
    """Every visit the user sees with the given filters (all pages)."""
    items: list[dict[str, Any]] = []
    cursor = None
    with live.as_user(user) as c:
        while True:
            query = {**params, "limit": 50, **({"cursor": cursor} if cursor else {})}
            response = c.get("/visits/", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def assign(live: LiveServer, user: str, items: list[dict[str, Any]]) -> httpx.Response:
    with live.as_user(user) as c:
        return c.post("/assignments/", json={"items": items})


def audit(live: LiveServer, entity_id: str) -> list[dict[str, Any]]:
    with live.as_user("auditor") as c:
        response = c.get("/audit/", params={"entity": "visit", "entity_id": entity_id, "limit": 1000})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


def set_visit_state(live: LiveServer, visit_id: str, state: str) -> None:
    """Move a visit the way the sync engine would (downloaded, submitted …), straight in the database."""

    async def go() -> None:
        engine = make_engine(live.settings.database_url, null_pool=True)
        try:
            async with engine.begin() as connection:
                await connection.execute(update(Visit).where(Visit.id == uuid.UUID(visit_id)).values(state=state))
        finally:
            await engine.dispose()

    asyncio.run(go())


def plan_all(live: LiveServer, period: str = "2027Q1") -> list[dict[str, Any]]:
    """Plan every area (as admin) and return the visits, in due order."""
    response = plan(live, "admin", period)
    assert response.status_code == 200, response.text
    return visits(live, "admin")


def error_paths(response: httpx.Response) -> list[str]:
    return [e["path"] for e in response.json()["errors"]]
