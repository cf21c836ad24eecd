"""Reading decisions back: notice lists (masked) and "why does this household get N yuan"."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.decisions import ChainStep, NoticeEntry, NoticeRead, ProposalOutcome, ProposalState, WhyRead
from server.audit.models import AuditEvent
from server.auth.identity import CurrentUser
from server.decisions.models import Approval, CommunityAppraisal, Objection, Proposal, PublicNotice
from server.decisions.policy import format_yuan
from server.decisions.services import get_notice, proposal_read
from server.payments.models import RosterRow
from server.registry.masking import mask_name
from server.registry.models import Area, Household
from server.registry.services import get_household

__all__ = ["change_text", "notice_read", "why"]


def change_text(outcome: str, old: int, new: int, months: int | None = None) -> str:
    """The notice board's "change" column, in Chinese (never income or health details)."""
    if outcome == ProposalOutcome.cancel:
        return "停发"
    if outcome == ProposalOutcome.phase_out:
        return f"渐退（{months or 0}个月后停发）"
    if new > old:
        return f"增加{format_yuan(new - old)}元" if old else "新增"
    if new < old:
        return f"减少{format_yuan(old - new)}元"
    return "不变"


async def notice_read(session: AsyncSession, user: CurrentUser, notice_id: uuid.UUID) -> NoticeRead:
    """The notice with its entries as the board shows them: surname with the given name masked
    (张*), village, household size, monthly amount, change. No ID numbers, health or income."""
    notice = await get_notice(session, user, notice_id)
    area = await session.get(Area, notice.area_id)
    rows = (
        await session.execute(
            select(Proposal, Household.code, Household.head_name, Area.name)
            .join(Household, Household.id == Proposal.household_id)
            .join(Area, Area.id == Household.area_id)
            .where(Proposal.notice_id == notice.id)
            .order_by(Area.name, Household.code)
        )
    ).all()
    entries = []
    for p, code, head_name, village in rows:
        outcome = p.decided_outcome or p.outcome
        amount = p.decided_amount if p.decided_amount is not None else p.new_amount
        entries.append(
            NoticeEntry(
                proposal_id=p.id,
                household_code=code,
                name=mask_name(head_name),
                village=village,
                household_size=int(p.detail.get("members_counted") or len(p.situation.get("members", []))),
                monthly_amount=amount,
                change=change_text(outcome, p.old_amount, amount, p.phase_out_months),
                outcome=ProposalOutcome(outcome),
            )
        )
    return NoticeRead(
        id=notice.id,
        area_id=notice.area_id,
        area_name=area.name if area else "",
        starts_on=notice.starts_on,
        ends_on=notice.ends_on,
        days=notice.days,
        created_at=notice.created_at,
        entries=entries,
    )


def _step(name: str, at: Any, detail: dict[str, Any], actor_id: uuid.UUID | None = None) -> ChainStep:
    return ChainStep(step=name, at=at, detail=detail, actor_id=actor_id)


async def why(session: AsyncSession, user: CurrentUser, household_id: uuid.UUID) -> WhyRead:
    """The household's amount and the chain behind it: the decision in force (or pending), the
    rules, inputs and explanation it used, the review, appraisals, notice, objections, approval,
    the change to the household, and the months paid since."""
    household = await get_household(session, user, household_id)
    yuan = format_yuan(household.benefit_amount)
    settled = (ProposalState.effective.value, ProposalState.approved.value)
    proposal = await session.scalar(
        select(Proposal)
        .where(Proposal.household_id == household.id, Proposal.state.in_(settled))
        .order_by(Proposal.effective_from.desc(), Proposal.approved_at.desc())
        .limit(1)
    )
    if proposal is None:
        return WhyRead(
            household_id=household.id,
            household_code=household.code,
            benefit_amount=household.benefit_amount,
            status=household.status,
            answer_zh=f"每月{yuan}元：按登记金额发放，尚无经审批的复核决定",
            answer_en=f"{yuan} yuan a month: the registered amount; no approved recheck decision yet",
        )
    chain: list[ChainStep] = [
        _step(
            "proposed",
            proposal.created_at,
            {
                "visit_id": str(proposal.visit_id),
                "rule_version": proposal.rule_version,
                "inputs": proposal.inputs,
                "standard": proposal.standard,
                "per_capita_income": proposal.per_capita_income,
                "outcome": proposal.outcome,
                "old_amount": proposal.old_amount,
                "new_amount": proposal.new_amount,
                "reasons": proposal.reasons,
                "explanation_zh": proposal.explanation_zh,
                "explanation_en": proposal.explanation_en,
                "counted": proposal.detail.get("counted", []),
                "disregarded": proposal.detail.get("disregarded", []),
                "deductions": proposal.detail.get("deductions", []),
            },
        )
    ]
    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "proposal", AuditEvent.entity_id == str(proposal.id))
            .order_by(AuditEvent.id)
        )
    ).all()
    chain += [_step(e.action, e.at, dict(e.changes), e.actor_id) for e in events if e.action != "propose"]
    for a in (
        await session.scalars(select(CommunityAppraisal).where(CommunityAppraisal.proposal_id == proposal.id))
    ).all():
        chain.append(
            _step(
                "community_appraisal",
                a.recorded_at,
                {"held_on": a.held_on.isoformat(), "participants": a.participants, "result": a.result, "note": a.note},
                a.recorded_by,
            )
        )
    if proposal.notice_id:
        notice = await session.get(PublicNotice, proposal.notice_id)
        if notice:
            chain.append(
                _step(
                    "public_notice",
                    notice.created_at,
                    {
                        "notice_id": str(notice.id),
                        "starts_on": notice.starts_on.isoformat(),
                        "ends_on": notice.ends_on.isoformat(),
                    },
                    notice.created_by,
                )
            )
    for o in (await session.scalars(select(Objection).where(Objection.proposal_id == proposal.id))).all():
        chain.append(
            _step(
                "objection",
                o.created_at,
                {
                    "complaint_id": str(o.complaint_id) if o.complaint_id else None,
                    "received_on": o.received_on.isoformat(),
                    "resolution": o.resolution,
                },
                o.created_by,
            )
        )
    approval = await session.scalar(select(Approval).where(Approval.proposal_id == proposal.id))
    if approval:
        chain.append(
            _step(
                "approval",
                approval.approved_at,
                {
                    "batch_id": str(approval.batch_id),
                    "effective_from": approval.effective_from.isoformat(),
                    "amount": approval.amount,
                },
                approval.approver_id,
            )
        )
    paid = (
        await session.execute(
            select(RosterRow.month, RosterRow.amount, RosterRow.status)
            .where(RosterRow.household_id == household.id)
            .order_by(RosterRow.month)
        )
    ).all()
    if paid:
        chain.append(_step("payments", None, {"months": [{"month": m, "amount": a, "status": s} for m, a, s in paid]}))
    chain.sort(key=lambda s: (s.at is None, s.at))
    amount = proposal.decided_amount if proposal.decided_amount is not None else proposal.new_amount
    outcome = proposal.decided_outcome or proposal.outcome
    since = proposal.effective_from.isoformat() if proposal.effective_from else "?"
    override_zh = f"（主管变更：{proposal.override_reason}）" if proposal.override_reason else ""
    override_en = f" (supervisor override: {proposal.override_reason})" if proposal.override_reason else ""
    return WhyRead(
        household_id=household.id,
        household_code=household.code,
        benefit_amount=household.benefit_amount,
        status=household.status,
        answer_zh=f"每月{yuan}元：自{since}起{_OUTCOME_ZH.get(outcome, outcome)}为{format_yuan(amount)}元"
        f"（规则版本{proposal.rule_version}）；{proposal.explanation_zh}{override_zh}",
        answer_en=f"{yuan} yuan a month: {outcome} to {format_yuan(amount)} yuan from {since} "
        f"(rules {proposal.rule_version}); {proposal.explanation_en}{override_en}",
        proposal=proposal_read(proposal),
        chain=chain,
    )


_OUTCOME_ZH = {"keep": "维持", "adjust": "调整", "cancel": "停发", "phase_out": "渐退", "follow_up": "待复查"}
