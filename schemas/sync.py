"""Sync messages: pull (the change feed), push (mutations and their results), feed items,
reference data, and the supervisor's review of captures and conflicts.

Mutations are a tagged union on ``entity``; unknown entities, bad UUIDs and out-of-range values
are reported per mutation with the failing field's path, never by refusing the whole push.
Feed items carry their payload as a pre-encoded document (``data``) whose type follows ``kind``:
:class:`VisitItem`, :class:`HouseholdItem` or :class:`CaptureItem`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any, Literal

import msgspec

from schemas.base import Struct, UtcDateTime, Version
from schemas.capture import Capture, CapturePatch
from schemas.errors import FieldError
from schemas.media import PhotoKind, Sha256
from schemas.registry import Category, Health, IncomeKind, LabourCapacity, Relation, Residence, Sex

__all__ = [
    "CaptureEdit",
    "CaptureItem",
    "CaptureMutation",
    "CaptureRole",
    "Code",
    "ConflictRead",
    "ConflictResolve",
    "DeviceExport",
    "DeviceImportResult",
    "EvidenceStatus",
    "ExportedPhoto",
    "FeedItem",
    "FieldConflict",
    "HeldItem",
    "HouseholdItem",
    "HouseholdMutation",
    "HouseholdPatch",
    "ImportedPhoto",
    "IncomeLine",
    "ItemKind",
    "MemberItem",
    "Mutation",
    "MutationResult",
    "PrimaryChoice",
    "PullRequest",
    "PullResponse",
    "PushRequest",
    "PushResponse",
    "ReferenceData",
    "ResultStatus",
    "ReturnRequest",
    "StateCheck",
    "VisitItem",
    "VisitReview",
]


class ItemKind(enum.StrEnum):
    """The kinds of record a device holds."""

    visit = "visit"
    household = "household"
    capture = "capture"


class StateCheck(enum.StrEnum):
    """Outcome of comparing the device's digest with what the server thinks it holds."""

    skipped = "skipped"
    """Not compared: the device was not at the head of its feed when it asked."""
    ok = "ok"
    mismatch = "mismatch"
    """Different: send ``held`` with the next pull so the server can repair exactly the difference."""
    repaired = "repaired"
    """Different, and this response carries the repairs (upserts and removals)."""


# ---------------------------------------------------------------- feed payloads


class VisitItem(Struct):
    """A visit as the device holds it."""

    id: uuid.UUID
    household_id: uuid.UUID
    state: str
    version: int
    reason: str
    due_on: dt.date
    assigned_to: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    priority: int = 0
    period: str | None = None
    visit_on: dt.date | None = None
    route_order: int | None = None
    return_comment: str | None = None
    route_leg_m: int | None = None
    missing_photos: list[str] = []
    """Evidence status: photos its captures refer to whose bytes the server does not have yet
    (sorted hashes). Refreshed in the feed whenever one is stored, so a tablet that uploaded the
    last photo learns it from its next pull without pushing the visit again."""


class MemberItem(Struct):
    """A household member on the tablet (defaults omitted on the wire)."""

    id: uuid.UUID
    name: str
    relation: Relation
    id_number: str
    sex: Sex
    birth_date: dt.date
    health: Health = Health.healthy
    labour_capacity: LabourCapacity = LabourCapacity.full
    disability_grade: int | None = None
    employment: str | None = None


class IncomeLine(Struct):
    """A registered monthly income of the household (fen), as last confirmed."""

    kind: IncomeKind
    monthly_amount: int
    member_id: uuid.UUID | None = None
    note: str | None = None


class HouseholdItem(Struct):
    """A household with its current members and incomes (ID numbers masked for workers)."""

    id: uuid.UUID
    code: str
    head_name: str
    area_id: int
    residence: Residence
    category: Category
    status: str
    benefit_amount: int
    version: int
    address: str = ""
    members: list[MemberItem] = []
    incomes: list[IncomeLine] = []
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None
    last_recheck_on: dt.date | None = None


class CaptureRole(enum.StrEnum):
    primary = "primary"
    """The capture the visit's review and decision use."""
    alternate = "alternate"
    """Kept for the supervisor: another device's capture, or one made after the visit was reassigned."""


class CaptureItem(Struct):
    """A capture as merged on the server (the device's own captures come back with supervisor edits)."""

    id: uuid.UUID
    visit_id: uuid.UUID
    version: int
    role: CaptureRole
    form: Capture
    submitted_at: dt.datetime | None = None
    review: str | None = None


class FeedItem(Struct):
    """One change in the feed: an upsert (``data`` is the record) or a removal (``removed``)."""

    kind: ItemKind
    id: uuid.UUID
    version: int = 0
    data: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    removed: bool = False
    reason: str | None = None
    """Why it was removed: ``reassigned``, ``cancelled``, ``accepted``, ``out_of_scope``, ``repair``."""


class Code(Struct):
    """One entry of a code list."""

    code: str
    zh: str
    en: str
    counted: bool | None = None
    """For income kinds: counted in per-capita income (``True``) or disregarded (``False``)."""


class ReferenceData(Struct):
    """The code lists a device needs offline; ``version`` changes whenever any list changes."""

    version: str
    lists: dict[str, list[Code]]


# ---------------------------------------------------------------- pull


class HeldItem(Struct):
    """One record the device holds (its manifest, sent after a state-check mismatch)."""

    kind: ItemKind
    id: uuid.UUID
    version: Version


class PullRequest(Struct):
    """Ask for the changes after ``cursor`` (none: from the beginning)."""

    device_time: UtcDateTime
    cursor: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000
    digest: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """:func:`sync.digest.digest` of every record the device holds."""
    held: Annotated[list[HeldItem], msgspec.Meta(max_length=200_000)] | None = None
    ref_version: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class PullResponse(Struct):
    """One page. ``items`` are :class:`FeedItem`; the server sends them pre-encoded."""

    items: list[FeedItem]
    cursor: str
    has_more: bool
    server_time: dt.datetime
    clock_offset_ms: int
    state_check: StateCheck = StateCheck.skipped
    reset: bool = False
    """The cursor was older than the retained change log: this is a full snapshot from the start."""
    reference: ReferenceData | None = None


# ---------------------------------------------------------------- push


class HouseholdPatch(Struct):
    """Household details a worker may correct at the door. ``category`` is supervisor-owned:
    a differing value is kept as a proposal (conflict record) and never applied by a device."""

    address: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | msgspec.UnsetType | None = msgspec.UNSET
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | msgspec.UnsetType | None = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET


class _Mutation(Struct):
    mutation_id: uuid.UUID
    """Made by the device once; a replay with the same id returns the stored result."""
    entity_id: uuid.UUID
    base_version: Version
    """The version of the record the device last saw (0: it has none)."""
    device_seq: Annotated[int, msgspec.Meta(ge=0)] = 0
    """The device's own mutation counter: orders one device's edits of the same field."""
    device_time: UtcDateTime | None = None
    """The device clock when the change was made (evidence only, never used for ordering)."""


class CaptureMutation(_Mutation, tag="capture", tag_field="entity", kw_only=True):
    """Create or change the capture ``entity_id`` of ``visit_id``; ``submit`` hands it in."""

    visit_id: uuid.UUID
    fields: CapturePatch = msgspec.field(default_factory=CapturePatch)
    submit: bool = False


class HouseholdMutation(_Mutation, tag="household", tag_field="entity", kw_only=True):
    """Correct household details (three-way merged field by field)."""

    fields: HouseholdPatch = msgspec.field(default_factory=HouseholdPatch)


Mutation = CaptureMutation | HouseholdMutation


class PushRequest(Struct):
    """A batch of mutations, applied each at most once; results come back in the same order."""

    device_time: UtcDateTime
    mutations: Annotated[list[Mutation], msgspec.Meta(max_length=1000)]


class ResultStatus(enum.StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    merged = "merged"
    conflict = "conflict"
    rejected = "rejected"


class FieldConflict(Struct):
    """A field both sides changed: which side's value was kept, by which rule, and the record id."""

    field: str
    kept: str
    rule: str
    conflict_id: int


class MutationResult(Struct):
    """The outcome of one mutation. A replay gets ``duplicate`` with the first answer's details."""

    index: int
    status: ResultStatus
    mutation_id: uuid.UUID | None = None
    entity: str | None = None
    entity_id: uuid.UUID | None = None
    version: int | None = None
    errors: list[FieldError] = []
    conflicts: list[FieldConflict] = []
    superseded: list[str] = []
    """Fields not applied because this device had already sent a newer value for them."""
    first_status: ResultStatus | None = None
    """For a duplicate: the status the mutation got when it was first applied."""


class EvidenceStatus(Struct):
    """Photos a visit's captures refer to whose bytes the server does not have yet."""

    visit_id: uuid.UUID
    missing: list[str]


class PushResponse(Struct):
    results: list[MutationResult]
    evidence: list[EvidenceStatus]
    server_time: dt.datetime
    clock_offset_ms: int


# ---------------------------------------------------------------- a revoked tablet's work


class ExportedPhoto(Struct):
    """A photo a capture refers to whose bytes the server may not have (base64 in JSON)."""

    visit_id: uuid.UUID
    sha256: Sha256
    data: bytes
    kind: PhotoKind = PhotoKind.other
    filename: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class DeviceExport(Struct):
    """Everything a tablet held and had not sent, in one file (``recheck device export``).

    A supervisor imports it for a revoked tablet (``POST /reviews/devices/{id}/import``): the
    mutations are applied as that tablet's, once each, and reach review as out-of-scope captures;
    the photos are stored as if uploaded. ``device_secret`` proves the file came from the tablet.
    """

    format: Literal["recheck-device-export"]
    version: Annotated[int, msgspec.Meta(ge=1, le=1)]
    device_id: uuid.UUID
    device_secret: Annotated[str, msgspec.Meta(max_length=200)]
    user_id: uuid.UUID
    exported_at: UtcDateTime
    mutations: Annotated[list[Mutation], msgspec.Meta(max_length=100_000)]
    """The outbox, in the order the worker made the changes."""
    photos: Annotated[list[ExportedPhoto], msgspec.Meta(max_length=10_000)] = []
    username: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class ImportedPhoto(Struct):
    """What became of one photo of an imported file: ``stored``, ``already_stored`` or ``refused``."""

    visit_id: uuid.UUID
    sha256: str
    status: Annotated[str, msgspec.Meta(pattern=r"^(stored|already_stored|refused)$")]
    reason: str | None = None


class DeviceImportResult(Struct):
    """The answer to an import: one result per mutation (as a push's) and one per photo."""

    device_id: uuid.UUID
    user_id: uuid.UUID
    results: list[MutationResult]
    photos: list[ImportedPhoto] = []


# ---------------------------------------------------------------- review


class ReturnRequest(Struct):
    comment: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class PrimaryChoice(Struct):
    capture_id: uuid.UUID


class CaptureEdit(Struct):
    """A supervisor's correction of a capture: the version it was made against, and the fields."""

    base_version: Version
    fields: CapturePatch


class VisitReview(Struct):
    """A visit with its captures and open conflicts, for the supervisor."""

    visit: VisitItem
    captures: list[CaptureItem]
    conflicts: list[ConflictRead]
    missing_photos: list[str] = []
    clock_skew_ms: int | None = None


class ConflictRead(Struct):
    id: int
    kind: str
    entity: str
    entity_id: uuid.UUID
    created_at: dt.datetime
    field: str | None = None
    kept: str | None = None
    rule: str | None = None
    server_value: Any = None
    device_value: Any = None
    visit_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    mutation_id: uuid.UUID | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None


class ConflictResolve(Struct):
    """Close a conflict: keep what was kept, or apply the other value (``use_other``)."""

    resolution: Annotated[str, msgspec.Meta(pattern=r"^(keep|use_other)$")]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
