"""Signing in to the console in Chromium, on SQLite and PostgreSQL: the login page in Chinese,
the overview after it, English by the switch, sign-out back to the login page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.server.console.helpers import browser_sign_in, screenshot
from tests.support import LiveServer


def test_a_supervisor_signs_in_and_out(live: LiveServer, page: Page) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live.base_url + "/")
    expect(page).to_have_url(f"{live.base_url}/console/login?next=/console")
    expect(page.get_by_role("heading", name="登录复核管理台")).to_be_visible()
    if "sqlite" in live.settings.database_url:
        screenshot(page, "login")
    browser_sign_in(page, live, "sup1", "wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    page.get_by_label("密码").fill("correct-horse-battery")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="总览")).to_be_visible()
    expect(page.locator("header")).to_contain_text("sup1")
    if "sqlite" in live.settings.database_url:
        screenshot(page, "overview")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="登录复核管理台")).to_be_visible()
    page.goto(live.base_url + "/console/")
    expect(page.get_by_role("heading", name="登录复核管理台")).to_be_visible()


def test_a_worker_signing_in_lands_in_the_field_app(live: LiveServer, page: Page) -> None:
    browser_sign_in(page, live, "worker1")
    page.wait_for_url(f"{live.base_url}/field/")
