"""Reports per period and area as JSON, XLSX and a printable HTML page (both engines)."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook

from server.db.base import utcnow
from tests.server.decisions.helpers import (
    accepted_visit,
    approve,
    create_household,
    first_of_next_month,
    generate,
    ok,
    proposal_of,
    to_notice,
)
from tests.server.planning.helpers import add_household, plan, set_visit_state, visits
from tests.support import LiveServer


def test_report_counts_households_decisions_money_and_rechecks(live: LiveServer) -> None:
    adjusted = create_household(live, incomes=[("business", 60000), ("support", 30000)], benefit_amount=70000)
    kept = create_household(live, members=1, category="three_no", benefit_amount=56000)
    other = create_household(live, "T2-a", members=2, benefit_amount=30000, user="sup2")
    for h in (adjusted, kept):
        accepted_visit(live, h)
    generate(live)
    pids = [proposal_of(live, h)["id"] for h in (adjusted, kept)]
    to_notice(live, pids)
    approve(live, pids)
    month = first_of_next_month().strftime("%Y-%m")
    this_month = utcnow().strftime("%Y-%m")
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/build"))
        report = ok(c.get("/reports/summary", params={"period": this_month}))
        next_report = ok(c.get("/reports/summary", params={"period": month}))
        xlsx = c.get("/reports/summary/export", params={"period": this_month, "format": "xlsx"})
        page = c.get("/reports/summary/export", params={"period": this_month, "format": "html"})
        bad = c.get("/reports/summary", params={"period": "2026Q5"})
    totals = report["totals"]
    assert totals["households"] == 3
    assert totals["people"] == 3 + 1 + 2
    assert totals["adjust"] == 1
    assert totals["keep"] == 1
    assert totals["rechecks_planned"] == 2
    assert totals["rechecks_done"] == 2
    by_area = {r["area_code"]: r for r in report["rows"]}
    assert by_area["T1-b"]["households"] == 2
    assert by_area["T2-a"]["households"] == 1
    assert next_report["totals"]["rostered"] == 78000 + 56000 + other["benefit_amount"]
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    last = [cell.value for cell in sheet[sheet.max_row]]
    assert last[0] == "TOTAL"
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count("<svg") == 4
    assert "<script" not in page.text
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "period"
    with live.as_user("sup2") as c:
        mine = ok(c.get("/reports/summary", params={"period": this_month}))
    assert {r["area_code"] for r in mine["rows"]} == {"T2-a"}
    with live.as_user("worker1") as c:
        assert c.get("/reports/summary", params={"period": this_month}).status_code == 403


def test_plan_versus_done_counts_a_plans_visits_in_the_plans_period(live: LiveServer) -> None:
    # overdue: due 2026-09-30, yet a visit of the 2027Q1 plan
    overdue = add_household(live, "T1-b", category="extreme_hardship", last_recheck_on=dt.date(2026, 3, 31))
    add_household(live, "T1-b", category="general", approved_on=dt.date(2026, 11, 30))  # due 2027-02-28
    assert plan(live, "sup1", "2027Q1").json()["created"] == 2
    planned = {v["household_id"]: v for v in visits(live, "sup1")}
    assert planned[overdue["id"]]["due_on"] == "2026-09-30"
    set_visit_state(live, planned[overdue["id"]]["id"], "accepted")

    def rechecks(period: str) -> tuple[int, int]:
        with live.as_user("approver") as c:
            totals = ok(c.get("/reports/summary", params={"period": period}))["totals"]
        return totals["rechecks_planned"], totals["rechecks_done"]

    assert rechecks("2027Q1") == (2, 1)
    assert rechecks("2027H1") == (2, 1)
    assert rechecks("2027") == (2, 1)
    assert rechecks("2026Q3") == (0, 0)  # the overdue visit's due date is not its plan
    assert rechecks("2027-02") == (0, 0)  # a quarter's plan is not counted in each of its months
