"""The suggested split over real HTTP: a preview stores nothing; accepting stores exactly it;
a forged hidden field (another township's visit or worker), a stale or empty split, and a
second submit of the same split are refused whole; the route page and sheet stay in scope."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.planning.models import Visit
from tests.server.console.helpers import csrf_of, sign_in
from tests.server.sync.factory import add_household, add_visit, run_db
from tests.support import LiveServer


def _planned(live: LiveServer, area: str, n: int) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        out = []
        for i in range(n):
            household = await add_household(session, live.world.area_ids[area], members=1)
            household.lat, household.lon = 26.46 + i * 0.001, 106.66
            out.append(str((await add_visit(session, household, None)).id))
        return out

    return run_db(live.settings.database_url, work)


def _state(live: LiveServer) -> list[tuple[object, ...]]:
    async def work(session: AsyncSession) -> list[tuple[object, ...]]:
        rows = await session.execute(
            select(Visit.id, Visit.assigned_to, Visit.partner_id, Visit.visit_on, Visit.version)
        )
        return sorted(tuple(r) for r in rows.all())

    return run_db(live.settings.database_url, work)


def _suggest(client: httpx.Client, token: str, live: LiveServer) -> str:
    users = live.world.user_ids
    page = client.post(
        "/console/assign/suggest",
        data={
            "_csrf": token,
            "lead_0": str(users["worker1"]),
            "partner_0": str(users["worker1b"]),
            "start_on": "2099-01-05",
            "days": "2",
            "capacity": "3",
        },
    )
    assert page.status_code == 200
    return page.text


def test_accept_stores_the_split_once(live: LiveServer) -> None:
    _planned(live, "T1-a", 5)
    before = _state(live)
    with sign_in(live, "sup1") as (client, _):
        token = csrf_of(client.get("/console/assign").text)
        text = _suggest(client, token, live)
        assert _state(live) == before  # a preview only
        items = re.findall(r'name="item" value="([^"]+)"', text)
        assert len(items) == 5
        assert "2099年1月5日" in text
        assert "2099年1月6日" in text
        accepted = client.post("/console/assign/accept", data={"_csrf": token, "item": items})
        assert accepted.status_code == 303
        assert accepted.headers["location"].startswith("/console/routes?day=2099-01-05")
        after = _state(live)
        assert all(r[1] == live.world.user_ids["worker1"] and r[2] == live.world.user_ids["worker1b"] for r in after)
        again = client.post("/console/assign/accept", data={"_csrf": token, "item": items})
        assert again.status_code == 409
        assert _state(live) == after
        routes = client.get("/console/routes", params={"day": "2099-01-05"}).text
        assert "Worker1 + Worker1B (3)" in routes
        sheet = client.get("/console/routes/sheet", params={"day": "2099-01-05"}).text
        assert sheet.count('class="sheet"') == 1
    with sign_in(live, "sup2") as (other, _):
        assert "Worker1" not in other.get("/console/routes", params={"day": "2099-01-05"}).text
        assert 'class="sheet"' not in other.get("/console/routes/sheet", params={"day": "2099-01-05"}).text
        forged = other.get(
            "/console/routes/sheet", params={"day": "2099-01-05", "worker_id": str(live.world.user_ids["worker1"])}
        )
        assert forged.status_code == 404


def test_forged_hidden_fields_change_nothing(live: LiveServer) -> None:
    mine = _planned(live, "T1-a", 2)
    theirs = _planned(live, "T2-a", 1)
    users = live.world.user_ids
    before = _state(live)
    lead, partner = users["worker1"], users["worker1b"]
    with sign_in(live, "sup1") as (client, _):
        token = csrf_of(client.get("/console/assign").text)
        forged_visit = client.post(
            "/console/assign/accept",
            data={"_csrf": token, "item": [f"{mine[0]}:1:{lead}:{partner}:", f"{theirs[0]}:1:{lead}:{partner}:"]},
        )
        assert forged_visit.status_code == 404
        assert "不属于您辖区" in forged_visit.text
        forged_worker = client.post(
            "/console/assign/accept", data={"_csrf": token, "item": [f"{mine[0]}:1:{lead}:{users['worker2']}:"]}
        )
        assert forged_worker.status_code == 422
        empty = client.post("/console/assign/accept", data={"_csrf": token})
        assert empty.status_code == 422
        garbage = client.post("/console/assign/accept", data={"_csrf": token, "item": ["nonsense"]})
        assert garbage.status_code == 422
        no_token = client.post("/console/assign/accept", data={"item": [f"{mine[0]}:1:{lead}:{partner}:"]})
        assert no_token.status_code == 403
        half_pair = client.post(
            "/console/assign/suggest", data={"_csrf": token, "lead_0": str(lead), "start_on": "2099-01-05"}
        )
        assert half_pair.status_code == 422
        past = client.post(
            "/console/assign/suggest",
            data={"_csrf": token, "lead_0": str(lead), "partner_0": str(partner), "start_on": "2020-01-06"},
        )
        assert past.status_code == 422
        foreign_pair = client.post(
            "/console/assign/suggest",
            data={"_csrf": token, "lead_0": str(users["worker2"]), "partner_0": str(partner), "start_on": "2099-01-05"},
        )
        assert foreign_pair.status_code == 422
    assert _state(live) == before
