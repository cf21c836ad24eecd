"""Applying a checked roster to the database: set-based, idempotent, all or nothing.

Households are matched by the head's resident ID. The stored households, members and member
incomes touched by the file are loaded in large batches, compared in Python, and only the
differences are written, with bulk statements: a re-import of the same file writes nothing (no
version bump, no audit entry). A changed household gets ``version + 1``, a fresh ``updated_at``
and one audit entry with what changed; a new one gets one ``create`` entry; an import that
changed anything adds one ``import`` entry for the file (source, counts).

What the file says is the truth for what it covers: members of a matched household missing from
the file are removed; its member incomes are replaced when they differ. The one exception is the
amount: after a household's first registration it changes only through an approved decision or
a confirmed correction, so a re-import with another 月保障金 records a correction for an approver
to confirm (:mod:`server.registry.corrections`) and leaves the amount as it is. Household-level income
items (not tied to a member) and columns absent from the file are left as they are. A person
registered in a household the file does not cover is refused (the county moves people between
households only when both households are in the same file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from sqlalchemy import JSON, Date, Table, Uuid, bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.roster import RosterAmountCorrection, RosterImportResult
from server.audit.models import AuditEvent
from server.audit.services import jsonable
from server.auth.identity import Actor
from server.db.base import UTCDateTime, core_table, utcnow
from server.db.batch import convert_column, paused_gc
from server.planning.models import Visit
from server.registry.models import AmountCorrection, Area, Household, IncomeItem, Member
from server.registry.roster import ParsedRoster, RosterFileError, RosterHousehold
from server.sync.changes import ACTIVE_STATES, mark_changed

__all__ = ["MAX_ERRORS_LISTED", "import_roster"]

#: Errors listed in a refusal or summary; ``error_count`` has the full number.
MAX_ERRORS_LISTED = 1000
_BATCH = 5000
_SQLITE_CACHE_KIB = 256 * 1024

T = TypeVar("T")

_HOUSEHOLD_DEFAULTS: dict[str, Any] = {
    "status": "active",
    "benefit_amount": 0,
    "address": "",
    "lat": None,
    "lon": None,
    "bank_name": None,
    "bank_account": None,
    "phone": None,
    "approved_on": None,
    "last_recheck_on": None,
}
_MEMBER_DEFAULTS: dict[str, Any] = {
    "health": "healthy",
    "disability_grade": None,
    "labour_capacity": "full",
    "employment": None,
}
_MEMBER_COLUMNS = ("name", "relation", "sex", "birth_date", *_MEMBER_DEFAULTS)
_MEMBER_UPDATE_KEYS = ("id", "household_id", *_MEMBER_COLUMNS)
_HOUSEHOLD_UPDATE_KEYS = ("id", "code", "area_id", "head_name", "residence", "category", *_HOUSEHOLD_DEFAULTS)


class _OrderedIds:
    """Time-ordered UUIDs (the UUIDv7 layout: milliseconds, then a counter and random bits).

    Rows inserted in id order fill the primary-key and household indexes at their right edge
    instead of at random pages, which is what makes 250,000-row inserts cheap on both engines.
    """

    def __init__(self) -> None:
        self._last = 0
        self._random = random.Random(os.urandom(16))  # uniqueness comes from time and counter

    def __call__(self) -> uuid.UUID:
        bits = self._random.getrandbits(48)
        value = max(time.time_ns() // 1_000_000 << 80 | (bits >> 16) << 16, self._last + (1 << 16))
        self._last = value
        value = (value & ~(0xF << 76) | (0x7 << 76)) & ~(0x3 << 62) | (0x2 << 62) | (bits & 0xFFFF)
        return uuid.UUID(int=value)


_new_id = _OrderedIds()


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Plan:
    """The writes an import needs, gathered before any is made."""

    new_households: list[dict[str, Any]] = field(default_factory=list)
    household_updates: list[dict[str, Any]] = field(default_factory=list)
    new_members: list[dict[str, Any]] = field(default_factory=list)
    member_updates: list[dict[str, Any]] = field(default_factory=list)
    removed_members: list[uuid.UUID] = field(default_factory=list)
    income_households: list[uuid.UUID] = field(default_factory=list)
    new_incomes: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[RosterAmountCorrection] = field(default_factory=list)
    correction_households: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    unchanged: int = 0


@dataclass
class _Stored:
    """What the database holds for the file's households and people."""

    areas: dict[str, tuple[int, str | None]]
    households: dict[str, dict[str, Any]]
    members_by_number: dict[str, dict[str, Any]]
    members_by_household: dict[uuid.UUID, list[dict[str, Any]]]
    incomes: dict[uuid.UUID, list[dict[str, Any]]]


async def _select_in(session: AsyncSession, columns: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Rows whose ``column`` is in ``values``, fetched in batches (parameter limits)."""
    rows: list[Any] = []
    ordered = list(values)
    statement = select(*columns).where(column.in_(bindparam("values", expanding=True)))
    for chunk in _chunks(ordered):
        rows.extend((await session.execute(statement, {"values": list(chunk)})).mappings().all())
    return rows


def _generated_code(area_code: str, head: str, attempt: int = 0) -> str:
    digest = hashlib.sha1(f"{head}:{attempt}".encode()).hexdigest()[:8].upper()
    return f"{area_code[:31]}-{digest}"


async def _load(session: AsyncSession, roster: ParsedRoster) -> _Stored:
    areas = {
        code: (area_id, residence)
        for area_id, code, residence in (await session.execute(select(Area.id, Area.code, Area.residence))).all()
    }
    household_table = core_table(Household).c
    households = {
        row["head_id_number"]: dict(row)
        for row in await _select_in(session, household_table, household_table.head_id_number, roster.households)
    }
    member_table = core_table(Member).c
    household_ids = [h["id"] for h in households.values()]
    members_by_number = {
        row["id_number"]: dict(row)
        for row in await _select_in(session, member_table, member_table.household_id, household_ids)
    }
    numbers = [
        m.id_number for h in roster.households.values() for m in h.members if m.id_number not in members_by_number
    ]
    for row in await _select_in(session, member_table, member_table.id_number, numbers):
        members_by_number[row["id_number"]] = dict(row)
    members_by_household: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for member in members_by_number.values():
        members_by_household.setdefault(member["household_id"], []).append(member)
    incomes: dict[uuid.UUID, list[dict[str, Any]]] = {}
    income_table = core_table(IncomeItem).c
    for row in await _select_in(session, income_table, income_table.household_id, household_ids):
        if row["member_id"] is not None:
            incomes.setdefault(row["household_id"], []).append(dict(row))
    return _Stored(areas, households, members_by_number, members_by_household, incomes)


async def _resolve_codes(session: AsyncSession, roster: ParsedRoster, stored: _Stored) -> dict[str, str]:
    """The code each file household will have; clashes with other households are errors."""
    wanted: dict[str, str] = {}
    for head, household in roster.households.items():
        if head in roster.invalid:
            continue
        if "household_code" in household.fields:
            wanted[head] = household.fields["household_code"]
        elif head in stored.households:
            wanted[head] = stored.households[head]["code"]
        else:
            wanted[head] = _generated_code(household.fields.get("area_code", ""), head)
    table = core_table(Household).c
    taken = {
        row["code"]: row["head_id_number"]
        for row in await _select_in(session, (table.code, table.head_id_number), table.code, set(wanted.values()))
    }
    owners: dict[str, str] = {}
    for head, code in wanted.items():
        household = roster.households[head]
        given = "household_code" in household.fields
        attempt = 0
        while (taken.get(code, head) != head or owners.get(code, head) != head) and not given:
            attempt += 1  # a generated code that happens to clash: derive another
            code = _generated_code(household.fields.get("area_code", ""), head, attempt)
            if attempt % 5 == 0:
                extra = await _select_in(session, (table.code, table.head_id_number), table.code, [code])
                taken.update({row["code"]: row["head_id_number"] for row in extra})
        if given and taken.get(code, head) != head:
            roster.error(household.head_row, "household_code", "another household already has this code", head)
        elif given and owners.get(code, head) != head:
            roster.error(
                household.head_row,
                "household_code",
                f"the same code is given to another household on row {roster.households[owners[code]].head_row}",
                head,
            )
        owners.setdefault(code, head)
        wanted[head] = code
    return wanted


def _check_places(roster: ParsedRoster, stored: _Stored, scope: frozenset[int] | None) -> None:
    """Area codes exist and lie in the caller's scope; matched households too; residence known."""
    for head, household in roster.households.items():
        if head in roster.invalid or household.head_row is None:
            continue
        row = household.head_row
        code = household.fields.get("area_code")
        area = stored.areas.get(code) if code else None
        if area is None:
            roster.error(row, "area_code", "no area with this code", head)
            continue
        if scope is not None and area[0] not in scope:
            roster.error(row, "area_code", "outside your areas", head)
            continue
        existing = stored.households.get(head)
        if existing is not None and scope is not None and existing["area_id"] not in scope:
            roster.error(row, "head_id_number", "this household is registered in an area outside yours", head)
            continue
        if "residence" not in household.fields and area[1] is None and existing is None:
            roster.error(row, "residence", "required: the area has no urban/rural setting", head)


def _status_after(household: RosterHousehold, columns: frozenset[str], existing: dict[str, Any] | None) -> str:
    """The household's status once imported: the file's (empty = the default), else the stored one."""
    if "status" in columns:
        return str(household.fields.get("status", _HOUSEHOLD_DEFAULTS["status"]))
    return str(existing["status"]) if existing is not None else _HOUSEHOLD_DEFAULTS["status"]


def _check_amounts(roster: ParsedRoster, stored: _Stored) -> None:
    """An empty 月保障金 cell on an active household is an error: it would read as 0 and stop the
    household's payment without any decision behind it."""
    if "benefit_amount" not in roster.columns:
        return
    for head, household in roster.households.items():
        row = household.head_row
        if head in roster.invalid or row is None or "benefit_amount" in household.fields:
            continue
        if _status_after(household, roster.columns, stored.households.get(head)) == "active":
            roster.error(row, "benefit_amount", "empty for an active household: write its monthly amount", head)


def _check_people(roster: ParsedRoster, stored: _Stored, codes: dict[uuid.UUID, str]) -> bool:
    """A person stored in a household the file does not (validly) cover cannot be taken from it."""
    covered = {
        stored.households[head]["id"]
        for head in roster.households
        if head not in roster.invalid and head in stored.households
    }
    found = False
    for head, household in roster.households.items():
        if head in roster.invalid:
            continue
        for member in household.members:
            current = stored.members_by_number.get(member.id_number)
            if current is None or current["household_id"] in covered:
                continue
            other = codes.get(current["household_id"], "?")
            roster.error(
                member.row,
                "id_number",
                f"already a member of household {other}, which this file does not cover",
                head,
            )
            found = True
    return found


async def _household_codes(session: AsyncSession, stored: _Stored, roster: ParsedRoster) -> dict[uuid.UUID, str]:
    ids = {
        stored.members_by_number[m.id_number]["household_id"]
        for h in roster.households.values()
        for m in h.members
        if m.id_number in stored.members_by_number
    }
    ids -= {h["id"] for h in stored.households.values()}
    table = core_table(Household).c
    return {row["id"]: row["code"] for row in await _select_in(session, (table.id, table.code), table.id, ids)}


def _audit_row(
    actor: Actor, action: str, entity: str, entity_id: Any, changes: dict[str, Any], at: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "device_id": actor.device_id,
        "request_id": actor.request_id,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "changes": changes,
    }


def _plan_household(
    plan: _Plan,
    household: RosterHousehold,
    stored: _Stored,
    code: str,
    columns: frozenset[str],
    listed: set[str],
    actor: Actor,
    now: dt.datetime,
) -> tuple[int, int, int]:
    """Add the writes for one household; returns (members created, updated, removed)."""
    head = household.head_id_number
    fields = household.fields
    area_id, area_residence = stored.areas[fields["area_code"]]
    head_member = next(m for m in household.members if m.id_number == head)
    existing = stored.households.get(head)
    wanted: dict[str, Any] = {
        "code": code,
        "area_id": area_id,
        "head_name": head_member.fields["name"],
        "category": fields["category"],
    }
    wanted.update({key: fields.get(key, default) for key, default in _HOUSEHOLD_DEFAULTS.items() if key in columns})
    if "residence" in fields:
        wanted["residence"] = fields["residence"]
    changes: dict[str, Any] = {}
    if existing is None:
        household_id = _new_id()
        row = {"residence": area_residence, **_HOUSEHOLD_DEFAULTS, **wanted}
        row |= {"id": household_id, "head_id_number": head, "version": 1, "created_at": now, "updated_at": now}
        plan.new_households.append(row)
        audit = {"source": "roster", "code": code, "members": len(household.members)}
        plan.audit.append(_audit_row(actor, "create", "household", household_id, audit, now))
    else:
        household_id = existing["id"]
        if wanted.get("benefit_amount", existing["benefit_amount"]) != existing["benefit_amount"]:
            # the amount is not the file's to change: it becomes a correction for an approver
            plan.corrections.append(
                RosterAmountCorrection(
                    row=household.head_row or 0,
                    household_code=existing["code"],
                    current_amount=existing["benefit_amount"],
                    file_amount=wanted["benefit_amount"],
                )
            )
            plan.correction_households.append((household_id, existing["area_id"]))
            wanted["benefit_amount"] = existing["benefit_amount"]
        changes = {key: [jsonable(existing[key]), jsonable(v)] for key, v in wanted.items() if existing[key] != v}
    created = updated = 0
    member_ids: dict[str, uuid.UUID] = {}
    added: list[str] = []
    changed_members: dict[str, Any] = {}
    for member in household.members:
        current = stored.members_by_number.get(member.id_number)
        if current is None:
            member_id = _new_id()
            # a new person: the file's values over the defaults (blank cells were left out of fields)
            row = {**_MEMBER_DEFAULTS, **member.fields, "id": member_id, "household_id": household_id}
            plan.new_members.append(row)
            added.append(member.fields["name"])
            created += 1
        else:
            member_id = current["id"]
            values = {
                key: member.fields.get(key, _MEMBER_DEFAULTS.get(key))
                for key in _MEMBER_COLUMNS
                if key in member.fields or key in columns
            }
            values["household_id"] = household_id
            diff = {key: [jsonable(current[key]), jsonable(v)] for key, v in values.items() if current[key] != v}
            if diff:
                plan.member_updates.append({key: current[key] for key in _MEMBER_UPDATE_KEYS} | values)
                changed_members[str(member_id)] = diff
                updated += 1
        member_ids[member.id_number] = member_id
    own = {m.id_number for m in household.members}
    gone = [m for m in stored.members_by_household.get(household_id, []) if m["id_number"] not in own]
    removed = [m for m in gone if m["id_number"] not in listed]  # listed elsewhere in the file: moved
    plan.removed_members.extend(m["id"] for m in removed)
    new_incomes = sorted(
        (member_ids[m.id_number], kind, amount) for m in household.members for kind, amount in m.incomes.items()
    )
    old_incomes = sorted((i["member_id"], i["kind"], i["monthly_amount"]) for i in stored.incomes.get(household_id, []))
    if new_incomes != old_incomes:
        if existing is not None:
            plan.income_households.append(household_id)
            changes["incomes"] = [sum(i[2] for i in old_incomes), sum(i[2] for i in new_incomes)]
        plan.new_incomes.extend(
            {
                "id": _new_id(),
                "household_id": household_id,
                "member_id": member_id,
                "kind": kind,
                "monthly_amount": amount,
                "note": None,
            }
            for member_id, kind, amount in new_incomes
        )
    if existing is not None:
        if added:
            changes["members_added"] = added
        if removed:
            changes["members_removed"] = [m["name"] for m in removed]
        if moved := [m["name"] for m in gone if m["id_number"] in listed]:
            changes["members_moved_out"] = moved
        if changed_members:
            changes["members_changed"] = changed_members
        if changes:
            row = {key: existing[key] for key in _HOUSEHOLD_UPDATE_KEYS} | wanted
            row |= {"version": existing["version"] + 1, "updated_at": now}
            plan.household_updates.append(row)
            audit = {"source": "roster", **changes}
            plan.audit.append(_audit_row(actor, "update", "household", household_id, audit, now))
        else:
            plan.unchanged += 1
    return created, updated, len(removed)


def _update_by_id(table: Table, keys: Iterable[str]) -> Any:
    """``UPDATE table SET k = :k … WHERE id = :_id`` for executemany with whole rows."""
    return (
        update(table).where(table.c.id == bindparam("_id")).values({key: bindparam(key) for key in keys if key != "id"})
    )


def _sqlite_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _converter(table: Table, name: str, dialect: str) -> Callable[[Any], Any] | None:
    """How a Python value of this column becomes what the driver stores (as SQLAlchemy stores it)."""
    column_type = table.c[name].type
    if isinstance(column_type, JSON):
        return _json_text
    if dialect != "sqlite":
        return None  # asyncpg takes UUID, date and aware datetime objects as they are
    if isinstance(column_type, Uuid):
        return operator.attrgetter("hex")
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column_type, Date):
        return dt.date.isoformat
    return None


async def _bulk_insert(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], progress: Callable[[int], None] | None
) -> None:
    """Insert ``rows`` (all with the same keys) through the driver: COPY on PostgreSQL, executemany on SQLite.

    SQLAlchemy's per-row parameter processing costs more than the database's own work at 250,000
    rows, so the values are converted here, once per column, to the forms SQLAlchemy stores.
    """
    if not rows:
        return
    columns = list(rows[0])
    connection = await session.connection()
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        for chunk in _chunks(rows):
            await session.execute(insert(table), list(chunk))
        return
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    converters = [_converter(table, name, dialect) for name in columns]
    pick = operator.itemgetter(*columns)
    for chunk in _chunks(rows, 20_000):
        records = [pick(row) for row in chunk]
        if any(converters):
            by_column = [
                convert_column(convert, values, hashable=convert is not _json_text) if convert else values
                for convert, values in zip(converters, zip(*records, strict=True), strict=True)
            ]
            records = list(zip(*by_column, strict=True))
        if dialect == "postgresql":
            await driver.copy_records_to_table(table.name, records=records, columns=columns)
        else:
            marks = ", ".join("?" * len(columns))
            await driver.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", records)
        if progress:
            progress(len(chunk))


async def _write(session: AsyncSession, plan: _Plan, progress: Callable[[int], None] | None) -> None:
    """Core executemany statements in chunks; every row of a statement carries the same keys."""

    async def run(statement: Any, rows: Sequence[dict[str, Any]], by_id: bool = False) -> None:
        for chunk in _chunks(rows):
            params = [{**row, "_id": row["id"]} for row in chunk] if by_id else list(chunk)
            await session.execute(statement, params)
            if progress:
                progress(len(chunk))

    households, members, incomes = core_table(Household), core_table(Member), core_table(IncomeItem)
    await _bulk_insert(session, households, plan.new_households, progress)
    if plan.household_updates:
        await run(_update_by_id(households, plan.household_updates[0]), plan.household_updates, by_id=True)
    for chunk in _chunks(plan.income_households):
        await session.execute(
            delete(incomes).where(incomes.c.household_id.in_(chunk), incomes.c.member_id.is_not(None))
        )
    for chunk in _chunks(plan.removed_members):
        await session.execute(delete(members).where(members.c.id.in_(chunk)))
    if plan.member_updates:
        await run(_update_by_id(members, plan.member_updates[0]), plan.member_updates, by_id=True)
    await _bulk_insert(session, members, plan.new_members, progress)
    await _bulk_insert(session, incomes, plan.new_incomes, progress)
    await _bulk_insert(session, core_table(AuditEvent), plan.audit, progress)


async def _record_corrections(session: AsyncSession, plan: _Plan, actor: Actor, source: str, now: dt.datetime) -> int:
    """Store the file's differing amounts as pending corrections; returns how many are new.

    A pending correction of the same household to the same amount is kept (a re-import of the
    same file records nothing); one to another amount is superseded by the file's.
    """
    table = core_table(AmountCorrection)
    pending = {
        row["household_id"]: row
        for row in await _select_in(
            session,
            (table.c.id, table.c.household_id, table.c.new_amount, table.c.state),
            table.c.household_id,
            [h for h, _ in plan.correction_households],
        )
        if row["state"] == "pending"
    }
    rows: list[dict[str, Any]] = []
    superseded: list[uuid.UUID] = []
    for item, (household_id, area_id) in zip(plan.corrections, plan.correction_households, strict=True):
        current = pending.get(household_id)
        if current is not None and current["new_amount"] == item.file_amount:
            item.correction_id = current["id"]
            continue
        if current is not None:
            superseded.append(current["id"])
        item.correction_id = _new_id()
        rows.append(
            {
                "id": item.correction_id,
                "household_id": household_id,
                "area_id": area_id,
                "old_amount": item.current_amount,
                "new_amount": item.file_amount,
                "source": "roster",
                "source_ref": (source or "roster")[:300],
                "reason": f"roster row {item.row}",
                "state": "pending",
                "recorded_by": actor.user_id,
                "recorded_at": now,
            }
        )
        changes = {
            "household_id": str(household_id),
            "benefit_amount": [item.current_amount, item.file_amount],
            "source": "roster",
            "row": item.row,
            **({"supersedes": str(current["id"])} if current is not None else {}),
        }
        plan.audit.append(_audit_row(actor, "create", "amount_correction", item.correction_id, changes, now))
    for ids in _chunks(superseded):
        await session.execute(update(table).where(table.c.id.in_(ids)).values(state="superseded", decided_at=now))
    for batch in _chunks(rows):
        await session.execute(insert(table), list(batch))
    return len(rows)


async def _mark_on_tablets(session: AsyncSession, plan: _Plan) -> None:
    """Changed households that are on a worker's tablet (an active visit) go out through the sync
    feed at commit. The import writes through Core, which the session's change hooks do not see."""
    visits = core_table(Visit).c
    changed = [row["id"] for row in plan.household_updates]
    rows = await _select_in(session, [visits.household_id, visits.state], visits.household_id, changed)
    mark_changed(session, households={row["household_id"] for row in rows if row["state"] in ACTIVE_STATES})


async def import_roster(
    session: AsyncSession,
    roster: ParsedRoster,
    actor: Actor,
    *,
    scope: frozenset[int] | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    source: str = "",
    progress: Callable[[int], None] | None = None,
) -> RosterImportResult:
    """Check ``roster`` against the database and write the differences (nothing if ``dry_run``).

    ``scope`` limits the areas the caller may import into (``None``: anywhere, the command line).
    Any bad row refuses the whole import with :class:`RosterFileError`, unless ``skip_invalid``:
    then the households with a bad row are left out and the rest are imported. The caller commits.
    """
    with paused_gc():  # hundreds of thousands of small dicts
        return await _import(session, roster, actor, scope, skip_invalid, dry_run, source, progress)


async def _import(
    session: AsyncSession,
    roster: ParsedRoster,
    actor: Actor,
    scope: frozenset[int] | None,
    skip_invalid: bool,
    dry_run: bool,
    source: str,
    progress: Callable[[int], None] | None,
) -> RosterImportResult:
    started = time.perf_counter()
    if session.get_bind().dialect.name == "sqlite":
        # a page cache that holds the indexes being filled: random keys otherwise thrash a 2 MB cache
        await session.execute(text(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}"))
    stored = await _load(session, roster)
    _check_places(roster, stored, scope)
    _check_amounts(roster, stored)
    codes = await _resolve_codes(session, roster, stored)
    other_codes = await _household_codes(session, stored, roster)
    while _check_people(roster, stored, other_codes):
        pass  # a refused person can invalidate a household that another one was moving people from
    errors = sorted(roster.errors, key=lambda e: (e.row or 0, e.path))
    if errors and not skip_invalid:
        raise RosterFileError(
            f"{len(errors)} problem(s) in the file; nothing was imported",
            errors[:MAX_ERRORS_LISTED],
        )
    households = roster.valid_households
    plan = _Plan()
    now = utcnow()
    # a stored member missing from their household's rows but listed in another household moves there
    listed = {m.id_number for h in households for m in h.members}
    members_created = members_updated = members_removed = 0
    for household in households:
        c, u, r = _plan_household(
            plan, household, stored, codes[household.head_id_number], roster.columns, listed, actor, now
        )
        members_created += c
        members_updated += u
        members_removed += r
    result = RosterImportResult(
        rows=roster.rows,
        households=len(roster.households),
        created=len(plan.new_households),
        updated=len(plan.household_updates),
        unchanged=plan.unchanged,
        members_created=members_created,
        members_updated=members_updated,
        members_removed=members_removed,
        skipped_households=len(roster.invalid),
        skipped_rows=roster.skipped_rows,
        notes=roster.notes,
        error_count=len(errors),
        errors=list(errors[:MAX_ERRORS_LISTED]),
        amount_corrections=len(plan.corrections),
        corrections=plan.corrections[:MAX_ERRORS_LISTED],
        dry_run=dry_run,
    )
    recorded = 0 if dry_run else await _record_corrections(session, plan, actor, source, now)
    if not dry_run and (plan.new_households or plan.household_updates or recorded):
        summary = {
            "source": source,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "skipped_households": result.skipped_households,
            "amount_corrections": recorded,
        }
        plan.audit.append(_audit_row(actor, "import", "roster", source or "roster", summary, now))
        await _write(session, plan, progress)
        await _mark_on_tablets(session, plan)
    result.seconds = round(time.perf_counter() - started, 3)
    return result
