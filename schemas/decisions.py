"""The policy engine's input (a household's captured situation) and output (a proposal).

The engine itself lives in :mod:`server.decisions.policy`; the programme rules it applies in
:mod:`server.decisions.rules`. Every amount is integer fen (分) per month. Names follow
DOMAIN.md (keep · adjust · cancel · phase_out · near_dibao …).
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import msgspec

from schemas.base import Fen, Struct
from schemas.registry import Category, Health, IncomeKind, LabourCapacity, Residence

__all__ = [
    "AssessedDeduction",
    "AssessedIncome",
    "Deduction",
    "DeductionKind",
    "Direction",
    "HouseholdSituation",
    "IncomeLine",
    "IncomeTreatment",
    "MemberSituation",
    "PropertyFlag",
    "PropertySituation",
    "Proposal",
    "ProposalOutcome",
    "ReasonCode",
    "VisitOutcome",
]

Count = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Grade = Annotated[int, msgspec.Meta(ge=1, le=4)]


class VisitOutcome(enum.StrEnum):
    """How a home visit ended (DOMAIN.md "Home visit")."""

    completed = "completed"
    nobody_home = "nobody_home"
    moved_away = "moved_away"
    deceased = "deceased"
    refused = "refused"


class ProposalOutcome(enum.StrEnum):
    """What the policy engine proposes; a supervisor reviews it next."""

    keep = "keep"
    adjust = "adjust"
    cancel = "cancel"
    phase_out = "phase_out"
    follow_up = "follow_up"


class Direction(enum.StrEnum):
    """Direction of an ``adjust``."""

    increase = "increase"
    decrease = "decrease"


class DeductionKind(enum.StrEnum):
    """Deductible monthly costs (DOMAIN.md "Counting income").

    ``disability_cost`` needs a member with a disability grade, ``illness_cost`` a member whose
    health is ``seriously_ill``, ``job_cost`` a member with wages (and is capped at those wages).
    """

    disability_cost = "disability_cost"
    illness_cost = "illness_cost"
    job_cost = "job_cost"


class PropertyFlag(enum.StrEnum):
    """Property findings of a visit that can put a household over the local limit."""

    deposits_over_limit = "deposits_over_limit"
    vehicle = "vehicle"
    extra_housing = "extra_housing"
    business = "business"


class IncomeTreatment(enum.StrEnum):
    """How one income line was treated. ``member_left``: its member died or moved out."""

    counted = "counted"
    disregarded = "disregarded"
    member_left = "member_left"


class ReasonCode(enum.StrEnum):
    """Machine-readable reasons attached to a proposal (several may apply)."""

    income_below_standard = "income_below_standard"
    income_at_or_above_standard = "income_at_or_above_standard"
    amount_unchanged = "amount_unchanged"
    amount_increased = "amount_increased"
    amount_decreased = "amount_decreased"
    category_supplement = "category_supplement"
    tiered_band = "tiered_band"
    minimum_payable = "minimum_payable"
    member_change = "member_change"
    member_share_removed = "member_share_removed"
    no_payable_member = "no_payable_member"
    deduction_disallowed = "deduction_disallowed"
    newly_employed = "newly_employed"
    phase_out_ended = "phase_out_ended"
    property_over_limit = "property_over_limit"
    fraud = "fraud"
    moved_away = "moved_away"
    deceased = "deceased"
    nobody_home = "nobody_home"
    refused = "refused"
    non_cooperation = "non_cooperation"
    near_dibao = "near_dibao"


# --------------------------------------------------------------------------- input


class MemberSituation(Struct):
    """One member as found at the visit.

    ``newly_employed``: found work since the last recheck (drives ``phase_out``).
    ``job_referrals_refused``: suitable job referrals refused *in a row*; at the rules' limit
    (default 3) the member's share is removed. ``deceased`` / ``moved_out``: the member left
    the household (a member change); they no longer count and their income is set aside.
    """

    id: uuid.UUID
    health: Health = Health.healthy
    disability_grade: Grade | None = None
    labour_capacity: LabourCapacity = LabourCapacity.full
    newly_employed: bool = False
    job_referrals_refused: Count = 0
    deceased: bool = False
    moved_out: bool = False


class IncomeLine(Struct):
    """One monthly income item; ``member_id`` is ``None`` for household-level income."""

    kind: IncomeKind
    monthly_amount: Fen
    member_id: uuid.UUID | None = None


class Deduction(Struct):
    """One claimed monthly deductible cost (see :class:`DeductionKind` for the conditions)."""

    kind: DeductionKind
    monthly_amount: Fen
    member_id: uuid.UUID | None = None


class PropertySituation(Struct):
    """Property found at the visit. ``deposits`` (total household deposits, fen) is optional;
    when given it is also compared with the rules' deposit limit."""

    deposits_over_limit: bool = False
    deposits: Fen | None = None
    vehicle: bool = False
    extra_housing: bool = False
    business: bool = False


class HouseholdSituation(Struct):
    """Everything the policy engine needs about one household at one recheck.

    ``benefit_amount`` is the amount currently paid (fen per month). ``prior_failed_attempts``
    counts the consecutive failed visit attempts (``nobody_home`` / ``refused``) *before* this
    one. ``phase_out_months_paid`` counts the months already paid under a running phase-out.
    ``area_id`` selects an area-specific standard when the rules define one.
    """

    category: Category
    residence: Residence
    benefit_amount: Fen
    members: list[MemberSituation]
    incomes: list[IncomeLine] = []
    deductions: list[Deduction] = []
    property: PropertySituation = msgspec.field(default_factory=PropertySituation)
    visit_outcome: VisitOutcome = VisitOutcome.completed
    prior_failed_attempts: Count = 0
    phase_out_months_paid: Count = 0
    fraud: bool = False
    area_id: int | None = None


# --------------------------------------------------------------------------- output


class AssessedIncome(Struct):
    """One income line and how it was treated."""

    kind: IncomeKind
    monthly_amount: Fen
    treatment: IncomeTreatment
    member_id: uuid.UUID | None = None


class AssessedDeduction(Struct):
    """One claimed deduction, the part allowed, and why any part was refused."""

    kind: DeductionKind
    claimed: Fen
    allowed: Fen
    member_id: uuid.UUID | None = None
    note: str | None = None


class Proposal(Struct):
    """The policy engine's proposal for one household.

    ``per_capita_income`` is ``None`` when no income was assessed (follow-up, moved away,
    sole member deceased). ``calculated_amount`` is the amount the rules give (whole yuan under
    the default rounding) or ``None`` when the household is not eligible; ``new_amount`` is
    what is proposed to be paid from now on (equal to ``old_amount`` for ``keep``, ``phase_out``
    and ``follow_up``; 0 for ``cancel``).
    """

    outcome: ProposalOutcome
    reasons: list[ReasonCode]
    rule_version: str
    residence: Residence
    standard: Fen
    old_amount: Fen
    new_amount: Fen
    explanation_zh: str
    explanation_en: str
    direction: Direction | None = None
    near_dibao: bool = False
    needs_supervisor_confirmation: bool = False
    members_counted: int = 0
    members_paid: int = 0
    counted_income: Fen = 0
    disregarded_income: Fen = 0
    deductions_allowed: Fen = 0
    per_capita_income: Fen | None = None
    calculated_amount: Fen | None = None
    phase_out_months_remaining: int | None = None
    counted: list[AssessedIncome] = []
    disregarded: list[AssessedIncome] = []
    deductions: list[AssessedDeduction] = []
