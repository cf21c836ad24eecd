"""The visit capture form: what a field worker records at the door, and its partial update.

:class:`Capture` is the whole form as the server stores it and sends it back to the device
(every field has a default, so an empty capture is valid while the worker is still typing).
:class:`CapturePatch` carries the fields a device changed in one mutation: a field left
``UNSET`` is unchanged, so the server can merge field by field (ARCHITECTURE rule 4).
The two must list the same fields in the same order (checked by a test).

Money is integer fen; 1,000,000 yuan a month is the absurdity ceiling (:data:`schemas.base.Fen`).
Photos are referenced by their SHA-256 (lower-case hex); their bytes travel separately (tus).
Photo kinds are the media area's list (:class:`schemas.media.PhotoKind`).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated

import msgspec

from schemas.base import Fen, Struct, UtcDateTime
from schemas.decisions import DeductionKind
from schemas.media import PhotoKind
from schemas.registry import Health, IncomeKind, LabourCapacity, Relation, Sex

__all__ = [
    "CAPTURE_FIELDS",
    "Assets",
    "Capture",
    "CapturePatch",
    "ChangeReason",
    "DeductionItem",
    "DepositsBand",
    "EmploymentStatus",
    "GpsFix",
    "IncomeItem",
    "LivingConditions",
    "MemberAdd",
    "MemberChange",
    "MemberEdit",
    "MemberRemove",
    "MemberStatus",
    "Outcome",
    "Photo",
    "PhotoKind",
    "Sha256",
    "SignatureMissing",
    "capture_photo_hashes",
    "capture_photo_refs",
]

#: A photo reference: the SHA-256 of its bytes, lower-case hex.
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the photo, hex")]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Grade = Annotated[int, msgspec.Meta(ge=1, le=4)]


class Outcome(enum.StrEnum):
    """How the visit ended (DOMAIN.md)."""

    completed = "completed"
    nobody_home = "nobody_home"
    moved_away = "moved_away"
    deceased = "deceased"
    refused = "refused"


class ChangeReason(enum.StrEnum):
    """Why a member joins, leaves or is corrected."""

    birth = "birth"
    death = "death"
    marriage = "marriage"
    divorce = "divorce"
    moved_in = "moved_in"
    moved_out = "moved_out"
    correction = "correction"
    other = "other"


class EmploymentStatus(enum.StrEnum):
    employed = "employed"
    self_employed = "self_employed"
    farming = "farming"
    odd_jobs = "odd_jobs"
    unemployed = "unemployed"
    student = "student"
    retired = "retired"
    unable = "unable"


class DepositsBand(enum.StrEnum):
    """Household deposits in bands, as older forms recorded them. A band cannot be judged
    against the property limit (which depends on the standard and the household size: 53,760
    yuan for 4 rural members falls inside ``over_50k``), so a completed visit with a band other
    than ``none`` gives :attr:`Assets.deposits_amount` too."""

    none = "none"
    under_10k = "under_10k"
    from_10k_to_50k = "10k_50k"
    over_50k = "over_50k"


class SignatureMissing(enum.StrEnum):
    """Why the household head's signature is missing."""

    head_absent = "head_absent"
    cannot_write = "cannot_write"
    refused = "refused"
    incapacitated = "incapacitated"
    deceased = "deceased"
    other = "other"


class GpsFix(Struct):
    """Where the device was: WGS-84 degrees, horizontal accuracy in metres, and when."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)]
    at: UtcDateTime


class MemberStatus(Struct):
    """What the worker saw of one member (an existing one, or one added by a :class:`MemberAdd`)."""

    member_id: uuid.UUID
    present: bool = False
    health: Health = Health.healthy
    disability_grade: Grade | None = None
    labour_capacity: LabourCapacity = LabourCapacity.full
    employment: EmploymentStatus | None = None
    employer: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    #: Days of public-welfare labour (公益性劳动) done in the last month.
    welfare_labour_days: Annotated[int, msgspec.Meta(ge=0, le=31)] = 0
    job_referrals_refused: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    """Suitable job referrals refused in a row, as the employment office's record shows."""
    note: Note | None = None
    #: The worker asked and the member has no income: a completed visit says for every member
    #: whether they have income (an income item or this), never an empty list that reads as zero.
    no_income: bool = False


class MemberAdd(Struct, tag="add", tag_field="change", kw_only=True):
    """A person who joined the household (birth, marriage, moving in); ``member_id`` is device-made."""

    member_id: uuid.UUID
    name: Name
    relation: Relation
    sex: Sex
    birth_date: dt.date
    reason: ChangeReason
    id_number: Annotated[str, msgspec.Meta(pattern=r"^\d{17}[\dX]$")] | None = None
    on: dt.date | None = None


class MemberRemove(Struct, tag="remove", tag_field="change", kw_only=True):
    """A member who left the household (death, moving out, marriage)."""

    member_id: uuid.UUID
    reason: ChangeReason
    on: dt.date | None = None


class MemberEdit(Struct, tag="edit", tag_field="change", kw_only=True):
    """A correction of a member's registered details; only the given fields change."""

    member_id: uuid.UUID
    reason: ChangeReason = ChangeReason.correction
    name: Name | msgspec.UnsetType = msgspec.UNSET
    relation: Relation | msgspec.UnsetType = msgspec.UNSET
    sex: Sex | msgspec.UnsetType = msgspec.UNSET
    birth_date: dt.date | msgspec.UnsetType = msgspec.UNSET
    id_number: Annotated[str, msgspec.Meta(pattern=r"^\d{17}[\dX]$")] | msgspec.UnsetType = msgspec.UNSET


MemberChange = MemberAdd | MemberRemove | MemberEdit


class IncomeItem(Struct):
    """One monthly income item as found at the door; ``id`` is device-made."""

    id: uuid.UUID
    kind: IncomeKind
    monthly_amount: Fen
    member_id: uuid.UUID | None = None
    evidence: Annotated[list[Sha256], msgspec.Meta(max_length=20)] = []
    note: Note | None = None


class DeductionItem(Struct):
    """A deductible monthly cost the household claims (medical or disability costs, job costs)."""

    id: uuid.UUID
    kind: DeductionKind
    monthly_amount: Fen
    member_id: uuid.UUID | None = None
    evidence: Annotated[list[Sha256], msgspec.Meta(max_length=20)] = []
    note: Note | None = None


class Assets(Struct):
    """Property of the household (DOMAIN.md: deposits, vehicles, extra housing, business).

    ``deposits_amount`` is the household's total deposits in fen (bank books, statements): the
    property limit is judged on it. ``deposits`` is the band older forms send.
    """

    deposits: DepositsBand | None = None
    deposits_amount: Fen | None = None
    vehicles: Annotated[int, msgspec.Meta(ge=0, le=50)] = 0
    extra_housing: bool = False
    commercial_property: bool = False
    business: bool = False
    livestock_head: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    farmland_mu: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0
    note: Note | None = None


class LivingConditions(Struct):
    """Short notes on food, clothing, housing and daily goods."""

    food: Note | None = None
    clothing: Note | None = None
    housing: Note | None = None
    daily_goods: Note | None = None


class Photo(Struct):
    """A photo taken during the visit, by hash; the bytes are uploaded separately."""

    sha256: Sha256
    kind: PhotoKind = PhotoKind.other
    member_id: uuid.UUID | None = None


class Capture(Struct):
    """The whole capture form of one visit (what the server stores and sends back)."""

    outcome: Outcome | None = None
    partner_id: uuid.UUID | None = None
    members: Annotated[list[MemberStatus], msgspec.Meta(max_length=40)] = []
    member_changes: Annotated[list[MemberChange], msgspec.Meta(max_length=40)] = []
    incomes: Annotated[list[IncomeItem], msgspec.Meta(max_length=100)] = []
    deductions: Annotated[list[DeductionItem], msgspec.Meta(max_length=40)] = []
    assets: Assets | None = None
    living_conditions: LivingConditions | None = None
    notes: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    gps: GpsFix | None = None
    started_at: UtcDateTime | None = None
    ended_at: UtcDateTime | None = None
    head_signature: Sha256 | None = None
    signature_missing: SignatureMissing | None = None
    photos: Annotated[list[Photo], msgspec.Meta(max_length=60)] = []


class CapturePatch(Struct):
    """The fields of :class:`Capture` one mutation changes (``UNSET`` = not changed)."""

    outcome: Outcome | msgspec.UnsetType | None = msgspec.UNSET
    partner_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    members: Annotated[list[MemberStatus], msgspec.Meta(max_length=40)] | msgspec.UnsetType = msgspec.UNSET
    member_changes: Annotated[list[MemberChange], msgspec.Meta(max_length=40)] | msgspec.UnsetType = msgspec.UNSET
    incomes: Annotated[list[IncomeItem], msgspec.Meta(max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    deductions: Annotated[list[DeductionItem], msgspec.Meta(max_length=40)] | msgspec.UnsetType = msgspec.UNSET
    assets: Assets | msgspec.UnsetType | None = msgspec.UNSET
    living_conditions: LivingConditions | msgspec.UnsetType | None = msgspec.UNSET
    notes: Annotated[str, msgspec.Meta(max_length=4000)] | msgspec.UnsetType = msgspec.UNSET
    gps: GpsFix | msgspec.UnsetType | None = msgspec.UNSET
    started_at: UtcDateTime | msgspec.UnsetType | None = msgspec.UNSET
    ended_at: UtcDateTime | msgspec.UnsetType | None = msgspec.UNSET
    head_signature: Sha256 | msgspec.UnsetType | None = msgspec.UNSET
    signature_missing: SignatureMissing | msgspec.UnsetType | None = msgspec.UNSET
    photos: Annotated[list[Photo], msgspec.Meta(max_length=60)] | msgspec.UnsetType = msgspec.UNSET


#: The mergeable fields of a capture, in form order.
CAPTURE_FIELDS: tuple[str, ...] = Capture.__struct_fields__


def capture_photo_hashes(capture: Capture) -> set[str]:
    """Every photo the capture refers to: visit photos, income and deduction evidence and the head's signature."""
    hashes = {p.sha256 for p in capture.photos}
    for income in capture.incomes:
        hashes.update(income.evidence)
    for deduction in capture.deductions:
        hashes.update(deduction.evidence)
    if capture.head_signature:
        hashes.add(capture.head_signature)
    return hashes


def capture_photo_refs(capture: Capture) -> dict[str, PhotoKind]:
    """Every photo the capture refers to, with what it shows (the kind an upload declares)."""
    refs = {p.sha256: p.kind for p in capture.photos}
    for income in capture.incomes:
        for sha in income.evidence:
            refs.setdefault(sha, PhotoKind.income_proof)
    for deduction in capture.deductions:
        for sha in deduction.evidence:
            refs.setdefault(sha, PhotoKind.document)
    if capture.head_signature:
        refs.setdefault(capture.head_signature, PhotoKind.signature)
    return refs
