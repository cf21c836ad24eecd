"""From sign-in to printed route sheets in Chromium, on SQLite and PostgreSQL: the suggested
split for ten pairs shown on the map and accepted, one stop dragged to a new place, the day's
route sheets printed (the print view's text checked), in a handful of clicks."""

from __future__ import annotations

import datetime as dt
import random
import re

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.bootstrap import add_user
from server.db.base import utcnow
from server.planning.models import Visit
from tests.server.console.helpers import browser_sign_in, screenshot
from tests.server.sync.factory import add_household, add_visit, run_db
from tests.support import PASSWORD, LiveServer, off_loop


def _county(live: LiveServer, workers: int, visits: int) -> None:
    """``workers`` more field workers and ``visits`` planned visits in community T1-a; two
    households have no GPS point."""
    area = live.world.area_ids["T1-a"]
    rng = random.Random(5)

    async def work(session: AsyncSession) -> None:
        for n in range(workers):
            add_user(session, f"w{n:02d}", "worker", PASSWORD, [area], f"调查员{n:02d}")
        for n in range(visits):
            household = await add_household(session, area, members=1)
            if n >= 2:
                household.lat = 26.46 + rng.uniform(-0.03, 0.03)
                household.lon = 106.66 + rng.uniform(-0.03, 0.03)
            household.phone = f"1380000{n:04d}"
            visit = await add_visit(session, household, None)
            visit.due_on = utcnow().date()

    off_loop(lambda: run_db(live.settings.database_url, work))


def _order(live: LiveServer, day: dt.date) -> dict[str, int | None]:
    async def work(session: AsyncSession) -> dict[str, int | None]:
        rows = await session.execute(select(Visit.id, Visit.route_order).where(Visit.visit_on == day))
        return {str(v): o for v, o in rows.all()}

    return off_loop(lambda: run_db(live.settings.database_url, work))


def test_split_for_ten_pairs_drag_a_stop_and_print(live: LiveServer, page: Page) -> None:
    _county(live, workers=18, visits=120)  # with worker1 and worker1b: 20 workers, 10 pairs
    shots = "sqlite" in live.settings.database_url
    page.set_viewport_size({"width": 1366, "height": 768})
    clicks = 0

    browser_sign_in(page, live, "sup1")
    clicks += 1
    page.get_by_role("link", name="分配", exact=True).click()
    clicks += 1
    expect(page.locator("table.pairs tbody tr")).to_have_count(10)
    page.get_by_role("button", name="建议分配方案").click()
    clicks += 1
    expect(page.get_by_role("heading", name="建议方案：共 120 条走访")).to_be_visible()
    expect(page.locator("#split-map")).to_have_attribute("data-ready", "118")  # two without GPS
    expect(page.locator("#suggestion tr[data-pair]")).to_have_count(10)
    if shots:
        page.locator("#suggestion").scroll_into_view_if_needed()
        screenshot(page, "split")
    page.get_by_role("button", name="接受此方案").click()
    clicks += 1
    expect(page.get_by_role("status")).to_contain_text("已分配 120 条走访")
    expect(page.locator("nav.pairs a")).to_have_count(10)
    expect(page.locator("#route-map")).to_have_attribute("data-ready", re.compile(r"^[1-9][0-9]*$"))
    day = dt.date.fromisoformat(page.locator("input[name=day]").first.input_value())
    if shots:
        screenshot(page, "route")

    # drag the third stop onto the first: the new order is stored at once
    stops = page.locator("#stops li")
    third = stops.nth(2).get_attribute("data-visit")
    assert third
    stops.nth(2).drag_to(stops.nth(0))
    expect(page.locator("#route-panel [role=status]")).to_contain_text("新顺序已保存")
    expect(page.locator("#stops li").first).to_have_attribute("data-visit", third)
    assert _order(live, day)[third] == 1

    # the day's sheets for every pair, as printed
    href = page.locator("#print-all").get_attribute("href")
    assert href
    page.goto(live.base_url + href)
    clicks += 1
    page.emulate_media(media="print")
    expect(page.locator("section.sheet")).to_have_count(10)
    expect(page.locator("header.top")).to_be_hidden()
    printed = page.locator("main").inner_text()
    assert printed.count("走访路线单") == 10
    assert "协同调查员" in printed
    assert "1380000" in printed  # phones
    assert "打印" not in printed  # the print button is not on paper
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    clicks += 1  # the print button
    if shots:
        page.emulate_media(media="screen")
        screenshot(page, "route-sheet")
    assert clicks <= 8
