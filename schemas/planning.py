"""Recheck planning on the wire: visits and their states, plans, assignment, routes, complaints."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any

import msgspec

from schemas.base import AreaId, Struct

__all__ = [
    "AssignItem",
    "AssignRequest",
    "AssignResult",
    "CancelRequest",
    "ComplaintChannel",
    "ComplaintCreate",
    "ComplaintMatch",
    "ComplaintRead",
    "ComplaintReport",
    "ComplaintReportRow",
    "ComplaintResolve",
    "ComplaintStatus",
    "ComplaintSubject",
    "DueCount",
    "DueFilter",
    "DueReport",
    "PlanRequest",
    "PlanResult",
    "Priority",
    "RouteOrder",
    "RouteRead",
    "RouteStart",
    "RouteStop",
    "SuggestRequest",
    "SuggestResult",
    "SuggestedLoad",
    "UnassignRequest",
    "VisitRead",
    "VisitReason",
    "VisitState",
]


class VisitState(enum.StrEnum):
    """Where a visit is in its life (see ``server.planning.states`` for the allowed moves)."""

    planned = "planned"
    assigned = "assigned"
    downloaded = "downloaded"
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"
    cancelled = "cancelled"


class VisitReason(enum.StrEnum):
    """Why the visit exists: the category's schedule, a complaint, or a follow-up of a failed attempt."""

    scheduled = "scheduled"
    complaint = "complaint"
    follow_up = "follow_up"


class Priority(enum.IntEnum):
    """Visit priority: higher first. Overdue scheduled visits are ``high``, complaints ``urgent``."""

    normal = 0
    high = 1
    urgent = 2


class ComplaintChannel(enum.StrEnum):
    hotline = "hotline"
    letter = "letter"
    visit = "visit"
    online = "online"


class ComplaintStatus(enum.StrEnum):
    """``overdue`` is an open complaint past its deadline (derived, never stored)."""

    open = "open"
    overdue = "overdue"
    resolved = "resolved"


class DueFilter(enum.StrEnum):
    """Visit-list filter: open visits due before today, or due within the coming days."""

    overdue = "overdue"
    upcoming = "upcoming"


class RouteStart(enum.StrEnum):
    """Where a day's route starts: the worker's office (area centre), their last known
    position (the last household they submitted), or a point given as ``lat``/``lon``."""

    office = "office"
    last = "last"
    point = "point"


Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Comment = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
VisitIds = Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=5000)]


# ---------------------------------------------------------------- visits


class VisitRead(Struct):
    """A visit as supervisors and tablets see it. ``route_order`` and ``route_leg_m`` (metres
    from the previous stop) are set once the day's route is ordered."""

    id: uuid.UUID
    household_id: uuid.UUID
    area_id: int
    reason: VisitReason
    due_on: dt.date
    priority: int
    state: VisitState
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    overdue: bool
    period: str | None = None
    assigned_to: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    visit_on: dt.date | None = None
    route_order: int | None = None
    route_leg_m: int | None = None
    return_comment: str | None = None
    household_code: str | None = None
    head_name: str | None = None
    address: str | None = None
    category: str | None = None
    lat: float | None = None
    lon: float | None = None


class CancelRequest(Struct):
    reason: Comment


# ---------------------------------------------------------------- plans


class PlanRequest(Struct):
    """Generate the scheduled visits due in ``period`` (``2027Q1``, ``2027H1``, ``2027``,
    ``2027-03``) for the given areas (default: all of yours)."""

    period: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    area_ids: Annotated[list[AreaId], msgspec.Meta(max_length=1000)] | None = None


class PlanResult(Struct):
    """What a plan run did. Running it again creates nothing new (``created`` = 0)."""

    period: str
    starts_on: dt.date
    ends_on: dt.date
    area_ids: list[int]
    created: int
    rescheduled: int
    cancelled: int
    seconds: float


class DueCount(Struct):
    """Open visits of one area or one worker: overdue (due before today) and upcoming."""

    overdue: int
    upcoming: int
    open: int
    area_id: int | None = None
    area_code: str | None = None
    worker_id: uuid.UUID | None = None
    username: str | None = None


class DueReport(Struct):
    as_of: dt.date
    upcoming_days: int
    areas: list[DueCount]
    workers: list[DueCount]
    unassigned: DueCount


# ---------------------------------------------------------------- assignment


class AssignItem(Struct):
    visit_id: uuid.UUID
    worker_id: uuid.UUID
    visit_on: dt.date | None = None
    partner_id: uuid.UUID | None = None


class AssignRequest(Struct):
    """Assign (or reassign) visits; all or nothing. A suggestion's ``items`` can be sent as is."""

    items: Annotated[list[AssignItem], msgspec.Meta(min_length=1, max_length=5000)]


class UnassignRequest(Struct):
    visit_ids: VisitIds


class AssignResult(Struct):
    changed: int
    unchanged: int
    visits: list[VisitRead]


class SuggestRequest(Struct):
    """Split open unassigned visits among ``worker_ids``, at most ``capacity_per_day`` each per
    day from ``start_on`` over ``days`` days. Narrow with ``area_ids`` or name ``visit_ids``."""

    worker_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=500)]
    start_on: dt.date
    days: Annotated[int, msgspec.Meta(ge=1, le=92)] = 5
    capacity_per_day: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    area_ids: Annotated[list[AreaId], msgspec.Meta(max_length=1000)] | None = None
    visit_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20000)] | None = None
    include_assigned: bool = False


class SuggestedLoad(Struct):
    worker_id: uuid.UUID
    visits: int
    days: dict[str, int]


class SuggestResult(Struct):
    """A preview: nothing is written until ``items`` are posted to ``/assignments``."""

    items: list[AssignItem]
    loads: list[SuggestedLoad]
    left_over: list[uuid.UUID]
    seconds: float


# ---------------------------------------------------------------- routes


class RouteStop(Struct):
    visit_id: uuid.UUID
    household_id: uuid.UUID
    order: int
    household_code: str
    head_name: str
    address: str
    area_id: int
    village: str
    state: VisitState
    priority: int
    leg_m: int | None = None
    lat: float | None = None
    lon: float | None = None


class RouteRead(Struct):
    """A worker's visits for a day, in order. Stops without a GPS point come last, by village;
    ``total_m`` covers the stops with a point; ``nearest_neighbour_m`` is the plain nearest-
    neighbour order's length, for comparison."""

    worker_id: uuid.UUID
    visit_on: dt.date
    start_lat: float | None
    start_lon: float | None
    stops: list[RouteStop]
    total_m: int
    nearest_neighbour_m: int | None = None
    optimized: bool = False


class RouteOrder(Struct):
    """A hand-made order: every visit of the day, each once."""

    visit_ids: VisitIds


# ---------------------------------------------------------------- complaints


class ComplaintSubject(Struct):
    """Whom the complaint is about: a registered household, or a person not yet matched to one
    (then ``name`` and ``area_id`` are needed)."""

    household_id: uuid.UUID | None = None
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    id_number: Annotated[str, msgspec.Meta(max_length=18)] | None = None
    address: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    area_id: AreaId | None = None


class ComplaintCreate(Struct):
    channel: ComplaintChannel
    summary: Text
    subject: ComplaintSubject | None = None
    received_on: dt.date | None = None
    reporter_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    reporter_contact: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    anonymous: bool = False
    staff_relative: bool = False


class ComplaintMatch(Struct):
    household_id: uuid.UUID


class ComplaintResolve(Struct):
    resolution: Annotated[str, msgspec.Meta(min_length=5, max_length=4000)]
    substantiated: bool


class ComplaintRead(Struct):
    """A complaint. ``reporter_name`` and ``reporter_contact`` are present for approvers only."""

    id: uuid.UUID
    number: str
    channel: ComplaintChannel
    summary: str
    area_id: int
    status: ComplaintStatus
    received_on: dt.date
    deadline_on: dt.date
    created_at: dt.datetime
    version: int
    household_id: uuid.UUID | None = None
    subject_name: str | None = None
    subject_id_number: str | None = None
    subject_address: str | None = None
    visit_id: uuid.UUID | None = None
    visit_state: VisitState | None = None
    anonymous: bool = False
    staff_relative: bool = False
    reporter_name: str | None = None
    reporter_contact: str | None = None
    resolution: str | None = None
    substantiated: bool | None = None
    resolved_on: dt.date | None = None
    resolved_by: uuid.UUID | None = None
    days_open: int = 0


class ComplaintReportRow(Struct):
    area_id: int
    area_code: str
    open: int
    overdue: int
    resolved: int


class ComplaintReport(Struct):
    """Every complaint received in the window, by status, so the office can show each was investigated."""

    as_of: dt.date
    received_from: dt.date | None
    received_to: dt.date | None
    deadline_days: int
    total: int
    open: int
    overdue: int
    resolved: int
    areas: list[ComplaintReportRow]
    complaints: list[ComplaintRead]


#: GeoJSON is returned as a plain mapping (FeatureCollection); typed loosely on purpose.
GeoJSON = dict[str, Any]
