"""Recheck planning: plan generation, visit lists and due reports, assignment, day routes.

Plan generation is set-based: a million households are planned by one ``INSERT … SELECT``
joined to a small table of due dates (one row per category and anchor date, computed in Python
by :func:`server.planning.schedule.add_months`, so SQLite and PostgreSQL agree with the pure
schedule to the day). Everything that changes a visit a tablet may hold goes through the ORM
and :mod:`server.planning.states`, so the sync feed and the audit trail see it.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    String,
    Uuid,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.errors import FieldError
from schemas.planning import (
    AssignItem,
    AssignResult,
    DueCount,
    DueFilter,
    DueReport,
    PlanResult,
    Priority,
    RouteRead,
    RouteStart,
    RouteStop,
    SuggestedLoad,
    SuggestRequest,
    SuggestResult,
    VisitRead,
    VisitReason,
    VisitState,
)
from schemas.registry import Page
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.auth.models import User, UserArea
from server.db.base import UTCDateTime, utcnow
from server.decisions.rules import default_rules
from server.errors import DomainError, Forbidden, InvalidInput, NotFound
from server.planning import assignment as split
from server.planning import routes
from server.planning.models import Visit
from server.planning.schedule import PeriodError, add_months, parse_period
from server.planning.states import ASSIGNABLE, DONE, OPEN, touch, transition
from server.registry.models import Area, Household

__all__ = [
    "assign",
    "cancel_visit",
    "day_route",
    "due_report",
    "generate_plan",
    "get_visit",
    "list_visits",
    "normalise_period",
    "optimize_route",
    "reorder_route",
    "suggest",
    "unassign",
    "visit_read",
]

_OPEN = sorted(s.value for s in OPEN)


# ---------------------------------------------------------------- shared helpers


class _Refusal(DomainError):
    """Several field problems found while validating a bulk request; status of the worst one."""


def _refuse(problems: list[tuple[int, FieldError]], message: str) -> None:
    if problems:
        rank = {404: 0, 403: 1, 409: 2, 422: 3}
        status = min((s for s, _ in problems), key=lambda s: rank.get(s, 9))
        error = _Refusal(message, [e for _, e in problems], code="invalid" if status == 422 else None)
        error.status = status
        error.code = {404: "not_found", 409: "conflict", 403: "forbidden"}.get(status, "invalid")
        raise error


async def _area_paths(session: AsyncSession) -> dict[int, str]:
    """Every area's materialised path (the area tree is small: hundreds, not millions)."""
    return dict((await session.execute(select(Area.id, Area.path))).all())


def _below(paths: dict[int, str], roots: Iterable[int]) -> set[int]:
    """Ids of the areas at or below ``roots``."""
    prefixes = tuple(paths[r] for r in roots if r in paths)
    return {a for a, p in paths.items() if p.startswith(prefixes)} if prefixes else set()


def intervals() -> dict[str, int]:
    """Months between rechecks per category, from the programme rules in force."""
    return {str(k): int(v) for k, v in default_rules().recheck_interval_months.items()}


def normalise_period(period: str, path: str = "$.period") -> tuple[str, dt.date, dt.date]:
    """``(label, first day, last day)`` of a planning period, or a 422 naming ``path``."""
    try:
        start, end = parse_period(period)
    except PeriodError as exc:
        raise InvalidInput.field(path, str(exc), code="invalid_period") from exc
    return period.strip().upper(), start, end


# ---------------------------------------------------------------- plan generation

_DUE = table("plan_due", column("category", String), column("since", Date), column("due", Date))


def _ordered_ids(dialect: str) -> ColumnElement[Any]:
    """Time-ordered UUIDs (version 7 layout) for the rows of one plan run, made by the database.

    48 bits of the clock in milliseconds, 26 random bits chosen once per run, then the row's
    number in household order. The rows are inserted in that order too, so the primary key and
    the household indexes grow at their right edge instead of at a million random places: the
    difference between seconds and minutes for a county on either engine. Two runs could only
    collide within the same millisecond *and* the same 26 random bits.
    """
    stamp = int(time.time() * 1000) & 0xFFFF_FFFF_FFFF
    noise = secrets.randbits(26)
    prefix = f"{stamp:012x}7{noise >> 14:03x}{8 | (noise >> 12) & 3:x}{noise & 0xFFF:03x}"
    number = func.row_number().over(order_by=Household.id)
    if dialect == "postgresql":
        return cast(literal(prefix, String).concat(func.lpad(func.to_hex(number), 12, "0")), Uuid)
    return literal(prefix, String).concat(func.printf("%012x", number))


async def _load_due_map(session: AsyncSession, dialect: str, area_ids: set[int] | None, table_: dict[str, int]) -> None:
    """Fill the temporary ``plan_due`` table: every (category, anchor date) → due date that the
    households in scope need, one row per calendar day between their earliest and latest anchor."""
    since = func.coalesce(Household.last_recheck_on, Household.approved_on)
    query = (
        select(Household.category, func.min(since), func.max(since))
        .where(Household.status == "active")
        .group_by(Household.category)
    )
    if area_ids is not None:
        query = query.where(Household.area_id.in_(area_ids))
    spans = (await session.execute(query)).all()
    suffix = " ON COMMIT DROP" if dialect == "postgresql" else ""
    await session.execute(text("DROP TABLE IF EXISTS plan_due"))
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE plan_due (category VARCHAR(20) NOT NULL, since DATE NOT NULL, "
            f"due DATE NOT NULL, PRIMARY KEY (category, since)){suffix}"
        )
    )
    rows: list[dict[str, Any]] = []
    one = dt.timedelta(days=1)
    for category, first, last in spans:
        months = table_.get(category)
        if months is None or first is None or last is None:
            continue
        day = first
        while day <= last:
            rows.append({"category": category, "since": day, "due": add_months(day, months)})
            day += one
    for i in range(0, len(rows), 5000):
        await session.execute(insert(_DUE), rows[i : i + 5000])
    if dialect == "postgresql":
        await session.execute(text("ANALYZE plan_due"))  # temporary tables are never auto-analysed


@dataclass
class _Scope:
    ids: set[int] | None  # None: every area (the command line without --area)
    roots: list[int]


async def _plan_scope(session: AsyncSession, user: CurrentUser | None, area_ids: list[int] | None) -> _Scope:
    paths = await _area_paths(session)
    if area_ids:
        for i, area_id in enumerate(area_ids):
            if area_id not in paths:
                raise InvalidInput.field(f"$.area_ids[{i}]", "no such area")
            if user is not None and not user.can_see_area(area_id):
                raise Forbidden.field(f"$.area_ids[{i}]", "outside your areas")
        return _Scope(_below(paths, area_ids), sorted(set(area_ids)))
    if user is None:
        return _Scope(None, [])
    return _Scope(set(user.visible_area_ids), sorted(user.area_ids))


#: PostgreSQL advisory lock key held by a plan run until it commits ("rc-plans").
_PLAN_LOCK = int.from_bytes(b"rc-plans", "big")

_PG_PLAN_SETTINGS = {
    # The visit table's statistics are stale while a plan is being written (often empty): a
    # nested loop would then rescan it for every household, rows being inserted included. Hash
    # anti-joins read it once.
    "enable_nestloop": "off",
    # A county's households sorted into id order, and its open visits hashed for rescheduling,
    # take tens of MB: in memory instead of spilled to temporary files in 4 MB pieces.
    "work_mem": "64MB",
}


async def _set_local(session: AsyncSession, settings: dict[str, str]) -> dict[str, str]:
    """Set PostgreSQL settings for the rest of the transaction; return the values they replace."""
    before: dict[str, str] = {}
    for name, value in settings.items():
        before[name] = (await session.execute(select(func.current_setting(name)))).scalar_one()
        await session.execute(select(func.set_config(name, value, True)))
    return before


async def generate_plan(
    session: AsyncSession,
    actor: Actor,
    period: str,
    *,
    user: CurrentUser | None = None,
    area_ids: list[int] | None = None,
) -> PlanResult:
    """Create the scheduled visits due by the end of ``period`` in the areas (and below).

    Each active household is due its category's interval after its last recheck (else its
    approval date; a household with neither is due on the period's first day). Households
    already overdue are included (priority ``high``). A household with an open scheduled visit,
    or with any scheduled visit for the same due date, gets nothing new, so a second run creates
    nothing. Open scheduled visits whose due date moved (the category changed) are rescheduled,
    or cancelled when the new date falls after the period; open scheduled and follow-up visits
    of cancelled households are cancelled.

    Raises:
        InvalidInput: ``period`` is not a period, or an area does not exist (422 naming it).
        Forbidden: an area outside the caller's areas.
    """
    began = time.perf_counter()
    label, start, end = normalise_period(period)
    scope = await _plan_scope(session, user, area_ids)
    bind = session.get_bind()
    dialect = bind.dialect.name
    settings: dict[str, str] = {}
    if dialect == "postgresql":
        # One run at a time, until commit: a racing run waits here, then its statements see
        # every visit the first one wrote, so it creates nothing twice (see _insert_visits).
        await session.execute(select(func.pg_advisory_xact_lock(_PLAN_LOCK)))
        settings = await _set_local(session, _PG_PLAN_SETTINGS)
    table_ = intervals()
    await _load_due_map(session, dialect, scope.ids, table_)
    cache_size: int | None = None
    if dialect == "sqlite":
        # a million random-UUID index entries do not fit SQLite's default 2 MB page cache
        cache_size = int((await session.execute(text("PRAGMA cache_size"))).scalar_one())
        await session.execute(text("PRAGMA cache_size = -262144"))

    # Visits a tablet may hold change first, through the ORM, and are flushed before the insert
    # sees them: then neither query reads the (up to a million) rows this run is about to insert.
    rescheduled, cancelled = await _reschedule(session, actor, scope, label, start, end)
    cancelled += await _drop_cancelled_households(session, actor, scope)
    await session.flush()
    created = await _insert_visits(session, dialect, scope, label, start, end)
    await session.execute(text("DROP TABLE IF EXISTS plan_due"))
    if settings:
        await _set_local(session, settings)
    if cache_size is not None:
        await session.execute(text(f"PRAGMA cache_size = {cache_size}"))
    record(
        session,
        actor,
        "plan",
        "plan",
        label,
        {
            "period": label,
            "area_ids": scope.roots,
            "created": created,
            "rescheduled": rescheduled,
            "cancelled": cancelled,
        },
    )
    return PlanResult(
        period=label,
        starts_on=start,
        ends_on=end,
        area_ids=scope.roots,
        created=created,
        rescheduled=rescheduled,
        cancelled=cancelled,
        seconds=round(time.perf_counter() - began, 3),
    )


def _due_households(scope: _Scope, start: dt.date, end: dt.date) -> Select[uuid.UUID]:
    """Active households in scope due by ``end`` that have no open scheduled visit and no
    scheduled visit for that due date: the households a plan run gives a new visit."""
    since = func.coalesce(Household.last_recheck_on, Household.approved_on)
    due = _due_on(start)
    query = (
        select(Household.id)
        .select_from(Household)
        .outerjoin(_DUE, and_(_DUE.c.category == Household.category, _DUE.c.since == since))
        .where(
            Household.status == "active",
            due <= end,
            or_(since.is_(None), _DUE.c.due.is_not(None)),
            # two plain anti-joins (not one with an OR): PostgreSQL hashes each once instead of
            # rescanning the visit table, rows being inserted included, for every household
            ~exists().where(
                Visit.household_id == Household.id,
                Visit.reason == VisitReason.scheduled.value,
                Visit.state.in_(_OPEN),
            ),
            ~exists().where(
                Visit.household_id == Household.id,
                Visit.reason == VisitReason.scheduled.value,
                Visit.due_on == due,
            ),
        )
    )
    if scope.ids is not None:
        query = query.where(Household.area_id.in_(scope.ids))
    return query


def _due_on(start: dt.date) -> ColumnElement[dt.date]:
    """A household's due date: from ``plan_due``, or the period's first day when it has no dates."""
    return func.coalesce(_DUE.c.due, literal(start, Date))


async def _insert_visits(
    session: AsyncSession, dialect: str, scope: _Scope, label: str, start: dt.date, end: dt.date
) -> int:
    """One ``INSERT … SELECT`` of a new planned visit per due household, in household order."""
    households = _due_households(scope, start, end)
    due = _due_on(start)
    now = literal(utcnow(), UTCDateTime())
    source = households.with_only_columns(
        _ordered_ids(dialect),
        Household.id,
        Household.area_id,
        literal(VisitReason.scheduled.value),
        literal(label),
        due,
        case((due < start, int(Priority.high)), else_=int(Priority.normal)),
        literal(VisitState.planned.value),
        literal(1),
        now,
        now,
    ).order_by(Household.id)
    columns = ["id", "household_id", "area_id", "reason", "period", "due_on", "priority", "state", "version"]
    columns += ["created_at", "updated_at"]
    if dialect == "postgresql":
        # No ON CONFLICT: runs are serialised by the advisory lock, so the anti-joins see every
        # scheduled visit, and ON CONFLICT would make each row a speculative insertion (an extra
        # probe of both unique indexes, a lock and a confirmation record: about 15 % of a plan's
        # CPU). A conflict from some other writer fails the run loudly, never duplicates.
        plain = insert(Visit).from_select(columns, source)
        return (await session.execute(plain)).rowcount or 0  # type: ignore[attr-defined]
    # SQLite checks the unique index on every insert anyway: the clause costs nothing there
    statement = sqlite.insert(Visit).from_select(columns, source).on_conflict_do_nothing()
    return (await session.execute(statement)).rowcount or 0  # type: ignore[attr-defined]


def _chunks(values: Sequence[uuid.UUID], size: int = 5000) -> Iterator[Sequence[uuid.UUID]]:
    """``values`` in slices small enough for one statement's bind parameters on either engine."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


async def _load_visits(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Visit]:
    """The visits with these ids, in id order."""
    visits: list[Visit] = []
    for chunk in _chunks(sorted(ids)):
        visits += (await session.scalars(select(Visit).where(Visit.id.in_(chunk)).order_by(Visit.id))).all()
    return visits


async def _scheduled_dates(session: AsyncSession, household_ids: list[uuid.UUID]) -> set[tuple[uuid.UUID, dt.date]]:
    """(household, due date) of every scheduled visit of these households, whatever its state."""
    taken: set[tuple[uuid.UUID, dt.date]] = set()
    for chunk in _chunks(household_ids):
        query = select(Visit.household_id, Visit.due_on).where(
            Visit.reason == VisitReason.scheduled.value, Visit.household_id.in_(chunk)
        )
        taken.update((h, d) for h, d in await session.execute(query))
    return taken


async def _reschedule(
    session: AsyncSession, actor: Actor, scope: _Scope, label: str, start: dt.date, end: dt.date
) -> tuple[int, int]:
    """Move open scheduled visits whose household's due date changed; cancel those now due later."""
    since = func.coalesce(Household.last_recheck_on, Household.approved_on)
    # ids first: every open scheduled visit is joined here, and only the few that moved are loaded
    query = (
        select(Visit.id, _DUE.c.due)
        .join(Household, Household.id == Visit.household_id)
        .join(_DUE, and_(_DUE.c.category == Household.category, _DUE.c.since == since))
        .where(
            Visit.reason == VisitReason.scheduled.value,
            Visit.state.in_(_OPEN),
            Household.status == "active",
            _DUE.c.due != Visit.due_on,
        )
    )
    if scope.ids is not None:
        query = query.where(Household.area_id.in_(scope.ids))
    due_now: dict[uuid.UUID, dt.date] = dict((await session.execute(query)).all())
    if not due_now:
        return 0, 0
    moved = [(v, due_now[v.id]) for v in await _load_visits(session, due_now)]
    taken = await _scheduled_dates(session, [v.household_id for v, _ in moved])
    rescheduled = cancelled = 0
    for visit, new_due in moved:
        if new_due > end or (visit.household_id, new_due) in taken:
            transition(
                visit,
                VisitState.cancelled,
                actor,
                session,
                f"rescheduled: now due {new_due.isoformat()} (category or last recheck changed)",
            )
            cancelled += 1
            continue
        old = visit.due_on
        visit.due_on, visit.period = new_due, label
        visit.priority = max(visit.priority, int(Priority.high if new_due < start else Priority.normal))
        touch(visit)
        record(session, actor, "reschedule", "visit", visit.id, {"due_on": [old.isoformat(), new_due.isoformat()]})
        taken.add((visit.household_id, new_due))
        rescheduled += 1
    return rescheduled, cancelled


async def _drop_cancelled_households(session: AsyncSession, actor: Actor, scope: _Scope) -> int:
    query = (
        select(Visit.id)
        .join(Household, Household.id == Visit.household_id)
        .where(
            Household.status == "cancelled",
            Visit.state.in_(_OPEN),
            Visit.reason.in_([VisitReason.scheduled.value, VisitReason.follow_up.value]),
        )
    )
    if scope.ids is not None:
        query = query.where(Household.area_id.in_(scope.ids))
    visits = await _load_visits(session, (await session.scalars(query)).all())
    for visit in visits:
        transition(visit, VisitState.cancelled, actor, session, "household cancelled")
    return len(visits)


# ---------------------------------------------------------------- reading visits

_VISIT_COLUMNS = (
    Visit,
    Household.code,
    Household.head_name,
    Household.address,
    Household.category,
    Household.lat,
    Household.lon,
)


def visit_read(visit: Visit, extra: Sequence[Any] | None = None, today: dt.date | None = None) -> VisitRead:
    """The wire form of a visit; ``extra`` is (code, head name, address, category, lat, lon)."""
    code, head, address, category, lat, lon = extra or (None,) * 6
    today = today or utcnow().date()
    return VisitRead(
        id=visit.id,
        household_id=visit.household_id,
        area_id=visit.area_id,
        reason=VisitReason(visit.reason),
        due_on=visit.due_on,
        priority=visit.priority,
        state=VisitState(visit.state),
        version=visit.version,
        created_at=visit.created_at,
        updated_at=visit.updated_at,
        period=visit.period,
        assigned_to=visit.assigned_to,
        partner_id=visit.partner_id,
        visit_on=visit.visit_on,
        route_order=visit.route_order,
        route_leg_m=visit.route_leg_m,
        return_comment=visit.return_comment,
        household_code=code,
        head_name=head,
        address=address,
        category=category,
        lat=lat,
        lon=lon,
        overdue=visit.state in _OPEN and visit.due_on < today,
    )


async def _read_many(session: AsyncSession, visits: Sequence[Visit]) -> list[VisitRead]:
    if not visits:
        return []
    ids = [v.household_id for v in visits]
    extra = {
        row[0]: row[1:]
        for row in (
            await session.execute(
                select(
                    Household.id,
                    Household.code,
                    Household.head_name,
                    Household.address,
                    Household.category,
                    Household.lat,
                    Household.lon,
                ).where(Household.id.in_(ids))
            )
        ).all()
    }
    return [visit_read(v, extra.get(v.household_id)) for v in visits]


def _visible(user: CurrentUser, visit: Visit) -> bool:
    if user.role == Role.worker:
        return visit.assigned_to == user.id or visit.partner_id == user.id
    return user.can_see_area(visit.area_id)


async def get_visit(session: AsyncSession, user: CurrentUser, visit_id: uuid.UUID) -> VisitRead:
    row = (
        await session.execute(
            select(*_VISIT_COLUMNS).join(Household, Household.id == Visit.household_id).where(Visit.id == visit_id)
        )
    ).first()
    if row is None or not _visible(user, row[0]):
        raise NotFound.field("visit_id", "no such visit in your areas")
    return visit_read(row[0], row[1:])


def _encode_cursor(due_on: dt.date, visit_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([due_on.isoformat(), str(visit_id)])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.date, uuid.UUID]:
    try:
        due, visit_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return dt.date.fromisoformat(due), uuid.UUID(visit_id)
    except (ValueError, TypeError, msgspec.DecodeError) as exc:
        raise InvalidInput.field("cursor", "not a cursor from this list") from exc


async def _area_filter(session: AsyncSession, user: CurrentUser, area_id: int | None) -> set[int]:
    if area_id is None:
        return set(user.visible_area_ids)
    if not user.can_see_area(area_id):
        raise NotFound.field("area_id", "no such area in your areas")
    return _below(await _area_paths(session), [area_id]) & set(user.visible_area_ids)


async def list_visits(
    session: AsyncSession,
    user: CurrentUser,
    *,
    area_id: int | None = None,
    state: VisitState | None = None,
    reason: VisitReason | None = None,
    assigned_to: uuid.UUID | None = None,
    unassigned: bool = False,
    period: str | None = None,
    due: DueFilter | None = None,
    upcoming_days: int = 30,
    visit_on: dt.date | None = None,
    household_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[VisitRead]:
    """Visits in the caller's areas (a worker: their own), by due date, keyset-paginated.

    ``due=overdue``: open visits due before today; ``due=upcoming``: open visits due from today
    to ``upcoming_days`` ahead.
    """
    query = select(*_VISIT_COLUMNS).join(Household, Household.id == Visit.household_id)
    if user.role == Role.worker:
        query = query.where(or_(Visit.assigned_to == user.id, Visit.partner_id == user.id))
    else:
        query = query.where(Visit.area_id.in_(await _area_filter(session, user, area_id)))
    if user.role == Role.worker and area_id is not None:
        query = query.where(Visit.area_id == area_id)
    if state:
        query = query.where(Visit.state == state.value)
    if reason:
        query = query.where(Visit.reason == reason.value)
    if assigned_to:
        query = query.where(Visit.assigned_to == assigned_to)
    if unassigned:
        query = query.where(Visit.assigned_to.is_(None))
    if period:
        query = query.where(Visit.period == normalise_period(period, "period")[0])
    if visit_on:
        query = query.where(Visit.visit_on == visit_on)
    if household_id:
        query = query.where(Visit.household_id == household_id)
    today = utcnow().date()
    if due == DueFilter.overdue:
        query = query.where(Visit.state.in_(_OPEN), Visit.due_on < today)
    elif due == DueFilter.upcoming:
        query = query.where(
            Visit.state.in_(_OPEN), Visit.due_on >= today, Visit.due_on <= today + dt.timedelta(days=upcoming_days)
        )
    if cursor:
        last_due, last_id = _decode_cursor(cursor)
        query = query.where(tuple_(Visit.due_on, Visit.id) > tuple_(literal(last_due, Date), literal(last_id)))
    rows = (await session.execute(query.order_by(Visit.due_on, Visit.id).limit(limit + 1))).all()
    items = [visit_read(r[0], r[1:], today) for r in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1][0].due_on, rows[limit - 1][0].id) if len(rows) > limit else None
    return Page[VisitRead](items=items, next_cursor=next_cursor)


async def due_report(
    session: AsyncSession, user: CurrentUser, *, area_id: int | None = None, upcoming_days: int = 30
) -> DueReport:
    """Overdue and upcoming open visits counted per area and per worker (and the unassigned)."""
    today = utcnow().date()
    horizon = today + dt.timedelta(days=upcoming_days)
    overdue = func.sum(case((Visit.due_on < today, 1), else_=0))
    upcoming = func.sum(case((and_(Visit.due_on >= today, Visit.due_on <= horizon), 1), else_=0))
    base = select(overdue, upcoming, func.count()).where(Visit.state.in_(_OPEN))
    if user.role == Role.worker:
        base = base.where(Visit.assigned_to == user.id)
    else:
        base = base.where(Visit.area_id.in_(await _area_filter(session, user, area_id)))
    by_area = (
        await session.execute(
            base.add_columns(Area.id, Area.code)
            .join(Area, Area.id == Visit.area_id)
            .group_by(Area.id, Area.code)
            .order_by(Area.code)
        )
    ).all()
    by_worker = (
        await session.execute(
            base.add_columns(User.id, User.username)
            .join(User, User.id == Visit.assigned_to)
            .group_by(User.id, User.username)
            .order_by(User.username)
        )
    ).all()
    none = (await session.execute(base.where(Visit.assigned_to.is_(None)))).one()
    return DueReport(
        as_of=today,
        upcoming_days=upcoming_days,
        areas=[
            DueCount(overdue=int(o or 0), upcoming=int(u or 0), open=n, area_id=a, area_code=c)
            for o, u, n, a, c in by_area
        ],
        workers=[
            DueCount(overdue=int(o or 0), upcoming=int(u or 0), open=n, worker_id=w, username=name)
            for o, u, n, w, name in by_worker
        ],
        unassigned=DueCount(overdue=int(none[0] or 0), upcoming=int(none[1] or 0), open=int(none[2] or 0)),
    )


async def cancel_visit(
    session: AsyncSession, user: CurrentUser, actor: Actor, visit_id: uuid.UUID, reason: str
) -> VisitRead:
    """Cancel an open visit (a supervisor's decision, with a written reason)."""
    visit = await session.get(Visit, visit_id)
    if visit is None or not _visible(user, visit):
        raise NotFound.field("visit_id", "no such visit in your areas")
    transition(visit, VisitState.cancelled, actor, session, reason)
    return (await _read_many(session, [visit]))[0]


# ---------------------------------------------------------------- assignment


@dataclass
class _WorkerInfo:
    user: User
    areas: set[int]  # every area at or below the worker's own


async def _workers(
    session: AsyncSession, ids: Iterable[uuid.UUID], paths: dict[int, str]
) -> dict[uuid.UUID, _WorkerInfo]:
    wanted = set(ids)
    if not wanted:
        return {}
    users = (await session.scalars(select(User).where(User.id.in_(wanted)))).all()
    own: dict[uuid.UUID, list[int]] = defaultdict(list)
    for user_id, area in (
        await session.execute(select(UserArea.user_id, UserArea.area_id).where(UserArea.user_id.in_(wanted)))
    ).all():
        own[user_id].append(area)
    return {u.id: _WorkerInfo(u, _below(paths, own[u.id])) for u in users}


def _worker_problem(
    manager: CurrentUser, info: _WorkerInfo | None, area_id: int | None, path: str, what: str = "worker"
) -> tuple[int, FieldError] | None:
    """Why ``info`` may not take a visit of ``area_id`` from ``manager`` (None if it may)."""
    # a missing account, one that is not a field worker and one outside the caller's areas get
    # the same answer: the caller learns nothing about accounts they may not see
    foreign = info is not None and not (
        manager.role == Role.admin or (info.areas and info.areas <= manager.visible_area_ids)
    )
    if info is None or info.user.role != Role.worker.value or foreign:
        return 422, FieldError(path=path, reason=f"no such {what} in your areas (must be a field worker)")
    if not info.user.active:
        return 422, FieldError(path=path, reason=f"this {what} is deactivated")
    if area_id is not None and area_id not in info.areas:
        return 422, FieldError(path=path, reason=f"this {what} does not work in the visit's area ({area_id})")
    return None


async def _visits_for_update(
    session: AsyncSession, user: CurrentUser, ids: Sequence[uuid.UUID], path: str
) -> tuple[dict[uuid.UUID, Visit], list[tuple[int, FieldError]]]:
    """The visits (locked for update on PostgreSQL), and a 404 problem for each one not visible."""
    query = select(Visit).where(Visit.id.in_(set(ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    visits = {v.id: v for v in (await session.scalars(query)).all()}
    problems: list[tuple[int, FieldError]] = []
    seen: set[uuid.UUID] = set()
    for i, visit_id in enumerate(ids):
        visit = visits.get(visit_id)
        if visit is None or not user.can_see_area(visit.area_id):
            visits.pop(visit_id, None)
            problems.append((404, FieldError(path=path.format(i=i), reason="no such visit in your areas")))
        elif visit_id in seen:
            problems.append((422, FieldError(path=path.format(i=i), reason="listed twice")))
        seen.add(visit_id)
    return visits, problems


def _state_problem(visit: Visit, path: str, doing: str) -> tuple[int, FieldError] | None:
    if visit.state in ASSIGNABLE:
        return None
    why = "already completed" if visit.state in DONE else visit.state
    return 409, FieldError(path=path, reason=f"the visit is {visit.state} ({why}): it cannot be {doing}")


def _clear_route(visit: Visit) -> None:
    visit.route_order = None
    visit.route_leg_m = None


async def assign(session: AsyncSession, user: CurrentUser, actor: Actor, items: list[AssignItem]) -> AssignResult:
    """Assign or reassign visits to workers of the caller's areas: every item is checked first,
    and nothing is changed unless all are valid.

    Raises:
        _Refusal: every problem found, each naming its ``$.items[i].…`` field (404 for an unknown
            visit, 409 for a completed or cancelled one, 422 for a worker outside the visit's
            area, deactivated, or not a worker).
    """
    paths = await _area_paths(session)
    visits, problems = await _visits_for_update(session, user, [i.visit_id for i in items], "$.items[{i}].visit_id")
    people = await _workers(
        session, {i.worker_id for i in items} | {i.partner_id for i in items if i.partner_id}, paths
    )
    for n, item in enumerate(items):
        visit = visits.get(item.visit_id)
        area = visit.area_id if visit is not None else None
        if visit is not None and (problem := _state_problem(visit, f"$.items[{n}].visit_id", "assigned")):
            problems.append(problem)
        if problem := _worker_problem(user, people.get(item.worker_id), area, f"$.items[{n}].worker_id"):
            problems.append(problem)
        if item.partner_id is not None:
            if item.partner_id == item.worker_id:
                problems.append(
                    (422, FieldError(path=f"$.items[{n}].partner_id", reason="the partner must be another worker"))
                )
            elif problem := _worker_problem(
                user, people.get(item.partner_id), area, f"$.items[{n}].partner_id", "partner"
            ):
                problems.append(problem)
    _refuse(problems, "nothing was assigned: " + "; ".join(f"{e.path}: {e.reason}" for _, e in problems))

    changed: list[Visit] = []
    for item in items:
        visit = visits[item.visit_id]
        before: dict[str, Any] = {
            "assigned_to": visit.assigned_to,
            "visit_on": visit.visit_on,
            "partner_id": visit.partner_id,
        }
        after: dict[str, Any] = {
            "assigned_to": item.worker_id,
            "visit_on": item.visit_on if item.visit_on is not None else visit.visit_on,
            "partner_id": item.partner_id if item.partner_id is not None else visit.partner_id,
        }
        if visit.assigned_to != item.worker_id and item.partner_id is None:
            after["partner_id"] = None
        if before == after and visit.state == VisitState.assigned.value:
            continue
        if before == after and visit.state == VisitState.downloaded.value:
            continue
        diff = {k: [_j(before[k]), _j(v)] for k, v in after.items() if before[k] != v}
        visit.assigned_to, visit.visit_on, visit.partner_id = (
            after["assigned_to"],
            after["visit_on"],
            after["partner_id"],
        )
        if before["assigned_to"] != visit.assigned_to or before["visit_on"] != visit.visit_on:
            _clear_route(visit)
        if visit.state == VisitState.assigned.value:
            touch(visit)
            record(session, actor, "reassign" if "assigned_to" in diff else "update", "visit", visit.id, diff)
        else:
            transition(visit, VisitState.assigned, actor, session, changes=diff)
        changed.append(visit)
    await session.flush()
    ordered = [visits[i.visit_id] for i in items]
    return AssignResult(
        changed=len(changed), unchanged=len(items) - len(changed), visits=await _read_many(session, ordered)
    )


def _j(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


async def unassign(session: AsyncSession, user: CurrentUser, actor: Actor, visit_ids: list[uuid.UUID]) -> AssignResult:
    """Take visits back from their workers (they return to ``planned``); all or nothing.

    The sync feed turns this into a removal on the old worker's tablet.
    """
    visits, problems = await _visits_for_update(session, user, visit_ids, "$.visit_ids[{i}]")
    for n, visit_id in enumerate(visit_ids):
        visit = visits.get(visit_id)
        if visit is not None and (problem := _state_problem(visit, f"$.visit_ids[{n}]", "unassigned")):
            problems.append(problem)
    _refuse(problems, "nothing was unassigned: " + "; ".join(f"{e.path}: {e.reason}" for _, e in problems))
    changed = 0
    for visit_id in visit_ids:
        visit = visits[visit_id]
        if visit.state == VisitState.planned.value:
            continue
        diff = {"assigned_to": [_j(visit.assigned_to), None]}
        visit.assigned_to = visit.partner_id = None
        visit.visit_on = None
        _clear_route(visit)
        transition(visit, VisitState.planned, actor, session, changes=diff)
        changed += 1
    await session.flush()
    return AssignResult(
        changed=changed,
        unchanged=len(visit_ids) - changed,
        visits=await _read_many(session, [visits[i] for i in visit_ids]),
    )


async def suggest(session: AsyncSession, user: CurrentUser, data: SuggestRequest) -> SuggestResult:
    """A balanced split of open unassigned visits among the chosen workers (a preview: nothing
    is written). Post the ``items`` to ``/assignments`` to accept, after editing if wanted."""
    began = time.perf_counter()
    paths = await _area_paths(session)
    people = await _workers(session, data.worker_ids, paths)
    problems = [
        p
        for n, w in enumerate(data.worker_ids)
        if (p := _worker_problem(user, people.get(w), None, f"$.worker_ids[{n}]")) is not None
    ]
    _refuse(problems, "cannot suggest: " + "; ".join(f"{e.path}: {e.reason}" for _, e in problems))
    areas = set(user.visible_area_ids)
    if data.area_ids:
        for n, a in enumerate(data.area_ids):
            if not user.can_see_area(a):
                raise NotFound.field(f"$.area_ids[{n}]", "no such area in your areas")
        areas &= _below(paths, data.area_ids)
    states = [VisitState.planned.value] + ([VisitState.assigned.value] if data.include_assigned else [])
    query = (
        select(Visit.id, Visit.area_id, Visit.due_on, Visit.priority, Household.lat, Household.lon)
        .join(Household, Household.id == Visit.household_id)
        .where(Visit.area_id.in_(areas), Visit.state.in_(states))
    )
    if data.visit_ids:
        query = query.where(Visit.id.in_(data.visit_ids))
    rows = (await session.execute(query)).all()
    area_rows = {a: (lat, lon) for a, lat, lon in (await session.execute(select(Area.id, Area.lat, Area.lon))).all()}
    due = [split.DueVisit(id=v, area_id=a, due_on=d, priority=p, lat=lat, lon=lon) for v, a, d, p, lat, lon in rows]
    located = [(lat, lon) for lat, lon in area_rows.values() if lat is not None and lon is not None]
    fallback = located[0] if located else (0.0, 0.0)
    workers = [
        split.Worker(
            id=w,
            area_ids=frozenset(people[w].areas),
            lat=(_home(people[w], area_rows) or fallback)[0],
            lon=(_home(people[w], area_rows) or fallback)[1],
            daily_capacity=data.capacity_per_day,
            days=data.days,
        )
        for w in data.worker_ids
    ]
    result = split.suggest_assignment(due, workers)
    items = [
        AssignItem(visit_id=v, worker_id=plan.worker_id, visit_on=data.start_on + dt.timedelta(days=n))
        for plan in result.plans
        for n, visit_ids in enumerate(plan.days)
        for v in visit_ids
    ]
    loads = [
        SuggestedLoad(
            worker_id=plan.worker_id,
            visits=len(plan.visit_ids),
            days={(data.start_on + dt.timedelta(days=n)).isoformat(): len(v) for n, v in enumerate(plan.days)},
        )
        for plan in result.plans
    ]
    return SuggestResult(
        items=items,
        loads=loads,
        left_over=[u.visit_id for u in result.unplaced],
        seconds=round(time.perf_counter() - began, 3),
    )


def _home(info: _WorkerInfo, areas: dict[int, tuple[float | None, float | None]]) -> tuple[float, float] | None:
    """Where a worker starts: their recorded home point, else their (first) area's centre."""
    if info.user.home_lat is not None and info.user.home_lon is not None:
        return info.user.home_lat, info.user.home_lon
    for area_id in sorted(info.areas):
        lat, lon = areas.get(area_id, (None, None))
        if lat is not None and lon is not None:
            return lat, lon
    return None


# ---------------------------------------------------------------- routes


async def _route_worker(session: AsyncSession, user: CurrentUser, worker_id: uuid.UUID) -> User:
    """The worker whose route is asked for: oneself, or a worker of the caller's areas."""
    if user.role == Role.worker:
        if worker_id != user.id:
            raise NotFound.field("worker_id", "no such worker in your areas")
        worker = await session.get(User, worker_id)
        assert worker is not None
        return worker
    info = (await _workers(session, [worker_id], await _area_paths(session))).get(worker_id)
    if (
        info is None
        or info.user.role != Role.worker.value
        or (user.role != Role.admin and not (info.areas and info.areas <= user.visible_area_ids))
    ):
        raise NotFound.field("worker_id", "no such worker in your areas")
    return info.user


async def _day_rows(session: AsyncSession, worker_id: uuid.UUID, day: dt.date) -> list[tuple[Any, ...]]:
    query = (
        select(
            Visit,
            Household.code,
            Household.head_name,
            Household.address,
            Household.lat,
            Household.lon,
            Area.name,
        )
        .join(Household, Household.id == Visit.household_id)
        .join(Area, Area.id == Household.area_id)
        .where(
            Visit.assigned_to == worker_id,
            Visit.visit_on == day,
            Visit.state.in_([*_OPEN, VisitState.submitted.value, VisitState.accepted.value]),
        )
        .order_by(func.coalesce(Visit.route_order, 1_000_000), Visit.priority.desc(), Visit.due_on, Visit.id)
    )
    return [tuple(r) for r in (await session.execute(query)).all()]


async def _start_point(
    session: AsyncSession, worker: User, start: RouteStart, lat: float | None, lon: float | None
) -> tuple[float, float] | None:
    if start == RouteStart.point:
        if lat is None or lon is None:
            raise InvalidInput.field("lat" if lat is None else "lon", "start=point needs both lat and lon")
        return lat, lon
    if start == RouteStart.last:
        row = (
            await session.execute(
                select(Household.lat, Household.lon)
                .join(Visit, Visit.household_id == Household.id)
                .where(
                    Visit.assigned_to == worker.id,
                    Visit.state.in_([VisitState.submitted.value, VisitState.accepted.value]),
                    Household.lat.is_not(None),
                    Household.lon.is_not(None),
                )
                .order_by(Visit.updated_at.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            return float(row[0] or 0.0), float(row[1] or 0.0)
    areas = [
        (lat_, lon_)
        for lat_, lon_ in (
            await session.execute(
                select(Area.lat, Area.lon)
                .join(UserArea, UserArea.area_id == Area.id)
                .where(UserArea.user_id == worker.id)
                .order_by(Area.id)
            )
        )
        if lat_ is not None and lon_ is not None
    ]
    if areas:
        return areas[0]
    if worker.home_lat is not None and worker.home_lon is not None:
        return worker.home_lat, worker.home_lon
    return None


def _stops(rows: list[tuple[Any, ...]]) -> list[routes.Stop[uuid.UUID]]:
    return [routes.Stop(id=r[0].id, lat=r[4], lon=r[5], village=r[6]) for r in rows]


def _route_read(
    worker_id: uuid.UUID,
    day: dt.date,
    start: tuple[float, float] | None,
    rows: list[tuple[Any, ...]],
    *,
    optimized: bool = False,
    nearest: int | None = None,
) -> RouteRead:
    ordered = sorted(rows, key=lambda r: (r[0].route_order is None, r[0].route_order or 0))
    stops = [
        RouteStop(
            visit_id=r[0].id,
            household_id=r[0].household_id,
            order=r[0].route_order if r[0].route_order is not None else n,
            household_code=r[1],
            head_name=r[2],
            address=r[3],
            area_id=r[0].area_id,
            village=r[6],
            state=VisitState(r[0].state),
            priority=r[0].priority,
            leg_m=r[0].route_leg_m,
            lat=r[4],
            lon=r[5],
        )
        for n, r in enumerate(ordered, start=1)
    ]
    return RouteRead(
        worker_id=worker_id,
        visit_on=day,
        start_lat=start[0] if start else None,
        start_lon=start[1] if start else None,
        stops=stops,
        total_m=sum(s.leg_m or 0 for s in stops),
        nearest_neighbour_m=nearest,
        optimized=optimized,
    )


def _store_order(
    session: AsyncSession,
    actor: Actor,
    rows: list[tuple[Any, ...]],
    order: list[uuid.UUID],
    start: tuple[float, float] | None,
    how: str,
) -> None:
    """Write ``route_order`` and ``route_leg_m`` (legs between located stops; unlocated: none)."""
    by_id = {r[0].id: r for r in rows}
    here = start
    for n, visit_id in enumerate(order, start=1):
        visit, lat, lon = by_id[visit_id][0], by_id[visit_id][4], by_id[visit_id][5]
        leg: int | None = None
        if lat is not None and lon is not None:
            leg = round(routes.haversine_m(here[0], here[1], lat, lon)) if here is not None else 0
            here = (lat, lon)
        if visit.route_order != n or visit.route_leg_m != leg:
            visit.route_order, visit.route_leg_m = n, leg
            touch(visit)
    record(
        session,
        actor,
        "route",
        "route",
        f"{by_id[order[0]][0].assigned_to}/{by_id[order[0]][0].visit_on}",
        {"how": how, "visit_ids": [str(v) for v in order]},
    )


async def day_route(
    session: AsyncSession,
    user: CurrentUser,
    worker_id: uuid.UUID,
    day: dt.date,
    start: RouteStart = RouteStart.office,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[RouteRead, dict[str, Any]]:
    """The worker's visits for ``day`` in their stored order (unordered ones last), and GeoJSON."""
    worker = await _route_worker(session, user, worker_id)
    point = await _start_point(session, worker, start, lat, lon)
    rows = await _day_rows(session, worker.id, day)
    read = _route_read(worker.id, day, point, rows)
    return read, _geojson(point, read)


def _geojson(start: tuple[float, float] | None, route: RouteRead) -> dict[str, Any]:
    """The stored order as a GeoJSON FeatureCollection (RFC 7946: ``[lon, lat]``)."""
    stops = [
        routes.Stop(id=str(s.visit_id), lat=s.lat, lon=s.lon, village=s.village)
        for s in sorted(route.stops, key=lambda s: s.order)
    ]
    located = [s for s in stops if s.lat is not None and s.lon is not None]
    origin = start or ((located[0].lat, located[0].lon) if located else None)
    features: list[dict[str, Any]] = []
    line = ([[origin[1], origin[0]]] if origin else []) + [[s.lon, s.lat] for s in located]
    if len(line) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"kind": "route", "total_m": route.total_m},
            }
        )
    if origin:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [origin[1], origin[0]]},
                "properties": {"kind": "start"},
            }
        )
    for s in sorted(route.stops, key=lambda s: s.order):
        geometry = {"type": "Point", "coordinates": [s.lon, s.lat]} if s.lat is not None and s.lon is not None else None
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "kind": "stop",
                    "visit_id": str(s.visit_id),
                    "order": s.order,
                    "household_code": s.household_code,
                    "village": s.village,
                    "leg_m": s.leg_m,
                    "located": geometry is not None,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"worker_id": str(route.worker_id), "visit_on": route.visit_on.isoformat()},
    }


def _check_writer(user: CurrentUser) -> None:
    if user.role not in (Role.supervisor, Role.admin):
        raise Forbidden("only supervisors order routes", code="forbidden")


async def optimize_route(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    worker_id: uuid.UUID,
    day: dt.date,
    start: RouteStart = RouteStart.office,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[RouteRead, dict[str, Any]]:
    """Order the day's open visits from the start point (nearest neighbour then 2-opt) and store
    the order and legs on the visits, so they travel to the tablet with them."""
    worker = await _route_worker(session, user, worker_id)
    point = await _start_point(session, worker, start, lat, lon)
    rows = await _day_rows(session, worker.id, day)
    if not rows:
        raise NotFound.field("visit_on", f"no visits for this worker on {day.isoformat()}")
    stops = _stops(rows)
    origin = point
    if origin is None:
        located = [s for s in stops if s.lat is not None and s.lon is not None]
        origin = (located[0].lat, located[0].lon) if located else (0.0, 0.0)  # type: ignore[assignment]
    assert origin is not None
    best = routes.plan_route(origin, stops)
    plain = routes.nearest_neighbour_only(origin, stops)
    _store_order(session, actor, rows, best.ordered_ids, point, "optimized")
    await session.flush()
    read = _route_read(worker.id, day, point, rows, optimized=True, nearest=plain.total_m)
    return read, _geojson(point, read)


async def reorder_route(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    worker_id: uuid.UUID,
    day: dt.date,
    visit_ids: list[uuid.UUID],
    start: RouteStart = RouteStart.office,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[RouteRead, dict[str, Any]]:
    """Store a hand-made order: every visit of the day exactly once."""
    worker = await _route_worker(session, user, worker_id)
    point = await _start_point(session, worker, start, lat, lon)
    rows = await _day_rows(session, worker.id, day)
    known = {r[0].id for r in rows}
    for n, visit_id in enumerate(visit_ids):
        if visit_id not in known:
            raise InvalidInput.field(f"$.visit_ids[{n}]", f"not a visit of this worker on {day.isoformat()}")
        if visit_id in visit_ids[:n]:
            raise InvalidInput.field(f"$.visit_ids[{n}]", "listed twice")
    if missing := known - set(visit_ids):
        raise InvalidInput.field("$.visit_ids", f"{len(missing)} visit(s) of the day are missing from the order")
    _store_order(session, actor, rows, visit_ids, point, "manual")
    await session.flush()
    read = _route_read(worker.id, day, point, rows)
    return read, _geojson(point, read)
