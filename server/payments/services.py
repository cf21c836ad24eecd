"""Monthly payment rosters: build (set-based), close (freeze), export in the bank layout
(docs/payments.md), import the bank's return file (all or nothing), list failures.

The amount of a household for month M is the amount of its latest approved decision effective
on or before the first day of M (0 for a cancellation, or once a phase-out has ended); without
one — or when an approver confirmed a correction of the amount after that decision was approved
(:mod:`server.registry.corrections`) — its registered ``benefit_amount`` while it is active.
Totals are sums of integer fen, so the month's total, the per-area totals and the rows always
reconcile exactly.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import msgspec
from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from schemas.decisions import ProposalOutcome, ProposalState
from schemas.errors import FieldError
from schemas.payments import AreaTotal, HeldHousehold, MonthRead, MonthState, ReturnResult, RosterRowRead, RowStatus
from server.audit.services import record
from server.auth.identity import Actor, CurrentUser
from server.db.base import core_table, utcnow
from server.decisions.bulk import fast_insert
from server.decisions.models import Proposal
from server.decisions.policy import format_yuan
from server.errors import Conflict, InvalidInput, NotFound
from server.payments.layouts import BankLayout, parse_amount
from server.payments.models import PaymentMonth, RosterRow
from server.registry.masking import mask_bank_account, sees_full_bank_account
from server.registry.models import AmountCorrection, Area, Household

__all__ = [
    "build",
    "close",
    "export_rows",
    "failures",
    "import_return",
    "list_rows",
    "month_read",
    "month_start",
    "parse_amount",
    "proposal_month_amount",
]

_MONTH = re.compile(r"^([1-9]\d{3})-(0[1-9]|1[0-2])$")


def month_start(month: str) -> dt.date:
    """``2026-12`` → 2026-12-01 (a 422 naming ``month`` otherwise)."""
    match = _MONTH.match(month)
    if not match:
        raise InvalidInput.field("month", "a month as YYYY-MM, e.g. 2026-12")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


async def _month(session: AsyncSession, month: str) -> PaymentMonth | None:
    month_start(month)
    return await session.get(PaymentMonth, month)


# ---------------------------------------------------------------- build and close


async def _amounts(session: AsyncSession, first: dt.date) -> dict[Any, tuple[int, Any]]:
    """household id → (amount for the month, deciding proposal id or None).

    A household whose amount an approver corrected after its deciding proposal was approved is
    left out: the corrected registered amount is what it is paid.
    """
    decided: dict[Any, tuple[int, Any]] = {}
    approved: dict[Any, dt.datetime | None] = {}
    rows = await session.execute(
        select(
            Proposal.household_id,
            Proposal.id,
            Proposal.outcome,
            Proposal.decided_outcome,
            Proposal.new_amount,
            Proposal.decided_amount,
            Proposal.phase_out_until,
            Proposal.approved_at,
        )
        .where(
            Proposal.state.in_([ProposalState.approved.value, ProposalState.effective.value]),
            Proposal.effective_from <= first,
        )
        .order_by(Proposal.effective_from, Proposal.approved_at)
    )
    for household_id, pid, outcome, decided_outcome, new_amount, decided_amount, until, approved_at in rows:
        decided[household_id] = (
            proposal_month_amount(first, outcome, decided_outcome, new_amount, decided_amount, until),
            pid,
        )
        approved[household_id] = approved_at
    corrected = await session.execute(
        select(AmountCorrection.household_id, func.max(AmountCorrection.decided_at))
        .where(AmountCorrection.state == "confirmed")
        .group_by(AmountCorrection.household_id)
    )
    for household_id, confirmed_at in corrected:
        approved_at = approved.get(household_id)
        if household_id in decided and confirmed_at is not None and (approved_at is None or confirmed_at > approved_at):
            del decided[household_id]
    return decided


def proposal_month_amount(
    first: dt.date,
    outcome: str,
    decided_outcome: str | None,
    new_amount: int,
    decided_amount: int | None,
    phase_out_until: dt.date | None,
) -> int:
    """What an approved proposal pays for the month starting ``first``: the decided amount (or the
    proposed one), 0 for a cancellation or once a phase-out has ended."""
    final = decided_outcome or outcome
    if final == ProposalOutcome.cancel or (
        final == ProposalOutcome.phase_out and phase_out_until and phase_out_until < first
    ):
        return 0
    return decided_amount if decided_amount is not None else new_amount


async def build(session: AsyncSession, actor: Actor, month: str, *, user: CurrentUser | None = None) -> MonthRead:
    """(Re)build an open month's roster from the households and approved decisions."""
    started = time.perf_counter()
    first = month_start(month)
    row = await session.get(PaymentMonth, month)
    if row is not None and row.state == MonthState.closed:
        raise Conflict.field("month", f"the {month} roster is closed and frozen", code="month_closed")
    if row is None:
        row = PaymentMonth(month=month, state=MonthState.open.value)
        session.add(row)
        await session.flush()
    decided = await _amounts(session, first)
    areas = {a.id: a.code for a in (await session.execute(select(Area.id, Area.code))).all()}
    households = (
        await session.execute(
            select(
                Household.id,
                Household.code,
                Household.head_name,
                Household.head_id_number,
                Household.area_id,
                Household.bank_name,
                Household.bank_account,
                Household.benefit_amount,
                Household.status,
                Household.head_vacant_since,
                Household.head_vacant_reason,
            )
        )
    ).all()
    lines: list[tuple[str, str, dict[str, Any]]] = []
    held: list[dict[str, Any]] = []
    for h in households:
        amount, proposal_id = decided.get(h.id, (h.benefit_amount if h.status == "active" else 0, None))
        if amount <= 0:
            continue
        if h.head_vacant_since is not None:
            # the payee is the head: a head who died or left is not paid; a new head must be named
            reason = (
                f"no head since {h.head_vacant_since.isoformat()} (head left: {h.head_vacant_reason}): "
                "name a new head (POST /households/{id}/head) before the household is paid"
            )
            held.append(
                {
                    "household_id": str(h.id),
                    "household_code": h.code,
                    "area_id": h.area_id,
                    "amount": amount,
                    "reason": reason,
                }
            )
            continue
        lines.append(
            (
                areas.get(h.area_id, ""),
                h.code,
                {
                    "month": month,
                    "household_id": h.id,
                    "household_code": h.code,
                    "payee_name": h.head_name,
                    "payee_id_number": h.head_id_number,
                    "area_id": h.area_id,
                    "bank_name": h.bank_name,
                    "bank_account": h.bank_account,
                    "amount": amount,
                    "proposal_id": proposal_id,
                    "status": RowStatus.pending.value,
                },
            )
        )
    lines.sort(key=lambda line: (line[0], line[1]))
    await session.execute(delete(RosterRow).where(RosterRow.month == month))
    values = []
    total = 0
    for seq, (_area, _code, values_row) in enumerate(lines, start=1):
        values_row["seq"] = seq
        values.append(values_row)
        total += values_row["amount"]
    await fast_insert(await session.connection(), core_table(RosterRow), values)
    row.row_count, row.total = len(values), total
    row.held = sorted(held, key=lambda item: item["household_code"])
    row.paid_count = row.paid_total = row.failed_count = row.failed_total = 0
    row.built_at, row.built_by = utcnow(), actor.user_id
    row.version += 1
    record(
        session,
        actor,
        "build",
        "payment_month",
        month,
        {"rows": len(values), "total": total, **({"held": [h["household_code"] for h in held]} if held else {})},
    )
    result = await month_read(session, month, user=user)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


async def close(session: AsyncSession, actor: Actor, month: str, *, user: CurrentUser | None = None) -> MonthRead:
    """Rebuild the roster with every approval so far and freeze it. Closing twice is refused."""
    row = await _month(session, month)
    if row is not None and row.state == MonthState.closed:
        raise Conflict.field("month", f"the {month} roster is already closed", code="month_closed")
    await build(session, actor, month, user=user)
    row = await session.get(PaymentMonth, month)
    assert row is not None
    row.state, row.closed_at, row.closed_by = MonthState.closed.value, utcnow(), actor.user_id
    row.version += 1
    record(session, actor, "close", "payment_month", month, {"state": ["open", "closed"], "total": row.total})
    return await month_read(session, month, user=user)


# ---------------------------------------------------------------- reading


async def month_read(session: AsyncSession, month: str, *, user: CurrentUser | None = None) -> MonthRead:
    """The month with totals per area (areas outside ``user``'s are left out of the breakdown)."""
    row = await _month(session, month)
    if row is None:
        raise NotFound.field("month", f"no roster for {month}: build it first")
    paid = case((RosterRow.status == RowStatus.paid.value, RosterRow.amount), else_=0)
    failed = case((RosterRow.status == RowStatus.failed.value, RosterRow.amount), else_=0)
    query = (
        select(
            Area.id,
            Area.code,
            Area.name,
            func.count(RosterRow.id),
            func.coalesce(func.sum(RosterRow.amount), 0),
            func.coalesce(func.sum(paid), 0),
            func.coalesce(func.sum(failed), 0),
        )
        .join(Area, Area.id == RosterRow.area_id)
        .where(RosterRow.month == month)
        .group_by(Area.id, Area.code, Area.name)
        .order_by(Area.code)
    )
    if user is not None:
        query = query.where(RosterRow.area_id.in_(user.visible_area_ids))
    areas = [
        AreaTotal(
            area_id=a, area_code=c, area_name=n, households=k, total=int(t), paid_total=int(p), failed_total=int(f)
        )
        for a, c, n, k, t, p, f in (await session.execute(query)).all()
    ]
    return MonthRead(
        month=row.month,
        state=MonthState(row.state),
        row_count=row.row_count,
        total=row.total,
        paid_count=row.paid_count,
        paid_total=row.paid_total,
        failed_count=row.failed_count,
        failed_total=row.failed_total,
        pending_count=row.row_count - row.paid_count - row.failed_count,
        built_at=row.built_at,
        closed_at=row.closed_at,
        returned_at=row.returned_at,
        areas=areas,
        held=[
            msgspec.convert(item, HeldHousehold)
            for item in row.held or []
            if user is None or user.can_see_area(item["area_id"])
        ],
    )


def _row_read(r: RosterRow, role: Role) -> RosterRowRead:
    account = r.bank_account
    if account is not None and not sees_full_bank_account(role):
        account = mask_bank_account(account)
    return RosterRowRead(
        seq=r.seq,
        household_id=r.household_id,
        household_code=r.household_code,
        payee_name=r.payee_name,
        area_id=r.area_id,
        amount=r.amount,
        status=RowStatus(r.status),
        bank_name=r.bank_name,
        bank_account=account,
        proposal_id=r.proposal_id,
        failure_reason=r.failure_reason,
    )


async def list_rows(
    session: AsyncSession,
    user: CurrentUser,
    month: str,
    *,
    status: RowStatus | None = None,
    area_id: int | None = None,
    after_seq: int = 0,
    limit: int = 200,
) -> list[RosterRowRead]:
    """Rows of the month in the user's areas, in bank-file order; page with ``after_seq``."""
    if await _month(session, month) is None:
        raise NotFound.field("month", f"no roster for {month}: build it first")
    query = select(RosterRow).where(
        RosterRow.month == month, RosterRow.seq > after_seq, RosterRow.area_id.in_(user.visible_area_ids)
    )
    if status is not None:
        query = query.where(RosterRow.status == status.value)
    if area_id is not None:
        area = await session.get(Area, area_id)
        if area is None or not user.can_see_area(area_id):
            raise NotFound.field("area_id", "no such area in your areas")
        query = query.where(RosterRow.area_id.in_(select(Area.id).where(Area.path.startswith(area.path))))
    rows = (await session.scalars(query.order_by(RosterRow.seq).limit(limit))).all()
    return [_row_read(r, user.role) for r in rows]


async def failures(session: AsyncSession, user: CurrentUser, month: str) -> list[RosterRowRead]:
    """Rows the bank could not pay, with its reason, for follow-up."""
    return await list_rows(session, user, month, status=RowStatus.failed, limit=1_000_000)


# ---------------------------------------------------------------- export


async def export_rows(session: AsyncSession, month: str) -> tuple[PaymentMonth, list[tuple[Any, ...]]]:
    """The roster lines in :data:`~server.payments.layouts.EXPORT_FIELDS` order (amount in fen)."""
    row = await _month(session, month)
    if row is None:
        raise NotFound.field("month", f"no roster for {month}: build it first")
    if row.state != MonthState.closed:
        # an open roster still changes with every approval: the bank is sent only a frozen one
        raise Conflict.field(
            "month", f"the {month} roster is still open: close it before exporting the bank file", code="month_open"
        )
    lines = (
        await session.execute(
            select(
                RosterRow.seq,
                RosterRow.month,
                RosterRow.household_code,
                RosterRow.payee_name,
                RosterRow.payee_id_number,
                RosterRow.bank_name,
                RosterRow.bank_account,
                RosterRow.amount,
                Area.code,
                Area.name,
            )
            .join(Area, Area.id == RosterRow.area_id)
            .where(RosterRow.month == month)
            .order_by(RosterRow.seq)
        )
    ).all()
    return row, [tuple(line) for line in lines]


async def export_bank_file(
    session: AsyncSession, actor: Actor, month: str, layout: BankLayout
) -> tuple[str, bytes, int]:
    """The closed month's bank file in ``layout``: its file name, bytes and number of lines.
    The file carries names, ID numbers and accounts, so each export is in the audit trail."""
    _row, lines = await export_rows(session, month)
    today = utcnow().date()
    body = layout.write(month, lines, today)
    record(session, actor, "export", "payment_month", month, {"layout": layout.name, "lines": len(lines)})
    return layout.file_name_for(month, today), body, len(lines)


# ---------------------------------------------------------------- bank return


async def import_return(
    session: AsyncSession, actor: Actor, month: str, content: bytes, layout: BankLayout
) -> ReturnResult:
    """Apply the bank's return file, read with the layout the bank file was sent in, to a closed
    month: every line names a roster row (``seq``; account, amount and the household code where
    the layout has it must match) and says paid or failed (with a reason); the summary line must
    give the line count and the sum exactly. Any problem refuses the whole file, every problem
    listed, nothing applied."""
    row = await _month(session, month)
    if row is None:
        raise NotFound.field("month", f"no roster for {month}")
    if row.state != MonthState.closed:
        raise Conflict.field("month", "close the month before importing the bank's return", code="month_open")
    returned = layout.read_return(content)
    problems: list[FieldError] = []
    roster = {
        r.seq: r
        for r in (
            await session.execute(
                select(
                    RosterRow.id,
                    RosterRow.seq,
                    RosterRow.household_code,
                    RosterRow.bank_account,
                    RosterRow.amount,
                    RosterRow.status,
                ).where(RosterRow.month == month)
            )
        ).all()
    }
    body = returned.lines
    seen: set[int] = set()
    updates: list[dict[str, Any]] = []
    paid = failed = unchanged = paid_total = failed_total = lines_total = 0
    for line in body:
        where = f"line {line.number}"
        values = line.values
        amount_text = values.get("amount", "")
        amount = layout.parse_amount(amount_text)
        if amount is None:
            problems.append(FieldError(path=f"{where} / amount", reason=f"not an amount: {amount_text!r}"))
            continue
        lines_total += amount
        seq_text = values.get("seq", "")
        if not seq_text.isdigit() or int(seq_text) not in roster:
            problems.append(
                FieldError(path=f"{where} / seq", reason=f"unknown row: no line {seq_text} in the {month} roster")
            )
            continue
        seq = int(seq_text)
        if seq in seen:
            problems.append(FieldError(path=f"{where} / seq", reason=f"row {seq} is listed twice"))
            continue
        seen.add(seq)
        expected = roster[seq]
        if "household_code" in values and values["household_code"] != expected.household_code:
            problems.append(
                FieldError(path=f"{where} / household_code", reason=f"row {seq} is {expected.household_code}")
            )
        if values.get("bank_account", "") != (expected.bank_account or ""):
            problems.append(FieldError(path=f"{where} / bank_account", reason=f"does not match row {seq}"))
        if amount != expected.amount:
            problems.append(
                FieldError(path=f"{where} / amount", reason=f"row {seq} pays {format_yuan(expected.amount)} yuan")
            )
        reason = values.get("reason", "")
        status = layout.status_of(values.get("status", ""))
        if status is None:
            words = "/".join((*layout.paid, *layout.failed))
            problems.append(FieldError(path=f"{where} / status", reason=f"one of {words}"))
            continue
        if status == RowStatus.failed and not reason:
            problems.append(FieldError(path=f"{where} / reason", reason="a failed payment needs the bank's reason"))
        if expected.status != RowStatus.pending:
            if expected.status != status:
                problems.append(
                    FieldError(path=f"{where} / status", reason=f"row {seq} was already returned as {expected.status}")
                )
            else:
                unchanged += 1
            continue
        updates.append(
            {
                "id": expected.id,
                "status": status,
                "failure_reason": reason[:200] if status == RowStatus.failed else None,
            }
        )
        if status == RowStatus.paid:
            paid, paid_total = paid + 1, paid_total + amount
        else:
            failed, failed_total = failed + 1, failed_total + amount
    if returned.total is None or returned.count is None:
        problems.append(
            FieldError(
                path=returned.summary_at, reason="the summary line with the number of lines and the total is missing"
            )
        )
    else:
        if returned.count != str(len(body)):
            problems.append(
                FieldError(path=returned.summary_at, reason=f"says {returned.count} lines, the file has {len(body)}")
            )
        if returned.total != lines_total:
            problems.append(
                FieldError(
                    path=returned.summary_at,
                    reason=f"total {layout.format_amount(returned.total)} does not equal the sum of the lines "
                    f"{layout.format_amount(lines_total)}",
                )
            )
    if problems:
        raise InvalidInput(
            f"bank return refused ({len(problems)} problems); nothing was applied", problems, code="bad_return"
        )
    if updates:
        # One driver-level executemany (ids are integers, statuses plain text on both engines).
        connection = await session.connection()
        sql = (
            "UPDATE roster_row SET status = ?, failure_reason = ? WHERE id = ?"
            if connection.dialect.name == "sqlite"
            else "UPDATE roster_row SET status = $1, failure_reason = $2 WHERE id = $3"
        )
        await connection.exec_driver_sql(sql, [(u["status"], u["failure_reason"], u["id"]) for u in updates])
    counts = (
        await session.execute(
            select(RosterRow.status, func.count(), func.coalesce(func.sum(RosterRow.amount), 0))
            .where(RosterRow.month == month)
            .group_by(RosterRow.status)
        )
    ).all()
    by_status = {s: (int(n), int(t)) for s, n, t in counts}
    row.paid_count, row.paid_total = by_status.get(RowStatus.paid.value, (0, 0))
    row.failed_count, row.failed_total = by_status.get(RowStatus.failed.value, (0, 0))
    row.returned_at = utcnow()
    row.version += 1
    record(
        session,
        actor,
        "bank_return",
        "payment_month",
        month,
        {
            "layout": layout.name,
            "lines": len(body),
            "paid": paid,
            "failed": failed,
            "paid_total": paid_total,
            "failed_total": failed_total,
        },
    )
    return ReturnResult(
        month=month,
        lines=len(body),
        paid=paid,
        failed=failed,
        unchanged=unchanged,
        paid_total=paid_total,
        failed_total=failed_total,
        pending_left=by_status.get(RowStatus.pending.value, (0, 0))[0],
    )
