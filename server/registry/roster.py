"""The roster file: its columns, and reading a CSV or XLSX file into checked households.

A county office keeps its dibao roster (低保花名册) as one row per person: every row names the
household it belongs to by the **head's resident ID** (户主身份证号) and says how the person
relates to the head. Household columns (area, category, benefit, bank account …) are read from
the head's row; on the other rows of the household they may be left empty or repeat the head's
value, but must not differ. Income columns hold a member's monthly income of that kind in yuan.
``docs/roster.md`` documents the layout; :data:`COLUMNS` is its source.

Reading never touches the database: :func:`read_roster` returns the households with their rows
checked one by one (:class:`ParsedRoster`), or raises :class:`RosterFileError` when the file as
a whole is unusable (too big, not CSV/XLSX, wrong columns, merged cells that cannot be filled, a
totals row that does not add up). What a county's printed roster adds around the data (a title
row, full-width digits, merged household cells, a 合计 row) is tidied by
:mod:`server.registry.roster_tidy` and reported in ``ParsedRoster.notes``. Amounts become integer
fen through :class:`~decimal.Decimal`, never through float.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
import operator
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.errors import FieldError
from schemas.registry import (
    Category,
    Health,
    HouseholdStatus,
    IncomeKind,
    LabourCapacity,
    Relation,
    Residence,
    Sex,
    id_number_problem,
)
from schemas.roster import RosterError, RosterNote
from server.db.batch import paused_gc
from server.errors import DomainError
from server.registry import roster_tidy as tidy

__all__ = [
    "COLUMNS",
    "HOUSEHOLD_FIELDS",
    "MEMBER_FIELDS",
    "ParsedRoster",
    "RosterColumn",
    "RosterFileError",
    "RosterHousehold",
    "RosterMember",
    "RosterTooLarge",
    "read_roster",
    "read_roster_bytes",
]

#: Rows of one household at most (as for a household registered through the API).
MAX_MEMBERS = 30


class RosterFileError(DomainError):
    """The file as a whole cannot be imported (422); ``errors`` say where and why."""

    status = 422
    code = "invalid_roster"

    def __init__(self, message: str, errors: Sequence[FieldError]) -> None:
        super().__init__(message, list(errors))


class RosterTooLarge(RosterFileError):
    """The file is over the configured size or row limit (413)."""

    status = 413
    code = "too_large"


class _Bad(ValueError):
    """A cell's value is not acceptable; the message is the reason."""


# ---------------------------------------------------------------- cell parsers


def _text(value: Any) -> str:
    if value.__class__ is str:
        return str.strip(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _text_max(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value)
        if len(text) > limit:
            raise _Bad(f"longer than {limit} characters")
        return text

    return parse


def _digits_text(value: Any, what: str) -> str:
    """Digits kept as text: a number cell loses digits in Excel past 15, so say so."""
    if isinstance(value, float):
        if not value.is_integer() or abs(value) >= 1e15:
            raise _Bad(f"{what} stored as a number loses digits in Excel: format the column as text")
        return str(int(value))
    if isinstance(value, bool):
        raise _Bad(f"not a {what}")
    return str(value).strip().replace(" ", "")


@functools.lru_cache(maxsize=65536)
def _real_date(yyyymmdd: str) -> bool:
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return True


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_OFFSET = 48 * sum(_ID_WEIGHTS)


def _id_number(value: Any) -> str:
    """A resident ID; the common valid case is checked quickly, anything else by ``id_number_problem``."""
    plain = value.__class__ is str and len(value) == 18
    text = value.upper() if plain else _digits_text(value, "resident ID").upper()
    if len(text) == 18 and text.isascii() and text[:17].isdigit():
        total = sum(map(operator.mul, text[:17].encode(), _ID_WEIGHTS)) - _ID_OFFSET
        if "10X98765432"[total % 11] == text[17] and _real_date(text[6:14]):
            return text
    if problem := id_number_problem(text):
        raise _Bad(problem)
    return text


def _bank_account(value: Any) -> str:
    text = _digits_text(value, "bank account").replace("-", "")
    if not text.isdigit() or not 8 <= len(text) <= 32:
        raise _Bad("must be 8 to 32 digits")
    return text


def _phone(value: Any) -> str:
    text = _digits_text(value, "phone number")
    if len(text) > 32:
        raise _Bad("longer than 32 characters")
    return text


_YUAN = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$|^\d+(\.\d+)?$")


def _fen(value: Any) -> int:
    """Yuan with at most two decimals → integer fen, exactly (Decimal, never float arithmetic)."""
    if isinstance(value, bool):
        raise _Bad("not an amount in yuan")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest repr is the number as typed in the cell
    else:
        text = str(value).strip().removeprefix("¥").removeprefix("￥").strip()
        if not _YUAN.match(text):
            raise _Bad("not an amount in yuan (e.g. 560 or 560.50)")
        amount = Decimal(text.replace(",", ""))
    if not amount.is_finite() or amount < 0:
        raise _Bad("must be zero or more yuan")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise _Bad("at most two decimals (fen)")
    fen = int(amount * 100)
    if fen > 100_000_000_00:
        raise _Bad("more than 100,000,000 yuan")
    return fen


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _Bad("a number, not a date: format the cell as a date or write 2026-01-31")
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-":
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(text)
    if " " in text:  # "2026-01-31 00:00:00" as Excel writes a date-time into CSV
        text = text.split(" ", 1)[0]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise _Bad("not a date (write 2026-01-31)")


def _number(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise _Bad("not a number")
        try:
            number = float(value) if isinstance(value, int | float) else float(str(value).strip())
        except ValueError:
            raise _Bad("not a number") from None
        if not low <= number <= high:
            raise _Bad(f"must be between {low:g} and {high:g}")
        return number

    return parse


_GRADES = {"一级": 1, "二级": 2, "三级": 3, "四级": 4, "1级": 1, "2级": 2, "3级": 3, "4级": 4}
_NO_GRADE = {"无", "否", "none", "no", "-", "0"}


def _grade(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value in (1, 2, 3, 4):
            return int(value)
        if value == 0:
            return None
        raise _Bad("1 to 4 (一级 to 四级), or empty for none")
    text = str(value).strip().lower()
    if text in _NO_GRADE:
        return None
    if text in ("1", "2", "3", "4"):
        return int(text)
    if text in _GRADES:
        return _GRADES[text]
    raise _Bad("1 to 4 (一级 to 四级), or empty for none")


def _choice(labels: dict[str, str], codes: Iterable[str]) -> Callable[[Any], str]:
    """A code list: the English code or any of its Chinese labels, case-insensitive."""
    table = {code.lower(): code for code in codes}
    table.update({label.lower(): code for label, code in labels.items()})
    hint = ", ".join(f"{label}/{code}" for label, code in _first_labels(labels).items())

    def parse(value: Any) -> str:
        key = str(value).strip().lower()
        if key in table:
            return table[key]
        raise _Bad(f"not one of: {hint}")

    return parse


def _first_labels(labels: dict[str, str]) -> dict[str, str]:
    first: dict[str, str] = {}
    for label, code in labels.items():
        if code not in first.values():
            first[label] = code
    return first


_RELATIONS = {
    "户主": "head",
    "本人": "head",
    "配偶": "spouse",
    "妻": "spouse",
    "夫": "spouse",
    "妻子": "spouse",
    "丈夫": "spouse",
    "子女": "child",
    "子": "child",
    "女": "child",
    "儿子": "child",
    "女儿": "child",
    "长子": "child",
    "长女": "child",
    "次子": "child",
    "次女": "child",
    "父母": "parent",
    "父亲": "parent",
    "母亲": "parent",
    "孙子女": "grandchild",
    "孙子": "grandchild",
    "孙女": "grandchild",
    "外孙子": "grandchild",
    "外孙女": "grandchild",
    "祖父母": "grandparent",
    "祖父": "grandparent",
    "祖母": "grandparent",
    "外祖父": "grandparent",
    "外祖母": "grandparent",
    "兄弟姐妹": "sibling",
    "兄": "sibling",
    "弟": "sibling",
    "姐": "sibling",
    "妹": "sibling",
    "儿媳": "child_in_law",
    "女婿": "child_in_law",
    "其他": "other",
}
_CATEGORIES = {"三无": "three_no", "三无人员": "three_no", "特困": "extreme_hardship", "一般": "general"}
_RESIDENCES = {"城市": "urban", "城镇": "urban", "城": "urban", "农村": "rural", "乡村": "rural", "农": "rural"}
_STATUSES = {
    "正常": "active",
    "在保": "active",
    "在册": "active",
    "暂停": "suspended",
    "停发": "suspended",
    "停保": "cancelled",
    "注销": "cancelled",
    "退保": "cancelled",
}
_SEXES = {"男": "male", "女": "female", "m": "male", "f": "female"}
_HEALTH = {
    "健康": "healthy",
    "良好": "healthy",
    "体弱多病": "often_ill",
    "多病": "often_ill",
    "慢性病": "often_ill",
    "重病": "seriously_ill",
    "大病": "seriously_ill",
    "重大疾病": "seriously_ill",
}
_LABOUR = {
    "有": "full",
    "完全": "full",
    "有劳动能力": "full",
    "完全劳动能力": "full",
    "部分": "partial",
    "部分劳动能力": "partial",
    "部分丧失": "partial",
    "无": "none",
    "无劳动能力": "none",
    "丧失劳动能力": "none",
    "完全丧失": "none",
}

_INCOME_LABELS: dict[IncomeKind, tuple[str, ...]] = {
    IncomeKind.wages: ("工资性收入", "工资收入"),
    IncomeKind.business: ("经营性收入", "经营收入", "家庭经营收入"),
    IncomeKind.property: ("财产性收入", "财产收入"),
    IncomeKind.support: ("赡养费", "赡养抚养扶养费"),
    IncomeKind.pension: ("养老金", "退休金"),
    IncomeKind.unemployment_benefit: ("失业保险金",),
    IncomeKind.compensation: ("赔偿收入", "赔偿金"),
    IncomeKind.gift: ("赠与收入", "赠与"),
    IncomeKind.other: ("其他收入",),
    IncomeKind.veteran_preferential: ("优抚金", "优抚对象抚恤补助"),
    IncomeKind.family_planning_reward: ("计生奖励", "计划生育奖励扶助金"),
    IncomeKind.scholarship: ("奖学金",),
    IncomeKind.bravery_reward: ("见义勇为奖励", "见义勇为奖金"),
    IncomeKind.social_assistance: ("社会救助金", "政府救助"),
    IncomeKind.resident_basic_pension: ("城乡居民基础养老金", "基础养老金"),
}


# ---------------------------------------------------------------- the columns


@dataclass(frozen=True)
class RosterColumn:
    """One column of the roster: canonical key (= English header), Chinese header, where it goes."""

    key: str
    zh: str
    scope: str
    """``household`` (read from the head's row), ``member`` (every row) or ``income``."""
    required: bool
    parse: Callable[[Any], Any]
    meaning: str
    aliases: tuple[str, ...] = ()
    income_kind: IncomeKind | None = None


def _income_columns() -> list[RosterColumn]:
    columns = []
    for kind, labels in _INCOME_LABELS.items():
        columns.append(
            RosterColumn(
                f"income_{kind.value}",
                labels[0],
                "income",
                False,
                _fen,
                f"monthly income of kind `{kind.value}`, yuan",
                labels[1:],
                kind,
            )
        )
    return columns


COLUMNS: list[RosterColumn] = [
    RosterColumn(
        "head_id_number",
        "户主身份证号",
        "household",
        True,
        _id_number,
        "the household key: resident ID of the head, on every row",
        ("户主身份证号码", "户主公民身份号码"),
    ),
    RosterColumn(
        "household_code",
        "户编号",
        "household",
        False,
        _text_max(40),
        "the county's household number; generated from area and head ID when empty",
        ("家庭编号", "户号"),
    ),
    RosterColumn(
        "area_code",
        "区划代码",
        "household",
        True,
        _text_max(32),
        "code of the community or village the household lives in",
        ("行政区划代码", "村社区代码", "所属区划代码"),
    ),
    RosterColumn(
        "residence",
        "城乡类别",
        "household",
        False,
        _choice(_RESIDENCES, Residence),
        "城市/urban or 农村/rural; the area's own when empty",
        ("城乡", "城乡属性"),
    ),
    RosterColumn(
        "category",
        "保障类别",
        "household",
        True,
        _choice(_CATEGORIES, Category),
        "三无/three_no, 特困/extreme_hardship, 一般/general",
        ("类别", "低保类别", "户类别"),
    ),
    RosterColumn(
        "status",
        "保障状态",
        "household",
        False,
        _choice(_STATUSES, HouseholdStatus),
        "正常/active (default), 暂停/suspended, 停保/cancelled",
        ("状态",),
    ),
    RosterColumn(
        "benefit_amount",
        "月保障金",
        "household",
        False,
        _fen,
        "monthly benefit of the household in yuan, up to 2 decimals (stored as fen)",
        ("保障金额", "月保障金额", "月救助金"),
    ),
    RosterColumn("address", "家庭住址", "household", False, _text_max(300), "address", ("住址", "地址")),
    RosterColumn("lat", "纬度", "household", False, _number(-90, 90), "GPS latitude (WGS 84)"),
    RosterColumn("lon", "经度", "household", False, _number(-180, 180), "GPS longitude (WGS 84)"),
    RosterColumn("bank_name", "开户银行", "household", False, _text_max(100), "bank paying the benefit"),
    RosterColumn(
        "bank_account", "银行账号", "household", False, _bank_account, "account number, digits", ("银行卡号",)
    ),
    RosterColumn("phone", "联系电话", "household", False, _phone, "contact phone", ("电话", "手机号码")),
    RosterColumn("approved_on", "批准日期", "household", False, _date, "date first approved", ("审批日期",)),
    RosterColumn(
        "last_recheck_on", "上次复核日期", "household", False, _date, "date of the last recheck", ("复核日期",)
    ),
    RosterColumn("name", "姓名", "member", True, _text_max(100), "the person's name"),
    RosterColumn(
        "relation",
        "与户主关系",
        "member",
        True,
        _choice(_RELATIONS, Relation),
        "户主/head, 配偶/spouse, 子女/child, 父母/parent, 孙子女/grandchild, 祖父母/grandparent, "
        "兄弟姐妹/sibling, 儿媳/女婿/child_in_law, 其他/other",
        ("关系", "家庭关系"),
    ),
    RosterColumn(
        "id_number",
        "身份证号",
        "member",
        True,
        _id_number,
        "the person's 18-character resident ID (GB 11643 check character verified)",
        ("身份证号码", "公民身份号码"),
    ),
    RosterColumn("sex", "性别", "member", False, _choice(_SEXES, Sex), "男/male, 女/female; from the ID when empty"),
    RosterColumn("birth_date", "出生日期", "member", False, _date, "from the ID when empty; must agree with it"),
    RosterColumn(
        "health",
        "健康状况",
        "member",
        False,
        _choice(_HEALTH, Health),
        "健康/healthy (default), 体弱多病/often_ill, 重病/seriously_ill",
    ),
    RosterColumn("disability_grade", "残疾等级", "member", False, _grade, "1-4 (一级-四级), empty for none"),
    RosterColumn(
        "labour_capacity",
        "劳动能力",
        "member",
        False,
        _choice(_LABOUR, LabourCapacity),
        "有/full (default), 部分/partial, 无/none",
    ),
    RosterColumn("employment", "就业情况", "member", False, _text_max(100), "job or occupation, free text"),
    *_income_columns(),
]

HOUSEHOLD_FIELDS = tuple(c.key for c in COLUMNS if c.scope == "household" and c.key != "head_id_number")
MEMBER_FIELDS = tuple(c.key for c in COLUMNS if c.scope == "member")
_BY_KEY = {c.key: c for c in COLUMNS}
_REQUIRED_ON_HEAD_ROW = tuple(
    c.key for c in COLUMNS if c.scope == "household" and c.required and c.key != "head_id_number"
)


def _header_key(text: str) -> str:
    """Normalise a header: trim, drop a unit in brackets (``月保障金(元)``), case, spaces."""
    text = text.replace("\ufeff", "").strip()
    text = re.sub(r"[（(][^)）]*[)）]\s*$", "", text).strip()
    return re.sub(r"[\s\-]+", "_", text).lower()


_HEADERS: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.key, _column.zh, *_column.aliases):
        _HEADERS[_header_key(_name)] = _column.key


# ---------------------------------------------------------------- parsed result


@dataclass(slots=True)
class RosterMember:
    """One person row, checked. ``fields`` holds the member columns present in the file."""

    row: int
    id_number: str
    fields: dict[str, Any]
    incomes: dict[str, int]
    """Income kind → fen per month (only non-zero amounts)."""
    household_values: dict[str, Any]
    """Reserved: household columns of this row (checked column-wise, so left empty)."""


@dataclass(slots=True)
class RosterHousehold:
    """The rows of one household; ``fields`` are the household columns from the head's row."""

    head_id_number: str
    rows: list[int] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    members: list[RosterMember] = field(default_factory=list)
    head_row: int | None = None


@dataclass
class ParsedRoster:
    """Every household of the file, and every problem found in its rows.

    ``invalid`` holds the head IDs of households with at least one bad row; ``stray_rows`` the
    bad rows that name no usable household (their head ID itself is wrong).
    """

    households: dict[str, RosterHousehold]
    errors: list[RosterError]
    invalid: set[str]
    stray_rows: set[int]
    rows: int
    columns: frozenset[str]
    headers: dict[str, str]
    """Canonical key → the header as written in the file (for error messages)."""
    error_cells: set[tuple[int, str]] = field(default_factory=set)
    notes: list[RosterNote] = field(default_factory=list)
    """What was tidied before checking (title rows, full-width characters, merges, totals)."""

    def error(self, row: int | None, key: str | None, reason: str, head: str | None = None) -> None:
        """Record a problem at ``row`` / column ``key`` (and mark the household invalid)."""
        column = self.headers.get(key, key) if key else None
        path = f"row {row}" if row is not None else "file"
        if column:
            path = f"{path} / {column}"
        self.errors.append(RosterError(path=path, reason=reason, row=row, column=column))
        if row is not None and key:
            self.error_cells.add((row, key))
        if head is not None:
            self.invalid.add(head)
        elif row is not None:
            self.stray_rows.add(row)

    @property
    def valid_households(self) -> list[RosterHousehold]:
        return [h for k, h in self.households.items() if k not in self.invalid]

    @property
    def skipped_rows(self) -> int:
        return sum(len(self.households[k].rows) for k in self.invalid if k in self.households) + len(self.stray_rows)


# ---------------------------------------------------------------- reading files

_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+\d+(?::[A-Z]+\d+)?)\"")


def _file_error(reason: str, column: str | None = None, row: int | None = None) -> RosterFileError:
    path = "file" if row is None else f"row {row}"
    if column:
        path = f"{path} / {column}"
    error = RosterError(path=path, reason=reason, row=row, column=column)
    return RosterFileError(f"{path}: {reason}", [error])


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK, as Excel saves in China)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise _file_error("the file is neither UTF-8 nor GB18030/GBK text") from None


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first.count)
    return iter(list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)))


class _Formula(str):
    """A cell holding a formula instead of a value."""


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(slots=True)
class _Sheet:
    """The first sheet of a workbook: its rows as written, its merged ranges, and (on demand)
    the value a formula cell last computed, which Excel saves beside the formula."""

    rows: list[list[Any]]
    merges: list[str]
    data: bytes

    def saved_value(self, row: int, column: int) -> Any:
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(self.data), read_only=True, data_only=True)
        try:
            for cells in workbook.worksheets[0].iter_rows(min_row=row, max_row=row, values_only=True):
                return cells[column] if column < len(cells) else None
            return None
        finally:
            workbook.close()


def _xlsx_sheet(data: bytes, max_bytes: int) -> _Sheet:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _file_error("not a readable XLSX file (save it as .xlsx or .csv)") from None
    if unpacked > 20 * max_bytes:
        raise RosterTooLarge(
            "file: unpacks to more than the limit",
            [RosterError(path="file", reason=f"unpacks to {unpacked} bytes, over {20 * max_bytes}")],
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _file_error(f"not a readable XLSX file ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        merged = _merged_ranges(archive, getattr(sheet, "_worksheet_path", ""))
        rows = [
            [_Formula(cell.value) if cell.data_type == "f" else cell.value for cell in row] for row in sheet.iter_rows()
        ]
    finally:
        workbook.close()
    return _Sheet(rows, merged, data)


def _merged_ranges(archive: zipfile.ZipFile, path: str) -> list[str]:
    """Merged ranges of a sheet, found by scanning its XML (read-only openpyxl does not load them)."""
    if not path:
        return []
    found: list[str] = []
    tail = b""
    with archive.open(path.lstrip("/")) as source:
        while chunk := source.read(1 << 20):
            block = tail + chunk
            found.extend(m.decode() for m in _MERGE.findall(block))
            tail = block[-200:]
            # a match inside the carried tail would be counted twice: drop duplicates below
    return list(dict.fromkeys(found))


def _ref_row(ref: str) -> int:
    return int(re.sub(r"[A-Z]", "", ref.split(":")[0]))


_is_blank = tidy.is_blank


def read_roster(
    path: Path, *, max_bytes: int, max_rows: int, progress: Callable[[int], None] | None = None
) -> ParsedRoster:
    """Read and check a roster file from disk (size checked before a byte is parsed)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise RosterTooLarge(
            "file: too large",
            [RosterError(path="file", reason=f"{size} bytes, over the limit of {max_bytes} bytes")],
        )
    return read_roster_bytes(path.read_bytes(), path.name, max_bytes=max_bytes, max_rows=max_rows, progress=progress)


def read_roster_bytes(
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    max_rows: int,
    progress: Callable[[int], None] | None = None,
) -> ParsedRoster:
    """Read and check a roster given as bytes; XLSX is told by its content, else CSV.

    ``progress`` is called with the number of rows read since the last call.
    """
    if len(data) > max_bytes:
        raise RosterTooLarge(
            "file: too large",
            [RosterError(path="file", reason=f"{len(data)} bytes, over the limit of {max_bytes} bytes")],
        )
    with paused_gc():
        if data.startswith(b"PK\x03\x04"):
            sheet = _xlsx_sheet(data, max_bytes)
            return _check_rows(iter(sheet.rows), max_rows, progress, sheet)
        if filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
            raise _file_error("not a readable XLSX file (save it as .xlsx or .csv)")
        return _check_rows(_csv_rows(data), max_rows, progress)


def _headers(raw: list[Any], at: int) -> tuple[dict[int, str], dict[str, str]]:
    """Column index → key, and key → header as written. Unknown, duplicate, missing: refused."""
    problems: list[RosterError] = []
    index: dict[int, str] = {}
    written: dict[str, str] = {}
    for i, cell in enumerate(raw):
        if _is_blank(cell):
            continue
        title = str(cell).strip()
        key = _HEADERS.get(_header_key(title))
        letter = _column_letter(i)
        if key is None:
            problems.append(
                RosterError(
                    path=f"row {at} / {title}",
                    reason=f"unknown column (column {letter}); see docs/roster.md for the headers",
                    row=at,
                    column=title,
                )
            )
        elif key in written:
            problems.append(
                RosterError(
                    path=f"row {at} / {title}",
                    reason=f"column given twice (column {letter}, also '{written[key]}')",
                    row=at,
                    column=title,
                )
            )
        else:
            index[i] = key
            written[key] = title
    for column in COLUMNS:
        if column.required and column.key not in written:
            problems.append(
                RosterError(
                    path=f"row {at} / {column.zh}",
                    reason=f"required column missing ({column.zh} or {column.key})",
                    row=at,
                    column=column.zh,
                )
            )
    if problems:
        raise RosterFileError(f"{len(problems)} problem(s) with the columns", problems)
    return index, written


class _Blank:
    """An empty cell."""


class _Err:
    """A cell that failed its check: the reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_BLANK = _Blank()
_SKIP = (_Blank, _Err)


def _parse_cell(column: RosterColumn, cell: Any) -> Any:
    if isinstance(cell, str) and cell.startswith("="):  # an XLSX formula, or one typed into a CSV
        return _Err("formula cells are refused: paste the values instead")
    if _is_blank(cell):
        return _BLANK
    try:
        return column.parse(cell)
    except _Bad as exc:
        return _Err(str(exc))


def _parse_column(column: RosterColumn, cells: Sequence[Any]) -> tuple[list[Any], bool, set[Any]]:
    """Each distinct cell value is parsed once; the column maps through that table (C speed).

    Also says whether any cell needs a report (a bad value, or a blank one in a required column),
    and which distinct values had full-width characters normalised (NFKC) before parsing.
    """
    distinct = set(cells)
    if column.key in tidy.FREE_TEXT:
        table = {cell: _parse_cell(column, cell) for cell in distinct}
        changed: set[Any] = set()
    else:
        table = {cell: _parse_cell(column, tidy.nfkc(cell)) for cell in distinct}
        changed = {cell for cell in distinct if tidy.nfkc(cell) != cell}
    required = column.required and (column.scope != "household" or column.key == "head_id_number")
    suspect = any(v.__class__ is _Err or (required and v is _BLANK) for v in table.values())
    return list(map(table.__getitem__, cells)), suspect, changed


def _data_rows(
    rows: Iterator[list[Any]], max_rows: int, progress: Callable[[int], None] | None
) -> tuple[list[Any], int, list[list[Any]], list[int], list[RosterNote]]:
    """The header, its row number, the non-empty data rows with their spreadsheet row numbers,
    and notes for the title rows skipped above the header (found among the first rows)."""
    lead = list(itertools.islice(rows, tidy.HEADER_SEARCH_ROWS))
    found = tidy.find_header(lead, lambda text: _HEADERS.get(_header_key(text)))
    if found is None:
        if not lead or all(_is_blank(c) for c in lead[0]):
            raise _file_error("no header row in the first rows (the file is empty or starts with empty rows)")
        found = (0, [])
    at, notes = found
    header = lead[at]
    rows = itertools.chain(lead[at + 1 :], rows)
    data: list[list[Any]] = []
    numbers: list[int] = []
    row_number = at + 1
    for raw in rows:
        row_number += 1
        if row_number % 5000 == 0 and progress:
            progress(5000)
        for cell in raw:
            if cell is not None and (cell.__class__ is not str or cell.strip()):
                break
        else:
            continue
        data.append(raw)
        numbers.append(row_number)
        if len(data) > max_rows:
            raise RosterTooLarge(
                "file: too many rows",
                [RosterError(path=f"row {row_number}", reason=f"more than {max_rows} rows", row=row_number)],
            )
    if progress:
        progress(row_number % 5000)
    if not data:
        raise _file_error("no data rows below the header")
    return header, at + 1, data, numbers, notes


def _check_rows(
    rows: Iterator[list[Any]], max_rows: int, progress: Callable[[int], None] | None, sheet: _Sheet | None = None
) -> ParsedRoster:
    header, header_row, data, numbers, notes = _data_rows(rows, max_rows, progress)
    index, written = _headers(header, header_row)
    notes += _tidy_rows(data, numbers, header_row, index, written, sheet)
    roster = ParsedRoster({}, [], set(), set(), len(data), frozenset(written), written, notes=notes)
    width = len(header)
    for j, raw in enumerate(data):
        if len(raw) < width:
            data[j] = raw = [*raw, *([None] * (width - len(raw)))]
        elif len(raw) > width and any(not _is_blank(c) for c in raw[width:]):
            roster.error(numbers[j], None, f"a value right of the last column ({_column_letter(width)} or beyond)")
    cells = list(zip(*data, strict=False))
    parsed: dict[str, list[Any]] = {}
    suspects: list[str] = []
    for i, key in index.items():
        parsed[key], suspect, changed = _parse_column(_BY_KEY[key], cells[i])
        if suspect:
            suspects.append(key)
        if changed:
            where = [numbers[j] for j, cell in enumerate(cells[i]) if cell in changed]
            shown = ", ".join(map(str, where[:10])) + (" …" if len(where) > 10 else "")
            roster.notes.append(
                RosterNote(
                    path=f"{written[key]}",
                    action="normalised",
                    detail=f"full-width characters made ASCII in {len(where)} cell(s): rows {shown}",
                )
            )
    heads = parsed["head_id_number"]
    ids = parsed["id_number"]
    problems: list[tuple[int, str, str]] = []
    for key in suspects:
        column = _BY_KEY[key]
        required = column.required and (column.scope != "household" or key == "head_id_number")
        for j, value in enumerate(parsed[key]):
            if value.__class__ is _Err:
                problems.append((j, key, value.reason))
            elif required and value is _BLANK:
                problems.append((j, key, "required"))
    for j, key, reason in problems:
        head = heads[j]
        roster.error(numbers[j], key, reason, head if head.__class__ is str else None)
    _build_households(roster, parsed, numbers)
    for household in roster.households.values():
        _check_household(roster, household)
    _check_household_columns(roster, parsed, numbers)
    del ids
    return roster


_HOUSEHOLD_KEYS = frozenset(c.key for c in COLUMNS if c.scope == "household")
_AMOUNT_KEYS = frozenset(c.key for c in COLUMNS if c.parse is _fen)


def _tidy_rows(
    data: list[list[Any]],
    numbers: list[int],
    header_row: int,
    index: dict[int, str],
    written: dict[str, str],
    sheet: _Sheet | None,
) -> list[RosterNote]:
    """Merged household cells filled down and a totals row checked and dropped (in place);
    a merge that cannot be filled or a totals row that does not add up refuses the file."""
    merges = [tidy.parse_merge(ref) for ref in sheet.merges] if sheet else []
    fills, notes, refused = tidy.split_merges(merges, header_row, index, _HOUSEHOLD_KEYS)
    if refused:
        raise RosterFileError(f"{len(refused)} merged cell range(s)", refused[:100])
    key_index = next((i for i, key in index.items() if key == "head_id_number"), None)
    if data and tidy.totals_row(data[-1], key_index):
        totals, row = data.pop(), numbers.pop()
        amounts = {i: key for i, key in index.items() if key in _AMOUNT_KEYS}
        saved = (lambda column: sheet.saved_value(row, column)) if sheet else None
        totals_notes, wrong = tidy.check_totals(totals, row, data, amounts, _fen, written, saved)
        if wrong:
            raise RosterFileError(f"{len(wrong)} total(s) in the totals row do not add up", wrong)
        if not data:
            raise _file_error("no data rows below the header")
        notes += totals_notes
    tidy.fill_merges(data, numbers, fills)
    return notes


def _build_households(roster: ParsedRoster, parsed: dict[str, list[Any]], numbers: list[int]) -> None:
    heads = parsed["head_id_number"]
    ids = parsed["id_number"]
    member_columns = [(key, parsed[key]) for key in MEMBER_FIELDS if key in parsed]
    household_columns = [(key, parsed[key]) for key in HOUSEHOLD_FIELDS if key in parsed]
    incomes = {key[7:]: values for key, values in parsed.items() if key.startswith("income_")}
    seen: dict[str, int] = {}
    households = roster.households
    by_index: dict[int, RosterMember] = {}
    for j, head in enumerate(heads):
        if head.__class__ is not str:
            continue
        row = numbers[j]
        household = households.get(head)
        if household is None:
            household = households[head] = RosterHousehold(head)
        household.rows.append(row)
        id_number = ids[j]
        if id_number.__class__ is not str:
            roster.invalid.add(head)
            continue
        if (first := seen.get(id_number)) is not None:
            roster.error(row, "id_number", f"this person is already listed on row {first}", head)
            continue
        seen[id_number] = row
        fields = {key: value for key, values in member_columns if (value := values[j]).__class__ not in _SKIP}
        if "sex" in fields or "birth_date" in fields:
            _check_against_id(roster, row, id_number, fields, head)
        else:
            fields["sex"] = "male" if int(id_number[16]) % 2 else "female"
            fields["birth_date"] = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
        member = RosterMember(row, id_number, fields, {}, {})
        by_index[j] = member
        household.members.append(member)
        if id_number == head:
            household.head_row = row
            household.fields = {
                key: value for key, values in household_columns if (value := values[j]).__class__ not in _SKIP
            }
        elif fields.get("relation") == "head":
            roster.error(row, "relation", "户主/head, but the ID differs from 户主身份证号", head)
    for kind, values in incomes.items():
        for j, value in enumerate(values):
            if value and value.__class__ is int and j in by_index:
                by_index[j].incomes[kind] = value


def _check_household_columns(roster: ParsedRoster, parsed: dict[str, list[Any]], numbers: list[int]) -> None:
    """Household columns on a member's row must be empty or repeat the head's row."""
    heads = parsed["head_id_number"]
    head_rows = {h.head_id_number: h.head_row for h in roster.households.values() if h.head_row is not None}
    head_indexes = {j for j, (head, row) in enumerate(zip(heads, numbers, strict=True)) if head_rows.get(head) == row}
    for key in HOUSEHOLD_FIELDS:
        if key not in parsed:
            continue
        values = parsed[key]
        filled = [j for j, value in enumerate(values) if value is not _BLANK and j not in head_indexes]
        for j in filled:
            value = values[j]
            head = heads[j]
            if value.__class__ is _Err or head.__class__ is not str or head not in head_rows:
                continue
            if roster.households[head].fields.get(key, _BLANK) != value:
                roster.error(
                    numbers[j],
                    key,
                    f"differs from the head's row (row {head_rows[head]}): leave it empty or repeat it",
                    head,
                )


def _check_against_id(roster: ParsedRoster, row: int, id_number: str, fields: dict[str, Any], head: str) -> None:
    sex = "male" if int(id_number[16]) % 2 else "female"
    birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    if fields.setdefault("sex", sex) != sex:
        roster.error(row, "sex", f"does not agree with the resident ID (digit 17 says {sex})", head)
    if fields.setdefault("birth_date", birth) != birth:
        roster.error(row, "birth_date", f"does not agree with the resident ID ({birth.isoformat()})", head)


def _check_household(roster: ParsedRoster, household: RosterHousehold) -> None:
    """One head row whose relation is head, with the household's required columns; at most 30 people."""
    head = household.head_id_number
    if household.head_row is None:
        if not any((row, "id_number") in roster.error_cells for row in household.rows):
            roster.error(
                household.rows[0],
                "head_id_number",
                "no row for the head: the person with this resident ID must be listed, relation 户主",
                head,
            )
        return
    head_member = next(m for m in household.members if m.row == household.head_row)
    if head_member.fields.get("relation", "head") != "head":
        roster.error(household.head_row, "relation", "the head's own row must say 户主/head", head)
    for key in _REQUIRED_ON_HEAD_ROW:
        if key not in household.fields and (household.head_row, key) not in roster.error_cells:
            roster.error(household.head_row, key, "required on the head's row", head)
    if len(household.members) > MAX_MEMBERS:
        roster.error(household.rows[0], "head_id_number", f"more than {MAX_MEMBERS} members", head)
