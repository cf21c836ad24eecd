"""Areas, households and members over HTTP: thin handlers calling the registry services."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, Parameter, QueryParameter

from schemas.auth import Role
from schemas.registry import (
    AmountCorrectionCreate,
    AmountCorrectionDecision,
    AmountCorrectionRead,
    AmountCorrectionState,
    AreaCreate,
    AreaRead,
    Category,
    HeadChange,
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
from server.registry import corrections, member_changes, services

__all__ = ["AmountCorrectionController", "AreaController", "HouseholdController"]

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

    @post("/{household_id:uuid}/head", opt=_EDITORS, operation_id="name_head", status_code=200)
    async def name_head(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        household_id: uuid.UUID,
        data: JSONBody[HeadChange],
    ) -> HouseholdRead:
        """Name a member the new head of a household whose head left (it is paid again from then on)."""
        household = await member_changes.name_head(db, current_user, actor, household_id, data.member_id)
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


class AmountCorrectionController(Controller):
    """Corrections of registered amounts: recorded by a roster re-import or a supervisor, and
    applied only when an approver confirms them."""

    path = "/amount-corrections"
    tags = ["registry"]

    @get("/", opt=allow(Role.supervisor, Role.approver, Role.admin, Role.auditor), operation_id="list_corrections")
    async def list_corrections(
        self,
        db: DbSession,
        current_user: Caller,
        correction_state: Annotated[AmountCorrectionState | None, QueryParameter(name="state")] = None,
        household_id: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
    ) -> list[AmountCorrectionRead]:
        """Corrections of households in your areas, oldest first (``state=pending``: the ones to decide)."""
        return await corrections.list_corrections(
            db, current_user, state=correction_state, household_id=household_id, limit=limit
        )

    @post("/", opt=_EDITORS, operation_id="record_correction")
    async def record_correction(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[AmountCorrectionCreate]
    ) -> AmountCorrectionRead:
        """Say a registered amount is wrong (with the reason); it changes once an approver confirms."""
        return corrections.correction_read(*await corrections.record_correction(db, current_user, actor, data))

    @post("/{correction_id:uuid}/confirm", opt=allow(Role.approver), operation_id="confirm_correction", status_code=200)
    async def confirm(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        correction_id: uuid.UUID,
        data: JSONBody[AmountCorrectionDecision],
    ) -> AmountCorrectionRead:
        """Confirm the correction: the household's amount becomes the corrected one (audited)."""
        confirmed = await corrections.confirm(db, current_user, actor, correction_id, data.note)
        return corrections.correction_read(*confirmed)

    @post("/{correction_id:uuid}/reject", opt=allow(Role.approver), operation_id="reject_correction", status_code=200)
    async def reject(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        correction_id: uuid.UUID,
        data: JSONBody[AmountCorrectionDecision],
    ) -> AmountCorrectionRead:
        """Reject the correction (reason required); the amount stays as it is."""
        rejected = await corrections.reject(db, current_user, actor, correction_id, data.note)
        return corrections.correction_read(*rejected)
