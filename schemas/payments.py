"""Payment rosters on the wire: months, rows, per-area totals, bank return results."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from schemas.base import Fen, Struct

__all__ = ["AreaTotal", "MonthRead", "MonthState", "ReturnResult", "RosterRowRead", "RowStatus"]


class MonthState(enum.StrEnum):
    """``open``: the roster may be rebuilt. ``closed``: frozen; approvals made later take
    effect in the next open month."""

    open = "open"
    closed = "closed"


class RowStatus(enum.StrEnum):
    """A roster row before (``pending``) and after the bank's return file."""

    pending = "pending"
    paid = "paid"
    failed = "failed"


class AreaTotal(Struct):
    """One area's households and money in a month's roster (integer fen)."""

    area_id: int
    area_code: str
    area_name: str
    households: int
    total: Fen
    paid_total: Fen = 0
    failed_total: Fen = 0


class HeldHousehold(Struct):
    """A household left off the month's roster, with why (it is paid once that is resolved)."""

    household_id: uuid.UUID
    household_code: str
    area_id: int
    amount: Fen
    reason: str


class MonthRead(Struct):
    """A month's roster: state, totals (they reconcile to the fen with the rows) and per area."""

    month: str
    state: MonthState
    row_count: int
    total: Fen
    paid_count: int = 0
    paid_total: Fen = 0
    failed_count: int = 0
    failed_total: Fen = 0
    pending_count: int = 0
    built_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    returned_at: dt.datetime | None = None
    areas: list[AreaTotal] = []
    held: list[HeldHousehold] = []
    """Households the roster does not pay this month, e.g. the head died and no new head was named."""
    seconds: float | None = None


class RosterRowRead(Struct):
    """One household's payment for the month; ``bank_account`` is masked for roles that
    do not handle payments."""

    seq: int
    household_id: uuid.UUID
    household_code: str
    payee_name: str
    area_id: int
    amount: Fen
    status: RowStatus
    bank_name: str | None = None
    bank_account: str | None = None
    proposal_id: uuid.UUID | None = None
    failure_reason: str | None = None


class BankLayoutRead(Struct):
    """A bank file layout one can export in (and read the bank's return file with)."""

    name: str
    title: str
    format: str
    encoding: str
    file_name: str


class ReturnResult(Struct):
    """What a bank return file changed (all or nothing)."""

    month: str
    lines: int
    paid: int
    failed: int
    unchanged: int
    paid_total: Fen
    failed_total: Fen
    pending_left: int
