"""Amount corrections: after a household's first registration its amount changes only through
an approved decision or a correction an approver confirms.

A correction is recorded by a roster re-import whose 月保障金 differs from the registry
(:mod:`server.registry.roster_import`) or by a supervisor (:func:`record_correction`); it changes
nothing until an approver confirms it. The payment roster then pays the corrected amount: a
correction confirmed after the decision in force replaces that decision's amount
(:mod:`server.payments.services`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.errors import FieldError
from schemas.registry import (
    AmountCorrectionCreate,
    AmountCorrectionRead,
    AmountCorrectionState,
)
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import utcnow
from server.decisions.models import Proposal
from server.errors import Conflict, InvalidInput, NotFound
from server.registry.models import AmountCorrection, Household
from server.registry.services import get_household

__all__ = ["confirm", "correction_read", "list_corrections", "record_correction", "reject"]

_PENDING = AmountCorrectionState.pending.value


def correction_read(c: AmountCorrection, household_code: str) -> AmountCorrectionRead:
    return AmountCorrectionRead(
        id=c.id,
        household_id=c.household_id,
        household_code=household_code,
        area_id=c.area_id,
        old_amount=c.old_amount,
        new_amount=c.new_amount,
        source=c.source,
        state=AmountCorrectionState(c.state),
        recorded_at=c.recorded_at,
        source_ref=c.source_ref,
        reason=c.reason,
        recorded_by=c.recorded_by,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        decision_note=c.decision_note,
    )


async def list_corrections(
    session: AsyncSession,
    user: CurrentUser,
    *,
    state: AmountCorrectionState | None = None,
    household_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[AmountCorrectionRead]:
    """Corrections of households in the user's areas, oldest first."""
    query = (
        select(AmountCorrection, Household.code)
        .join(Household, Household.id == AmountCorrection.household_id)
        .where(AmountCorrection.area_id.in_(user.visible_area_ids))
    )
    if state is not None:
        query = query.where(AmountCorrection.state == state.value)
    if household_id is not None:
        query = query.where(AmountCorrection.household_id == household_id)
    rows = (await session.execute(query.order_by(AmountCorrection.recorded_at, AmountCorrection.id).limit(limit))).all()
    return [correction_read(c, code) for c, code in rows]


async def record_correction(
    session: AsyncSession, user: CurrentUser, actor: Actor, data: AmountCorrectionCreate
) -> tuple[AmountCorrection, str]:
    """A supervisor's correction of a registered amount, pending until an approver confirms it
    (it supersedes the household's pending one)."""
    household = await get_household(session, user, data.household_id)
    if data.new_amount == household.benefit_amount:
        raise InvalidInput.field("$.new_amount", f"the registered amount is already {household.benefit_amount} fen")
    now = utcnow()
    pending = await session.scalar(
        select(AmountCorrection).where(
            AmountCorrection.household_id == household.id, AmountCorrection.state == _PENDING
        )
    )
    if pending is not None:
        pending.state, pending.decided_at = AmountCorrectionState.superseded.value, now
        await session.flush()  # at most one pending correction per household (a unique index)
    correction = AmountCorrection(
        household_id=household.id,
        area_id=household.area_id,
        old_amount=household.benefit_amount,
        new_amount=data.new_amount,
        source="supervisor",
        reason=data.reason,
        recorded_by=user.id,
        recorded_at=now,
    )
    session.add(correction)
    await session.flush()
    changes = {
        "household_id": str(household.id),
        "benefit_amount": [household.benefit_amount, data.new_amount],
        "source": "supervisor",
        "reason": data.reason,
        **({"supersedes": str(pending.id)} if pending is not None else {}),
    }
    record(session, actor, "create", "amount_correction", correction.id, changes)
    return correction, household.code


async def _pending(
    session: AsyncSession, user: CurrentUser, correction_id: uuid.UUID
) -> tuple[AmountCorrection, Household]:
    correction = await session.get(AmountCorrection, correction_id)
    if correction is None or not user.can_see_area(correction.area_id):
        raise NotFound.field("correction_id", "no such correction in your areas")
    if correction.state != _PENDING:
        raise Conflict.field("state", f"only a pending correction is decided; this one is {correction.state}")
    household = await session.get(Household, correction.household_id, with_for_update=True)
    assert household is not None  # corrections go with their household (ON DELETE CASCADE)
    return correction, household


async def confirm(
    session: AsyncSession, user: CurrentUser, actor: Actor, correction_id: uuid.UUID, note: str | None
) -> tuple[AmountCorrection, str]:
    """The approver confirms: the household's amount becomes the corrected one (audited, version
    bump so tablets and recomputations see it). Refused while the registered amount is no longer
    the one corrected, or a decision is approved but not yet in effect (it would overwrite it)."""
    correction, household = await _pending(session, user, correction_id)
    problems: list[FieldError] = []
    if household.benefit_amount != correction.old_amount:
        problems.append(
            FieldError(
                path="old_amount",
                reason=f"the registered amount is now {household.benefit_amount} fen, not {correction.old_amount}: "
                "record the correction again",
            )
        )
    waiting = await session.scalar(
        select(Proposal.effective_from).where(
            Proposal.household_id == household.id, Proposal.state == "approved", Proposal.applied_at.is_(None)
        )
    )
    if waiting is not None:
        problems.append(
            FieldError(
                path="household_id",
                reason=f"an approved decision takes effect on {waiting.isoformat()}: decide the correction after it",
            )
        )
    if problems:
        raise Conflict("the correction cannot be confirmed", problems, code="correction_stale")
    now = utcnow()
    before = household.benefit_amount
    household.benefit_amount = correction.new_amount
    household.version += 1
    household.updated_at = now
    correction.state, correction.decided_by, correction.decided_at = AmountCorrectionState.confirmed.value, user.id, now
    correction.decision_note = note
    record(
        session,
        actor,
        "update",
        "household",
        household.id,
        {"benefit_amount": [before, correction.new_amount], "correction_id": str(correction.id)},
    )
    record(
        session,
        actor,
        "confirm",
        "amount_correction",
        correction.id,
        {"state": [_PENDING, correction.state], "benefit_amount": [before, correction.new_amount], "note": note},
    )
    return correction, household.code


async def reject(
    session: AsyncSession, user: CurrentUser, actor: Actor, correction_id: uuid.UUID, note: str | None
) -> tuple[AmountCorrection, str]:
    """The approver rejects the correction (with the reason); the amount stays as it is."""
    if not note:
        raise InvalidInput.field("$.note", "a rejection needs the reason")
    correction, household = await _pending(session, user, correction_id)
    correction.state, correction.decided_by, correction.decided_at = (
        AmountCorrectionState.rejected.value,
        user.id,
        utcnow(),
    )
    correction.decision_note = note
    record(
        session,
        actor,
        "reject",
        "amount_correction",
        correction.id,
        {"state": [_PENDING, correction.state], "note": note},
    )
    return correction, household.code
