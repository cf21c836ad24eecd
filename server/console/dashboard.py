"""The overview page: the caller's figures, each a link to the list it counts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from server.console import queries
from server.console.web import CONSOLE_OPT, Console
from server.db.base import utcnow

__all__ = ["DashboardController"]


class DashboardController(Controller):
    path = "/console"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_dashboard")
    async def index(self, console: Console) -> Response[Any]:
        user = console.require()
        today = utcnow().date()
        counts = queries.counts(console.db, user, today)
        _ = console._
        tiles = [
            ("due_month", _("Due this month"), "/console/visits?due=month"),
            ("overdue", _("Overdue"), "/console/visits?due=overdue"),
            ("urgent", _("Urgent (complaints)"), "/console/visits?urgent=1"),
            ("unassigned", _("Not assigned"), "/console/visits?assigned=no"),
            ("assigned", _("Assigned"), "/console/visits?assigned=yes"),
            ("submitted", _("Submitted, awaiting review"), "/console/visits?state=submitted"),
            ("on_notice", _("On public notice"), "/console/visits?state=any&proposal=on_notice"),
            ("awaiting_approval", _("Awaiting approval"), "/console/visits?state=any&proposal=awaiting_approval"),
        ]
        return console.render(
            "dashboard/index.html",
            counts=(await counts).__dict__,
            tiles=tiles,
            today=today,
            areas=await queries.area_choices(console.db, user),
        )
