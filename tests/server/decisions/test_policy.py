"""The policy engine: one row per rule of DOMAIN.md, the five worked examples, properties."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.decisions import (
    Deduction,
    DeductionKind,
    Direction,
    HouseholdSituation,
    IncomeLine,
    IncomeTreatment,
    MemberSituation,
    PropertyFlag,
    PropertySituation,
    Proposal,
    ProposalOutcome,
    ReasonCode,
    VisitOutcome,
)
from schemas.registry import Category, Health, IncomeKind, Residence
from server.decisions.policy import SituationError, format_yuan, propose
from server.decisions.rules import (
    BenefitMethod,
    CategorySupplement,
    NoStandardError,
    ProgrammeRules,
    PropertyLimit,
    StandardPeriod,
    TieredBand,
    default_rules,
)

ON = dt.date(2026, 3, 1)
RULES = default_rules()
R = ReasonCode
Out = ProposalOutcome


def mid(n: int) -> uuid.UUID:
    """Member id ``n`` (readable in tables)."""
    return uuid.UUID(int=n)


def _members(n: int, **overrides: dict[str, Any]) -> list[MemberSituation]:
    """``n`` plain members; ``overrides={"m2": {...}}`` changes member 2."""
    return [MemberSituation(id=mid(i), **overrides.get(f"m{i}", {})) for i in range(1, n + 1)]


def household(
    n: int = 1,
    *,
    incomes: Sequence[tuple[str, int, int | None]] = (),
    deductions: Sequence[tuple[str, int, int | None]] = (),
    members: dict[str, dict[str, Any]] | None = None,
    **fields: Any,
) -> HouseholdSituation:
    """A situation from compact rows: incomes as (kind, fen, member number or None)."""
    fields.setdefault("category", Category.general)
    fields.setdefault("residence", Residence.rural)
    fields.setdefault("benefit_amount", 0)
    return HouseholdSituation(
        members=_members(n, **(members or {})),
        incomes=[
            IncomeLine(kind=IncomeKind(k), monthly_amount=a, member_id=mid(m) if m else None) for k, a, m in incomes
        ],
        deductions=[
            Deduction(kind=DeductionKind(k), monthly_amount=a, member_id=mid(m) if m else None)
            for k, a, m in deductions
        ],
        **fields,
    )


def _rules(**changes: Any) -> ProgrammeRules:
    return msgspec.structs.replace(RULES, **changes)


# --------------------------------------------------------------------------- worked examples
# DOMAIN.md's five worked examples, under the shipped default rules (rural standard 560.00).


def _example_1(current: int) -> HouseholdSituation:
    return household(
        3,
        benefit_amount=current,
        incomes=[("business", 600_00, 1), ("support", 300_00, None), ("resident_basic_pension", 150_00, 3)],
    )


def test_worked_example_1_keep() -> None:
    p = propose(_example_1(780_00), RULES, ON)
    assert p.outcome is Out.keep
    assert (p.counted_income, p.disregarded_income, p.per_capita_income) == (900_00, 150_00, 300_00)
    assert (p.calculated_amount, p.old_amount, p.new_amount) == (780_00, 780_00, 780_00)
    assert [line.kind for line in p.disregarded] == [IncomeKind.resident_basic_pension]
    assert p.explanation_en == (
        "per-capita income 300.00 yuan is below the rural standard 560.00 yuan; "
        "560.00 × 3 − 900.00 = 780.00 yuan; keep 780.00 yuan"
    )
    assert p.explanation_zh == (
        "人均收入300.00元低于农村低保标准560.00元；560.00 × 3 − 900.00 = 780.00元；保障金780.00元不变"
    )


def test_worked_example_1_adjust() -> None:
    p = propose(_example_1(700_00), RULES, ON)
    assert (p.outcome, p.direction, p.old_amount, p.new_amount) == (Out.adjust, Direction.increase, 700_00, 780_00)
    assert p.reasons == [R.income_below_standard, R.amount_increased]
    assert p.explanation_en.endswith("increase from 700.00 to 780.00 yuan")


def test_worked_example_2_three_no_full_standard() -> None:
    p = propose(household(1, category=Category.three_no, benefit_amount=560_00), RULES, ON)
    assert (p.outcome, p.new_amount, p.calculated_amount) == (Out.keep, 560_00, 560_00)
    assert R.category_supplement in p.reasons


def test_worked_example_3_phase_out() -> None:
    s = household(2, benefit_amount=560_00, incomes=[("wages", 1250_00, 2)], members={"m2": {"newly_employed": True}})
    p = propose(s, RULES, ON)
    assert p.per_capita_income == 625_00
    assert (p.outcome, p.new_amount, p.phase_out_months_remaining) == (Out.phase_out, 560_00, 6)
    assert p.reasons[:2] == [R.income_at_or_above_standard, R.newly_employed]
    assert "625.00 yuan is above the rural standard 560.00 yuan" in p.explanation_en
    later = propose(msgspec.structs.replace(s, phase_out_months_paid=6), RULES, ON)
    assert (later.outcome, later.new_amount) == (Out.cancel, 0)
    assert R.phase_out_ended in later.reasons


def test_worked_example_4_small_gap_above_the_minimum() -> None:
    p = propose(household(4, benefit_amount=18_00, incomes=[("business", 2222_00, None)]), RULES, ON)
    assert p.per_capita_income == 555_50
    assert (p.outcome, p.new_amount, p.calculated_amount) == (Out.keep, 18_00, 18_00)
    assert "560.00 × 4 − 2,222.00 = 18.00 yuan" in p.explanation_en
    assert R.minimum_payable not in p.reasons


def test_worked_example_5_rounding_on_the_totals() -> None:
    """3 members, 1,000.00 counted: 1,680.00 − 1,000.00 = 680 yuan, not (560.00 − 333.33) × 3 → 681."""
    p = propose(household(3, benefit_amount=681_00, incomes=[("business", 1000_00, None)]), RULES, ON)
    assert p.per_capita_income == 333_33, "per-capita income stays what eligibility and the notice show"
    assert (p.outcome, p.new_amount, p.calculated_amount) == (Out.adjust, 680_00, 680_00)
    assert "560.00 × 3 − 1,000.00 = 680.00 yuan" in p.explanation_en
    assert "560.00 × 3 − 1,000.00 = 680.00元" in p.explanation_zh


def test_default_rules_disregard_the_resident_basic_pension_without_an_end() -> None:
    """DOMAIN.md: disregarded by default with no end date (worked example 1 gives 780 in 2026)."""
    for day in (dt.date(2021, 1, 1), ON, dt.date(2040, 6, 1)):
        assert RULES.income_treatment(IncomeKind.resident_basic_pension, day) is IncomeTreatment.disregarded
    assert propose(_example_1(780_00), RULES, dt.date(2031, 1, 1)).new_amount == 780_00


# --------------------------------------------------------------------------- rounding and minimum


def test_the_amount_is_rounded_once_on_the_household_total() -> None:
    """Per-capita income floored first and multiplied back would pay 1 fen × 3 more, then a yuan."""
    p = propose(household(3, incomes=[("gift", 100, None)]), RULES, ON)
    assert p.per_capita_income == 33
    assert p.calculated_amount == 1679_00  # 1,680.00 − 1.00; per capita first: (560.00 − 0.33) × 3 → 1,680
    p = propose(household(3, incomes=[("gift", 100_01, None)]), RULES, ON)
    assert p.calculated_amount == 1580_00  # 1,680.00 − 100.01 = 1,579.99, up to 1,580 (not 1,581)


def test_a_removed_share_is_taken_from_the_household_total() -> None:
    """3 of 4 members paid, 1,634.67 counted: (2,240.00 − 1,634.67) × 3 / 4 = 453.9975 → 454 yuan;
    per-capita income first (560.00 − 408.66) × 3 = 454.02 would round up to 455."""
    s = household(4, incomes=[("business", 1634_67, None)], members={"m4": {"job_referrals_refused": 3}})
    p = propose(s, RULES, ON)
    assert (p.members_paid, p.per_capita_income, p.calculated_amount) == (3, 408_66, 454_00)
    assert "(560.00 × 4 − 1,634.67) × 3 / 4 = 454.00 yuan" in p.explanation_en


def test_an_amount_above_zero_below_the_minimum_is_paid_the_minimum() -> None:
    """4 members, 2,239.50 counted: 0.50 yuan, rounded up to 1 yuan, paid the minimum 10 yuan."""
    p = propose(household(4, incomes=[("business", 2239_50, None)]), RULES, ON)
    assert (p.outcome, p.new_amount, p.calculated_amount) == (Out.adjust, 10_00, 10_00)
    assert R.minimum_payable in p.reasons
    assert "raised to the minimum payable amount 10.00 yuan" in p.explanation_en
    assert "低于最低发放额，按最低发放额10.00元发放" in p.explanation_zh
    down = _rules(rounding=msgspec.structs.replace(RULES.rounding, mode="down"))
    p = propose(household(4, incomes=[("business", 2239_50, None)]), down, ON)
    assert p.new_amount == 10_00, "rounded down to 0 yuan, but the computed amount was above 0"


# --------------------------------------------------------------------------- explanations


def test_a_phase_out_near_dibao_is_not_said_to_be_unpaid() -> None:
    s = household(2, benefit_amount=560_00, incomes=[("wages", 1250_00, 2)], members={"m2": {"newly_employed": True}})
    p = propose(s, RULES, ON)
    assert p.outcome is Out.phase_out
    assert p.near_dibao
    assert "not paid" not in p.explanation_en
    assert "不发放" not in p.explanation_zh
    assert "near dibao" in p.explanation_en
    assert "低保边缘" in p.explanation_zh
    cancelled = propose(household(1, incomes=[("support", 600_00, None)]), RULES, ON)
    assert "near dibao (reported, not paid)" in cancelled.explanation_en


def test_attempts_past_the_limit_do_not_read_n_of_limit() -> None:
    s = household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.nobody_home, prior_failed_attempts=5)
    p = propose(s, RULES, ON)
    assert "6 of 3" not in p.explanation_en
    assert "第6次，共3次" not in p.explanation_zh
    assert "failed attempt 6, past the limit of 3" in p.explanation_en
    assert "第6次，已超过3次上限" in p.explanation_zh
    third = propose(msgspec.structs.replace(s, prior_failed_attempts=2), RULES, ON)
    assert "failed attempt 3 of 3" in third.explanation_en


def test_a_disallowed_deduction_is_in_the_explanation() -> None:
    s = household(1, incomes=[("wages", 100_00, 1)], deductions=[("illness_cost", 50_00, 1)])
    p = propose(s, RULES, ON)
    assert R.deduction_disallowed in p.reasons
    assert "illness cost 50.00 yuan not deducted: the member is not seriously ill" in p.explanation_en
    assert "重病医疗支出50.00元不予扣除：该成员不属重病" in p.explanation_zh
    capped = propose(household(1, incomes=[("wages", 30_00, 1)], deductions=[("job_cost", 50_00, 1)]), RULES, ON)
    assert "job cost 50.00 yuan: 30.00 deducted, capped at the member's wages" in capped.explanation_en
    assert "就业必要支出50.00元仅扣除30.00元：以该成员工资为限" in capped.explanation_zh


def test_a_household_paid_nothing_is_not_told_its_benefit_is_cancelled() -> None:
    p = propose(household(1, benefit_amount=0, incomes=[("pension", 900_00, 1)]), RULES, ON)
    assert p.outcome is Out.cancel
    assert "benefit cancelled" not in p.explanation_en
    assert "停发" not in p.explanation_zh
    assert "not eligible: no benefit is paid" in p.explanation_en
    assert "不符合条件，不予发放保障金" in p.explanation_zh
    paid = propose(household(1, benefit_amount=100_00, incomes=[("pension", 900_00, 1)]), RULES, ON)
    assert "benefit cancelled" in paid.explanation_en


# --------------------------------------------------------------------------- one row per rule


@dataclass
class Row:
    case: str
    situation: HouseholdSituation
    outcome: ProposalOutcome
    new_amount: int
    reasons: list[ReasonCode] = field(default_factory=list)
    rules: ProgrammeRules = RULES
    check: dict[str, Any] = field(default_factory=dict)
    on: dt.date = ON


ROWS = [
    # gap top-up and standards
    Row(
        "gap top-up rural", household(2, incomes=[("wages", 400_00, 1)]), Out.adjust, 720_00, [R.income_below_standard]
    ),
    Row(
        "urban standard",
        household(1, residence=Residence.urban, incomes=[("pension", 200_00, 1)]),
        Out.adjust,
        520_00,
        check={"standard": 720_00},
    ),
    Row("zero income general", household(3), Out.adjust, 1680_00, check={"per_capita_income": 0}),
    Row(
        "per-capita floored to the fen, amount on the totals",
        household(3, incomes=[("gift", 100, None)]),
        Out.adjust,
        1679_00,
        check={"per_capita_income": 33, "calculated_amount": 1679_00},
    ),
    Row(
        "rounded up to the whole yuan",
        household(1, incomes=[("other", 100_01, None)]),
        Out.adjust,
        460_00,
        check={"per_capita_income": 100_01, "calculated_amount": 460_00},
    ),
    Row(
        "minimum payable",
        household(1, incomes=[("wages", 559_00, 1)]),
        Out.adjust,
        10_00,
        [R.income_below_standard, R.minimum_payable],
    ),
    Row(
        "extreme hardship has no supplement",
        household(1, category="extreme_hardship", incomes=[("pension", 300_00, 1)]),
        Out.adjust,
        260_00,
    ),
    Row(
        "three_no paid the full standard per person",
        household(2, category=Category.three_no, incomes=[("support", 200_00, None)]),
        Out.adjust,
        1120_00,
        [R.income_below_standard, R.category_supplement],
    ),
    # keep / adjust
    Row("keep: equal", household(1, benefit_amount=560_00), Out.keep, 560_00, [R.amount_unchanged]),
    Row(
        "keep: within the rounding",
        household(1, benefit_amount=559_50),
        Out.keep,
        559_50,
        [R.amount_unchanged],
        check={"calculated_amount": 560_00},
    ),
    Row(
        "adjust: decrease",
        household(1, benefit_amount=560_00, incomes=[("wages", 100_00, 1)]),
        Out.adjust,
        460_00,
        [R.income_below_standard, R.amount_decreased],
        check={"direction": Direction.decrease},
    ),
    Row(
        "adjust: current below the minimum",
        household(1, benefit_amount=9_50, incomes=[("wages", 559_50, 1)]),
        Out.adjust,
        10_00,
        check={"direction": Direction.increase},
    ),
    # counted and disregarded income
    Row(
        "resident basic pension disregarded in 2025",
        household(1, incomes=[("resident_basic_pension", 150_00, 1)]),
        Out.adjust,
        500_00,
        rules=_rules(
            standards=(
                *RULES.standards,
                StandardPeriod(
                    residence=Residence.rural,
                    amount=500_00,
                    effective_from=dt.date(2025, 1, 1),
                    effective_to=dt.date(2025, 12, 31),
                ),
            )
        ),
        check={"per_capita_income": 0, "disregarded_income": 150_00},
        on=dt.date(2025, 6, 1),
    ),
    # deductions
    Row(
        "disability cost deducted",
        household(
            2,
            incomes=[("wages", 800_00, 1)],
            deductions=[("disability_cost", 200_00, 2)],
            members={"m2": {"disability_grade": 1}},
        ),
        Out.adjust,
        520_00,
        check={"deductions_allowed": 200_00, "per_capita_income": 300_00},
    ),
    Row(
        "disability cost without a grade refused",
        household(2, incomes=[("wages", 800_00, 1)], deductions=[("disability_cost", 200_00, 2)]),
        Out.adjust,
        320_00,
        [R.deduction_disallowed],
        check={"deductions_allowed": 0},
    ),
    Row(
        "illness cost for a seriously ill member",
        household(
            1,
            incomes=[("pension", 400_00, 1)],
            deductions=[("illness_cost", 100_00, 1)],
            members={"m1": {"health": Health.seriously_ill}},
        ),
        Out.adjust,
        260_00,
    ),
    Row(
        "illness cost for an often-ill member refused",
        household(
            1,
            incomes=[("pension", 400_00, 1)],
            deductions=[("illness_cost", 100_00, 1)],
            members={"m1": {"health": Health.often_ill}},
        ),
        Out.adjust,
        160_00,
        [R.deduction_disallowed],
    ),
    Row(
        "job costs capped at the member's wages",
        household(2, incomes=[("wages", 50_00, 1), ("pension", 300_00, 2)], deductions=[("job_cost", 80_00, 1)]),
        Out.adjust,
        820_00,
        [R.deduction_disallowed],
        check={"deductions_allowed": 50_00, "per_capita_income": 150_00},
    ),
    Row(
        "deduction must name a member",
        household(1, incomes=[("wages", 100_00, 1)], deductions=[("job_cost", 50_00, None)]),
        Out.adjust,
        460_00,
        [R.deduction_disallowed],
    ),
    Row(
        "deduction kind not deductible under the rules",
        household(1, incomes=[("wages", 100_00, 1)], deductions=[("job_cost", 50_00, 1)]),
        Out.adjust,
        460_00,
        [R.deduction_disallowed],
        rules=_rules(income=msgspec.structs.replace(RULES.income, deductible=())),
    ),
    # cancel
    Row(
        "cancel: income above the standard",
        household(1, benefit_amount=100_00, incomes=[("pension", 900_00, 1)]),
        Out.cancel,
        0,
        [R.income_at_or_above_standard],
        check={"near_dibao": False},
    ),
    Row(
        "cancel: income equal to the standard, near dibao",
        household(2, benefit_amount=100_00, incomes=[("pension", 1120_00, 1)]),
        Out.cancel,
        0,
        [R.income_at_or_above_standard, R.near_dibao],
        check={"near_dibao": True},
    ),
    Row(
        "near dibao ends just below 1.5x",
        household(1, incomes=[("support", 839_99, None)]),
        Out.cancel,
        0,
        [R.income_at_or_above_standard, R.near_dibao],
    ),
    Row(
        "not near dibao at 1.5x",
        household(1, incomes=[("support", 840_00, None)]),
        Out.cancel,
        0,
        check={"near_dibao": False},
    ),
    *[
        Row(
            f"cancel: property {flag.value}",
            household(1, benefit_amount=560_00, property=PropertySituation(**{flag.value: True})),
            Out.cancel,
            0,
            [R.property_over_limit],
            check={"near_dibao": False},
        )
        for flag in PropertyFlag
    ],
    Row(
        "cancel: deposits above 24 months of the standard",
        household(2, benefit_amount=560_00, property=PropertySituation(deposits=24 * 560_00 * 2 + 1)),
        Out.cancel,
        0,
        [R.property_over_limit],
    ),
    Row(
        "deposits at the limit are fine",
        household(2, benefit_amount=1120_00, property=PropertySituation(deposits=24 * 560_00 * 2)),
        Out.keep,
        1120_00,
    ),
    Row(
        "a flag the local rules do not count",
        household(1, benefit_amount=560_00, property=PropertySituation(vehicle=True)),
        Out.keep,
        560_00,
        rules=_rules(property_limit=PropertyLimit(disqualifying=(PropertyFlag.deposits_over_limit,))),
    ),
    Row("cancel: fraud", household(1, benefit_amount=560_00, fraud=True), Out.cancel, 0, [R.fraud]),
    Row(
        "cancel: moved away",
        household(3, benefit_amount=560_00, visit_outcome=VisitOutcome.moved_away),
        Out.cancel,
        0,
        [R.moved_away],
        check={"per_capita_income": None},
    ),
    Row(
        "cancel: sole member deceased",
        household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.deceased),
        Out.cancel,
        0,
        [R.deceased],
    ),
    Row(
        "deceased member of two: recalculated",
        household(
            2,
            benefit_amount=1120_00,
            visit_outcome=VisitOutcome.deceased,
            members={"m2": {"deceased": True}},
            incomes=[("pension", 300_00, 2)],
        ),
        Out.adjust,
        560_00,
        [R.member_change, R.income_below_standard, R.amount_decreased],
        check={"members_counted": 1},
    ),
    Row(
        "member moved out: their income set aside",
        household(2, benefit_amount=1120_00, members={"m2": {"moved_out": True}}, incomes=[("wages", 2000_00, 2)]),
        Out.adjust,
        560_00,
        [R.member_change],
        check={"counted_income": 0},
    ),
    Row(
        "every member gone",
        household(1, benefit_amount=560_00, members={"m1": {"moved_out": True}}),
        Out.cancel,
        0,
        [R.member_change],
    ),
    # phase out
    Row(
        "phase out continues the current amount",
        household(
            2,
            benefit_amount=300_00,
            phase_out_months_paid=5,
            incomes=[("wages", 2000_00, 1)],
            members={"m1": {"newly_employed": True}},
        ),
        Out.phase_out,
        300_00,
        [R.income_at_or_above_standard, R.newly_employed],
        check={"phase_out_months_remaining": 1},
    ),
    Row(
        "phase out ended",
        household(
            2,
            benefit_amount=300_00,
            phase_out_months_paid=6,
            incomes=[("wages", 2000_00, 1)],
            members={"m1": {"newly_employed": True}},
        ),
        Out.cancel,
        0,
        [R.income_at_or_above_standard, R.newly_employed, R.phase_out_ended],
    ),
    Row(
        "no phase out when other income already exceeds the standard",
        household(
            1,
            benefit_amount=300_00,
            incomes=[("wages", 500_00, 1), ("pension", 600_00, 1)],
            members={"m1": {"newly_employed": True}},
        ),
        Out.cancel,
        0,
        [R.income_at_or_above_standard],
    ),
    Row(
        "no phase out without a new job",
        household(1, benefit_amount=300_00, incomes=[("wages", 600_00, 1)]),
        Out.cancel,
        0,
        [R.income_at_or_above_standard],
    ),
    # failed attempts
    Row(
        "nobody home: follow up",
        household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.nobody_home),
        Out.follow_up,
        560_00,
        [R.nobody_home],
        check={"needs_supervisor_confirmation": False},
    ),
    Row(
        "refused, second attempt: follow up",
        household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.refused, prior_failed_attempts=1),
        Out.follow_up,
        560_00,
        [R.refused],
    ),
    Row(
        "third failed attempt: cancel for non-cooperation",
        household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.nobody_home, prior_failed_attempts=2),
        Out.cancel,
        0,
        [R.nobody_home, R.non_cooperation],
        check={"needs_supervisor_confirmation": True},
    ),
    Row(
        "refusals count too",
        household(1, benefit_amount=560_00, visit_outcome=VisitOutcome.refused, prior_failed_attempts=5),
        Out.cancel,
        0,
        [R.refused, R.non_cooperation],
        check={"needs_supervisor_confirmation": True},
    ),
    # job referrals
    Row(
        "three refused job referrals remove that member's share",
        household(2, benefit_amount=1120_00, members={"m2": {"job_referrals_refused": 3}}),
        Out.adjust,
        560_00,
        [R.income_below_standard, R.member_share_removed],
        check={"members_counted": 2, "members_paid": 1},
    ),
    Row(
        "two refusals keep the share",
        household(2, benefit_amount=1120_00, members={"m2": {"job_referrals_refused": 2}}),
        Out.keep,
        1120_00,
    ),
    Row(
        "nobody left to pay",
        household(1, benefit_amount=560_00, members={"m1": {"job_referrals_refused": 3}}),
        Out.cancel,
        0,
        [R.income_below_standard, R.member_share_removed, R.no_payable_member],
    ),
    # alternative rules (data, not code)
    Row(
        "tiered bands instead of the gap",
        household(2, incomes=[("wages", 700_00, 1)]),
        Out.adjust,
        600_00,
        [R.income_below_standard, R.tiered_band],
        rules=_rules(
            method=BenefitMethod.tiered_band,
            tiered_bands=(TieredBand(gap_from=0, per_person=100_00), TieredBand(gap_from=200_00, per_person=300_00)),
        ),
    ),
    Row(
        "fixed category supplement per person",
        household(2, category=Category.extreme_hardship, incomes=[("wages", 700_00, 1)]),
        Out.adjust,
        520_00,
        [R.income_below_standard, R.category_supplement],
        rules=_rules(category_supplements=(CategorySupplement(category=Category.extreme_hardship, per_person=50_00),)),
    ),
    Row(
        "area-specific standard",
        household(1, area_id=9),
        Out.adjust,
        600_00,
        rules=_rules(
            standards=(
                *RULES.standards,
                StandardPeriod(residence=Residence.rural, amount=600_00, effective_from=dt.date(2026, 1, 1), area_id=9),
            )
        ),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.case for r in ROWS])
def test_rule(row: Row) -> None:
    p = propose(row.situation, row.rules, row.on)
    assert (p.outcome, p.new_amount) == (row.outcome, row.new_amount), p.explanation_en
    for code in row.reasons:
        assert code in p.reasons, (code, p.reasons)
    for name, value in row.check.items():
        assert getattr(p, name) == value, name
    assert p.rule_version == row.rules.version
    assert p.explanation_en
    assert p.explanation_zh


def test_every_counted_and_disregarded_line_is_listed() -> None:
    s = household(
        2,
        members={"m2": {"moved_out": True}},
        incomes=[("wages", 100_00, 1), ("scholarship", 50_00, 1), ("support", 20_00, None), ("pension", 70_00, 2)],
    )
    p = propose(s, RULES, ON)
    assert [(i.kind, i.treatment) for i in p.counted] == [
        (IncomeKind.wages, IncomeTreatment.counted),
        (IncomeKind.support, IncomeTreatment.counted),
    ]
    assert [(i.kind, i.treatment) for i in p.disregarded] == [
        (IncomeKind.scholarship, IncomeTreatment.disregarded),
        (IncomeKind.pension, IncomeTreatment.member_left),
    ]
    assert (p.counted_income, p.disregarded_income) == (120_00, 50_00)


def test_deduction_lines_say_why() -> None:
    s = household(1, incomes=[("wages", 30_00, 1)], deductions=[("job_cost", 50_00, 1), ("illness_cost", 10_00, 1)])
    p = propose(s, RULES, ON)
    assert [(d.allowed, d.note) for d in p.deductions] == [
        (30_00, "capped at the member's wages"),
        (0, "the member is not seriously ill"),
    ]


def test_deductions_never_make_income_negative() -> None:
    s = household(
        1,
        incomes=[("pension", 10_00, 1)],
        deductions=[("disability_cost", 500_00, 1)],
        members={"m1": {"disability_grade": 2}},
    )
    assert propose(s, RULES, ON).per_capita_income == 0


def test_strings_work_like_enums() -> None:
    s = HouseholdSituation(
        category="three_no",  # type: ignore[arg-type]
        residence="urban",  # type: ignore[arg-type]
        benefit_amount=0,
        members=[MemberSituation(id=mid(1))],
        visit_outcome="completed",  # type: ignore[arg-type]
    )
    p = propose(s, RULES, ON)
    assert (p.residence, p.new_amount) == (Residence.urban, 720_00)
    assert "urban standard 720.00 yuan" in p.explanation_en
    assert "城市低保标准720.00元" in p.explanation_zh


def test_proposal_round_trips_on_the_wire() -> None:
    p = propose(_example_1(700_00), RULES, ON)
    assert msgspec.json.decode(msgspec.json.encode(p), type=Proposal) == p


def test_no_standard_on_the_date() -> None:
    with pytest.raises(NoStandardError):
        propose(household(1), RULES, dt.date(2025, 12, 31))


@pytest.mark.parametrize(
    ("situation", "path"),
    [
        (
            HouseholdSituation(category=Category.general, residence=Residence.rural, benefit_amount=0, members=[]),
            "$.members",
        ),
        (
            HouseholdSituation(
                category=Category.general,
                residence=Residence.rural,
                benefit_amount=0,
                members=[MemberSituation(id=mid(1)), MemberSituation(id=mid(1))],
            ),
            "$.members[1].id",
        ),
        (household(1, incomes=[("wages", 10, 5)]), "$.incomes[0].member_id"),
        (household(1, deductions=[("job_cost", 10, 7)]), "$.deductions[0].member_id"),
        (household(1, incomes=[("wages", -10, 1)]), "$.incomes[0].monthly_amount"),
        (household(1, benefit_amount=-1), "$.benefit_amount"),
        (household(2, visit_outcome=VisitOutcome.deceased), "$.members"),
        (household(1, members={"m1": {"disability_grade": 7}}), "$.members[0].disability_grade"),
    ],
)
def test_inconsistent_situations_are_refused(situation: HouseholdSituation, path: str) -> None:
    with pytest.raises(SituationError) as info:
        propose(situation, RULES, ON)
    assert path in [e.path for e in info.value.errors]


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (5, "0.05"), (18_00, "18.00"), (555_50, "555.50"), (1250_00, "1,250.00"), (-3_07, "-3.07")],
)
def test_format_yuan_is_exact(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


# --------------------------------------------------------------------------- properties

_KINDS = list(IncomeKind)


@st.composite
def situations(draw: st.DrawFn, *, plain: bool = False) -> HouseholdSituation:
    """Random households; ``plain``: completed visit, no fraud, property fine, no refusals."""
    n = draw(st.integers(1, 6))
    members = [
        MemberSituation(
            id=mid(i),
            health=draw(st.sampled_from(list(Health))),
            disability_grade=draw(st.none() | st.integers(1, 4)),
            newly_employed=draw(st.booleans()),
            job_referrals_refused=0 if plain else draw(st.integers(0, 4)),
            deceased=False if plain else draw(st.sampled_from([False, False, False, True])),
        )
        for i in range(1, n + 1)
    ]
    member_ref = st.none() | st.integers(1, n).map(mid)
    incomes = draw(
        st.lists(
            st.builds(
                IncomeLine, kind=st.sampled_from(_KINDS), monthly_amount=st.integers(0, 3000_00), member_id=member_ref
            ),
            max_size=6,
        )
    )
    deductions = draw(
        st.lists(
            st.builds(
                Deduction,
                kind=st.sampled_from(list(DeductionKind)),
                monthly_amount=st.integers(0, 500_00),
                member_id=member_ref,
            ),
            max_size=3,
        )
    )
    outcome = VisitOutcome.completed if plain else draw(st.sampled_from(list(VisitOutcome)))
    if outcome is VisitOutcome.deceased and n > 1 and not any(m.deceased for m in members):
        members[0] = msgspec.structs.replace(members[0], deceased=True)
    return HouseholdSituation(
        category=draw(st.sampled_from(list(Category))),
        residence=draw(st.sampled_from(list(Residence))),
        benefit_amount=draw(st.integers(0, 5000_00)),
        members=members,
        incomes=incomes,
        deductions=deductions,
        property=PropertySituation()
        if plain
        else draw(st.builds(PropertySituation, vehicle=st.booleans(), deposits=st.none() | st.integers(0, 10**8))),
        visit_outcome=outcome,
        prior_failed_attempts=draw(st.integers(0, 4)),
        phase_out_months_paid=draw(st.integers(0, 8)),
        fraud=False if plain else draw(st.booleans()),
    )


@settings(max_examples=200, deadline=None)
@given(situations())
def test_amounts_are_never_negative_and_outcomes_agree(s: HouseholdSituation) -> None:
    p = propose(s, RULES, ON)
    assert p.new_amount >= 0
    assert p.old_amount == s.benefit_amount
    if p.calculated_amount is not None:
        assert p.calculated_amount % 100 == 0, "whole yuan"
        assert p.calculated_amount >= RULES.minimum_payable
    match p.outcome:
        case Out.cancel:
            assert p.new_amount == 0
            assert p.direction is None
        case Out.keep | Out.phase_out | Out.follow_up:
            assert p.new_amount == p.old_amount
        case Out.adjust:
            assert p.new_amount == p.calculated_amount
            assert p.new_amount % 100 == 0
            assert p.direction is (Direction.increase if p.new_amount > p.old_amount else Direction.decrease)
    if p.outcome in (Out.keep, Out.adjust):
        assert (p.outcome is Out.keep) == (p.new_amount == p.old_amount)
        assert p.per_capita_income is not None
        assert p.per_capita_income < p.standard
    if p.near_dibao:
        assert p.per_capita_income is not None
        assert p.standard <= p.per_capita_income < p.standard * 3 // 2 + 1
    assert p.needs_supervisor_confirmation == (R.non_cooperation in p.reasons)
    assert p.reasons, "every proposal says why"


@settings(max_examples=100, deadline=None)
@given(situations(plain=True))
def test_per_capita_income_is_the_floored_integer_division(s: HouseholdSituation) -> None:
    p = propose(s, RULES, ON)
    assert p.per_capita_income == max(0, p.counted_income - p.deductions_allowed) // p.members_counted
    assert p.counted_income == sum(i.monthly_amount for i in p.counted)
    assert sum(i.monthly_amount for i in p.counted) + sum(i.monthly_amount for i in p.disregarded) == sum(
        i.monthly_amount for i in s.incomes
    )


@settings(max_examples=100, deadline=None)
@given(situations(plain=True))
def test_zero_income_gets_the_full_standard_per_person(s: HouseholdSituation) -> None:
    s = msgspec.structs.replace(s, incomes=[])
    p = propose(s, RULES, ON)
    assert p.calculated_amount == p.standard * len(s.members)
    assert p.outcome in (Out.keep, Out.adjust)


@settings(max_examples=100, deadline=None)
@given(situations(plain=True), st.integers(1, 2000_00))
def test_more_counted_income_never_pays_more(s: HouseholdSituation, extra: int) -> None:
    s = msgspec.structs.replace(s, category=Category.general)
    richer = msgspec.structs.replace(s, incomes=[*s.incomes, IncomeLine(kind=IncomeKind.gift, monthly_amount=extra)])
    before, after = propose(s, RULES, ON), propose(richer, RULES, ON)
    if after.calculated_amount is not None:
        assert before.calculated_amount is not None
        assert after.calculated_amount <= before.calculated_amount


@settings(max_examples=200, deadline=None)
@given(situations(plain=True))
def test_disregarded_income_changes_nothing(s: HouseholdSituation) -> None:
    more = msgspec.structs.replace(
        s, incomes=[*s.incomes, IncomeLine(kind=IncomeKind.scholarship, monthly_amount=999_00)]
    )
    a, b = propose(s, RULES, ON), propose(more, RULES, ON)
    assert (a.outcome, a.new_amount, a.per_capita_income) == (b.outcome, b.new_amount, b.per_capita_income)


@settings(max_examples=200, deadline=None)
@given(situations(plain=True))
def test_keeping_the_calculated_amount_is_a_keep(s: HouseholdSituation) -> None:
    first = propose(s, RULES, ON)
    if first.calculated_amount is None:
        return
    again = propose(msgspec.structs.replace(s, benefit_amount=first.calculated_amount), RULES, ON)
    assert again.outcome is Out.keep
    assert again.new_amount == first.calculated_amount
