"""Planning in Chromium, on SQLite and PostgreSQL: preview and generate a plan, tick visits and
give them to a pair; a session that runs out while a form is being filled keeps the form."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from tests.server.console.helpers import browser_sign_in, screenshot
from tests.server.sync.factory import add_household, run_db
from tests.support import LiveServer, off_loop


def _households(live: LiveServer, n: int) -> None:
    async def work(session: AsyncSession) -> None:
        for i in range(n):
            area = live.world.area_ids["T1-a"]
            household = await add_household(session, area, members=1)
            household.category = "three_no" if i % 5 == 0 else "general"

    off_loop(lambda: run_db(live.settings.database_url, work))


def test_plan_then_assign_ticked_visits_to_a_pair(live: LiveServer, page: Page) -> None:
    _households(live, 12)
    shots = "sqlite" in live.settings.database_url
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_sign_in(page, live, "sup1")
    page.get_by_role("link", name="计划").click()
    page.get_by_label("期间").fill(f"{utcnow().date():%Y-%m}")
    page.get_by_role("button", name="预览").click()
    expect(page.locator("[data-preview-total]")).to_have_text("12")
    if shots:
        screenshot(page, "plan-preview")
    page.get_by_role("button", name="生成计划").click()
    expect(page.get_by_role("status")).to_contain_text("新增走访 12 户")
    page.get_by_role("link", name="去分配").click()
    expect(page.locator("#visits tbody tr")).to_have_count(12)
    boxes = page.locator("input[name=visit]")
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_label("主调查员").select_option(label="Worker1 (worker1)")
    page.get_by_label("协同调查员").select_option(label="Worker1B (worker1b)")
    if shots:
        screenshot(page, "visits")
    page.get_by_role("button", name="分配给该组").click()
    expect(page.get_by_role("status")).to_contain_text("已分配：3 条")
    expect(page.locator("#visits tbody tr")).to_have_count(9)  # the list stays on "not assigned"
    page.get_by_label("已分配").first.select_option("yes")
    expect(page.locator("#visits tbody tr")).to_have_count(3)
    expect(page.locator("#visits tbody")).to_contain_text("Worker1 + Worker1B")


def test_session_expiry_keeps_the_form(idle_live: LiveServer, page: Page) -> None:
    live = idle_live
    _households(live, 2)
    browser_sign_in(page, live, "sup1")
    page.goto(f"{live.base_url}/console/plan")
    period = f"{utcnow().date():%Y-%m}"
    page.get_by_label("期间").fill(period)
    page.wait_for_timeout(3500)  # longer than the idle timeout
    page.get_by_role("button", name="生成计划").click()
    expect(page.get_by_role("status")).to_contain_text("会话已结束")
    page.get_by_label("用户名").fill("sup1")
    page.get_by_label("密码").fill("correct-horse-battery")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live.base_url}/console/plan")
    expect(page.get_by_label("期间")).to_have_value(period)
    page.get_by_role("button", name="生成计划").click()
    expect(page.get_by_role("status")).to_contain_text("新增走访 2 户")
