"""The suggested split: open visits shared among pairs of investigators and working days by the
planning service's balanced split, shown on a map coloured by pair, stored only when accepted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Response, get, post
from sqlalchemy import select

from schemas.planning import AssignItem, SuggestRequest
from server.auth.identity import CurrentUser
from server.console import queries
from server.console.visits import workers_of
from server.console.web import CONSOLE_OPT, PLANNERS, Console
from server.db.base import utcnow
from server.errors import Conflict, DomainError, FieldError, InvalidInput
from server.planning import services as planning
from server.planning.complaints import add_working_days
from server.planning.models import Visit
from server.registry.models import Household

__all__ = ["PAIR_COLOURS", "AssignController", "working_day"]

#: One colour per pair on the map and in the table (repeats after twelve pairs).
PAIR_COLOURS = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939",
]  # fmt: skip
_MAX_PAIRS = 50


def working_day(start: dt.date, n: int) -> dt.date:
    """The ``n``-th working day (0-based) from ``start``: weekends are skipped, by the planning
    code's own working-day rule."""
    first = start
    while first.weekday() >= 5:
        first += dt.timedelta(days=1)
    return add_working_days(first, n)


def _pairs(console: Console, problems: list[FieldError]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
    seen: set[uuid.UUID] = set()
    for n in range(_MAX_PAIRS):
        lead, partner = console.form.get(f"lead_{n}", ""), console.form.get(f"partner_{n}", "")
        if not lead and not partner:
            continue
        try:
            pair = (uuid.UUID(lead), uuid.UUID(partner))
        except ValueError:
            problems.append(FieldError(path=f"pair[{n}]", reason="a pair needs a lead investigator and a partner"))
            continue
        if pair[0] == pair[1] or seen & set(pair):
            problems.append(FieldError(path=f"pair[{n}]", reason="each investigator belongs to one pair"))
        seen |= set(pair)
        pairs.append(pair)
    if not pairs and not problems:
        problems.append(FieldError(path="pair[0]", reason="choose at least one pair"))
    return pairs


def _number(console: Console, name: str, default: int, low: int, high: int, problems: list[FieldError]) -> int:
    raw = console.form.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not low <= value <= high:
        problems.append(FieldError(path=name, reason=f"a whole number from {low} to {high}"))
        return default
    return value


class AssignController(Controller):
    path = "/console/assign"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_assign")
    async def index(self, console: Console) -> Response[Any]:
        user = console.require(*PLANNERS)
        return await self._page(console, user)

    async def _page(self, console: Console, user: CurrentUser, status: int = 200, **extra: Any) -> Response[Any]:
        workers = await workers_of(console, user)
        today = utcnow().date()
        defaults = [(workers[i].id, workers[i + 1].id) for i in range(0, len(workers) - 1, 2)]
        context: dict[str, Any] = {"suggestion": None, "problem": None, "saved": False} | extra
        return console.render(
            "assign/index.html",
            status=status,
            workers=workers,
            defaults=defaults,
            rows=max(len(defaults), 1),
            colours=PAIR_COLOURS,
            areas=await queries.area_choices(console.db, user),
            start_on=working_day(today + dt.timedelta(days=1), 0),
            form=console.form,
            **context,
        )

    @post("/suggest", name="console_assign_suggest", status_code=200)
    async def suggest(self, console: Console) -> Response[Any]:
        """Propose a split (nothing is stored): the planning service's balanced split among the
        pairs' leads, each visit then given the lead's partner, days moved onto working days."""
        user = console.require(*PLANNERS)
        try:
            suggestion = await _suggest(console, user)
        except DomainError as error:
            await console.db.rollback()
            return await self._page(console, user, status=error.status, problem=error)
        return await self._page(console, user, suggestion=suggestion)

    @post("/accept", name="console_assign_accept", status_code=200)
    async def accept(self, console: Console) -> Response[Any]:
        """Store the shown split, all or nothing; refused whole if any visit changed since."""
        user = console.require(*PLANNERS)
        try:
            items = await _accepted_items(console, user)
            result = await planning.assign(console.db, user, console.actor, items)
        except DomainError as error:
            await console.db.rollback()
            return await self._page(console, user, status=error.status, problem=error)
        days = sorted({i.visit_on for i in items if i.visit_on})
        first = days[0].isoformat() if days else ""
        return console.redirect(f"/console/routes?day={first}&done=assigned:{result.changed}")


async def _suggest(console: Console, user: CurrentUser) -> dict[str, Any]:
    problems: list[FieldError] = []
    pairs = _pairs(console, problems)
    days = _number(console, "days", 5, 1, 60, problems)
    capacity = _number(console, "capacity", 8, 1, 100, problems)
    try:
        start = dt.date.fromisoformat(console.form.get("start_on", ""))
        if start < utcnow().date():
            problems.append(FieldError(path="start_on", reason="a day that has passed"))
    except ValueError:
        problems.append(FieldError(path="start_on", reason="not a date (YYYY-MM-DD)"))
        start = utcnow().date()
    area = console.form.get("area_id") or ""
    area_ids = [int(area)] if area.isdigit() else None
    if problems:
        raise InvalidInput("the split needs pairs, a first day, days and a daily load", problems)
    result = await planning.suggest(
        console.db,
        user,
        SuggestRequest(
            worker_ids=[lead for lead, _ in pairs],
            start_on=start,
            days=days,
            capacity_per_day=capacity,
            area_ids=area_ids,
        ),
    )
    partner_of = dict(pairs)
    index = {lead: n for n, (lead, _) in enumerate(pairs)}
    items = [
        AssignItem(
            visit_id=i.visit_id,
            worker_id=i.worker_id,
            partner_id=partner_of[i.worker_id],
            visit_on=working_day(start, (i.visit_on - start).days) if i.visit_on else None,
        )
        for i in result.items
    ]
    ids = [i.visit_id for i in items]
    rows = {}
    if ids:
        query = (
            select(Visit.id, Visit.version, Household.lat, Household.lon, Household.head_name)
            .join(Household, Household.id == Visit.household_id)
            .where(Visit.id.in_(ids))
        )
        rows = {r[0]: r for r in (await console.db.execute(query)).all()}
    names = {w.id: w.display_name for w in await workers_of(console, user)}
    loads: dict[int, dict[dt.date, int]] = {}
    for item in items:
        day = item.visit_on or start
        loads.setdefault(index[item.worker_id], {}).setdefault(day, 0)
        loads[index[item.worker_id]][day] += 1
    all_days = sorted({d for load in loads.values() for d in load})
    points = [
        [rows[i.visit_id][2], rows[i.visit_id][3], index[i.worker_id], rows[i.visit_id][4]]
        for i in items
        if rows[i.visit_id][2] is not None and rows[i.visit_id][3] is not None
    ]
    return {
        "items": [
            ":".join([str(i.visit_id), str(rows[i.visit_id][1]), str(i.worker_id), str(i.partner_id), _iso(i.visit_on)])
            for i in items
        ],
        "pairs": [(names.get(lead, "?"), names.get(partner, "?")) for lead, partner in pairs],
        "loads": loads,
        "days": all_days,
        "left_over": len(result.left_over),
        "total": len(items),
        "points": points,
    }


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


async def _accepted_items(console: Console, user: CurrentUser) -> list[AssignItem]:
    raw = console.values("item")
    if not raw:
        raise InvalidInput.field("item", "the split is empty: nothing to accept", code="empty_selection")
    items: list[AssignItem] = []
    versions: dict[uuid.UUID, int] = {}
    for n, value in enumerate(raw[:20000]):
        parts = value.split(":")
        try:
            visit_id, version, lead, partner = (
                uuid.UUID(parts[0]),
                int(parts[1]),
                uuid.UUID(parts[2]),
                uuid.UUID(parts[3]),
            )
            day = dt.date.fromisoformat(parts[4]) if parts[4] else None
        except (ValueError, IndexError) as exc:
            raise InvalidInput.field(f"item[{n}]", "not an item of this split") from exc
        versions[visit_id] = version
        items.append(AssignItem(visit_id=visit_id, worker_id=lead, partner_id=partner, visit_on=day))
    query = select(Visit.id, Visit.version).where(
        Visit.id.in_(list(versions)), Visit.area_id.in_(list(user.visible_area_ids))
    )
    if console.db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    current = {r[0]: r[1] for r in (await console.db.execute(query)).all()}
    stale = [
        FieldError(path=f"item[{n}]", reason="changed since this split was shown")
        for n, (visit_id, version) in enumerate(versions.items())
        if visit_id in current and current[visit_id] != version
    ]
    if stale:
        raise Conflict("the visits changed since this split was shown", stale, code="stale_form")
    return items
