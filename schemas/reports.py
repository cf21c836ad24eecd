"""Reports on the wire: one row per area (and the totals) for a period."""

from __future__ import annotations

import datetime as dt

from schemas.base import Struct

__all__ = ["ReportRead", "ReportRow"]


class ReportRow(Struct, omit_defaults=False):
    """One area's figures for the period (money in integer fen). ``households`` / ``people``
    are on the allowance now; decisions count approvals made in the period by outcome;
    ``paid`` is what the bank returned as paid for the period's months, ``rostered`` what the
    rosters asked it to pay; rechecks compare the visits planned for the period (a plan's visits
    by the plan's period, others by their due date) with those accepted."""

    area_id: int | None
    area_code: str
    area_name: str
    households: int = 0
    people: int = 0
    keep: int = 0
    adjust: int = 0
    cancel: int = 0
    phase_out: int = 0
    rostered: int = 0
    paid: int = 0
    failed: int = 0
    complaints_received: int = 0
    complaints_resolved: int = 0
    rechecks_planned: int = 0
    rechecks_done: int = 0


class ReportRead(Struct):
    """The report for ``period`` (``2026-12``, ``2026Q4``, ``2026H2``, ``2026``) over an area."""

    period: str
    starts_on: dt.date
    ends_on: dt.date
    area_id: int | None
    area_name: str
    generated_at: dt.datetime
    rows: list[ReportRow]
    totals: ReportRow
