"""The policy engine: a household's captured situation + the rules in force → a proposal.

:func:`propose` is a pure function: no clock, no I/O, integer fen throughout. It implements
DOMAIN.md "Counting income" and "Benefit and decision". The order of the checks:

1. ``nobody_home`` / ``refused`` → ``follow_up``; at the rules' failed-attempt limit (this
   attempt included) → ``cancel`` for non-cooperation, which a supervisor must confirm.
2. ``moved_away`` → ``cancel``. ``deceased`` with a single member (or nobody left) →
   ``cancel``; with more members it is a member change and the household is recalculated
   without the members marked ``deceased`` / ``moved_out``.
3. Income: each line is counted or disregarded by the rules in force on the date (lines of
   members who left are set aside as ``member_left``); allowed deductions are subtracted
   (never below zero); **per-capita income = (counted − deductions) // members**, i.e. floored
   to the whole fen.
4. ``fraud`` or property over the local limit → ``cancel``.
5. Per-capita income ≥ standard → ``phase_out`` when the rise comes from members who newly
   found work (without their wages and job costs the household would still be below the
   standard) and fewer than ``phase_out_months`` months have been paid; ``cancel`` otherwise.
6. Below the standard: members who refused ``job_refusal_limit`` job referrals in a row lose
   their share; amount = gap top-up on the household's totals, standard × members − (counted
   − deductions), taken for the paid members' share when a share was removed (or a tiered
   band per person), raised to the full standard per person for categories with that
   supplement, plus any fixed supplement, rounded once (default up to the whole yuan), and an
   amount above 0 below the minimum payable is raised to it. ``keep`` when the current
   amount, rounded the same way, equals it (and is not below the minimum); ``adjust``
   otherwise. The per-capita income (floored to the fen) decides eligibility and is what the
   notice shows; it is never multiplied back into the amount (DOMAIN.md worked example 5).

``near_dibao`` is set when the household is not eligible by income (per-capita ≥ standard)
but below ``near_dibao_percent`` of it, and neither fraud nor property excluded it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from schemas.decisions import (
    AssessedDeduction,
    AssessedIncome,
    DeductionKind,
    Direction,
    HouseholdSituation,
    IncomeTreatment,
    MemberSituation,
    PropertyFlag,
    Proposal,
    ProposalOutcome,
    ReasonCode,
    VisitOutcome,
)
from schemas.errors import FieldError
from schemas.registry import Category, Health, IncomeKind, Residence
from server.decisions.rules import BenefitMethod, ProgrammeRules, RoundingMode

__all__ = ["SituationError", "format_yuan", "propose"]


class SituationError(ValueError):
    """The situation is inconsistent (unknown member referenced, no members, …).

    Carries ``status``/``code``/``message``/``errors`` like :class:`server.errors.DomainError`.
    """

    status = 422
    code = "invalid_situation"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        self.message = "invalid household situation: " + "; ".join(f"{e.path}: {e.reason}" for e in errors)
        super().__init__(self.message)


def format_yuan(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators, exactly (``125000`` → ``1,250.00``)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


_RESIDENCE_ZH = {Residence.urban: "城市", Residence.rural: "农村"}
_CATEGORY_ZH = {Category.three_no: "三无", Category.extreme_hardship: "特困", Category.general: "一般"}
_ROUNDING_EN = {RoundingMode.up: "up", RoundingMode.down: "down", RoundingMode.half_up: "half up"}
_ROUNDING_ZH = {RoundingMode.up: "向上", RoundingMode.down: "向下", RoundingMode.half_up: "四舍五入"}
_FLAG_EN = {
    PropertyFlag.deposits_over_limit: "deposits over the limit",
    PropertyFlag.vehicle: "vehicle",
    PropertyFlag.extra_housing: "extra housing",
    PropertyFlag.business: "business",
}
_DEDUCTION_EN = {
    DeductionKind.disability_cost: "disability cost",
    DeductionKind.illness_cost: "illness cost",
    DeductionKind.job_cost: "job cost",
}
_DEDUCTION_ZH = {
    DeductionKind.disability_cost: "残疾额外支出",
    DeductionKind.illness_cost: "重病医疗支出",
    DeductionKind.job_cost: "就业必要支出",
}
#: Why a deduction was refused or cut: the note stored on the line, and its Chinese.
_NOT_DEDUCTIBLE = ("not deductible under these rules", "现行规则不允许扣除")
_MEMBER_LEFT = ("the member has left the household", "该成员已离开家庭")
_NO_MEMBER = ("must name the member it is for", "未注明所属成员")
_NO_GRADE = ("the member has no disability grade", "该成员无残疾等级")
_NOT_SERIOUSLY_ILL = ("the member is not seriously ill", "该成员不属重病")
_CAPPED = ("capped at the member's wages", "以该成员工资为限")
_FLAG_ZH = {
    PropertyFlag.deposits_over_limit: "存款超限",
    PropertyFlag.vehicle: "车辆",
    PropertyFlag.extra_housing: "其他住房",
    PropertyFlag.business: "经营实体",
}


@dataclass(slots=True)
class _Draft:
    """The parts of a proposal gathered while the rules are applied."""

    situation: HouseholdSituation
    rules: ProgrammeRules
    standard: int
    reasons: list[ReasonCode] = field(default_factory=list)
    en: list[str] = field(default_factory=list)
    zh: list[str] = field(default_factory=list)
    members_counted: int = 0
    members_paid: int = 0
    counted_income: int = 0
    disregarded_income: int = 0
    deductions_allowed: int = 0
    per_capita: int | None = None
    counted: list[AssessedIncome] = field(default_factory=list)
    disregarded: list[AssessedIncome] = field(default_factory=list)
    deductions: list[AssessedDeduction] = field(default_factory=list)
    near_dibao: bool = False

    def say(self, en: str, zh: str) -> None:
        self.en.append(en)
        self.zh.append(zh)

    def reason(self, *codes: ReasonCode) -> None:
        for code in codes:
            if code not in self.reasons:
                self.reasons.append(code)

    def cancel(self) -> Proposal:
        """Cancel; a household paid nothing now is told it gets nothing, not that it is cut."""
        if self.situation.benefit_amount > 0:
            self.say("benefit cancelled", "停发保障金")
        else:
            self.say("not eligible: no benefit is paid", "不符合条件，不予发放保障金")
        return self.finish(ProposalOutcome.cancel, 0)

    def finish(
        self,
        outcome: ProposalOutcome,
        new_amount: int,
        *,
        calculated: int | None = None,
        direction: Direction | None = None,
        phase_out_remaining: int | None = None,
        needs_confirmation: bool = False,
    ) -> Proposal:
        if self.near_dibao:
            self.reason(ReasonCode.near_dibao)
            if outcome is ProposalOutcome.phase_out:
                # the phase-out amount is paid: near dibao is only reported alongside it
                self.say("near dibao (reported)", "属低保边缘家庭（统计上报）")
            else:
                self.say("near dibao (reported, not paid)", "属低保边缘家庭（仅统计，不发放）")
        return Proposal(
            outcome=outcome,
            reasons=self.reasons,
            rule_version=self.rules.version,
            residence=Residence(self.situation.residence),
            standard=self.standard,
            old_amount=self.situation.benefit_amount,
            new_amount=new_amount,
            explanation_en="; ".join(self.en),
            explanation_zh="；".join(self.zh),
            direction=direction,
            near_dibao=self.near_dibao,
            needs_supervisor_confirmation=needs_confirmation,
            members_counted=self.members_counted,
            members_paid=self.members_paid,
            counted_income=self.counted_income,
            disregarded_income=self.disregarded_income,
            deductions_allowed=self.deductions_allowed,
            per_capita_income=self.per_capita,
            calculated_amount=calculated,
            phase_out_months_remaining=phase_out_remaining,
            counted=self.counted,
            disregarded=self.disregarded,
            deductions=self.deductions,
        )


def _validate(situation: HouseholdSituation) -> list[FieldError]:
    """Consistency problems msgspec cannot see (or that bypassed decoding)."""
    errors: list[FieldError] = []
    if not situation.members:
        errors.append(FieldError(path="$.members", reason="a household has at least one member"))
    ids: set[uuid.UUID] = set()
    for i, member in enumerate(situation.members):
        if member.id in ids:
            errors.append(FieldError(path=f"$.members[{i}].id", reason="duplicate member id"))
        ids.add(member.id)
        if member.disability_grade is not None and not 1 <= member.disability_grade <= 4:
            errors.append(FieldError(path=f"$.members[{i}].disability_grade", reason="must be 1–4 or null"))
        if member.job_referrals_refused < 0:
            errors.append(FieldError(path=f"$.members[{i}].job_referrals_refused", reason="must be ≥ 0"))
    lines: list[tuple[str, uuid.UUID | None, int]] = [
        (f"$.incomes[{i}]", line.member_id, line.monthly_amount) for i, line in enumerate(situation.incomes)
    ] + [(f"$.deductions[{i}]", d.member_id, d.monthly_amount) for i, d in enumerate(situation.deductions)]
    for path, member_id, amount in lines:
        if member_id is not None and member_id not in ids:
            errors.append(FieldError(path=f"{path}.member_id", reason="not a member of this household"))
        if amount < 0:
            errors.append(FieldError(path=f"{path}.monthly_amount", reason="must be ≥ 0"))
    for name in ("benefit_amount", "prior_failed_attempts", "phase_out_months_paid"):
        if getattr(situation, name) < 0:
            errors.append(FieldError(path=f"$.{name}", reason="must be ≥ 0"))
    if situation.property.deposits is not None and situation.property.deposits < 0:
        errors.append(FieldError(path="$.property.deposits", reason="must be ≥ 0"))
    if (
        situation.visit_outcome == VisitOutcome.deceased
        and len(situation.members) > 1
        and not any(m.deceased for m in situation.members)
    ):
        errors.append(
            FieldError(
                path="$.members",
                reason="visit outcome is deceased in a household of several members: mark who died",
            )
        )
    return errors


def _compare(per_capita: int, standard: int) -> tuple[str, str]:
    if per_capita < standard:
        return "below", "低于"
    if per_capita == standard:
        return "equal to", "等于"
    return "above", "高于"


def _income_sentence(draft: _Draft) -> None:
    assert draft.per_capita is not None
    en_cmp, zh_cmp = _compare(draft.per_capita, draft.standard)
    residence = Residence(draft.situation.residence)
    # Each figure is formatted once for both languages (100,000 proposals format millions).
    per_capita, standard = format_yuan(draft.per_capita), format_yuan(draft.standard)
    draft.say(
        f"per-capita income {per_capita} yuan is {en_cmp} the {residence.value} standard {standard} yuan",
        f"人均收入{per_capita}元{zh_cmp}{_RESIDENCE_ZH[residence]}低保标准{standard}元",
    )


def _failed_attempt(draft: _Draft) -> Proposal:
    situation = draft.situation
    attempt = situation.prior_failed_attempts + 1
    limit = draft.rules.failed_attempt_limit
    if attempt <= limit:
        count_en, count_zh = f"failed attempt {attempt} of {limit}", f"第{attempt}次，共{limit}次"
    else:
        count_en, count_zh = (
            f"failed attempt {attempt}, past the limit of {limit}",
            f"第{attempt}次，已超过{limit}次上限",
        )
    if situation.visit_outcome == VisitOutcome.refused:
        draft.reason(ReasonCode.refused)
        draft.say(f"visit refused ({count_en})", f"拒绝入户调查（{count_zh}）")
    else:
        draft.reason(ReasonCode.nobody_home)
        draft.say(f"nobody home ({count_en})", f"入户未遇（{count_zh}）")
    if attempt >= limit:
        draft.reason(ReasonCode.non_cooperation)
        draft.say(
            "cancel for non-cooperation, a supervisor must confirm",
            "因不配合调查拟停发保障金，须主管确认",
        )
        return draft.finish(ProposalOutcome.cancel, 0, needs_confirmation=True)
    draft.say("follow-up visit needed; current amount continues", "需再次入户，原保障金继续发放")
    return draft.finish(ProposalOutcome.follow_up, situation.benefit_amount)


def _assess_income(draft: _Draft, present: list[MemberSituation], on: dt.date) -> tuple[int, int]:
    """Fill the income and deduction lines; return (wages, allowed job costs) of newly employed."""
    situation, rules = draft.situation, draft.rules
    # Sets of member ids are built only when needed: hashing UUIDs dominates this function
    # when 100,000 proposals are made at once.
    deductions = situation.deductions
    present_by_id = {m.id: m for m in present} if deductions else {}
    left = (
        {m.id for m in situation.members} - {m.id for m in present} if len(present) != len(situation.members) else set()
    )
    newly = {m.id for m in present if m.newly_employed}
    wages: defaultdict[uuid.UUID, int] = defaultdict(int)
    new_job_wages = 0
    for line in situation.incomes:
        if left and line.member_id is not None and line.member_id in left:
            treatment = IncomeTreatment.member_left
        else:
            treatment = rules.income_treatment(line.kind, on)
        assessed = AssessedIncome(
            kind=line.kind, monthly_amount=line.monthly_amount, treatment=treatment, member_id=line.member_id
        )
        if treatment == IncomeTreatment.counted:
            draft.counted.append(assessed)
            draft.counted_income += line.monthly_amount
            if line.kind == IncomeKind.wages and line.member_id is not None and (deductions or newly):
                wages[line.member_id] += line.monthly_amount
                if line.member_id in newly:
                    new_job_wages += line.monthly_amount
        else:
            draft.disregarded.append(assessed)
            if treatment == IncomeTreatment.disregarded:
                draft.disregarded_income += line.monthly_amount
    new_job_costs = 0
    for deduction in deductions:
        claimed, member_id = deduction.monthly_amount, deduction.member_id
        member = present_by_id.get(member_id) if member_id is not None else None
        allowed, why = claimed, None
        if deduction.kind not in rules.income.deductible:
            allowed, why = 0, _NOT_DEDUCTIBLE
        elif member_id is not None and member_id in left:
            allowed, why = 0, _MEMBER_LEFT
        elif member is None:
            allowed, why = 0, _NO_MEMBER
        elif deduction.kind == DeductionKind.disability_cost and member.disability_grade is None:
            allowed, why = 0, _NO_GRADE
        elif deduction.kind == DeductionKind.illness_cost and member.health != Health.seriously_ill:
            allowed, why = 0, _NOT_SERIOUSLY_ILL
        elif deduction.kind == DeductionKind.job_cost:
            allowed = min(claimed, wages[member.id])
            wages[member.id] -= allowed
            if allowed < claimed:
                why = _CAPPED
            if member.id in newly:
                new_job_costs += allowed
        if why is not None and allowed < claimed:
            draft.reason(ReasonCode.deduction_disallowed)
            _deduction_sentence(draft, DeductionKind(deduction.kind), claimed, allowed, why)
        draft.deductions_allowed += allowed
        draft.deductions.append(
            AssessedDeduction(
                kind=deduction.kind,
                claimed=claimed,
                allowed=allowed,
                member_id=member_id,
                note=why[0] if why else None,
            )
        )
    return new_job_wages, new_job_costs


def _deduction_sentence(draft: _Draft, kind: DeductionKind, claimed: int, allowed: int, why: tuple[str, str]) -> None:
    """Say which claimed deduction was refused or cut, and why (both languages)."""
    c_yuan = format_yuan(claimed)
    if allowed == 0:
        draft.say(
            f"{_DEDUCTION_EN[kind]} {c_yuan} yuan not deducted: {why[0]}",
            f"{_DEDUCTION_ZH[kind]}{c_yuan}元不予扣除：{why[1]}",
        )
    else:
        a_yuan = format_yuan(allowed)
        draft.say(
            f"{_DEDUCTION_EN[kind]} {c_yuan} yuan: {a_yuan} deducted, {why[0]}",
            f"{_DEDUCTION_ZH[kind]}{c_yuan}元仅扣除{a_yuan}元：{why[1]}",
        )


def _gap_top_up(draft: _Draft, paid: int) -> int:
    """Standard × members − (counted − deductions), on the household's totals in fen; with a
    removed share, the paid members' part of it (rounded up to the fen, never against them)."""
    standard, members = draft.standard, draft.members_counted
    net = max(0, draft.counted_income - draft.deductions_allowed)
    shortfall = standard * members - net
    s_yuan, n_yuan = format_yuan(standard), format_yuan(net)
    if paid == members:
        amount = shortfall
        a_yuan = format_yuan(amount)
        draft.say(f"{s_yuan} × {members} − {n_yuan} = {a_yuan} yuan", f"{s_yuan} × {members} − {n_yuan} = {a_yuan}元")
        return amount
    amount = -(-shortfall * paid // members)
    a_yuan = format_yuan(amount)
    draft.say(
        f"({s_yuan} × {members} − {n_yuan}) × {paid} / {members} = {a_yuan} yuan",
        f"（{s_yuan} × {members} − {n_yuan}）× {paid} / {members} = {a_yuan}元",
    )
    return amount


def _property_hits(draft: _Draft, members: int) -> list[PropertyFlag]:
    found = draft.situation.property
    limit = draft.rules.property_limit
    hits = [flag for flag in limit.disqualifying if getattr(found, flag.value)]
    if (
        found.deposits is not None
        and PropertyFlag.deposits_over_limit in limit.disqualifying
        and PropertyFlag.deposits_over_limit not in hits
        and found.deposits > limit.deposits_months_of_standard * draft.standard * members
    ):
        hits.append(PropertyFlag.deposits_over_limit)
    return hits


def _amount(draft: _Draft, paid: int) -> int:
    """The monthly amount for an eligible household with ``paid`` paid members (fen)."""
    rules, standard = draft.rules, draft.standard
    assert draft.per_capita is not None
    per_capita = draft.per_capita
    gap = standard - per_capita
    if rules.method == BenefitMethod.tiered_band:
        band = rules.tier_for(gap)
        per_person = band.per_person if band is not None else 0
        amount = per_person * paid
        draft.reason(ReasonCode.tiered_band)
        draft.say(
            f"tiered band for a gap of {format_yuan(gap)}: {format_yuan(per_person)} × {paid} = "
            f"{format_yuan(amount)} yuan",
            f"分档：差额{format_yuan(gap)}元，{format_yuan(per_person)} × {paid} = {format_yuan(amount)}元",
        )
    else:
        amount = _gap_top_up(draft, paid)
    supplement = rules.supplement_for(draft.situation.category)
    if supplement is not None:
        category = Category(draft.situation.category)
        if supplement.full_standard and standard * paid >= amount:
            amount = standard * paid
            draft.reason(ReasonCode.category_supplement)
            draft.say(
                f"{category.value} household: full standard {format_yuan(standard)} × {paid} = "
                f"{format_yuan(amount)} yuan",
                f"{_CATEGORY_ZH[category]}家庭按标准全额：{format_yuan(standard)} × {paid} = {format_yuan(amount)}元",
            )
        if supplement.per_person:
            extra = supplement.per_person * paid
            amount += extra
            draft.reason(ReasonCode.category_supplement)
            draft.say(
                f"{category.value} supplement {format_yuan(supplement.per_person)} × {paid}",
                f"{_CATEGORY_ZH[category]}分类施保{format_yuan(supplement.per_person)} × {paid}",
            )
    rounded = rules.rounding.apply(amount)
    if rounded != amount:
        mode = RoundingMode(rules.rounding.mode)
        r_yuan = format_yuan(rounded)
        draft.say(f"rounded {_ROUNDING_EN[mode]} to {r_yuan} yuan", f"{_ROUNDING_ZH[mode]}取整为{r_yuan}元")
    if amount > 0 and rounded < rules.minimum_payable:
        rounded = rules.minimum_payable
        draft.reason(ReasonCode.minimum_payable)
        m_yuan = format_yuan(rounded)
        draft.say(
            f"below the minimum: raised to the minimum payable amount {m_yuan} yuan",
            f"低于最低发放额，按最低发放额{m_yuan}元发放",
        )
    return rounded


def propose(situation: HouseholdSituation, rules: ProgrammeRules, on: dt.date) -> Proposal:
    """Propose what happens to a household's benefit after a recheck visit.

    Args:
        situation: the household as captured at the visit (current amount included).
        rules: the programme rules (a checked document, see :mod:`server.decisions.rules`).
        on: the date whose rules apply (standards and income treatment in force that day).

    Returns:
        The proposal, with reason codes, every counted and disregarded line, the standard and
        per-capita income used, the old and new amounts and a one-line explanation in Chinese
        and English.

    Raises:
        SituationError: the situation is inconsistent (every problem listed with its path).
        NoStandardError: the rules have no standard for the household's residence on ``on``.
    """
    errors = _validate(situation)
    if errors:
        raise SituationError(errors)
    standard = rules.standard_for(situation.residence, on, situation.area_id).amount
    draft = _Draft(situation=situation, rules=rules, standard=standard)
    old = situation.benefit_amount
    outcome = VisitOutcome(situation.visit_outcome)

    if outcome in (VisitOutcome.nobody_home, VisitOutcome.refused):
        return _failed_attempt(draft)
    if outcome is VisitOutcome.moved_away:
        draft.reason(ReasonCode.moved_away)
        draft.say("household has moved away", "家庭已迁出")
        return draft.cancel()

    present = [m for m in situation.members if not (m.deceased or m.moved_out)]
    if outcome is VisitOutcome.deceased and (len(situation.members) == 1 or not present):
        draft.reason(ReasonCode.deceased)
        draft.say("the household's only member has died", "家庭唯一成员已去世")
        return draft.cancel()
    if not present:
        draft.reason(ReasonCode.member_change)
        draft.say("no member remains in the household", "家庭已无成员")
        return draft.cancel()
    if len(present) < len(situation.members):
        gone = len(situation.members) - len(present)
        draft.reason(ReasonCode.member_change)
        draft.say(f"member change: {gone} member(s) left", f"家庭成员变动：减少{gone}人")

    members = len(present)
    draft.members_counted = members
    new_job_wages, new_job_costs = _assess_income(draft, present, on)
    net = max(0, draft.counted_income - draft.deductions_allowed)
    per_capita = net // members
    draft.per_capita = per_capita

    hits = _property_hits(draft, members)
    if situation.fraud or hits:
        if situation.fraud:
            draft.reason(ReasonCode.fraud)
            draft.say("false or concealed information found", "发现虚报、隐瞒情况")
        if hits:
            draft.reason(ReasonCode.property_over_limit)
            draft.say(
                "property over the local limit (" + ", ".join(_FLAG_EN[f] for f in hits) + ")",
                "家庭财产超过当地规定（" + "、".join(_FLAG_ZH[f] for f in hits) + "）",
            )
        return draft.cancel()

    _income_sentence(draft)
    if per_capita >= standard:
        draft.reason(ReasonCode.income_at_or_above_standard)
        draft.near_dibao = per_capita * 100 < standard * rules.near_dibao_percent
        if new_job_wages > 0 and old > 0:
            without_job = max(0, draft.counted_income - new_job_wages - (draft.deductions_allowed - new_job_costs))
            if without_job // members < standard:
                draft.reason(ReasonCode.newly_employed)
                paid_months = situation.phase_out_months_paid
                if paid_months < rules.phase_out_months:
                    remaining = rules.phase_out_months - paid_months
                    draft.say(
                        f"a member found work: current amount {format_yuan(old)} yuan continues for up to "
                        f"{remaining} more month(s), then cancel",
                        f"因家庭成员就业，原保障金{format_yuan(old)}元继续发放最多{remaining}个月后停发（渐退）",
                    )
                    return draft.finish(ProposalOutcome.phase_out, old, phase_out_remaining=remaining)
                draft.reason(ReasonCode.phase_out_ended)
                draft.say(
                    f"the {rules.phase_out_months}-month phase-out has ended",
                    f"{rules.phase_out_months}个月渐退期已满",
                )
        return draft.cancel()

    draft.reason(ReasonCode.income_below_standard)
    paid = [m for m in present if m.job_referrals_refused < rules.job_refusal_limit]
    if len(paid) < members:
        removed = members - len(paid)
        draft.reason(ReasonCode.member_share_removed)
        draft.say(
            f"share of {removed} member(s) removed after {rules.job_refusal_limit} refused job referrals in a row",
            f"{removed}人连续{rules.job_refusal_limit}次拒绝推荐就业，扣除其份额",
        )
    draft.members_paid = len(paid)
    if not paid:
        draft.reason(ReasonCode.no_payable_member)
        return draft.cancel()

    calculated = _amount(draft, len(paid))
    if rules.rounding.apply(old) == calculated and old >= rules.minimum_payable:
        draft.reason(ReasonCode.amount_unchanged)
        draft.say(f"keep {format_yuan(old)} yuan", f"保障金{format_yuan(old)}元不变")
        return draft.finish(ProposalOutcome.keep, old, calculated=calculated)
    if calculated > old:
        direction, word_en, word_zh = Direction.increase, "increase", "增加"
        draft.reason(ReasonCode.amount_increased)
    else:
        direction, word_en, word_zh = Direction.decrease, "decrease", "减少"
        draft.reason(ReasonCode.amount_decreased)
    old_yuan, new_yuan = format_yuan(old), format_yuan(calculated)
    draft.say(f"{word_en} from {old_yuan} to {new_yuan} yuan", f"保障金由{old_yuan}元{word_zh}至{new_yuan}元")
    return draft.finish(ProposalOutcome.adjust, calculated, calculated=calculated, direction=direction)
