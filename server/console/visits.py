"""Planning pages: generate a period's plan (previewed first), the due-visit list with filters,
sorting and server-side pages, and assigning the ticked visits to a pair of investigators."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlparse

from litestar import Controller, Response, get, post
from litestar.datastructures import MultiDict
from sqlalchemy import func, select

from schemas.auth import Role
from schemas.planning import AssignItem
from schemas.registry import Category
from server.auth import services as auth_services
from server.auth.identity import CurrentUser
from server.console import queries
from server.console.web import CONSOLE_OPT, PLANNERS, Console
from server.db.base import utcnow
from server.errors import Conflict, DomainError, FieldError, InvalidInput
from server.planning import services as planning
from server.planning.models import Visit
from server.registry.models import Household

__all__ = ["PlanController", "VisitListController"]

CATEGORIES = tuple(c.value for c in Category)


def _date(value: str | None, name: str, errors: list[FieldError]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(path=name, reason="not a date (YYYY-MM-DD)"))
        return None


def _int(value: str | None, name: str, errors: list[FieldError]) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        errors.append(FieldError(path=name, reason="not a number"))
        return None


def read_filter(params: Any) -> tuple[queries.VisitFilter, list[FieldError]]:
    """The list's filters from the query string, and what was wrong with them."""
    errors: list[FieldError] = []
    worker = params.get("worker_id") or None
    worker_id: uuid.UUID | None = None
    if worker:
        try:
            worker_id = uuid.UUID(worker)
        except ValueError:
            errors.append(FieldError(path="worker_id", reason="not a worker id"))
    sort = params.get("sort") or "due_on"
    if sort.lstrip("-") not in queries.SORTS:
        errors.append(FieldError(path="sort", reason="not a sort key"))
        sort = "due_on"
    due = params.get("due") or None
    if due not in (None, "overdue", "month", "upcoming"):
        errors.append(FieldError(path="due", reason="overdue, month or upcoming"))
        due = None
    page = _int(params.get("page"), "page", errors) or 1
    return (
        queries.VisitFilter(
            area_id=_int(params.get("area_id"), "area_id", errors),
            category=params.get("category") or None,
            due=due,
            due_from=_date(params.get("due_from"), "due_from", errors),
            due_to=_date(params.get("due_to"), "due_to", errors),
            urgent=params.get("urgent") in ("1", "on", "true"),
            assigned=params.get("assigned") if params.get("assigned") in ("yes", "no") else None,
            state=params.get("state") or None,
            worker_id=worker_id,
            visit_on=_date(params.get("visit_on"), "visit_on", errors),
            proposal=params.get("proposal") or None,
            sort=sort,
            page=max(1, min(page, 100_000)),
        ),
        errors,
    )


async def workers_of(console: Console, user: CurrentUser) -> list[Any]:
    """The field workers the caller may assign (the API's own list of users)."""
    return [u for u in await auth_services.list_users(console.db, user, Role.worker) if u.active]


class VisitListController(Controller):
    path = "/console/visits"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_visits")
    async def index(self, console: Console) -> Response[Any]:
        user = console.require()
        return await self._page(console, user)

    async def _page(
        self, console: Console, user: CurrentUser, *, status: int = 200, params: Any = None, **extra: Any
    ) -> Response[Any]:
        params = console.request.query_params if params is None else params
        flt, errors = read_filter(params)
        if errors and console.htmx:
            status = 422
        rows, total = await queries.list_visits(console.db, user, flt)
        template = "visits/_table.html" if console.htmx and not extra else "visits/list.html"
        query = {k: v for k, v in params.items() if k not in ("page", "sort", "done")}
        return console.render(
            template,
            status=status,
            rows=rows,
            total=total,
            flt=flt,
            errors=errors,
            query_args=query,
            pages=max(1, -(-total // queries.PAGE_SIZE)),
            areas=await queries.area_choices(console.db, user),
            categories=CATEGORIES,
            workers=await workers_of(console, user) if user.role in PLANNERS else [],
            today=utcnow().date(),
            done=params.get("done"),
            saved=bool(params.get("done")),
            **extra,
        )

    @post("/assign", name="console_assign_checked", status_code=200)
    async def assign(self, console: Console) -> Response[Any]:
        """Assign (or reassign) the ticked visits to a pair: lead investigator and partner."""
        user = console.require(*PLANNERS)
        try:
            items = await _checked_items(console, user)
            result = await planning.assign(console.db, user, console.actor, items)
        except DomainError as error:
            await console.db.rollback()
            return await self._refused(console, user, error)
        return console.redirect(_back(console, f"assigned:{result.changed}"))

    @post("/unassign", name="console_unassign_checked", status_code=200)
    async def unassign(self, console: Console) -> Response[Any]:
        """Take the ticked visits back from their pair (they return to planned)."""
        user = console.require(*PLANNERS)
        try:
            ids = await _checked_ids(console, user)
            result = await planning.unassign(console.db, user, console.actor, ids)
        except DomainError as error:
            await console.db.rollback()
            return await self._refused(console, user, error)
        return console.redirect(_back(console, f"unassigned:{result.changed}"))

    async def _refused(self, console: Console, user: CurrentUser, error: DomainError) -> Response[Any]:
        """The list again, as it was filtered, with what was refused; nothing was stored."""
        back = urlparse(console.form.get("back") or "")
        params = MultiDict(parse_qsl(back.query)) if back.path.startswith("/console/visits") else MultiDict()
        return await self._page(console, user, status=error.status, params=params, problem=error)


def _back(console: Console, done: str) -> str:
    back = console.form.get("back") or "/console/visits"
    if not back.startswith("/console/visits"):
        back = "/console/visits"
    return back + ("&" if "?" in back else "?") + f"done={done}"


async def _checked_ids(console: Console, user: CurrentUser) -> list[uuid.UUID]:
    """The ticked visits (``id:version``), refused when any changed since the page was shown —
    a double click or the back button then changes nothing."""
    ticked = console.values("visit")
    if not ticked:
        raise InvalidInput.field("visit", "choose at least one visit", code="empty_selection")
    wanted: dict[uuid.UUID, int] = {}
    for n, value in enumerate(ticked[:5000]):
        raw_id, _, raw_version = value.partition(":")
        try:
            wanted[uuid.UUID(raw_id)] = int(raw_version)
        except ValueError as exc:
            raise InvalidInput.field(f"visit[{n}]", "not a visit of this list") from exc
    # only the caller's visits: another township's visit is refused by the service as unknown
    query = select(Visit.id, Visit.version).where(
        Visit.id.in_(list(wanted)), Visit.area_id.in_(list(user.visible_area_ids))
    )
    if console.db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    current = dict((await console.db.execute(query)).all())
    stale = [
        FieldError(path=f"visit[{n}]", reason="changed since this page was shown")
        for n, (visit_id, version) in enumerate(wanted.items())
        if visit_id in current and current[visit_id] != version
    ]
    if stale:
        raise Conflict("the visits changed since this page was shown", stale, code="stale_form")
    return list(wanted)


async def _checked_items(console: Console, user: CurrentUser) -> list[AssignItem]:
    lead = console.form.get("lead_id") or ""
    partner = console.form.get("partner_id") or ""
    problems: list[FieldError] = []
    ids: dict[str, uuid.UUID] = {}
    for name, value in (("lead_id", lead), ("partner_id", partner)):
        try:
            ids[name] = uuid.UUID(value)
        except ValueError:
            problems.append(FieldError(path=name, reason="choose an investigator"))
    visit_on = _date(console.form.get("visit_on"), "visit_on", problems)
    if visit_on is not None and visit_on < utcnow().date():
        problems.append(FieldError(path="visit_on", reason="a day that has passed"))
    if problems:
        raise InvalidInput("a pair needs a lead investigator and a partner", problems, code="pair_required")
    visit_ids = await _checked_ids(console, user)
    return [
        AssignItem(visit_id=v, worker_id=ids["lead_id"], partner_id=ids["partner_id"], visit_on=visit_on)
        for v in visit_ids
    ]


def _period_choices(today: dt.date) -> list[str]:
    months = []
    year, month = today.year, today.month
    for _ in range(4):
        months.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    quarter = (today.month - 1) // 3 + 1
    return [*months, f"{today.year}Q{quarter}", f"{today.year + (quarter == 4)}Q{quarter % 4 + 1}"]


class PlanController(Controller):
    path = "/console/plan"
    include_in_schema = False
    opt = CONSOLE_OPT

    @get("/", name="console_plan")
    async def index(self, console: Console) -> Response[Any]:
        user = console.require(*PLANNERS)
        return console.render(
            "visits/plan.html",
            areas=await queries.area_choices(console.db, user),
            choices=_period_choices(utcnow().date()),
            period=console.request.query_params.get("period", ""),
            result=None,
            preview=None,
            problem=None,
            saved=False,
        )

    async def _run(self, console: Console, commit: bool) -> Response[Any]:
        user = console.require(*PLANNERS)
        period = console.form.get("period", "").strip()
        area = console.form.get("area_id") or ""
        context: dict[str, Any] = {
            "areas": await queries.area_choices(console.db, user),
            "choices": _period_choices(utcnow().date()),
            "period": period,
            "area_id": area,
            "result": None,
            "preview": None,
            "problem": None,
            "saved": False,
        }
        try:
            area_ids = [int(area)] if area else None
            label, _, ends_on = planning.normalise_period(period, "period")
            if ends_on < utcnow().date():
                raise InvalidInput.field("period", "this period has ended", code="period_past")
            if commit:
                context["result"] = await planning.generate_plan(
                    console.db, console.actor, label, user=user, area_ids=area_ids
                )
                context["saved"] = True
            else:
                context["preview"] = await _preview(console, user, label, area_ids)
        except (DomainError, ValueError) as error:
            await console.db.rollback()
            problem = error if isinstance(error, DomainError) else InvalidInput.field("area_id", "not an area")
            context["problem"] = problem
            status = problem.status
            return console.render("visits/_plan_answer.html" if console.htmx else "visits/plan.html", status, **context)
        return console.render("visits/_plan_answer.html" if console.htmx else "visits/plan.html", **context)

    @post("/preview", name="console_plan_preview", status_code=200)
    async def preview(self, console: Console) -> Response[Any]:
        """What generating the plan would do, counted by category and reason; nothing is kept."""
        return await self._run(console, commit=False)

    @post("/", name="console_plan_generate", status_code=200)
    async def generate(self, console: Console) -> Response[Any]:
        """Generate the plan (running it again creates nothing new)."""
        return await self._run(console, commit=True)


async def _preview(console: Console, user: CurrentUser, label: str, area_ids: list[int] | None) -> dict[str, Any]:
    """Run the real plan generation inside a savepoint, count what it made, and roll it back:
    the preview is exactly what generating will do, by the same code."""

    async def scheduled() -> Counter[tuple[str, str]]:
        rows = await console.db.execute(
            select(Household.category, Visit.priority, func.count())
            .join(Household, Household.id == Visit.household_id)
            .where(Visit.period == label, Visit.reason == "scheduled", Visit.state == "planned")
            .group_by(Household.category, Visit.priority)
        )
        return Counter({(c, "overdue" if p > 0 else "due"): n for c, p, n in rows.all()})

    savepoint = await console.db.begin_nested()
    try:
        before = await scheduled()
        result = await planning.generate_plan(console.db, console.actor, label, user=user, area_ids=area_ids)
        after = await scheduled()
    finally:
        await savepoint.rollback()
    made = after - before
    categories = sorted({c for c, _ in made})
    return {
        "result": result,
        "rows": [(c, made[(c, "due")], made[(c, "overdue")]) for c in categories],
        "total": sum(made.values()),
    }
