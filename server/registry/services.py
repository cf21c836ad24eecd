"""Areas, households and members: validation, scope, audit, cursor pagination."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.errors import FieldError
from schemas.registry import (
    AreaCreate,
    AreaLevel,
    AreaRead,
    Category,
    Health,
    HouseholdCreate,
    HouseholdRead,
    HouseholdStatus,
    HouseholdSummary,
    HouseholdUpdate,
    IncomeItemRead,
    IncomeKind,
    LabourCapacity,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    Page,
    Relation,
    Residence,
    Sex,
    id_number_problem,
)
from server.audit.services import jsonable, record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.db.updates import apply_changes
from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.registry.masking import (
    mask_bank_account,
    mask_id_number,
    sees_full_bank_account,
    sees_full_id_number,
)
from server.registry.models import Area, Household, IncomeItem, Member

__all__ = [
    "SORTS",
    "add_member",
    "create_area",
    "create_household",
    "get_household",
    "list_areas",
    "list_households",
    "remove_member",
    "update_household",
    "update_member",
]

#: Sort keys the household list accepts; ``-`` for descending.
SORTS: dict[str, Any] = {
    "code": Household.code,
    "head_name": Household.head_name,
    "benefit_amount": Household.benefit_amount,
    "updated_at": Household.updated_at,
}


# ---------------------------------------------------------------- areas


def area_read(area: Area) -> AreaRead:
    return AreaRead(
        id=area.id,
        code=area.code,
        name=area.name,
        level=AreaLevel(area.level),
        parent_id=area.parent_id,
        residence=Residence(area.residence) if area.residence else None,
        lat=area.lat,
        lon=area.lon,
    )


async def list_areas(session: AsyncSession, user: CurrentUser) -> list[Area]:
    rows = await session.scalars(select(Area).where(Area.id.in_(user.visible_area_ids)).order_by(Area.path))
    return list(rows.all())


async def create_area(session: AsyncSession, actor: Actor, data: AreaCreate) -> Area:
    """Add a node to the area tree (admins)."""
    parent = None
    if data.parent_id is not None:
        parent = await session.get(Area, data.parent_id)
        if parent is None:
            raise InvalidInput.field("$.parent_id", "no such area")
    if await session.scalar(select(Area.id).where(Area.code == data.code)):
        raise Conflict.field("$.code", "an area with this code exists")
    area = Area(
        code=data.code,
        name=data.name,
        level=data.level.value,
        parent_id=data.parent_id,
        residence=data.residence.value if data.residence else None,
        lat=data.lat,
        lon=data.lon,
    )
    session.add(area)
    await session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    record(session, actor, "create", "area", area.id, {"code": area.code, "name": area.name})
    return area


# ---------------------------------------------------------------- reading households


def _id(role: Role, value: str) -> str:
    return value if sees_full_id_number(role) else mask_id_number(value)


def _bank(role: Role, value: str | None) -> str | None:
    return value if value is None or sees_full_bank_account(role) else mask_bank_account(value)


def member_read(member: Member, role: Role) -> MemberRead:
    return MemberRead(
        id=member.id,
        name=member.name,
        relation=Relation(member.relation),
        id_number=_id(role, member.id_number),
        sex=Sex(member.sex),
        birth_date=member.birth_date,
        health=Health(member.health),
        labour_capacity=LabourCapacity(member.labour_capacity),
        disability_grade=member.disability_grade,
        employment=member.employment,
    )


async def household_read(session: AsyncSession, household: Household, role: Role) -> HouseholdRead:
    members = (
        await session.scalars(select(Member).where(Member.household_id == household.id).order_by(Member.birth_date))
    ).all()
    incomes = (await session.scalars(select(IncomeItem).where(IncomeItem.household_id == household.id))).all()
    return HouseholdRead(
        id=household.id,
        code=household.code,
        head_name=household.head_name,
        head_id_number=_id(role, household.head_id_number),
        area_id=household.area_id,
        residence=Residence(household.residence),
        category=Category(household.category),
        status=HouseholdStatus(household.status),
        benefit_amount=household.benefit_amount,
        address=household.address,
        version=household.version,
        created_at=household.created_at,
        updated_at=household.updated_at,
        members=[member_read(m, role) for m in members],
        incomes=[
            IncomeItemRead(
                id=i.id,
                kind=IncomeKind(i.kind),
                monthly_amount=i.monthly_amount,
                member_id=i.member_id,
                note=i.note,
            )
            for i in incomes
        ],
        lat=household.lat,
        lon=household.lon,
        bank_name=household.bank_name,
        bank_account=_bank(role, household.bank_account),
        phone=household.phone,
        approved_on=household.approved_on,
        last_recheck_on=household.last_recheck_on,
        head_vacant_since=household.head_vacant_since,
        head_vacant_reason=household.head_vacant_reason,
    )


async def get_household(session: AsyncSession, user: CurrentUser, household_id: uuid.UUID) -> Household:
    """The household, if it lies in the user's areas; otherwise 404 (existence is not revealed)."""
    household = await session.get(Household, household_id)
    if household is None or not user.can_see_area(household.area_id):
        raise NotFound.field("household_id", "no such household in your areas")
    return household


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        values = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, msgspec.DecodeError) as exc:
        raise InvalidInput.field("cursor", "not a cursor from this list") from exc
    if not isinstance(values, list) or len(values) != 2:
        raise InvalidInput.field("cursor", "not a cursor from this list")
    return values


def _cursor_value(sort_key: str, value: Any) -> Any:
    if sort_key == "updated_at":
        return dt.datetime.fromisoformat(value)
    return value


async def list_households(
    session: AsyncSession,
    user: CurrentUser,
    *,
    area_id: int | None = None,
    category: Category | None = None,
    status: HouseholdStatus | None = None,
    residence: Residence | None = None,
    q: str | None = None,
    sort: str = "code",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[HouseholdSummary]:
    """One page of households in the user's areas, filtered and sorted, keyset-paginated.

    The cursor is the last row's (sort value, id), so pages stay stable while rows are added.
    """
    descending = sort.startswith("-")
    sort_key = sort.lstrip("-")
    if sort_key not in SORTS:
        raise InvalidInput.field("sort", f"one of {', '.join(sorted(SORTS))}, optionally prefixed with -")
    column = SORTS[sort_key]
    areas = user.visible_area_ids
    # a county-wide reader sees every area: no area filter, so the sort can walk an index and stop
    everywhere = area_id is None and len(areas) == await session.scalar(select(func.count()).select_from(Area))
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or not user.can_see_area(area_id):
            raise NotFound.field("area_id", "no such area in your areas")
        below = (await session.scalars(select(Area.id).where(Area.path.startswith(area.path)))).all()
        areas = frozenset(below) & areas
    member_count = (
        select(func.count()).where(Member.household_id == Household.id).correlate(Household).scalar_subquery()
    )
    query: Select[Any] = select(Household, member_count)
    if not everywhere:
        query = query.where(Household.area_id.in_(areas))
    if category:
        query = query.where(Household.category == category.value)
    if status:
        query = query.where(Household.status == status.value)
    if residence:
        query = query.where(Household.residence == residence.value)
    if q:
        query = query.where((Household.head_name.startswith(q)) | (Household.code.startswith(q)))
    if cursor:
        value, last_id = _decode_cursor(cursor)
        key = tuple_(column, Household.id)
        bound = tuple_(_cursor_value(sort_key, value), uuid.UUID(str(last_id)))
        query = query.where(key < bound if descending else key > bound)
    order = (column.desc(), Household.id.desc()) if descending else (column.asc(), Household.id.asc())
    rows = (await session.execute(query.order_by(*order).limit(limit + 1))).all()
    items = [_summary(h, n, user.role) for h, n in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = _encode_cursor([jsonable(getattr(last, sort_key)), str(last.id)])
    return Page[HouseholdSummary](items=items, next_cursor=next_cursor)


def _summary(h: Household, member_count: int, role: Role) -> HouseholdSummary:
    return HouseholdSummary(
        id=h.id,
        code=h.code,
        head_name=h.head_name,
        head_id_number=_id(role, h.head_id_number),
        area_id=h.area_id,
        residence=Residence(h.residence),
        category=Category(h.category),
        status=HouseholdStatus(h.status),
        benefit_amount=h.benefit_amount,
        member_count=member_count,
        version=h.version,
        updated_at=h.updated_at,
        address=h.address,
        lat=h.lat,
        lon=h.lon,
        last_recheck_on=h.last_recheck_on,
    )


# ---------------------------------------------------------------- writing households


def _member_problems(members: list[MemberCreate], prefix: str = "$.members") -> list[FieldError]:
    problems: list[FieldError] = []
    seen: set[str] = set()
    for i, m in enumerate(members):
        if reason := id_number_problem(m.id_number):
            problems.append(FieldError(path=f"{prefix}[{i}].id_number", reason=reason))
        elif m.id_number in seen:
            problems.append(FieldError(path=f"{prefix}[{i}].id_number", reason="listed twice in this household"))
        seen.add(m.id_number)
    heads = [i for i, m in enumerate(members) if m.relation == Relation.head]
    if len(heads) != 1:
        problems.append(FieldError(path=prefix, reason=f"exactly one member must be the head, found {len(heads)}"))
    return problems


async def _check_id_numbers_free(
    session: AsyncSession, numbers: list[str], paths: list[str], household_id: uuid.UUID | None = None
) -> None:
    query = select(Member.id_number, Member.household_id).where(Member.id_number.in_(numbers))
    taken = {n: h for n, h in (await session.execute(query)).all() if h != household_id}
    problems = [
        FieldError(path=path, reason="this person is already a member of another household")
        for number, path in zip(numbers, paths, strict=True)
        if number in taken
    ]
    if problems:
        raise Conflict("resident ID already registered", problems, code="duplicate_person")


async def _area_in_scope(session: AsyncSession, user: CurrentUser, area_id: int, path: str) -> Area:
    area = await session.get(Area, area_id)
    if area is None:
        raise InvalidInput.field(path, "no such area")
    if not user.can_see_area(area_id):
        raise Forbidden.field(path, "outside your areas")
    return area


def _member_row(household_id: uuid.UUID, m: MemberCreate) -> Member:
    return Member(
        id=m.id or uuid.uuid4(),
        household_id=household_id,
        name=m.name,
        relation=m.relation.value,
        id_number=m.id_number,
        sex=m.sex.value,
        birth_date=m.birth_date,
        health=m.health.value,
        disability_grade=m.disability_grade,
        labour_capacity=m.labour_capacity.value,
        employment=m.employment,
    )


async def create_household(session: AsyncSession, user: CurrentUser, actor: Actor, data: HouseholdCreate) -> Household:
    """Register a household with its members and incomes (all or nothing)."""
    if problems := _member_problems(data.members):
        raise InvalidInput("invalid members", problems)
    area = await _area_in_scope(session, user, data.area_id, "$.area_id")
    await _check_id_numbers_free(
        session,
        [m.id_number for m in data.members],
        [f"$.members[{i}].id_number" for i in range(len(data.members))],
    )
    if data.code and await session.scalar(select(Household.id).where(Household.code == data.code)):
        raise Conflict.field("$.code", "a household with this code exists")
    head = next(m for m in data.members if m.relation == Relation.head)
    household = Household(
        id=data.id or uuid.uuid4(),
        code=data.code or f"{area.code}-{uuid.uuid4().hex[:8].upper()}",
        head_name=head.name,
        head_id_number=head.id_number,
        address=data.address,
        area_id=area.id,
        residence=data.residence.value,
        lat=data.lat,
        lon=data.lon,
        category=data.category.value,
        benefit_amount=data.benefit_amount,
        bank_name=data.bank_name,
        bank_account=data.bank_account,
        phone=data.phone,
        approved_on=data.approved_on,
        last_recheck_on=data.last_recheck_on,
    )
    session.add(household)
    members = [_member_row(household.id, m) for m in data.members]
    member_ids = {m.id for m in members}
    for i, income in enumerate(data.incomes):
        if income.member_id is not None and income.member_id not in member_ids:
            raise InvalidInput.field(f"$.incomes[{i}].member_id", "not a member of this household")
    await session.flush()
    session.add_all(members)
    session.add_all(
        IncomeItem(
            household_id=household.id,
            member_id=i.member_id,
            kind=i.kind.value,
            monthly_amount=i.monthly_amount,
            note=i.note,
        )
        for i in data.incomes
    )
    await session.flush()
    record(session, actor, "create", "household", household.id, {"code": household.code, "members": len(members)})
    return household


def _touch(household: Household) -> None:
    household.version += 1
    household.updated_at = utcnow()


async def update_household(
    session: AsyncSession, user: CurrentUser, actor: Actor, household_id: uuid.UUID, data: HouseholdUpdate
) -> Household:
    """Apply the given fields; a stale ``version`` is refused with 409, a different
    ``benefit_amount`` with 422 (nothing is written)."""
    household = await get_household(session, user, household_id)
    if data.benefit_amount is not msgspec.UNSET and data.benefit_amount != household.benefit_amount:
        # after the first registration an amount changes only through a decision or a correction
        raise InvalidInput.field(
            "$.benefit_amount",
            "the amount changes only through an approved decision or a correction an approver confirms "
            "(POST /amount-corrections)",
            code="amount_needs_decision",
        )
    if data.version is not msgspec.UNSET and data.version != household.version:
        raise Conflict.field("$.version", f"stale: the household is at version {household.version}")
    if data.area_id is not msgspec.UNSET:
        await _area_in_scope(session, user, data.area_id, "$.area_id")
    changes = apply_changes(household, data)
    if changes:
        _touch(household)
        record(session, actor, "update", "household", household.id, changes)
    return household


async def add_member(
    session: AsyncSession, user: CurrentUser, actor: Actor, household_id: uuid.UUID, data: MemberCreate
) -> Member:
    household = await get_household(session, user, household_id)
    if reason := id_number_problem(data.id_number):
        raise InvalidInput.field("$.id_number", reason)
    if data.relation == Relation.head:
        raise InvalidInput.field("$.relation", "the household already has a head")
    await _check_id_numbers_free(session, [data.id_number], ["$.id_number"])
    member = _member_row(household.id, data)
    session.add(member)
    _touch(household)
    record(
        session,
        actor,
        "create",
        "member",
        member.id,
        {"household_id": str(household.id), "name": member.name},
    )
    return member


async def _member(session: AsyncSession, household: Household, member_id: uuid.UUID) -> Member:
    member = await session.get(Member, member_id)
    if member is None or member.household_id != household.id:
        raise NotFound.field("member_id", "no such member in this household")
    return member


async def update_member(
    session: AsyncSession,
    user: CurrentUser,
    actor: Actor,
    household_id: uuid.UUID,
    member_id: uuid.UUID,
    data: MemberUpdate,
) -> Member:
    household = await get_household(session, user, household_id)
    member = await _member(session, household, member_id)
    if isinstance(data.id_number, str):
        if reason := id_number_problem(data.id_number):
            raise InvalidInput.field("$.id_number", reason)
        await _check_id_numbers_free(session, [data.id_number], ["$.id_number"], household.id)
    if data.relation is not msgspec.UNSET and (data.relation == Relation.head) != (member.relation == "head"):
        raise InvalidInput.field(
            "$.relation", "the head is changed by re-registering the household, not by editing a relation"
        )
    changes = apply_changes(member, data)
    if changes:
        if member.relation == "head":
            household.head_name, household.head_id_number = member.name, member.id_number
        _touch(household)
        record(session, actor, "update", "member", member.id, changes)
    return member


async def remove_member(
    session: AsyncSession, user: CurrentUser, actor: Actor, household_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    household = await get_household(session, user, household_id)
    member = await _member(session, household, member_id)
    if member.relation == "head":
        raise InvalidInput.field("member_id", "the head cannot be removed; cancel the household instead")
    await session.delete(member)
    _touch(household)
    record(
        session,
        actor,
        "delete",
        "member",
        member.id,
        {"household_id": str(household.id), "name": member.name},
    )
