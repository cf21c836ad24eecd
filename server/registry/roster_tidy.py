"""The roster as counties really keep it: what is tidied before the rows are checked.

A clerk's 花名册 is made for printing, not for import: a title row above the header
(青溪县2026年城乡低保花名册), resident IDs typed with full-width digits (５２０１…), household
columns merged vertically across a household's member rows, and a totals row (合计) at the bottom.
Each is tidied here — the header found among the first rows, full-width characters normalised
(NFKC), a vertical merge of a household column filled down, a totals row skipped after its sums
are checked against the rows — and each tidying is reported as a :class:`RosterNote`, so the dry
run says what was done. Anything else stays refused as before: a merge across columns or of a
member's column, a totals row that does not add up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.roster import RosterError, RosterNote
from server.decisions.policy import format_yuan

__all__ = [
    "FREE_TEXT",
    "HEADER_SEARCH_ROWS",
    "Merge",
    "check_totals",
    "fill_merges",
    "find_header",
    "is_blank",
    "nfkc",
    "parse_merge",
    "split_merges",
    "totals_row",
]

#: The header is looked for among this many rows at the top of the sheet.
HEADER_SEARCH_ROWS = 10

#: Columns whose text is kept exactly as typed: names and addresses may hold full-width
#: punctuation on purpose. Every other column (IDs, codes, amounts, dates, choices) is NFKC'd.
FREE_TEXT = frozenset({"name", "address", "employment", "bank_name"})

#: A cell opening a totals row: 合计, 总计 (also spaced out, or followed by a count: 合计：12户).
_TOTALS = re.compile(r"^\s*(合\s*计|总\s*计)")


def nfkc(value: Any) -> Any:
    """Full-width digits, letters and signs as their ASCII forms (``５２０１`` → ``5201``)."""
    if value.__class__ is str and not value.isascii():
        return unicodedata.normalize("NFKC", value)
    return value


def is_blank(value: Any) -> bool:
    """An empty cell: nothing, or only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


def find_header(lead: Sequence[list[Any]], known: Callable[[str], str | None]) -> tuple[int, list[RosterNote]] | None:
    """The index of the header among the first rows, and notes for the title rows above it.

    A header is a row naming at least two known columns, one of them a resident ID column
    (the roster's key). ``None`` when no such row is there: the caller reports the first row's
    columns as it always has.
    """
    for i, raw in enumerate(lead):
        keys = {key for cell in raw if not is_blank(cell) and (key := known(str(cell)))}
        if len(keys) >= 2 and keys & {"head_id_number", "id_number"}:
            notes = [
                RosterNote(
                    path=f"row {j + 1}",
                    action="title_row_skipped",
                    detail=" ".join(str(c).strip() for c in lead[j] if not is_blank(c))[:100],
                )
                for j in range(i)
                if any(not is_blank(c) for c in lead[j])
            ]
            return i, notes
    return None


# ---------------------------------------------------------------- merged cells

_REF = re.compile(r"^([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")


@dataclass(frozen=True, slots=True)
class Merge:
    """A merged range: its text (``B2:B4``), first and last column index, first and last row."""

    ref: str
    col1: int
    col2: int
    row1: int
    row2: int


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def parse_merge(ref: str) -> Merge:
    """``B2:B4`` → a :class:`Merge` (0-based columns, 1-based spreadsheet rows)."""
    match = _REF.match(ref)
    if match is None:
        return Merge(ref, 0, 0, 0, 0)
    c1, r1, c2, r2 = match.groups()
    return Merge(ref, _column_index(c1), _column_index(c2 or c1), int(r1), int(r2 or r1))


def split_merges(
    merges: Sequence[Merge], header_row: int, keys: dict[int, str], household_keys: frozenset[str]
) -> tuple[list[Merge], list[RosterNote], list[RosterError]]:
    """Which merges are filled down, which are only above the header, and which are refused.

    Filled: one column, below the header, of a household column (the same value for a
    household's rows is what the merge shows). Above the header (a title spanning the sheet):
    harmless. Everything else — a merge across columns, of a member's column, or touching the
    header — is refused as before: there is no one right way to fill it.
    """
    fills: list[Merge] = []
    notes: list[RosterNote] = []
    refused: list[RosterError] = []
    for merge in merges:
        if merge.row2 < header_row:
            continue
        key = keys.get(merge.col1)
        if merge.col1 == merge.col2 and merge.row1 > header_row and key in household_keys:
            fills.append(merge)
            notes.append(
                RosterNote(
                    path=f"row {merge.row1} / {merge.ref}",
                    action="merge_filled",
                    detail=f"rows {merge.row1 + 1}-{merge.row2} take the value of row {merge.row1}",
                )
            )
            continue
        reason = "merged cells are refused here: unmerge them and fill every row"
        if merge.col1 == merge.col2 and key is not None and key not in household_keys:
            reason = "a member's column cannot be merged: every person needs their own value"
        path = f"row {merge.row1} / {merge.ref}"
        refused.append(RosterError(path=path, reason=reason, row=merge.row1, column=merge.ref))
    return fills, notes, refused


def fill_merges(data: list[list[Any]], numbers: Sequence[int], fills: Sequence[Merge]) -> None:
    """Copy each merged range's top value into the rows below it (``data`` is changed in place)."""
    position = {row: j for j, row in enumerate(numbers)}
    for merge in fills:
        top = position.get(merge.row1)
        value = data[top][merge.col1] if top is not None and merge.col1 < len(data[top]) else None
        for row in range(merge.row1 + 1, merge.row2 + 1):
            j = position.get(row)
            if j is None:
                continue
            cells = data[j]
            if merge.col1 >= len(cells):
                cells.extend([None] * (merge.col1 + 1 - len(cells)))
            if is_blank(cells[merge.col1]):
                cells[merge.col1] = value


# ---------------------------------------------------------------- the totals row


def totals_row(raw: Sequence[Any], key_index: int | None) -> bool:
    """A 合计 / 总计 row: it says so in one of its cells, and names no household."""
    if key_index is not None and key_index < len(raw) and not is_blank(raw[key_index]):
        key = str(nfkc(raw[key_index])).strip()
        if any(ch.isdigit() for ch in key):
            return False
    return any(isinstance(c, str) and _TOTALS.match(nfkc(c).strip()) for c in raw)


def check_totals(
    totals: Sequence[Any],
    row: int,
    data: Sequence[Sequence[Any]],
    amounts: dict[int, str],
    to_fen: Callable[[Any], int],
    written: dict[str, str],
    cached: Callable[[int], Any] | None = None,
) -> tuple[list[RosterNote], list[RosterError]]:
    """Each amount the totals row gives must be the sum of its column as the sheet shows it.

    The sum is over the cells as written (a merged cell counts once, as in Excel's SUM); a
    formula in the totals row is checked by its saved value (``cached``), else reported as not
    checked. A cell that is not an amount (a count of people, say) is left alone.
    """
    errors: list[RosterError] = []
    checked: list[str] = []
    for i, key in amounts.items():
        cell = totals[i] if i < len(totals) else None
        if is_blank(cell):
            continue
        if isinstance(cell, str) and cell.startswith("="):
            cell = cached(i) if cached else None
            if is_blank(cell):
                checked.append(f"{written[key]}: a formula with no saved value, not checked")
                continue
        try:
            said = to_fen(nfkc(cell))
        except ValueError:
            continue
        total = 0
        for raw in data:
            value = raw[i] if i < len(raw) else None
            if is_blank(value):
                continue
            try:
                total += to_fen(nfkc(value))
            except ValueError:
                total = -1
                break
        if total < 0:
            continue  # a bad amount in the column is reported on its own row
        if said != total:
            errors.append(
                RosterError(
                    path=f"row {row} / {written[key]}",
                    reason=f"the totals row says {format_yuan(said)}, the rows add up to {format_yuan(total)}",
                    row=row,
                    column=written[key],
                )
            )
        else:
            checked.append(f"{written[key]} {format_yuan(total)}")
    detail = "skipped; sums agree: " + ", ".join(checked) if checked else "skipped"
    return [RosterNote(path=f"row {row}", action="totals_row_skipped", detail=detail)], errors
