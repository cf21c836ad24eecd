"""Routes per pair and day: the ordered stops on a map, reordered by dragging, optimised by the
planning code, and printed as A4 route sheets."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Response, get, post
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from schemas.planning import RouteRead
from server.auth.identity import CurrentUser
from server.auth.models import User
from server.console.queries import in_areas
from server.console.web import CONSOLE_OPT, PLANNERS, Console
from server.db.base import utcnow
from server.errors import DomainError, InvalidInput
from server.planning import services as planning
from server.planning.models import Visit
from server.registry.models import Household

__all__ = ["RouteController"]

_ON_ROUTE = ("assigned", "downloaded", "returned", "submitted", "accepted")


def _day(value: str | None, default: dt.date | None = None) -> dt.date | None:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput.field("day", "not a date (YYYY-MM-DD)") from exc


def _uuid(value: str | None, name: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput.field(name, "not an investigator of this list") from exc


async def _pairs_of_day(console: Console, user: CurrentUser, day: dt.date) -> list[dict[str, Any]]:
    """The pairs (lead, partner) with visits on ``day`` in the caller's areas."""
    lead, partner = aliased(User), aliased(User)
    rows = await console.db.execute(
        select(Visit.assigned_to, lead.display_name, partner.display_name, func.count())
        .join(lead, lead.id == Visit.assigned_to)
        .outerjoin(partner, partner.id == Visit.partner_id)
        .where(
            Visit.assigned_to.is_not(None),  # lets the planner use the (assignee, day) index
            Visit.visit_on == day,
            Visit.state.in_(_ON_ROUTE),
            in_areas(Visit.area_id, user.visible_area_ids),
        )
        .group_by(Visit.assigned_to, lead.display_name, partner.display_name)
        .order_by(lead.display_name)
    )
    pairs: dict[uuid.UUID, dict[str, Any]] = {}
    for worker_id, lead_name, partner_name, n in rows.all():
        if worker_id is None:
            continue
        entry = pairs.setdefault(worker_id, {"worker_id": worker_id, "lead": lead_name, "partners": [], "visits": 0})
        entry["visits"] += n
        if partner_name and partner_name not in entry["partners"]:
            entry["partners"].append(partner_name)
    return list(pairs.values())


async def _days_with_work(console: Console, user: CurrentUser, today: dt.date) -> list[dt.date]:
    rows = await console.db.scalars(
        select(Visit.visit_on)
        .where(
            Visit.assigned_to.is_not(None),
            Visit.visit_on >= today,
            Visit.state.in_(_ON_ROUTE),
            in_areas(Visit.area_id, user.visible_area_ids),
        )
        .group_by(Visit.visit_on)
        .order_by(Visit.visit_on)
        .limit(20)
    )
    return [d for d in rows.all() if d is not None]


async def _sheet_rows(console: Console, route: RouteRead) -> dict[uuid.UUID, dict[str, Any]]:
    """What the printed sheet adds to each stop: category, reason, last recheck, phone, partner."""
    partner = aliased(User)
    ids = [s.visit_id for s in route.stops]
    if not ids:
        return {}
    rows = await console.db.execute(
        select(
            Visit.id, Visit.reason, Household.category, Household.last_recheck_on, Household.phone, partner.display_name
        )
        .join(Household, Household.id == Visit.household_id)
        .outerjoin(partner, partner.id == Visit.partner_id)
        .where(Visit.id.in_(ids))
    )
    return {
        r[0]: {"reason": r[1], "category": r[2], "last_recheck_on": r[3], "phone": r[4], "partner": r[5]}
        for r in rows.all()
    }


def _map_data(route: RouteRead, start_label: str) -> dict[str, Any]:
    located = [s for s in sorted(route.stops, key=lambda s: s.order) if s.lat is not None and s.lon is not None]
    return {
        "start": [route.start_lat, route.start_lon] if route.start_lat is not None else None,
        "startLabel": start_label,
        "stops": [
            {"order": s.order, "lat": s.lat, "lon": s.lon, "label": f"{s.order}. {s.head_name}"} for s in located
        ],
    }


class RouteController(Controller):
    path = "/console/routes"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_routes")
    async def index(self, console: Console) -> Response[Any]:
        user = console.require(*PLANNERS)
        params = console.request.query_params
        today = utcnow().date()
        try:
            day = _day(params.get("day"))
            worker_id = _uuid(params.get("worker_id"), "worker_id")
        except DomainError as error:
            return console.render("error.html", error.status, kind="domain", error=error)
        days = await _days_with_work(console, user, today)
        day = day or (days[0] if days else today)
        pairs = await _pairs_of_day(console, user, day)
        if worker_id is None and pairs:
            worker_id = pairs[0]["worker_id"]
        return await self._panel(
            console, user, day, worker_id, full=True, days=days, pairs=pairs, done=params.get("done")
        )

    async def _panel(
        self,
        console: Console,
        user: CurrentUser,
        day: dt.date,
        worker_id: uuid.UUID | None,
        *,
        full: bool,
        status: int = 200,
        **extra: Any,
    ) -> Response[Any]:
        route = None
        if worker_id is not None:
            route, _ = await planning.day_route(console.db, user, worker_id, day)
        located = [s for s in route.stops if s.lat is not None] if route else []
        unlocated = [s for s in route.stops if s.lat is None] if route else []
        return console.render(
            "routes/index.html" if full else "routes/_panel.html",
            status=status,
            day=day,
            worker_id=worker_id,
            route=route,
            located=sorted(located, key=lambda s: s.order),
            unlocated=unlocated,
            map_data=_map_data(route, console._("Start")) if route else None,
            saved=bool(extra.get("done")),
            **extra,
        )

    async def _change(self, console: Console, optimise: bool) -> Response[Any]:
        user = console.require(*PLANNERS)
        try:
            day = _day(console.form.get("day"))
            worker_id = _uuid(console.form.get("worker_id"), "worker_id")
            if day is None or worker_id is None:
                raise InvalidInput.field("day", "choose a pair and a day")
            if optimise:
                before, _ = await planning.day_route(console.db, user, worker_id, day)
                route, _ = await planning.optimize_route(console.db, user, console.actor, worker_id, day)
                extra: dict[str, Any] = {"before_m": before.total_m, "after": route}
            else:
                order = [uuid.UUID(v) for v in console.values("visit")]
                await planning.reorder_route(console.db, user, console.actor, worker_id, day, order)
                extra = {"reordered": True}
        except (DomainError, ValueError) as error:
            await console.db.rollback()
            problem = error if isinstance(error, DomainError) else InvalidInput.field("visit", "not a visit id")
            if day is None or worker_id is None:
                return console.render("error.html", problem.status, kind="domain", error=problem)
            return await self._panel(
                console, user, day, worker_id, full=not console.htmx, status=problem.status, problem=problem
            )
        if not console.htmx:
            return console.redirect(f"/console/routes?day={day.isoformat()}&worker_id={worker_id}&done=1")
        return await self._panel(console, user, day, worker_id, full=False, **extra)

    @post("/order", name="console_route_order", status_code=200)
    async def order(self, console: Console) -> Response[Any]:
        """Store a hand-made order (every stop of the day, each once)."""
        return await self._change(console, optimise=False)

    @post("/optimize", name="console_route_optimize", status_code=200)
    async def optimize(self, console: Console) -> Response[Any]:
        """Order the day's stops with the planning code (nearest neighbour, then 2-opt)."""
        return await self._change(console, optimise=True)

    @get("/sheet", name="console_route_sheet")
    async def sheet(self, console: Console) -> Response[Any]:
        """A4 route sheets of a day: one pair, or every pair of the day."""
        user = console.require(*PLANNERS)
        params = console.request.query_params
        try:
            day = _day(params.get("day"), utcnow().date())
            worker_id = _uuid(params.get("worker_id"), "worker_id")
        except DomainError as error:
            return console.render("error.html", error.status, kind="domain", error=error)
        assert day is not None
        pairs = await _pairs_of_day(console, user, day)
        chosen = [p for p in pairs if worker_id is None or p["worker_id"] == worker_id]
        if worker_id is not None and not chosen:
            await planning.day_route(console.db, user, worker_id, day)  # 404 outside the caller's areas
        sheets = []
        for pair in chosen:
            route, _ = await planning.day_route(console.db, user, pair["worker_id"], day)
            sheets.append({"pair": pair, "route": route, "extra": await _sheet_rows(console, route)})
        return console.render("routes/sheet.html", day=day, sheets=sheets, saved=False)
