"""Areas, households and members on the wire, with the code lists from DOMAIN.md."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Generic, TypeVar

import msgspec

from schemas.base import AreaId, Fen, Struct, Version

__all__ = [
    "AmountCorrectionCreate",
    "AmountCorrectionDecision",
    "AmountCorrectionRead",
    "AmountCorrectionState",
    "AreaCreate",
    "AreaLevel",
    "AreaRead",
    "Category",
    "HeadChange",
    "Health",
    "HouseholdCreate",
    "HouseholdRead",
    "HouseholdStatus",
    "HouseholdSummary",
    "HouseholdUpdate",
    "IncomeItemIn",
    "IncomeItemRead",
    "IncomeKind",
    "LabourCapacity",
    "MemberCreate",
    "MemberRead",
    "MemberUpdate",
    "Page",
    "Relation",
    "Residence",
    "Sex",
    "id_number_problem",
]


class Category(enum.StrEnum):
    """Household category (三无 / 特困 / 一般); sets the recheck interval."""

    three_no = "three_no"
    extreme_hardship = "extreme_hardship"
    general = "general"


class Residence(enum.StrEnum):
    urban = "urban"
    rural = "rural"


class HouseholdStatus(enum.StrEnum):
    active = "active"
    suspended = "suspended"
    cancelled = "cancelled"


class AreaLevel(enum.StrEnum):
    county = "county"
    township = "township"
    community = "community"


class Health(enum.StrEnum):
    healthy = "healthy"
    often_ill = "often_ill"
    seriously_ill = "seriously_ill"


class LabourCapacity(enum.StrEnum):
    full = "full"
    partial = "partial"
    none = "none"


class Sex(enum.StrEnum):
    male = "male"
    female = "female"


class Relation(enum.StrEnum):
    head = "head"
    spouse = "spouse"
    child = "child"
    parent = "parent"
    grandchild = "grandchild"
    grandparent = "grandparent"
    sibling = "sibling"
    child_in_law = "child_in_law"
    other = "other"


class IncomeKind(enum.StrEnum):
    """Income kinds from DOMAIN.md: counted ones first, then disregarded ones."""

    wages = "wages"
    business = "business"
    property = "property"
    support = "support"
    pension = "pension"
    unemployment_benefit = "unemployment_benefit"
    compensation = "compensation"
    gift = "gift"
    other = "other"
    veteran_preferential = "veteran_preferential"
    family_planning_reward = "family_planning_reward"
    scholarship = "scholarship"
    bravery_reward = "bravery_reward"
    social_assistance = "social_assistance"
    resident_basic_pension = "resident_basic_pension"


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID (GB 11643), or ``None`` if it is.

    Checks the shape, the birth date and the ISO 7064 MOD 11-2 check character.
    """
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return "must be 17 digits followed by a digit or X"
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth date part (digits 7-14) is not a real date"
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return "check character does not match (GB 11643)"
    return None


T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
IdNumber = Annotated[str, msgspec.Meta(min_length=18, max_length=18, pattern=r"^\d{17}[\dX]$")]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Grade = Annotated[int, msgspec.Meta(ge=1, le=4)]
BankAccount = Annotated[str, msgspec.Meta(pattern=r"^\d{8,32}$")]


class AreaCreate(Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: Name
    level: AreaLevel
    parent_id: AreaId | None = None
    residence: Residence | None = None
    lat: Lat | None = None
    lon: Lon | None = None


class AreaRead(Struct):
    id: int
    code: str
    name: str
    level: AreaLevel
    parent_id: int | None = None
    residence: Residence | None = None
    lat: float | None = None
    lon: float | None = None


class IncomeItemIn(Struct):
    kind: IncomeKind
    monthly_amount: Fen
    member_id: uuid.UUID | None = None
    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class IncomeItemRead(Struct):
    id: uuid.UUID
    kind: IncomeKind
    monthly_amount: int
    member_id: uuid.UUID | None = None
    note: str | None = None


class MemberCreate(Struct):
    name: Name
    relation: Relation
    id_number: IdNumber
    sex: Sex
    birth_date: dt.date
    health: Health = Health.healthy
    disability_grade: Grade | None = None
    labour_capacity: LabourCapacity = LabourCapacity.full
    employment: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    id: uuid.UUID | None = None


class MemberUpdate(Struct):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    relation: Relation | msgspec.UnsetType = msgspec.UNSET
    id_number: IdNumber | msgspec.UnsetType = msgspec.UNSET
    sex: Sex | msgspec.UnsetType = msgspec.UNSET
    birth_date: dt.date | msgspec.UnsetType = msgspec.UNSET
    health: Health | msgspec.UnsetType = msgspec.UNSET
    disability_grade: Grade | msgspec.UnsetType | None = msgspec.UNSET
    labour_capacity: LabourCapacity | msgspec.UnsetType = msgspec.UNSET
    employment: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = msgspec.UNSET


class MemberRead(Struct):
    id: uuid.UUID
    name: str
    relation: Relation
    id_number: str
    sex: Sex
    birth_date: dt.date
    health: Health
    labour_capacity: LabourCapacity
    disability_grade: int | None = None
    employment: str | None = None


class HouseholdCreate(Struct):
    """A new household with its members; exactly one member has relation ``head``."""

    area_id: AreaId
    residence: Residence
    category: Category
    address: Annotated[str, msgspec.Meta(max_length=300)]
    members: Annotated[list[MemberCreate], msgspec.Meta(min_length=1, max_length=30)]
    benefit_amount: Fen = 0
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    bank_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    bank_account: BankAccount | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    approved_on: dt.date | None = None
    last_recheck_on: dt.date | None = None
    incomes: Annotated[list[IncomeItemIn], msgspec.Meta(max_length=100)] = []
    id: uuid.UUID | None = None


class HouseholdUpdate(Struct):
    """Changed fields only. ``version`` (if given) must match the stored one (optimistic lock)."""

    version: Version | msgspec.UnsetType = msgspec.UNSET
    area_id: AreaId | msgspec.UnsetType = msgspec.UNSET
    residence: Residence | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    status: HouseholdStatus | msgspec.UnsetType = msgspec.UNSET
    address: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    benefit_amount: Fen | msgspec.UnsetType = msgspec.UNSET
    lat: Lat | msgspec.UnsetType | None = msgspec.UNSET
    lon: Lon | msgspec.UnsetType | None = msgspec.UNSET
    bank_name: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = msgspec.UNSET
    bank_account: BankAccount | msgspec.UnsetType | None = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    approved_on: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    last_recheck_on: dt.date | msgspec.UnsetType | None = msgspec.UNSET


class HouseholdSummary(Struct):
    """A row of the household list (no members)."""

    id: uuid.UUID
    code: str
    head_name: str
    head_id_number: str
    area_id: int
    residence: Residence
    category: Category
    status: HouseholdStatus
    benefit_amount: int
    member_count: int
    version: int
    updated_at: dt.datetime
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    last_recheck_on: dt.date | None = None


class HouseholdRead(Struct):
    id: uuid.UUID
    code: str
    head_name: str
    head_id_number: str
    area_id: int
    residence: Residence
    category: Category
    status: HouseholdStatus
    benefit_amount: int
    address: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    members: list[MemberRead]
    incomes: list[IncomeItemRead]
    lat: float | None = None
    lon: float | None = None
    bank_name: str | None = None
    bank_account: str | None = None
    phone: str | None = None
    approved_on: dt.date | None = None
    last_recheck_on: dt.date | None = None
    head_vacant_since: dt.date | None = None
    """The head left (died, moved out) at an accepted visit and no new head is named yet: the
    household is not paid until one is (``POST /households/{id}/head``)."""
    head_vacant_reason: str | None = None


class HeadChange(Struct):
    """Name a remaining member the head of a household whose head left."""

    member_id: uuid.UUID


class Page(Struct, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = None


class AmountCorrectionState(enum.StrEnum):
    """``pending`` until an approver decides; ``superseded`` when a newer one replaced it."""

    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"
    superseded = "superseded"


class AmountCorrectionCreate(Struct):
    """A supervisor says the registered amount is wrong: it changes only once an approver confirms."""

    household_id: uuid.UUID
    new_amount: Fen
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class AmountCorrectionDecision(Struct):
    """An approver's confirmation or rejection; a rejection needs the reason."""

    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class AmountCorrectionRead(Struct):
    """A recorded correction of a household's amount (fen per month) and what became of it."""

    id: uuid.UUID
    household_id: uuid.UUID
    household_code: str
    area_id: int
    old_amount: int
    new_amount: int
    source: str
    state: AmountCorrectionState
    recorded_at: dt.datetime
    source_ref: str | None = None
    reason: str | None = None
    recorded_by: uuid.UUID | None = None
    decided_by: uuid.UUID | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
