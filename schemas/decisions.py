"""The policy engine's input (a household's captured situation) and output (a proposal).

The engine itself lives in :mod:`server.decisions.policy`; the programme rules it applies in
:mod:`server.decisions.rules`. Every amount is integer fen (分) per month. Names follow
DOMAIN.md (keep · adjust · cancel · phase_out · near_dibao …).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any

import msgspec

from schemas.base import AreaId, Fen, Struct, Version
from schemas.registry import Category, Health, IncomeKind, LabourCapacity, Residence

__all__ = [
    "ApplyRequest",
    "ApplyResult",
    "AppraisalCreate",
    "AppraisalRead",
    "AppraisalResult",
    "ApprovalRequest",
    "ApprovalResult",
    "AssessedDeduction",
    "AssessedIncome",
    "ChainStep",
    "Deduction",
    "DeductionKind",
    "Direction",
    "GenerateRequest",
    "GenerateResult",
    "HouseholdSituation",
    "IncomeLine",
    "IncomeTreatment",
    "MemberSituation",
    "NoticeCreate",
    "NoticeEntry",
    "NoticeRead",
    "ObjectionCreate",
    "ObjectionRead",
    "PropertyFlag",
    "PropertySituation",
    "Proposal",
    "ProposalChange",
    "ProposalOutcome",
    "ProposalRead",
    "ProposalState",
    "ReasonCode",
    "ReleaseRequest",
    "ReviewAction",
    "ReviewRequest",
    "RuleSetRead",
    "SkippedVisit",
    "VisitOutcome",
    "WhyRead",
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


# --------------------------------------------------------------------------- workflow (API)

Reason = Annotated[str, msgspec.Meta(min_length=5, max_length=2000)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
ProposalIds = Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=20000)]


class ProposalState(enum.StrEnum):
    """Where a proposal is in the workflow (see ``server.decisions.workflow`` for the moves).

    ``proposed`` → (supervisor review) ``confirmed`` → (community appraisal) ``appraised`` →
    ``in_notice`` (public notice; an objection makes it ``held``) → ``approved`` (effective the
    first day of the next open month) → ``effective`` (applied to the household). The
    supervisor may ``return`` it (the visit is done again). ``follow_up``: the visit failed and
    a follow-up visit was planned; nothing is decided. ``superseded``: a newer proposal for the
    household (say, after a complaint's urgent recheck) replaced it before approval — it left
    review, notice and approval, with the reason recorded (one live proposal per household).
    """

    proposed = "proposed"
    confirmed = "confirmed"
    appraised = "appraised"
    in_notice = "in_notice"
    held = "held"
    approved = "approved"
    effective = "effective"
    returned = "returned"
    follow_up = "follow_up"
    superseded = "superseded"


class ReviewAction(enum.StrEnum):
    """A supervisor's review: confirm the proposal, override it (reason required), or return the visit."""

    confirm = "confirm"
    override = "override"
    return_visit = "return"


class AppraisalResult(enum.StrEnum):
    """The community appraisal's (民主评议) verdict: ``disagreed`` sends the case back to review."""

    agreed = "agreed"
    disagreed = "disagreed"


class ReviewRequest(Struct):
    """Supervisor review. ``override`` needs ``reason`` and ``outcome`` (and ``new_amount``
    unless the outcome is ``cancel``); ``return`` needs ``reason``; ``confirm`` may add a note."""

    action: ReviewAction
    reason: Reason | None = None
    outcome: ProposalOutcome | None = None
    new_amount: Fen | None = None
    version: Version | None = None


class AppraisalCreate(Struct):
    """A community appraisal (民主评议) meeting: date, who took part, the verdict."""

    held_on: dt.date
    participants: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]], msgspec.Meta(min_length=1, max_length=100)
    ]
    result: AppraisalResult
    note: Note | None = None


class AppraisalRead(Struct):
    id: uuid.UUID
    proposal_id: uuid.UUID
    held_on: dt.date
    participants: list[str]
    result: AppraisalResult
    recorded_by: uuid.UUID | None
    recorded_at: dt.datetime
    note: str | None = None


class NoticeCreate(Struct):
    """Put proposals of one village or community on public notice from ``starts_on`` (the day
    the list went up on the board; default today) for ``days`` days (default from DOMAIN.md: 7)."""

    area_id: AreaId
    proposal_ids: ProposalIds
    starts_on: dt.date | None = None
    days: Annotated[int, msgspec.Meta(ge=1, le=60)] | None = None


class NoticeEntry(Struct):
    """One line of the notice board: masked name, village, size, amount and change — never
    ID numbers, health or income details (DOMAIN.md)."""

    proposal_id: uuid.UUID
    household_code: str
    name: str
    village: str
    household_size: int
    monthly_amount: Fen
    change: str
    outcome: ProposalOutcome


class NoticeRead(Struct):
    id: uuid.UUID
    area_id: int
    area_name: str
    starts_on: dt.date
    ends_on: dt.date
    days: int
    created_at: dt.datetime
    entries: list[NoticeEntry] = []


class ObjectionCreate(Struct):
    """An objection raised during the notice: becomes a complaint and holds the decision."""

    channel: Annotated[str, msgspec.Meta(pattern="^(hotline|letter|visit|online)$")]
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    received_on: dt.date | None = None
    reporter_name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    reporter_contact: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    anonymous: bool = False


class ObjectionRead(Struct):
    id: uuid.UUID
    proposal_id: uuid.UUID
    channel: str
    summary: str
    received_on: dt.date
    created_at: dt.datetime
    complaint_id: uuid.UUID | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None


class ReleaseRequest(Struct):
    """Lift the hold of an objection once it has been investigated (the finding is required)."""

    resolution: Reason


class ApprovalRequest(Struct):
    """Approve proposals (all or nothing): each must be in your areas, past its notice, not held."""

    proposal_ids: ProposalIds
    note: Note | None = None


class ApprovalResult(Struct):
    batch_id: uuid.UUID
    approved: int
    effective_from: dict[str, int]
    total_new_amount: Fen = 0


class GenerateRequest(Struct):
    """Make proposals for accepted visits that have none (idempotent). Limit with ``area_id``
    or ``visit_ids``."""

    area_id: AreaId | None = None
    visit_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20000)] | None = None


class SkippedVisit(Struct):
    visit_id: uuid.UUID
    reason: str


class GenerateResult(Struct):
    created: int
    follow_ups: int
    skipped: list[SkippedVisit]
    seconds: float


class ApplyRequest(Struct):
    """Apply approved decisions whose effective date has come (default: today)."""

    on: dt.date | None = None


class ApplyResult(Struct):
    on: dt.date
    applied: int
    phase_outs_ended: int


class ProposalChange(Struct):
    """What a recomputation changed: ``inputs`` ``{name: [old, new]}`` versions, ``fields``
    ``{field: [old, new]}`` of the proposal."""

    at: dt.datetime
    revision: int
    inputs: dict[str, list[Any]]
    fields: dict[str, list[Any]]


class ProposalRead(Struct):
    """A proposal as reviewers see it (``detail`` carries every counted and disregarded line)."""

    id: uuid.UUID
    visit_id: uuid.UUID
    household_id: uuid.UUID
    area_id: int
    state: ProposalState
    outcome: ProposalOutcome
    reasons: list[str]
    rule_version: str
    standard: Fen
    old_amount: Fen
    new_amount: Fen
    explanation_zh: str
    explanation_en: str
    inputs: dict[str, Any]
    revision: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    direction: Direction | None = None
    per_capita_income: Fen | None = None
    calculated_amount: Fen | None = None
    near_dibao: bool = False
    needs_supervisor_confirmation: bool = False
    phase_out_months: int | None = None
    decided_outcome: ProposalOutcome | None = None
    decided_amount: Fen | None = None
    override_reason: str | None = None
    reviewed_by: uuid.UUID | None = None
    reviewed_at: dt.datetime | None = None
    notice_id: uuid.UUID | None = None
    objections: int = 0
    effective_from: dt.date | None = None
    phase_out_until: dt.date | None = None
    approved_by: uuid.UUID | None = None
    approved_at: dt.datetime | None = None
    changes: list[ProposalChange] = []
    detail: dict[str, Any] | None = None
    superseded_by: uuid.UUID | None = None
    superseded_reason: str | None = None


class RuleSetRead(Struct):
    """A stored version of the programme rules; ``current`` marks the one new proposals use."""

    version: str
    current: bool
    created_at: dt.datetime | None
    document: dict[str, Any]
    created_by: uuid.UUID | None = None
    description: str = ""


class ChainStep(Struct):
    """One recorded step behind a household's amount: what, when, who, detail."""

    step: str
    at: dt.datetime | None
    detail: dict[str, Any]
    actor_id: uuid.UUID | None = None


class WhyRead(Struct):
    """ "Why does this household get N yuan": the amount, and the full chain that led to it."""

    household_id: uuid.UUID
    household_code: str
    benefit_amount: Fen
    status: str
    answer_zh: str
    answer_en: str
    proposal: ProposalRead | None = None
    chain: list[ChainStep] = []
