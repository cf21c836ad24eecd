"""The browser harness itself: Debian's Chromium, driven by Playwright, reaches the live app.

Console and field-app tests build on these fixtures; this one fails first if the harness breaks
(no Chromium under CI, a flag that stops pages loading, a missing CJK font in screenshots).
"""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support import LiveServer

SPANS = '<span id="zh" style="font-size:20px">低保复核</span> <span id="en" style="font-size:20px">abcd</span>'


def test_chromium_renders_a_page_of_the_live_app(live: LiveServer, page: Page) -> None:
    page.goto(f"{live.base_url}/health")
    assert '"status"' in page.content()
    # Chinese text lays out with a CJK font: each glyph is wider than a Latin letter's box.
    page.set_content(SPANS)
    zh = page.locator("#zh").bounding_box()
    en = page.locator("#en").bounding_box()
    assert zh is not None
    assert en is not None
    assert zh["width"] > en["width"] * 1.5
