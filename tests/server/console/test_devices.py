"""Workers and their tablets: a supervisor sees their own workers' tablets only and revokes a
lost one after confirming; the tablet's next sync is then refused."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.server.console.helpers import browser_sign_in, csrf_of, screenshot, sign_in
from tests.support import LiveServer


def test_revoke_a_lost_tablet(live: LiveServer) -> None:
    mine, _ = live.register_device("worker1", "平板-甲")
    theirs, _ = live.register_device("worker2", "平板-乙")
    with sign_in(live, "sup1") as (client, _):
        page = client.get("/console/workers").text
        assert "平板-甲" in page
        assert "平板-乙" not in page
        assert 'data-worker="worker2"' not in page
        token = csrf_of(page)
        unconfirmed = client.post(f"/console/workers/devices/{mine}/revoke", data={"_csrf": token})
        assert unconfirmed.status_code == 422
        other = client.post(f"/console/workers/devices/{theirs}/revoke", data={"_csrf": token, "confirm": "yes"})
        assert other.status_code == 404
        garbage = client.post("/console/workers/devices/nope/revoke", data={"_csrf": token, "confirm": "yes"})
        assert garbage.status_code == 422
        assert client.post(f"/console/workers/devices/{mine}/revoke", data={"confirm": "yes"}).status_code == 403
        with live.as_user("sup1") as api:
            assert all(d.get("revoked_at") is None for d in api.get("/devices/").json())
        done = client.post(f"/console/workers/devices/{mine}/revoke", data={"_csrf": token, "confirm": "yes"})
        assert done.status_code == 303
        assert re.search(r"已于 .+ 吊销", client.get("/console/workers").text)
    with live.as_user("sup1") as api:
        revoked = {d["id"]: d.get("revoked_at") for d in api.get("/devices/").json()}
    assert revoked[mine] is not None
    with live.as_user("sup2") as api:
        assert all(d.get("revoked_at") is None for d in api.get("/devices/").json() if d["id"] == theirs)


def test_the_workers_page_in_chromium(live: LiveServer, page: Page) -> None:
    live.register_device("worker1", "平板-甲")
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_sign_in(page, live, "sup1")
    page.get_by_role("link", name="人员与设备").click()
    expect(page.locator("#workers")).to_contain_text("平板-甲")
    if "sqlite" in live.settings.database_url:
        screenshot(page, "workers")
    page.get_by_label("确认已丢失").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="吊销").click()
    expect(page.get_by_role("status")).to_contain_text("该平板已吊销")
