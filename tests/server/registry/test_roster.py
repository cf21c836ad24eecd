"""Roster files: reading and checking (no database), then importing on both engines."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from server.audit.models import AuditEvent
from server.auth.identity import Actor
from server.db.session import make_engine, make_session_factory
from server.registry.models import AmountCorrection, Household, IncomeItem, Member
from server.registry.roster import RosterFileError, RosterTooLarge, read_roster, read_roster_bytes
from server.registry.roster_import import import_roster
from tests.support import World, make_id_number, seed_world

HEAD = make_id_number("520111", dt.date(1970, 1, 2), 11)
WIFE = make_id_number("520111", dt.date(1972, 3, 4), 22)
SON = make_id_number("520111", dt.date(2005, 5, 6), 31)
HEAD2 = make_id_number("520111", dt.date(1950, 7, 8), 41)
NEWCOMER = make_id_number("520111", dt.date(1960, 9, 10), 51)
ZH = ["户主身份证号", "区划代码", "保障类别", "月保障金(元)", "姓名", "与户主关系", "身份证号", "工资性收入(元/月)"]
EN = ["head_id_number", "area_code", "category", "benefit_amount", "name", "relation", "id_number", "income_wages"]
LIMITS = {"max_bytes": 10_000_000, "max_rows": 10_000}


def rows(*, benefit: str = "780.50", wages: str = "300", son: bool = True) -> list[list[str]]:
    """Two households: a family of three (T1-a) and a single old man (T1-b)."""
    data = [
        [HEAD, "T1-a", "一般", benefit, "张三", "户主", HEAD, wages],
        [HEAD, "", "", "", "李四", "配偶", WIFE, ""],
    ]
    if son:
        data.append([HEAD, "T1-a", "一般", "", "张小", "子女", SON, ""])
    data.append([HEAD2, "T1-b", "三无", "560", "王五", "户主", HEAD2, ""])
    return data


def csv_bytes(header: list[str], data: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(data)
    return out.getvalue().encode(encoding)


def xlsx_bytes(header: list[Any], data: list[list[Any]], merge: str | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header)
    for row in data:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def read(data: bytes, name: str = "roster.csv") -> Any:
    return read_roster_bytes(data, name, **LIMITS)


def paths(error: RosterFileError) -> list[str]:
    return [e.path for e in error.errors]


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("header", [ZH, EN, [h.upper() if h.isascii() else h for h in EN]])
def test_chinese_and_english_headers(header: list[str]) -> None:
    roster = read(csv_bytes(header, rows()))
    assert roster.errors == []
    assert roster.rows == 4
    family = roster.households[HEAD]
    assert family.fields == {"area_code": "T1-a", "category": "general", "benefit_amount": 78050}
    assert [m.fields["relation"] for m in family.members] == ["head", "spouse", "child"]
    assert family.members[0].incomes == {"wages": 30000}
    assert family.members[1].fields["sex"] == "female"
    assert family.members[1].fields["birth_date"] == dt.date(1972, 3, 4)
    assert roster.households[HEAD2].fields["category"] == "three_no"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(encoding: str) -> None:
    roster = read(csv_bytes(ZH, rows(), encoding))
    assert roster.errors == []
    assert roster.households[HEAD].members[0].fields["name"] == "张三"


def test_xlsx_with_numbers_and_dates() -> None:
    header = [*ZH, "出生日期", "残疾等级"]
    data: list[list[Any]] = [[*r, None, None] for r in rows()]
    data[0][3] = 780.1  # a number cell
    data[1][8] = dt.datetime(1972, 3, 4)
    data[1][9] = "二级"
    roster = read(xlsx_bytes(header, data), "roster.xlsx")
    assert roster.errors == []
    assert roster.households[HEAD].fields["benefit_amount"] == 78010
    assert roster.households[HEAD].members[1].fields["disability_grade"] == 2


def test_amounts_are_exact_fen() -> None:
    for text, fen in [("0.01", 1), ("1,234.50", 123450), ("560", 56000), ("¥19.99", 1999), ("560.500", 56050)]:
        data = rows(benefit=text)
        assert read(csv_bytes(ZH, data)).households[HEAD].fields["benefit_amount"] == fen
    for bad in ["560.555", "-1", "abc", "1e3"]:
        roster = read(csv_bytes(ZH, rows(benefit=bad)))
        assert [e.path for e in roster.errors] == ["row 2 / 月保障金(元)"], bad


def test_invalid_id_numbers_are_reported_by_row_and_column() -> None:
    data = rows()
    data[1][6] = WIFE[:-1] + ("0" if WIFE[-1] != "0" else "1")  # wrong check character
    data[2][6] = "52011120051332001X"  # no such date
    roster = read(csv_bytes(ZH, data))
    by_row = {e.row: e for e in roster.errors}
    assert by_row[3].column == "身份证号"
    assert "check character" in by_row[3].reason
    assert "date" in by_row[4].reason
    assert by_row[3].path == "row 3 / 身份证号"
    assert roster.invalid == {HEAD}
    assert [h.head_id_number for h in roster.valid_households] == [HEAD2]


def test_duplicate_people_and_heads() -> None:
    data = rows()
    data.append([HEAD, "", "", "", "张三", "户主", HEAD, ""])  # the head listed twice
    data.append([HEAD2, "", "", "", "赵六", "户主", SON.replace("31", "33")[:17] + "0", ""])
    roster = read(csv_bytes(ZH, data))
    reasons = {(e.row, e.column): e.reason for e in roster.errors}
    assert "already listed on row 2" in reasons[(6, "身份证号")]
    assert roster.invalid == {HEAD, HEAD2}


def test_household_columns_must_agree_with_the_head_row() -> None:
    data = rows()
    data[2][1] = "T1-b"  # the son's row names another area
    roster = read(csv_bytes(ZH, data))
    assert [(e.row, e.column) for e in roster.errors] == [(4, "区划代码")]
    assert "differs from the head's row (row 2)" in roster.errors[0].reason


def test_missing_head_row_and_required_cells() -> None:
    data = [r for r in rows() if r[6] != HEAD]  # the family without its head
    data[0][4] = ""
    roster = read(csv_bytes(ZH, data))
    reasons = {(e.row, e.column): e.reason for e in roster.errors}
    assert reasons[(2, "姓名")] == "required"
    assert "no row for the head" in reasons[(2, "户主身份证号")]


def test_wrong_columns_are_refused() -> None:
    with pytest.raises(RosterFileError) as unknown:
        read(csv_bytes([*ZH, "身份正号"], [[*r, ""] for r in rows()]))
    assert paths(unknown.value) == ["row 1 / 身份正号"]
    with pytest.raises(RosterFileError) as missing:
        read(csv_bytes([h for h in ZH if h != "身份证号"], [r[:6] + r[7:] for r in rows()]))
    assert paths(missing.value) == ["row 1 / 身份证号"]
    assert missing.value.errors[0].reason.startswith("required column missing")
    with pytest.raises(RosterFileError) as twice:
        read(csv_bytes([*ZH, "id_number"], [[*r, r[6]] for r in rows()]))
    assert "twice" in twice.value.errors[0].reason


def test_merged_cells_that_cannot_be_filled_are_refused() -> None:
    # a member's column (姓名) merged down, and a household's cells merged across columns
    with pytest.raises(RosterFileError) as member:
        read(xlsx_bytes(ZH, rows(), merge="E2:E3"), "roster.xlsx")
    assert member.value.errors[0].path == "row 2 / E2:E3"
    assert "member" in member.value.errors[0].reason
    with pytest.raises(RosterFileError) as across:
        read(xlsx_bytes(ZH, rows(), merge="B2:C2"), "roster.xlsx")
    assert across.value.errors[0].path == "row 2 / B2:C2"
    assert "merged" in across.value.errors[0].reason


def test_formulas_are_refused() -> None:
    data: list[list[Any]] = rows()
    data[0][3] = "=100*7.8"
    roster = read(xlsx_bytes(ZH, data), "roster.xlsx")
    assert [(e.row, e.column) for e in roster.errors] == [(2, "月保障金(元)")]
    assert "formula" in roster.errors[0].reason
    roster = read(csv_bytes(ZH, data))
    assert "formula" in roster.errors[0].reason


def test_empty_rows_are_skipped_but_empty_files_refused() -> None:
    data = rows()
    data.insert(1, ["", "", "", "", "", "", "", ""])
    data.insert(3, [" ", "", "", "", "", "", "", ""])
    roster = read(csv_bytes(ZH, data))
    assert roster.errors == []
    assert roster.rows == 4
    assert roster.households[HEAD].rows == [2, 4, 6]
    assert read(b"\n" + csv_bytes(ZH, rows())).households[HEAD].rows == [3, 4, 5]  # the header is on row 2
    for empty in [b"", b"\n\n", csv_bytes(ZH, []), csv_bytes(ZH, [["", "", ""]])]:
        with pytest.raises(RosterFileError) as refused:
            read(empty)
        assert refused.value.status == 422
        assert refused.value.errors[0].path.startswith(("file", "row"))


def test_oversize_files_and_row_caps(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.truncate(1 << 30)  # a sparse 1 GB file: refused from its size, never read
    with pytest.raises(RosterTooLarge) as too_big:
        read_roster(huge, **LIMITS)
    assert too_big.value.status == 413
    assert too_big.value.errors[0].path == "file"
    with pytest.raises(RosterTooLarge):
        read_roster_bytes(csv_bytes(ZH, rows()), "r.csv", max_bytes=10_000_000, max_rows=3)


def test_not_a_spreadsheet() -> None:
    with pytest.raises(RosterFileError):
        read(b"PK\x03\x04 not really a zip", "roster.xlsx")
    with pytest.raises(RosterFileError):
        read(b"\xff\xfe\x00\x01\x80\x81\xfe", "roster.csv")


# ---------------------------------------------------------------- importing


class Db:
    """A migrated, seeded database and helpers to import into it and count what it holds."""

    def __init__(self, url: str, world: World) -> None:
        self.url = url
        self.world = world

    def run(self, data: bytes, name: str = "roster.csv", **options: Any) -> Any:
        async def go() -> Any:
            engine = make_engine(self.url, null_pool=True)
            try:
                async with make_session_factory(engine)() as session, session.begin():
                    return await import_roster(session, read(data, name), Actor.system("test"), **options)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def query(self, statement: Any) -> list[Any]:
        async def go() -> list[Any]:
            engine = make_engine(self.url, null_pool=True)
            try:
                async with make_session_factory(engine)() as session:
                    return list((await session.execute(statement)).all())
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def counts(self) -> tuple[int, int, int, int]:
        [row] = self.query(
            select(
                select(func.count()).select_from(Household).scalar_subquery(),
                select(func.count()).select_from(Member).scalar_subquery(),
                select(func.count()).select_from(IncomeItem).scalar_subquery(),
                select(func.count()).select_from(AuditEvent).scalar_subquery(),
            )
        )
        return tuple(row)


@pytest.fixture
def db(database_url: str) -> Db:
    return Db(database_url, seed_world(database_url))


def test_import_creates_households_and_reimport_changes_nothing(db: Db) -> None:
    before = db.counts()
    first = db.run(csv_bytes(ZH, rows()))
    assert (first.created, first.updated, first.unchanged, first.members_created) == (2, 0, 0, 4)
    households, members, incomes, audit = db.counts()
    assert (households, members, incomes) == (2, 4, 1)
    assert audit == before[3] + 3  # one per household, one for the import
    [(version, updated_at, benefit, residence)] = db.query(
        select(Household.version, Household.updated_at, Household.benefit_amount, Household.residence).where(
            Household.head_id_number == HEAD
        )
    )
    assert (version, benefit, residence) == (1, 78050, "urban")

    again = db.run(csv_bytes(EN, rows()))  # the same content, English headers
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert db.counts() == (households, members, incomes, audit)
    assert db.query(select(Household.version, Household.updated_at).where(Household.head_id_number == HEAD)) == [
        (1, updated_at)
    ]


def test_changed_row_updates_the_household_never_duplicates_it(db: Db) -> None:
    db.run(csv_bytes(ZH, rows()))
    _, _, _, audit = db.counts()
    changed = db.run(csv_bytes(ZH, rows(benefit="800", wages="450", son=False)))
    assert (changed.created, changed.updated, changed.unchanged, changed.members_removed) == (0, 1, 1, 1)
    # the household's update, the amount correction and the import
    assert db.counts() == (2, 3, 1, audit + 3)
    [(version, benefit)] = db.query(
        select(Household.version, Household.benefit_amount).where(Household.head_id_number == HEAD)
    )
    assert (version, benefit) == (2, 78050), "the amount waits for an approver: it is a correction"
    assert db.query(select(IncomeItem.monthly_amount)) == [(45000,)]
    [(changes,)] = db.query(
        select(AuditEvent.changes).where(AuditEvent.entity == "household", AuditEvent.action == "update")
    )
    assert "benefit_amount" not in changes
    assert changes["members_removed"] == ["张小"]
    assert changes["incomes"] == [30000, 45000]
    [correction] = changed.corrections
    assert (correction.row, correction.current_amount, correction.file_amount) == (2, 78050, 80000)
    assert db.query(select(AmountCorrection.id, AmountCorrection.state, AmountCorrection.new_amount)) == [
        (correction.correction_id, "pending", 80000)
    ]


def test_an_amount_only_change_is_a_correction_superseded_by_the_next_file(db: Db) -> None:
    db.run(csv_bytes(ZH, rows()))
    before = db.counts()
    dry = db.run(csv_bytes(ZH, rows(benefit="800")), dry_run=True)
    assert (dry.amount_corrections, dry.corrections[0].correction_id, dry.unchanged) == (1, None, 2)
    assert db.counts() == before
    first = db.run(csv_bytes(ZH, rows(benefit="800")))
    assert (first.updated, first.unchanged, first.amount_corrections) == (0, 2, 1)
    same = db.run(csv_bytes(ZH, rows(benefit="800")))
    assert same.corrections[0].correction_id == first.corrections[0].correction_id
    assert db.counts()[3] == before[3] + 2, "the correction and the import were recorded once"
    later = db.run(csv_bytes(ZH, rows(benefit="820")))
    states = dict(db.query(select(AmountCorrection.new_amount, AmountCorrection.state)))
    assert states == {80000: "superseded", 82000: "pending"}
    assert later.corrections[0].correction_id != first.corrections[0].correction_id
    assert db.query(select(Household.benefit_amount).where(Household.head_id_number == HEAD)) == [(78050,)]


def test_one_bad_row_writes_nothing_unless_skip_invalid(db: Db) -> None:
    data = rows()
    data[3][6] = data[3][0] = HEAD2[:-1] + ("0" if HEAD2[-1] != "0" else "1")
    before = db.counts()
    with pytest.raises(RosterFileError) as refused:
        db.run(csv_bytes(ZH, data))
    assert {e.row for e in refused.value.errors} == {5}
    assert db.counts() == before
    partial = db.run(csv_bytes(ZH, data), skip_invalid=True)
    assert (partial.created, partial.skipped_households, partial.skipped_rows, partial.error_count) == (1, 0, 1, 2)
    assert db.counts()[:2] == (1, 3)


def test_an_empty_amount_on_an_active_household_is_an_error_naming_the_row(db: Db) -> None:
    db.run(csv_bytes(ZH, rows()))
    before = db.counts()
    data = rows(benefit="")  # the family's head row: its 月保障金 cell left empty
    with pytest.raises(RosterFileError) as refused:
        db.run(csv_bytes(ZH, data))
    assert [(e.row, e.column, e.path) for e in refused.value.errors] == [(2, "月保障金(元)", "row 2 / 月保障金(元)")]
    assert "active household" in refused.value.errors[0].reason
    assert db.counts() == before
    [(benefit, status)] = db.query(
        select(Household.benefit_amount, Household.status).where(Household.head_id_number == HEAD)
    )
    assert (benefit, status) == (78050, "active")
    # a new household is held to the same rule; a cancelled one may leave the cell empty
    with pytest.raises(RosterFileError) as new:
        db.run(csv_bytes(ZH, [[NEWCOMER, "T1-b", "三无", "", "赵六", "户主", NEWCOMER, ""]]))
    assert [e.column for e in new.value.errors] == ["月保障金(元)"]
    header = [*ZH, "保障状态"]
    cancelled = [[*r, "停保" if r[0] == HEAD and r[4] == "张三" else ""] for r in data]
    result = db.run(csv_bytes(header, cancelled), dry_run=True)
    assert (result.error_count, result.updated) == (0, 1)


def test_unknown_areas_and_scope(db: Db) -> None:
    data = rows()
    data[3][1] = "NOPE"
    with pytest.raises(RosterFileError) as unknown:
        db.run(csv_bytes(ZH, data))
    assert [(e.row, e.column, e.reason) for e in unknown.value.errors] == [(5, "区划代码", "no area with this code")]
    t1 = frozenset({db.world.area_ids["T1"], db.world.area_ids["T1-a"], db.world.area_ids["T1-b"]})
    data = rows()
    data[3][1] = "T2-a"
    with pytest.raises(RosterFileError) as outside:
        db.run(csv_bytes(ZH, data), scope=t1)
    assert outside.value.errors[0].reason == "outside your areas"


def test_person_in_another_household_is_refused_and_moves_within_a_file(db: Db) -> None:
    db.run(csv_bytes(ZH, rows()))
    # the son also appears as a member of the second household while his own family is not in the file
    other = [[HEAD2, "T1-b", "三无", "560", "王五", "户主", HEAD2, ""], [HEAD2, "", "", "", "张小", "其他", SON, ""]]
    with pytest.raises(RosterFileError) as refused:
        db.run(csv_bytes(ZH, other))
    assert "already a member of household" in refused.value.errors[0].reason
    # both households in one file: the son moves
    moved = db.run(csv_bytes(ZH, rows(son=False) + other[1:]))
    assert (moved.updated, moved.members_updated, moved.members_removed) == (2, 1, 0)
    [(household,)] = db.query(select(Household.head_id_number).join(Member).where(Member.id_number == SON))
    assert household == HEAD2


def test_dry_run_writes_nothing(db: Db) -> None:
    before = db.counts()
    result = db.run(csv_bytes(ZH, rows()), dry_run=True)
    assert (result.created, result.dry_run) == (2, True)
    assert db.counts() == before


def test_xlsx_import_matches_csv(db: Db) -> None:
    db.run(csv_bytes(ZH, rows()))
    again = db.run(xlsx_bytes(ZH, [[*r[:3], float(r[3]) if r[3] else None, *r[4:]] for r in rows()]), "r.xlsx")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_changed_household_on_a_tablet_reaches_the_sync_feed(db: Db) -> None:
    """The import writes through Core; a changed household with an active visit still goes out."""
    from server.planning.models import Visit
    from server.sync.models import FeedRow

    db.run(csv_bytes(ZH, rows()))
    head = select(Household.id, Household.area_id).where(Household.head_id_number == HEAD)
    [(household_id, area_id)] = db.query(head)

    async def assign() -> None:
        engine = make_engine(db.url, null_pool=True)
        try:
            async with make_session_factory(engine)() as session, session.begin():
                session.add(
                    Visit(
                        household_id=household_id,
                        area_id=area_id,
                        reason="scheduled",
                        period="2027Q1",
                        due_on=dt.date(2027, 3, 31),
                        state="assigned",
                        assigned_to=db.world.user_ids["worker1"],
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(assign())
    feed = select(FeedRow.version, FeedRow.seq, FeedRow.payload).where(
        FeedRow.kind == "household", FeedRow.user_id == db.world.user_ids["worker1"]
    )
    [(version, seq, _)] = db.query(feed)
    assert version == 1
    db.run(csv_bytes(ZH, rows(benefit="800", wages="450", son=False)))
    [(version, later, payload)] = db.query(feed)
    assert (version, later > seq) == (2, True)
    assert b'"benefit_amount":78050' in payload  # the amount is a correction for an approver
    assert "张小".encode() not in payload
    # the other household has no visit: it is on nobody's tablet
    assert len(db.query(select(FeedRow.entity_id).where(FeedRow.kind == "household"))) == 1
