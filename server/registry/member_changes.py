"""An accepted visit's member changes, applied to the registry.

When a supervisor accepts a visit, the births, deaths, marriages and moves its capture records
become the registry's members (:func:`apply_visit_changes`), so the next recheck starts from
the new list. Each change is stored as a :class:`~server.registry.models.MemberChange` (applied
or, with the reason, not) and the household gets one audit entry. A head who left leaves the
household without a head (``head_vacant_since``): it is held off the payment roster until a
new head is named — in the same capture (an edit or an addition with relation ``head``) or
later with :func:`name_head`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.capture import Capture, MemberAdd, MemberEdit, MemberRemove
from schemas.registry import id_number_problem
from server.audit.services import jsonable, record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.errors import Conflict, NotFound
from server.registry.models import Household, IncomeItem, Member, MemberChange
from server.registry.services import get_household

__all__ = ["apply_visit_changes", "departed_members", "name_head"]

_EDITABLE = ("name", "relation", "sex", "birth_date", "id_number")


class _Applying:
    """One visit's changes being applied: the household, its members, what happened."""

    def __init__(self, household: Household, members: list[Member], visit_id: uuid.UUID, day: dt.date) -> None:
        self.household = household
        self.members = {m.id: m for m in members}
        self.visit_id = visit_id
        self.day = day
        self.rows: list[MemberChange] = []
        self.summary: dict[str, Any] = {}

    def note(self, key: str, value: Any) -> None:
        self.summary.setdefault(key, []).append(value)

    def log(
        self, change: str, member_id: uuid.UUID, reason: str, name: str | None, applied: bool, **details: Any
    ) -> None:
        self.rows.append(
            MemberChange(
                visit_id=self.visit_id,
                household_id=self.household.id,
                member_id=member_id,
                change=change,
                reason=reason,
                applied=applied,
                name=name,
                details={k: jsonable(v) for k, v in details.items()},
            )
        )
        if not applied:
            self.note("not_applied", {"member_id": str(member_id), "change": change, **details})


def _head(state: _Applying) -> Member | None:
    return next((m for m in state.members.values() if m.relation == "head"), None)


def _make_head(state: _Applying, member: Member) -> None:
    household = state.household
    before = [household.head_name, household.head_id_number]
    member.relation = "head"
    household.head_name, household.head_id_number = member.name, member.id_number
    household.head_vacant_since = household.head_vacant_reason = None
    state.summary["head"] = [before[0], member.name]


async def _remove(session: AsyncSession, state: _Applying, change: MemberRemove) -> None:
    member = state.members.get(change.member_id)
    if member is None:
        state.log("remove", change.member_id, change.reason.value, None, False, why="not a member of this household")
        return
    # the person's registered incomes leave with them (they would read as the household's)
    await session.execute(delete(IncomeItem).where(IncomeItem.member_id == member.id))
    await session.delete(member)
    del state.members[member.id]
    if member.relation == "head":
        state.household.head_vacant_since = change.on or state.day
        state.household.head_vacant_reason = change.reason.value
        state.summary["head_vacant"] = {"since": state.household.head_vacant_since, "reason": change.reason.value}
    state.note("members_removed", {"name": member.name, "reason": change.reason.value})
    state.log("remove", member.id, change.reason.value, member.name, True, on=change.on, relation=member.relation)


async def _add(session: AsyncSession, state: _Applying, change: MemberAdd) -> None:
    reason = change.reason.value
    if change.member_id in state.members:
        return  # already applied
    if change.id_number is None or id_number_problem(change.id_number):
        why = "no valid resident ID yet: add the person when the ID is issued"
        state.log("add", change.member_id, reason, change.name, False, why=why)
        return
    if change.relation.value == "head" and _head(state) is not None:
        why = "the household has a head: name a new head only when the head has left"
        state.log("add", change.member_id, reason, change.name, False, why=why)
        return
    elsewhere = await session.scalar(select(Member).where(Member.id_number == change.id_number))
    if elsewhere is not None:
        why = "this person is registered in another household: move them there first"
        state.log("add", change.member_id, reason, change.name, False, why=why)
        return
    member = Member(
        id=change.member_id,
        household_id=state.household.id,
        name=change.name,
        relation="other" if change.relation.value == "head" else change.relation.value,
        id_number=change.id_number,
        sex=change.sex.value,
        birth_date=change.birth_date,
    )
    session.add(member)
    state.members[member.id] = member
    if change.relation.value == "head":
        _make_head(state, member)
    state.note("members_added", {"name": member.name, "reason": reason})
    state.log("add", member.id, reason, member.name, True, on=change.on, relation=change.relation.value)


async def _edit(session: AsyncSession, state: _Applying, change: MemberEdit) -> None:
    member = state.members.get(change.member_id)
    reason = change.reason.value
    if member is None:
        state.log("edit", change.member_id, reason, None, False, why="not a member of this household")
        return
    wanted = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name in _EDITABLE
        if (value := getattr(change, name)) is not msgspec.UNSET
    }
    relation = wanted.pop("relation", None)
    becomes_head = relation == "head" and member.relation != "head"
    if member.relation == "head" and relation not in (None, "head"):
        state.log("edit", member.id, reason, member.name, False, why="the head stays head until another is named")
        return
    if becomes_head and _head(state) is not None:
        state.log("edit", member.id, reason, member.name, False, why="the household has a head")
        return
    if relation is not None and relation != "head":
        wanted["relation"] = relation
    number = wanted.get("id_number")
    if number is not None and number != member.id_number:
        taken = await session.scalar(select(Member.id).where(Member.id_number == number, Member.id != member.id))
        if id_number_problem(number) or taken is not None:
            state.log("edit", member.id, reason, member.name, False, why="the resident ID is invalid or taken")
            return
    diff = {k: [jsonable(getattr(member, k)), jsonable(v)] for k, v in wanted.items() if getattr(member, k) != v}
    for key, value in wanted.items():
        setattr(member, key, value)
    if becomes_head:
        diff["relation"] = [member.relation, "head"]
        _make_head(state, member)
    elif member.relation == "head":
        state.household.head_name, state.household.head_id_number = member.name, member.id_number
    if diff:
        state.note("members_changed", {"member_id": str(member.id), "fields": diff})
    state.log("edit", member.id, reason, member.name, True, fields=diff)


async def apply_visit_changes(
    session: AsyncSession, actor: Actor, visit_id: uuid.UUID, household_id: uuid.UUID, capture: Capture, day: dt.date
) -> list[MemberChange]:
    """Apply the accepted capture's member changes to the registry, once per visit (audited).

    Removals first (a head who left makes room for a new one), then additions, then edits.
    """
    if not capture.member_changes:
        return []
    if await session.scalar(select(MemberChange.id).where(MemberChange.visit_id == visit_id).limit(1)):
        return []  # applied when the visit was first accepted
    household = await session.get(Household, household_id, with_for_update=True)
    if household is None:
        return []
    members = list((await session.scalars(select(Member).where(Member.household_id == household.id))).all())
    state = _Applying(household, members, visit_id, day)
    order: dict[type, int] = {MemberRemove: 0, MemberAdd: 1, MemberEdit: 2}
    for change in sorted(capture.member_changes, key=lambda c: order[type(c)]):
        if isinstance(change, MemberRemove):
            await _remove(session, state, change)
        elif isinstance(change, MemberAdd):
            await _add(session, state, change)
        else:
            await _edit(session, state, change)
    for row in state.rows:
        row.applied_by = actor.user_id
    session.add_all(state.rows)
    if any(row.applied for row in state.rows):
        household.version += 1
        household.updated_at = utcnow()
    record(
        session,
        actor,
        "update",
        "household",
        household.id,
        {"source": "visit", "visit_id": str(visit_id), **{k: jsonable(v) for k, v in state.summary.items()}},
    )
    await session.flush()
    return state.rows


async def departed_members(session: AsyncSession, visit_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, str]]:
    """Per visit, the members its accepted capture removed from the registry, with the reason."""
    if not visit_ids:
        return {}
    rows = await session.execute(
        select(MemberChange.visit_id, MemberChange.member_id, MemberChange.reason).where(
            MemberChange.visit_id.in_(visit_ids), MemberChange.change == "remove", MemberChange.applied.is_(True)
        )
    )
    out: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
    for visit_id, member_id, reason in rows:
        out.setdefault(visit_id, {})[member_id] = reason
    return out


async def name_head(
    session: AsyncSession, user: CurrentUser, actor: Actor, household_id: uuid.UUID, member_id: uuid.UUID
) -> Household:
    """Name a member the new head of a household whose head left (audited)."""
    household = await get_household(session, user, household_id)
    if household.head_vacant_since is None:
        raise Conflict.field("household_id", "the household has a head; a head is named only when the head has left")
    member = await session.get(Member, member_id)
    if member is None or member.household_id != household.id:
        raise NotFound.field("$.member_id", "no such member in this household")
    before = {"head_name": household.head_name, "vacant_since": household.head_vacant_since}
    state = _Applying(household, [member], uuid.uuid4(), utcnow().date())
    relation = member.relation
    _make_head(state, member)
    household.version += 1
    household.updated_at = utcnow()
    record(
        session,
        actor,
        "update",
        "household",
        household.id,
        {
            "head": [before["head_name"], member.name],
            "head_vacant_since": [jsonable(before["vacant_since"]), None],
            "member_id": str(member.id),
            "relation": [relation, "head"],
        },
    )
    return household
