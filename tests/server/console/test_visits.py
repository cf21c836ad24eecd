"""Planning pages over real HTTP: the plan preview stores nothing and matches what generating
stores; the due-visit list filters, sorts and pages on the server; ticked visits go to a pair;
forged, stale, empty and out-of-area posts change nothing."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.planning.models import Visit
from tests.server.console.helpers import csrf_of, sign_in
from tests.server.sync.factory import add_household, add_visit, run_db
from tests.support import LiveServer


def _households(live: LiveServer, area: str, n: int, category: str = "general") -> None:
    async def work(session: AsyncSession) -> None:
        for _ in range(n):
            household = await add_household(session, live.world.area_ids[area], members=1)
            household.category = category

    run_db(live.settings.database_url, work)


def _visits(live: LiveServer, area: str, n: int, **kw: object) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        out = []
        for _ in range(n):
            visit = await add_visit(session, await add_household(session, live.world.area_ids[area], members=1), None)
            visit.due_on = utcnow().date()
            for k, v in kw.items():
                setattr(visit, k, v)
            out.append(str(visit.id))
        return out

    return run_db(live.settings.database_url, work)


def _snapshot(live: LiveServer) -> list[tuple[object, ...]]:
    async def work(session: AsyncSession) -> list[tuple[object, ...]]:
        rows = await session.execute(
            select(Visit.id, Visit.state, Visit.assigned_to, Visit.partner_id, Visit.visit_on, Visit.version).order_by(
                Visit.id
            )
        )
        return [tuple(r) for r in rows.all()]

    return run_db(live.settings.database_url, work)


def _count_visits(live: LiveServer) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(Visit)) or 0)

    return run_db(live.settings.database_url, work)


def _month() -> str:
    return f"{utcnow().date():%Y-%m}"


def test_plan_preview_stores_nothing_and_generate_stores_what_it_showed(live: LiveServer) -> None:
    _households(live, "T1-a", 3)
    _households(live, "T1-b", 2, category="three_no")
    _households(live, "T2-a", 4)  # another township: not in sup1's plan
    with sign_in(live, "sup1") as (client, _):
        token = csrf_of(client.get("/console/plan").text)
        preview = client.post("/console/plan/preview", data={"_csrf": token, "period": _month()})
        assert preview.status_code == 200
        assert re.search(r"data-preview-total>5<", preview.text)
        assert "三无人员" in preview.text
        assert _count_visits(live) == 0
        done = client.post("/console/plan", data={"_csrf": token, "period": _month()})
        assert done.status_code == 200
        assert 'data-created="5"' in done.text
        assert _count_visits(live) == 5
        again = client.post("/console/plan", data={"_csrf": token, "period": _month()})
        assert 'data-created="0"' in again.text
        assert _count_visits(live) == 5


def test_plan_refuses_a_past_or_malformed_period(live: LiveServer) -> None:
    _households(live, "T1-a", 2)
    with sign_in(live, "sup1") as (client, _):
        token = csrf_of(client.get("/console/plan").text)
        past = client.post("/console/plan", data={"_csrf": token, "period": "2020-01"})
        assert past.status_code == 422
        assert "输入未被接受" in past.text
        assert "this period has ended" in past.text
        htmx = client.post(
            "/console/plan/preview", data={"_csrf": token, "period": "next month"}, headers={"HX-Request": "true"}
        )
        assert htmx.status_code == 422
        assert "<html" not in htmx.text  # a fragment for the page
        assert client.post("/console/plan", data={"period": _month()}).status_code == 403  # no CSRF token
    assert _count_visits(live) == 0


def test_a_worker_or_an_auditor_may_not_plan(live: LiveServer) -> None:
    with sign_in(live, "auditor") as (client, _):
        assert client.get("/console/plan").status_code == 403
        assert client.get("/console/visits").status_code == 200


def test_list_filters_sorts_and_pages_on_the_server(live: LiveServer) -> None:
    _visits(live, "T1-a", 55)
    urgent = _visits(live, "T1-b", 2, reason="complaint", priority=2)
    _visits(live, "T2-a", 5)
    with sign_in(live, "sup1") as (client, _):
        first = client.get("/console/visits").text
        assert "共 57 条" in first
        assert first.count('name="visit"') == 50
        assert "第 1 页，共 2 页" in first
        second = client.get("/console/visits", params={"page": 2}).text
        assert second.count('name="visit"') == 7
        only = client.get("/console/visits", params={"urgent": "1"}).text
        assert "共 2 条" in only
        assert all(v in only for v in urgent)
        by_area = client.get("/console/visits", params={"area_id": live.world.area_ids["T1-b"]}).text
        assert "共 2 条" in by_area
        # the other township's area id shows nothing of it
        foreign = client.get("/console/visits", params={"area_id": live.world.area_ids["T2-a"]}).text
        assert "共 57 条" in foreign
        sorted_desc = client.get("/console/visits", params={"sort": "-priority"}).text
        assert sorted_desc.index(urgent[0][:8]) < sorted_desc.index('name="visit"', sorted_desc.index("<tbody>") + 600)
        bad = client.get("/console/visits", params={"due_from": "soon"}, headers={"HX-Request": "true"})
        assert bad.status_code == 422
        assert "due_from" in bad.text


def _assign_form(client: httpx.Client) -> tuple[str, list[str]]:
    page = client.get("/console/visits").text
    return csrf_of(page), re.findall(r'name="visit" value="([^"]+)"', page)


def test_ticked_visits_go_to_a_pair_and_back(live: LiveServer) -> None:
    _visits(live, "T1-a", 3)
    users = live.world.user_ids
    day = (utcnow().date() + dt.timedelta(days=1)).isoformat()
    with sign_in(live, "sup1") as (client, _):
        token, values = _assign_form(client)
        answer = client.post(
            "/console/visits/assign",
            data={
                "_csrf": token,
                "visit": values[:2],
                "lead_id": str(users["worker1"]),
                "partner_id": str(users["worker1b"]),
                "visit_on": day,
                "back": "/console/visits?assigned=no",
            },
        )
        assert answer.status_code == 303, re.findall(r"<li>.*?</li>", answer.text)
        assert answer.headers["location"] == "/console/visits?assigned=no&done=assigned:2"
        shown = client.get(answer.headers["location"]).text
        assert "已分配：2 条" in shown
        assert "共 1 条" in shown
        rows = {str(r[0]): r for r in _snapshot(live)}
        for value in values[:2]:
            visit = rows[value.split(":")[0]]
            assert visit[1:5] == ("assigned", users["worker1"], users["worker1b"], dt.date.fromisoformat(day))
        # the same form again (double click, back button): refused, nothing changes
        before = _snapshot(live)
        again = client.post(
            "/console/visits/assign",
            data={
                "_csrf": token,
                "visit": values[:2],
                "lead_id": str(users["worker1b"]),
                "partner_id": str(users["worker1"]),
            },
        )
        assert again.status_code == 409
        assert "changed since this page was shown" in again.text
        assert _snapshot(live) == before
        token, fresh = _assign_form(client)
        back = client.post("/console/visits/unassign", data={"_csrf": token, "visit": fresh[:2]})
        assert back.status_code == 303
        assert all(r[1] == "planned" and r[2] is None for r in _snapshot(live))


def test_refusals_change_nothing(live: LiveServer) -> None:
    _visits(live, "T1-a", 2)
    foreign = _visits(live, "T2-a", 1)[0]
    users = live.world.user_ids
    before = _snapshot(live)
    with sign_in(live, "sup1") as (client, _):
        token, values = _assign_form(client)
        pair = {"lead_id": str(users["worker1"]), "partner_id": str(users["worker1b"])}
        # a visit of township two forged into the form
        forged = client.post(
            "/console/visits/assign", data={"_csrf": token, "visit": [values[0], f"{foreign}:1"], **pair}
        )
        assert forged.status_code == 404
        assert "不属于您辖区" in forged.text
        # township two's worker as the partner
        other = client.post(
            "/console/visits/assign",
            data={"_csrf": token, "visit": values, "lead_id": pair["lead_id"], "partner_id": str(users["worker2"])},
        )
        assert other.status_code == 422
        # no partner: a pair is two investigators
        alone = client.post(
            "/console/visits/assign",
            data={"_csrf": token, "visit": values, "lead_id": pair["lead_id"]},
            headers={"HX-Request": "true"},
        )
        assert alone.status_code == 422
        assert "partner_id" in alone.text
        # nothing ticked
        empty = client.post("/console/visits/assign", data={"_csrf": token, **pair})
        assert empty.status_code == 422
        # a garbage id
        garbage = client.post("/console/visits/assign", data={"_csrf": token, "visit": ["x:y"], **pair})
        assert garbage.status_code == 422
        # no CSRF token
        assert client.post("/console/visits/assign", data={"visit": values, **pair}).status_code == 403
        # a visit day in the past
        past = client.post(
            "/console/visits/assign", data={"_csrf": token, "visit": values, "visit_on": "2020-01-01", **pair}
        )
        assert past.status_code == 422
    assert _snapshot(live) == before
    assert uuid.UUID(foreign)
