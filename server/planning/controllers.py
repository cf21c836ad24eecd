"""Planning over HTTP: plans, visits and due reports, assignment, day routes, complaints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, get, post, put
from litestar.params import JSONBody, Parameter, QueryParameter

from schemas.auth import Role
from schemas.planning import (
    AssignRequest,
    AssignResult,
    CancelRequest,
    ComplaintCreate,
    ComplaintMatch,
    ComplaintRead,
    ComplaintReport,
    ComplaintResolve,
    ComplaintStatus,
    DueFilter,
    DueReport,
    PlanRequest,
    PlanResult,
    RouteOrder,
    RouteRead,
    RouteStart,
    SuggestRequest,
    SuggestResult,
    UnassignRequest,
    VisitRead,
    VisitReason,
    VisitState,
)
from schemas.registry import Page
from server.auth.guards import ALL_ROLES, allow
from server.deps import AppSettings, AuditActor, Caller, DbSession
from server.params import AreaIdQuery, Offset
from server.planning import complaints, services

__all__ = [
    "AssignmentController",
    "ComplaintController",
    "PlanController",
    "RouteController",
    "VisitController",
]

_PLANNERS = allow(Role.supervisor, Role.admin)
_READERS = allow(Role.supervisor, Role.admin, Role.approver, Role.auditor)
_COMPLAINT_DESK = allow(Role.supervisor, Role.approver, Role.admin)

Lat = Annotated[float | None, Parameter(ge=-90, le=90, description="start latitude (start=point)")]
Lon = Annotated[float | None, Parameter(ge=-180, le=180, description="start longitude (start=point)")]


class PlanController(Controller):
    path = "/plans"
    tags = ["planning"]

    @post("/", opt=_PLANNERS, operation_id="generate_plan", status_code=200)
    async def generate_plan(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[PlanRequest]
    ) -> PlanResult:
        """Create the scheduled visits due by the end of a period; running it again creates nothing."""
        return await services.generate_plan(db, actor, data.period, user=current_user, area_ids=data.area_ids)

    @get("/due", opt=allow(*ALL_ROLES), operation_id="due_report")
    async def due_report(
        self,
        db: DbSession,
        current_user: Caller,
        area_id: AreaIdQuery = None,
        upcoming_days: Annotated[int, Parameter(ge=0, le=366)] = 30,
    ) -> DueReport:
        """Overdue and upcoming open visits per area and per worker (workers: their own)."""
        return await services.due_report(db, current_user, area_id=area_id, upcoming_days=upcoming_days)


class VisitController(Controller):
    path = "/visits"
    tags = ["planning"]

    @get("/", opt=allow(*ALL_ROLES), operation_id="list_visits")
    async def list_visits(
        self,
        db: DbSession,
        current_user: Caller,
        area_id: AreaIdQuery = None,
        visit_state: Annotated[VisitState | None, QueryParameter(name="state")] = None,
        reason: VisitReason | None = None,
        assigned_to: uuid.UUID | None = None,
        unassigned: bool = False,
        period: Annotated[str | None, Parameter(max_length=16)] = None,
        due: DueFilter | None = None,
        upcoming_days: Annotated[int, Parameter(ge=0, le=366)] = 30,
        visit_on: dt.date | None = None,
        household_id: uuid.UUID | None = None,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> Page[VisitRead]:
        """Visits in your areas (workers: their own) by due date; ``due=overdue|upcoming``."""
        return await services.list_visits(
            db,
            current_user,
            area_id=area_id,
            state=visit_state,
            reason=reason,
            assigned_to=assigned_to,
            unassigned=unassigned,
            period=period,
            due=due,
            upcoming_days=upcoming_days,
            visit_on=visit_on,
            household_id=household_id,
            cursor=cursor,
            limit=limit,
        )

    @get("/{visit_id:uuid}", opt=allow(*ALL_ROLES), operation_id="get_visit")
    async def get_visit(self, db: DbSession, current_user: Caller, visit_id: uuid.UUID) -> VisitRead:
        return await services.get_visit(db, current_user, visit_id)

    @post("/{visit_id:uuid}/cancel", opt=_PLANNERS, operation_id="cancel_visit", status_code=200)
    async def cancel_visit(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        visit_id: uuid.UUID,
        data: JSONBody[CancelRequest],
    ) -> VisitRead:
        """Cancel an open visit with a written reason (removed from the worker's tablet)."""
        return await services.cancel_visit(db, current_user, actor, visit_id, data.reason)


class AssignmentController(Controller):
    path = "/assignments"
    tags = ["planning"]

    @post("/", opt=_PLANNERS, operation_id="assign_visits", status_code=200)
    async def assign(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[AssignRequest]
    ) -> AssignResult:
        """Assign or reassign visits to workers of your areas, all or nothing."""
        return await services.assign(db, current_user, actor, data.items)

    @post("/unassign", opt=_PLANNERS, operation_id="unassign_visits", status_code=200)
    async def unassign(
        self, db: DbSession, current_user: Caller, actor: AuditActor, data: JSONBody[UnassignRequest]
    ) -> AssignResult:
        """Take visits back from their workers (back to planned), all or nothing."""
        return await services.unassign(db, current_user, actor, data.visit_ids)

    @post("/suggest", opt=_PLANNERS, operation_id="suggest_assignment", status_code=200)
    async def suggest(self, db: DbSession, current_user: Caller, data: JSONBody[SuggestRequest]) -> SuggestResult:
        """A balanced split of unassigned visits among workers, by area and distance, within a
        daily capacity. Nothing is written: post the (edited) ``items`` to ``/assignments``."""
        return await services.suggest(db, current_user, data)


class RouteController(Controller):
    path = "/routes/{worker_id:uuid}/{visit_on:date}"
    tags = ["planning"]

    @get("/", opt=allow(Role.worker, *_PLANNERS["roles"], Role.approver, Role.auditor), operation_id="get_route")
    async def get_route(
        self,
        db: DbSession,
        current_user: Caller,
        worker_id: uuid.UUID,
        visit_on: dt.date,
        start: RouteStart = RouteStart.office,
        lat: Lat = None,
        lon: Lon = None,
    ) -> RouteRead:
        """The worker's visits for the day in their stored order (unordered ones last)."""
        route, _ = await services.day_route(db, current_user, worker_id, visit_on, start, lat, lon)
        return route

    @get(
        "/geojson",
        opt=allow(Role.worker, *_PLANNERS["roles"], Role.approver, Role.auditor),
        operation_id="get_route_geojson",
        media_type="application/geo+json",
    )
    async def get_route_geojson(
        self,
        db: DbSession,
        current_user: Caller,
        worker_id: uuid.UUID,
        visit_on: dt.date,
        start: RouteStart = RouteStart.office,
        lat: Lat = None,
        lon: Lon = None,
    ) -> dict[str, Any]:
        """The same route as a GeoJSON FeatureCollection (start, line, stops; unlocated stops
        have a null geometry)."""
        _, geojson = await services.day_route(db, current_user, worker_id, visit_on, start, lat, lon)
        return geojson

    @post("/optimize", opt=_PLANNERS, operation_id="optimize_route", status_code=200)
    async def optimize_route(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        worker_id: uuid.UUID,
        visit_on: dt.date,
        start: RouteStart = RouteStart.office,
        lat: Lat = None,
        lon: Lon = None,
    ) -> RouteRead:
        """Order the day's visits to shorten travel (nearest neighbour, then 2-opt) and store the
        order; ``nearest_neighbour_m`` is the plain nearest-neighbour length for comparison."""
        route, _ = await services.optimize_route(db, current_user, actor, worker_id, visit_on, start, lat, lon)
        return route

    @put("/", opt=_PLANNERS, operation_id="reorder_route")
    async def reorder_route(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        worker_id: uuid.UUID,
        visit_on: dt.date,
        data: JSONBody[RouteOrder],
        start: RouteStart = RouteStart.office,
        lat: Lat = None,
        lon: Lon = None,
    ) -> RouteRead:
        """Store a hand-made order (every visit of the day, each once)."""
        route, _ = await services.reorder_route(
            db, current_user, actor, worker_id, visit_on, data.visit_ids, start, lat, lon
        )
        return route


class ComplaintController(Controller):
    path = "/complaints"
    tags = ["planning"]

    @post("/", opt=_COMPLAINT_DESK, operation_id="create_complaint")
    async def create_complaint(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        settings: AppSettings,
        data: JSONBody[ComplaintCreate],
    ) -> ComplaintRead:
        """Register a complaint (hotline, letter, visit, online); it starts an urgent recheck."""
        complaint, state = await complaints.create_complaint(
            db, current_user, actor, data, settings.complaint_deadline_days
        )
        return complaints.complaint_read(complaint, current_user.role, state)

    @get("/", opt=_READERS, operation_id="list_complaints")
    async def list_complaints(
        self,
        db: DbSession,
        current_user: Caller,
        status: ComplaintStatus | None = None,
        area_id: AreaIdQuery = None,
        household_id: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
        offset: Offset = 0,
    ) -> list[ComplaintRead]:
        """Complaints in your areas; ``status=open`` includes the overdue ones."""
        return await complaints.list_complaints(
            db, current_user, status=status, area_id=area_id, household_id=household_id, limit=limit, offset=offset
        )

    @get("/report", opt=_READERS, operation_id="complaint_report")
    async def complaint_report(
        self,
        db: DbSession,
        current_user: Caller,
        settings: AppSettings,
        received_from: dt.date | None = None,
        received_to: dt.date | None = None,
    ) -> ComplaintReport:
        """Every complaint received in the window, open, overdue or resolved, per area."""
        return await complaints.complaint_report(
            db,
            current_user,
            received_from=received_from,
            received_to=received_to,
            deadline_days=settings.complaint_deadline_days,
        )

    @get("/{complaint_id:uuid}", opt=_READERS, operation_id="get_complaint")
    async def get_complaint(self, db: DbSession, current_user: Caller, complaint_id: uuid.UUID) -> ComplaintRead:
        return await complaints.get_complaint(db, current_user, complaint_id)

    @post("/{complaint_id:uuid}/match", opt=_COMPLAINT_DESK, operation_id="match_complaint", status_code=200)
    async def match_complaint(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        complaint_id: uuid.UUID,
        data: JSONBody[ComplaintMatch],
    ) -> ComplaintRead:
        """Attach a complaint about an unmatched person to their household (starts the recheck)."""
        return await complaints.match_complaint(db, current_user, actor, complaint_id, data.household_id)

    @post("/{complaint_id:uuid}/resolve", opt=_COMPLAINT_DESK, operation_id="resolve_complaint", status_code=200)
    async def resolve_complaint(
        self,
        db: DbSession,
        current_user: Caller,
        actor: AuditActor,
        complaint_id: uuid.UUID,
        data: JSONBody[ComplaintResolve],
    ) -> ComplaintRead:
        """Close a complaint with a written resolution once its recheck is done."""
        return await complaints.resolve_complaint(db, current_user, actor, complaint_id, data)
