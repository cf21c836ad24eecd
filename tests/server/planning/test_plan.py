"""Plan generation through the API and the command line: schedules, idempotence, rescheduling,
drop-outs, bad periods, scope, overdue and upcoming lists per area and per worker."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from server import cli
from server.auth.identity import Actor
from server.db.session import make_engine, make_session_factory
from server.planning.commands import plan_by_codes
from server.planning.schedule import add_months
from server.planning.services import generate_plan
from tests.server.planning.helpers import add_household, assign, audit, plan, update_household, visits
from tests.server.sync.test_e2e import device
from tests.support import LiveServer

Q1 = "2027Q1"


def test_plan_follows_category_intervals_and_runs_once(live: LiveServer) -> None:
    general = add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 11, 30))
    three_no = add_household(live, "T1-a", category="three_no", approved_on=dt.date(2026, 6, 1))
    hardship = add_household(live, "T1-b", category="extreme_hardship", last_recheck_on=dt.date(2026, 3, 31))
    undated = add_household(live, "T1-b", category="general")
    elsewhere = add_household(live, "T2-a", category="general", approved_on=dt.date(2026, 12, 1))

    first = plan(live, "sup1", Q1)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["period"], body["starts_on"], body["ends_on"]) == (Q1, "2027-01-01", "2027-03-31")
    assert body["created"] == 3

    planned = {v["household_id"]: v for v in visits(live, "sup1")}
    assert set(planned) == {general["id"], hardship["id"], undated["id"]}
    # 2026-11-30 + 3 months clamps to the end of February
    assert planned[general["id"]]["due_on"] == "2027-02-28"
    assert planned[hardship["id"]]["due_on"] == "2026-09-30"  # overdue: included, high priority
    assert planned[hardship["id"]]["priority"] == 1
    assert planned[undated["id"]]["due_on"] == "2027-01-01"
    assert all(v["state"] == "planned" and v["reason"] == "scheduled" and v["period"] == Q1 for v in planned.values())
    assert three_no["id"] not in planned
    assert elsewhere["id"] not in planned

    again = plan(live, "sup1", Q1).json()
    assert (again["created"], again["rescheduled"], again["cancelled"]) == (0, 0, 0)
    assert len(visits(live, "sup1")) == 3
    # the other township's supervisor plans only theirs
    assert plan(live, "sup2", "2027q1").json()["created"] == 1


def test_category_change_reschedules_and_cancelled_households_drop_out(live: LiveServer) -> None:
    moving = add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 12, 15))
    later = add_household(live, "T1-a", category="three_no", approved_on=dt.date(2026, 2, 10))
    leaving = add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 12, 20))
    assert plan(live, "sup1", Q1).json()["created"] == 3

    update_household(live, moving["id"], category="three_no")  # now due 2027-12-15: out of Q1
    update_household(live, later["id"], category="general")  # was due 2027-02-10, now 2026-05-10: overdue
    update_household(live, leaving["id"], status="cancelled")
    result = plan(live, "sup1", Q1).json()
    assert (result["created"], result["rescheduled"], result["cancelled"]) == (0, 1, 2)

    by_household = {v["household_id"]: v for v in visits(live, "sup1")}
    assert by_household[moving["id"]]["state"] == "cancelled"
    assert by_household[leaving["id"]]["state"] == "cancelled"
    assert by_household[later["id"]]["due_on"] == add_months(dt.date(2026, 2, 10), 3).isoformat()
    reasons = [e["changes"].get("reason", "") for e in audit(live, by_household[leaving["id"]]["id"])]
    assert "household cancelled" in reasons
    assert plan(live, "sup1", Q1).json()["created"] == 0


def test_a_re_plan_reaches_the_tablet_holding_the_visits(live: LiveServer, tmp_path: Path) -> None:
    """Plan rows are inserted in bulk, outside the ORM, and reach a tablet once assigned; a
    re-plan moves or cancels them through the ORM, so the sync feed carries that too."""
    moving = add_household(live, "T1-a", category="three_no", approved_on=dt.date(2026, 2, 10))
    leaving = add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 12, 20))
    assert plan(live, "sup1", Q1).json()["created"] == 2
    planned = {v["household_id"]: v["id"] for v in visits(live, "sup1")}
    worker = str(live.world.user_ids["worker1"])
    assigned = assign(live, "sup1", [{"visit_id": v, "worker_id": worker} for v in planned.values()])
    assert assigned.status_code == 200, assigned.text
    tablet = device(live, tmp_path, "worker1")
    tablet.pull()
    held = tablet.visit(planned[moving["id"]])
    assert held is not None
    assert held.due_on == dt.date(2027, 2, 10)

    update_household(live, moving["id"], category="general")  # now due 2026-05-10: overdue
    update_household(live, leaving["id"], status="cancelled")
    result = plan(live, "sup1", Q1).json()
    assert (result["created"], result["rescheduled"], result["cancelled"]) == (0, 1, 1)
    tablet.pull()
    held = tablet.visit(planned[moving["id"]])
    assert held is not None
    assert (held.due_on, held.priority) == (dt.date(2026, 5, 10), 1)
    assert tablet.visit(planned[leaving["id"]]) is None


@pytest.mark.parametrize("period", ["2027Q5", "27Q1", "2027-13", "next quarter", "2027H3"])
def test_a_period_that_is_not_a_period_is_422_naming_it(live: LiveServer, period: str) -> None:
    response = plan(live, "sup1", period)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.period"
    assert response.json()["code"] == "invalid_period"


def test_plan_scope_and_roles(live: LiveServer) -> None:
    other = plan(live, "sup1", Q1, ["T2"])
    assert other.status_code == 403
    assert other.json()["errors"][0]["path"] == "$.area_ids[0]"
    with live.as_user("sup1") as c:
        missing = c.post("/plans/", json={"period": Q1, "area_ids": [99999]})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["path"] == "$.area_ids[0]"
    for user in ("worker1", "approver", "auditor"):
        assert plan(live, user, Q1).status_code == 403
    assert plan(live, "admin", Q1, ["T2-a"]).status_code == 200


def test_overdue_and_upcoming_per_area_and_per_worker(live: LiveServer) -> None:
    today = dt.date.today()
    overdue = add_household(live, "T1-a", category="general", last_recheck_on=add_months(today, -4))
    soon = add_household(live, "T1-b", category="general", last_recheck_on=add_months(today, -3) + dt.timedelta(days=5))
    period = (
        f"{today.year}-{today.month:02d}" if (today + dt.timedelta(days=5)).month == today.month else f"{today.year}"
    )
    assert plan(live, "sup1", period).status_code == 200
    rows = {v["household_id"]: v for v in visits(live, "sup1")}
    assert rows[overdue["id"]]["overdue"] is True
    assert rows[soon["id"]]["overdue"] is False
    assert [v["household_id"] for v in visits(live, "sup1", due="overdue")] == [overdue["id"]]
    assert [v["household_id"] for v in visits(live, "sup1", due="upcoming", upcoming_days=10)] == [soon["id"]]

    visit_id = rows[overdue["id"]]["id"]
    assert (
        assign(live, "sup1", [{"visit_id": visit_id, "worker_id": str(live.world.user_ids["worker1"])}]).status_code
        == 200
    )
    with live.as_user("sup1") as c:
        report = c.get("/plans/due", params={"upcoming_days": 10}).json()
    areas = {a["area_code"]: a for a in report["areas"]}
    assert (areas["T1-a"]["overdue"], areas["T1-b"]["upcoming"]) == (1, 1)
    workers = {w["username"]: w for w in report["workers"]}
    assert workers["worker1"]["overdue"] == 1
    assert report["unassigned"]["upcoming"] == 1
    with live.as_user("worker1") as c:
        own = c.get("/plans/due").json()
    assert [w["username"] for w in own["workers"]] == ["worker1"]
    assert [v["id"] for v in visits(live, "worker1")] == [visit_id]
    assert visits(live, "worker2") == []
    with live.as_user("sup2") as c:
        assert c.get("/plans/due").json()["areas"] == []
        assert c.get(f"/visits/{visit_id}").status_code == 404


def test_command_line_plans_by_area_code(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 12, 1))
    add_household(live, "T2-a", category="general", approved_on=dt.date(2026, 12, 1))
    summary = asyncio.run(plan_by_codes(live.settings, Q1, ["T1"]))
    assert "1 visits created" in summary
    monkeypatch.setattr(cli, "get_settings", lambda: live.settings)
    assert cli.main(["plan", "--period", Q1]) == 0
    assert "1 visits created" in capsys.readouterr().out
    assert cli.main(["plan", "--period", Q1]) == 0
    assert "0 visits created" in capsys.readouterr().out
    assert cli.main(["plan", "--period", "2027Q9"]) == 1
    assert "quarter" in capsys.readouterr().err
    assert cli.main(["plan", "--period", Q1, "--area", "NOPE"]) == 1
    assert "NOPE" in capsys.readouterr().err


def test_racing_runs_create_each_visit_once(live: LiveServer) -> None:
    """Two county runs at the same moment: the second waits for the first (PostgreSQL's advisory
    lock) and then creates nothing, where without the lock its insert would have hit the unique
    index (no ON CONFLICT on PostgreSQL)."""
    if not live.settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; the lock is PostgreSQL's")
    for day in range(1, 6):
        add_household(live, "T1-a", category="general", approved_on=dt.date(2026, 12, day))

    async def race() -> list[int]:
        engine = make_engine(live.settings.database_url)
        factory = make_session_factory(engine)

        async def run() -> int:
            async with factory() as session, session.begin():
                return (await generate_plan(session, Actor.system("test"), Q1)).created

        try:
            return sorted(await asyncio.gather(run(), run()))
        finally:
            await engine.dispose()

    assert asyncio.run(race()) == [0, 5]
    assert len(visits(live, "admin")) == 5
