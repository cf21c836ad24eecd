"""The roster as counties keep it: title row, full-width digits, merged household cells, 合计 row."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from server.registry.roster import RosterFileError
from tests.server.registry.test_roster import HEAD, HEAD2, SON, WIFE, ZH, csv_bytes, read
from tests.server.registry.test_roster_upload import household_count, upload
from tests.support import LiveServer

TITLE = "青溪县2026年城乡低保花名册"


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def clerk_rows(total: str = "1,340.50") -> list[list[Any]]:
    """As a clerk types them: the household's cells only on its first row (merged below), the
    son's ID in full-width digits, and a totals row."""
    return [
        [HEAD, "T1-a", "一般", "780.50", "张三", "户主", HEAD, "300"],
        [None, None, None, None, "李四", "配偶", WIFE, None],
        [None, None, None, None, "张小", "子女", full_width(SON), None],
        [HEAD2, "T1-b", "三无", "560", "王五", "户主", HEAD2, None],
        ["合计", None, None, total, "4人", None, None, "300"],
    ]


def clerk_xlsx(data: list[list[Any]], merges: tuple[str, ...] = ("A3:A5", "B3:B5", "C3:C5", "D3:D5")) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([TITLE])
    sheet.merge_cells("A1:H1")
    sheet.append(ZH)
    for row in data:
        sheet.append(row)
    for merge in merges:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def actions(roster: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for note in roster.notes:
        found.setdefault(note.action, []).append(f"{note.path}: {note.detail}")
    return found


def test_a_clerks_xlsx_reads_as_the_tidy_one() -> None:
    roster = read(clerk_xlsx(clerk_rows()), "roster.xlsx")
    assert roster.errors == []
    assert roster.rows == 4  # the totals row is not a person
    family = roster.households[HEAD]
    assert family.rows == [3, 4, 5]
    assert [m.id_number for m in family.members] == [HEAD, WIFE, SON]
    assert family.fields["benefit_amount"] == 78050
    assert roster.households[HEAD2].fields["benefit_amount"] == 56000
    notes = actions(roster)
    assert notes["title_row_skipped"] == [f"row 1: {TITLE}"]
    assert sorted(notes["merge_filled"]) == sorted(
        f"row 3 / {c}3:{c}5: rows 4-5 take the value of row 3" for c in "ABCD"
    )
    assert notes["normalised"] == ["身份证号: full-width characters made ASCII in 1 cell(s): rows 5"]
    sums = "月保障金(元) 1,340.50, 工资性收入(元/月) 300.00"
    assert notes["totals_row_skipped"] == [f"row 7: skipped; sums agree: {sums}"]


def test_a_totals_row_that_does_not_add_up_refuses_the_file() -> None:
    with pytest.raises(RosterFileError) as wrong:
        read(clerk_xlsx(clerk_rows(total="1,340.00")), "roster.xlsx")
    [error] = wrong.value.errors
    assert (error.row, error.column) == (7, "月保障金(元)")
    assert error.reason == "the totals row says 1,340.00, the rows add up to 1,340.50"


def test_full_width_amounts_and_codes_in_a_csv_with_title_and_totals() -> None:
    data = [
        [full_width(HEAD), "T1-a", "一般", "７８０.５０", "张三", "户主", full_width(HEAD), "３００"],
        [full_width(HEAD2), "T1-b", "三无", "５６０", "王五", "户主", HEAD2, ""],
        ["合 计", "", "", "1340.50", "", "", "", ""],
    ]
    body = csv_bytes([TITLE, "", "", "", "", "", "", ""], [["", "", "", "", "", "", "", ""], ZH, *data])
    roster = read(body)
    assert roster.errors == []
    assert roster.households[HEAD].fields["benefit_amount"] == 78050
    assert roster.households[HEAD].members[0].incomes == {"wages": 30000}
    normalised = {n.path for n in roster.notes if n.action == "normalised"}
    assert normalised == {"户主身份证号", "身份证号", "月保障金(元)", "工资性收入(元/月)"}


def test_other_merges_stay_refused_and_a_merged_title_needs_a_header_below() -> None:
    with pytest.raises(RosterFileError) as member:
        read(clerk_xlsx(clerk_rows(), merges=("A3:A5", "E3:E4")), "roster.xlsx")
    assert [e.path for e in member.value.errors] == ["row 3 / E3:E4"]
    # a sheet with only a title and no recognisable header is refused as before, naming row 1
    with pytest.raises(RosterFileError) as no_header:
        read(csv_bytes([TITLE], [["张三", "户主"]]))
    assert no_header.value.errors[0].path.startswith("row 1 / ")


def test_dry_run_upload_says_what_it_tidied_and_writes_nothing(live: LiveServer) -> None:
    dry = upload(live, "admin", clerk_xlsx(clerk_rows()), "花名册.xlsx", dry_run="true")
    assert (dry["status"], dry["created"], dry["dry_run"]) == (200, 2, True)
    tidied = {n["action"] for n in dry["notes"]}
    assert tidied == {"title_row_skipped", "merge_filled", "normalised", "totals_row_skipped"}
    assert household_count(live) == 0
    refused = upload(live, "admin", clerk_xlsx(clerk_rows(total="1.00")), "花名册.xlsx")
    assert (refused["status"], refused["errors"][0]["path"]) == (422, "row 7 / 月保障金(元)")
    assert household_count(live) == 0
    done = upload(live, "admin", clerk_xlsx(clerk_rows()), "花名册.xlsx")
    assert (done["status"], done["created"]) == (200, 2)
    assert household_count(live) == 2
