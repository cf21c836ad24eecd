"""Areas, households and members over HTTP: thin handlers calling the registry services."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, Parameter

from schemas.auth import Role
from schemas.registry import (
    AreaCreate,
    AreaRead,
    Category,
    HouseholdCreate,
    HouseholdRead,
    HouseholdStatus,
    HouseholdSummary,
    HouseholdUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    Page,
    Residence,
)
from server.auth.guards import ALL_ROLES, allow
from server.deps import AuditActor, Caller, DbSession
from server.params import AreaIdQuery
from server.registry import services

__all__ = ["AreaController", "HouseholdController"]

_EDITORS = allow(Role.admin, Role.supervisor)


class AreaController(Controller):
    path = "/areas"
    tags = ["registry"]

    @get("/", opt=allow(*ALL_ROLES), operation_id="list_areas")
    async def list_areas(self, db: DbSession, current_user: Caller) -> list[AreaRead]:
        """The area tree below your own areas, parents before children."""
        return [services.area_read(a) for a in await services.list_areas(db, current_user)]

    @post("/", opt=allow(Role.admin), operation_id="create_area")
    async def create_area(self, db: DbSession, actor: AuditActor, data: JSONBody[AreaCreate]) -> AreaRead:
        return services.area_read(await services.create_area(db, actor, data))


class HouseholdController(Controller):
    path = "/households"
    tags = ["registry"]

    @get("/", opt=allow(*ALL_ROLES), operation_id="list_households")
    async def list_households(
        self,
        db: DbSession,
        current_user: Caller,
        area_id: AreaIdQuery = None,
        category: Category | None = None,
        status: HouseholdStatus | None = None,
        residence: Residence | None = None,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
        sort: Annotated[
            str,
            Parameter(max_length=30, description="code, head_name, benefit_amount, updated_at; - for descending"),
        ] = "code",
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> Page[HouseholdSummary]:
        """Households in your areas, filtered and sorted, one page at a time."""
        return await services.list_households(
            db,
            current_user,
            area_id=area_id,
            category=category,
            status=status,
            residence=residence,
            q=q,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )

    @post("/", opt=_EDITORS, operation_id="create_household")
    async def create_household(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[HouseholdCreate]
    ) -> HouseholdRead:
        household = await services.create_household(db, current_user, actor, data)
        return await services.household_read(db, household, current_user.role)

    @get("/{household_id:uuid}", opt=allow(*ALL_ROLES), operation_id="get_household")
    async def get_household(self, db: DbSession, current_user: Caller, household_id: uuid.UUID) -> HouseholdRead:
        household = await services.get_household(db, current_user, household_id)
        return await services.household_read(db, household, current_user.role)

    @patch("/{household_id:uuid}", opt=_EDITORS, operation_id="update_household")
    async def update_household(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        household_id: uuid.UUID,
        data: JSONBody[HouseholdUpdate],
    ) -> HouseholdRead:
        household = await services.update_household(db, current_user, actor, household_id, data)
        return await services.household_read(db, household, current_user.role)

    @post("/{household_id:uuid}/members", opt=_EDITORS, operation_id="add_member")
    async def add_member(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        household_id: uuid.UUID,
        data: JSONBody[MemberCreate],
    ) -> MemberRead:
        member = await services.add_member(db, current_user, actor, household_id, data)
        return services.member_read(member, current_user.role)

    @patch("/{household_id:uuid}/members/{member_id:uuid}", opt=_EDITORS, operation_id="update_member")
    async def update_member(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        household_id: uuid.UUID,
        member_id: uuid.UUID,
        data: JSONBody[MemberUpdate],
    ) -> MemberRead:
        member = await services.update_member(db, current_user, actor, household_id, member_id, data)
        return services.member_read(member, current_user.role)

    @delete("/{household_id:uuid}/members/{member_id:uuid}", opt=_EDITORS, operation_id="remove_member")
    async def remove_member(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        household_id: uuid.UUID,
        member_id: uuid.UUID,
    ) -> None:
        await services.remove_member(db, current_user, actor, household_id, member_id)
