"""The overview's figures: counted in the caller's areas only, each linking to its list."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from tests.server.console.helpers import sign_in
from tests.server.sync.factory import add_household, add_visit, run_db
from tests.support import LiveServer


def _count(html: str, key: str) -> int:
    match = re.search(rf'data-count="{key}">\s*<span class="n">(\d+)</span>', html)
    assert match, key
    return int(match.group(1))


def test_counts_of_my_areas_only(live: LiveServer) -> None:
    today = utcnow().date()
    areas, users = live.world.area_ids, live.world.user_ids

    async def work(session: AsyncSession) -> None:
        for area, assignee, due, reason in [
            ("T1-a", None, today - dt.timedelta(days=3), "scheduled"),
            ("T1-a", users["worker1"], today, "scheduled"),
            ("T1-b", None, today, "complaint"),
            ("T2-a", None, today - dt.timedelta(days=3), "scheduled"),  # another township
        ]:
            visit = await add_visit(session, await add_household(session, areas[area]), assignee)
            visit.due_on, visit.reason = due, reason
        submitted = await add_visit(session, await add_household(session, areas["T1-a"]), users["worker1"])
        submitted.state = "submitted"

    run_db(live.settings.database_url, work)
    with sign_in(live, "sup1") as (client, _):
        page = client.get("/console/").text
    assert _count(page, "overdue") == 1
    assert _count(page, "unassigned") == 2
    assert _count(page, "assigned") == 1
    assert _count(page, "urgent") == 1
    assert _count(page, "submitted") == 1
    assert _count(page, "on_notice") == 0
    assert 'href="/console/visits?due=overdue"' in page
    with sign_in(live, "sup2") as (client, _):
        other = client.get("/console/").text
    assert _count(other, "overdue") == 1
    assert _count(other, "submitted") == 0
