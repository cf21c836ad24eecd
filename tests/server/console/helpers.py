"""Signing in to the console over real HTTP, as a browser does (cookie, CSRF token from the page)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import Page

from tests.support import PASSWORD, LiveServer

__all__ = ["SHOTS", "browser_sign_in", "csrf_of", "screenshot", "sign_in"]

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@contextlib.contextmanager
def sign_in(live: LiveServer, username: str, password: str = PASSWORD) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A client signed in to the console as ``username`` (redirects not followed) and the answer."""
    with live.client(follow_redirects=False) as client:
        page = client.get("/console/login")
        answer = client.post(
            "/console/login", data={"username": username, "password": password, "_csrf": csrf_of(page.text)}
        )
        yield client, answer


#: Where the console's screenshots go (linked from the README).
SHOTS = Path(__file__).resolve().parents[3] / "docs" / "console"
#: The office PC and a tablet held upright.
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "tablet": {"width": 800, "height": 1280}}


def screenshot(page: Page, name: str) -> None:
    """Save ``docs/console/<name>-desktop.png`` and ``-tablet.png`` of the page as it is now."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=False)
    if before:
        page.set_viewport_size(before)


def browser_sign_in(page: Page, live: LiveServer, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form in the browser."""
    page.goto(f"{live.base_url}/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
