"""Roster import on the wire: the per-row error and the import summary.

A roster is the county office's household spreadsheet (one row per person); its layout is in
``docs/roster.md``. Errors name the spreadsheet row and the column as written in the file's
header, so a clerk can find the cell in Excel; ``path`` carries the same in the common
:class:`~schemas.errors.FieldError` form (``row 14 / 身份证号``).
"""

from __future__ import annotations

import uuid

from schemas.base import Struct
from schemas.errors import FieldError

__all__ = ["RosterAmountCorrection", "RosterError", "RosterImportResult", "RosterNote"]


class RosterError(FieldError):
    """One problem in a roster file.

    ``row`` is the spreadsheet row number (the header is row 1), or ``None`` for a problem with
    the file as a whole (size, encoding, columns). ``column`` is the header as written in the file
    (or the canonical English name when the column is missing), ``None`` for whole-row problems.
    """

    row: int | None = None
    column: str | None = None


class RosterAmountCorrection(Struct):
    """A row whose 月保障金 differs from a registered household's amount. The import does not
    apply it: it is recorded as a correction (``correction_id``; none on a dry run) that an
    approver confirms (``POST /amount-corrections/{id}/confirm``) before the amount changes."""

    row: int
    household_code: str
    current_amount: int
    file_amount: int
    correction_id: uuid.UUID | None = None


class RosterNote(Struct):
    """Something the import tidied in the file before checking it, so the clerk can see it.

    ``action`` is ``title_row_skipped`` (a title above the header), ``normalised`` (full-width
    characters in IDs, codes or amounts made ASCII), ``merge_filled`` (a household column merged
    across a household's rows, filled down) or ``totals_row_skipped`` (a 合计 row, its sums
    checked against the rows).
    """

    path: str
    action: str
    detail: str


class RosterImportResult(Struct):
    """What an import did (or, with ``dry_run``, would do).

    Households are matched by the head's resident ID: ``created`` ones were new, ``updated`` ones
    differed from the stored household (fields, members or member incomes), ``unchanged`` ones
    were identical and were not written at all. ``amount_corrections`` households had another
    amount in the file than registered: the amount was left as it is and each is listed in
    ``corrections`` (at most ``errors_listed_max``) as a correction for an approver to confirm.
    ``skipped_households`` had invalid rows and were left out (only with ``skip_invalid``);
    ``errors`` lists the problems (at most ``errors_listed_max``; ``error_count`` is the full
    number); ``notes`` what was tidied in the file before it was checked.
    """

    rows: int
    households: int
    created: int
    updated: int
    unchanged: int
    members_created: int = 0
    members_updated: int = 0
    members_removed: int = 0
    skipped_households: int = 0
    skipped_rows: int = 0
    error_count: int = 0
    errors: list[RosterError] = []
    amount_corrections: int = 0
    corrections: list[RosterAmountCorrection] = []
    dry_run: bool = False
    seconds: float = 0.0
    notes: list[RosterNote] = []
