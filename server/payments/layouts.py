"""Bank file layouts as data: how a bank wants the month's payment file, and how it sends it back.

Every bank's salary-agency (代发) service asks for its own file: its columns, a summary line above
or below (总笔数, 总金额), GBK or UTF-8, amounts in yuan or fen, a file name with the date. A layout
is a small TOML file saying all that, so an admin adds a bank by dropping a file into the folder
``RECHECK_BANK_LAYOUTS`` names — no code. The same layout reads the bank's return file (the
lines echoed with a result and a reason), so what was sent and what comes back are checked
against each other. The shipped layouts are in ``server/payments/bank_layouts/``; the fields and
the format are in docs/payments.md.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import FieldError
from server.errors import InvalidInput, NotFound
from server.payments.xlsx import write_xlsx

__all__ = [
    "BUILT_IN",
    "EXPORT_FIELDS",
    "RETURN_FIELDS",
    "BankLayout",
    "LayoutError",
    "ReturnFile",
    "ReturnLine",
    "find_layout",
    "layouts",
    "load_layout",
    "parse_amount",
    "yuan_text",
]

#: The shipped layouts (one ``<name>.toml`` each).
BUILT_IN = Path(__file__).with_name("bank_layouts")

#: What a bank-file column can carry: a roster line's values (``amount`` in the layout's unit).
EXPORT_FIELDS = (
    "seq",
    "month",
    "household_code",
    "payee_name",
    "payee_id_number",
    "bank_name",
    "bank_account",
    "amount",
    "area_code",
    "area_name",
    "amount_fen",
)
#: What a return-file column can carry; ``ignore`` is read and not checked (a name, a memo).
RETURN_FIELDS = ("seq", "household_code", "bank_account", "amount", "status", "reason", "ignore")

_KEYS = {
    "name",
    "title",
    "format",
    "encoding",
    "delimiter",
    "line_end",
    "file_name",
    "amount",
    "date_format",
    "header",
    "column_titles",
    "columns",
    "trailer",
    "area_sheet",
    "return",
}
_RETURN_KEYS = {"columns", "paid", "failed"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_PLACEHOLDERS = {"count", "total", "month", "yyyymm", "date"}


_AMOUNT = re.compile(r"^(\d{1,12})(?:\.(\d{1,2}))?$")


def parse_amount(text: str) -> int | None:
    """Yuan with at most two decimals (``780``, ``780.5``, ``780.00``) as exact fen, or ``None``."""
    match = _AMOUNT.match(text.strip())
    if not match:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def yuan_text(fen: int) -> str:
    """Fen as a bank file writes yuan: two decimals, no separators (``78050`` → ``780.50``)."""
    return f"{fen // 100}.{fen % 100:02d}"


class LayoutError(InvalidInput):
    """A layout file that cannot be used: ``errors`` name the file and the key."""

    code = "bad_layout"


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its title in the file, and the field it carries or a constant ``value``."""

    title: str
    field: str | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One line of a return file: its line (or row) number and the value of each field."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class ReturnFile:
    """A return file read with a layout: its lines, and the count and total its summary gives
    (``None`` when the summary line is missing)."""

    lines: list[ReturnLine]
    count: str | None
    total: int | None
    summary_at: str


@dataclass(frozen=True)
class BankLayout:
    """One bank's file layout (see the module docstring and docs/payments.md)."""

    name: str
    title: str
    format: str
    encoding: str
    delimiter: str
    line_end: str
    file_name: str
    amount: str
    date_format: str
    header: tuple[tuple[str, ...], ...]
    column_titles: bool
    columns: tuple[Column, ...]
    trailer: tuple[tuple[str, ...], ...]
    area_sheet: bool
    return_columns: tuple[Column, ...]
    paid: tuple[str, ...]
    failed: tuple[str, ...]

    # ------------------------------------------------------------ writing

    def file_name_for(self, month: str, today: dt.date) -> str:
        return self.file_name.format(**self._values(month, today, 0, 0))

    def write(self, month: str, lines: Sequence[tuple[Any, ...]], today: dt.date) -> bytes:
        """The bank file for a month's roster lines (``export_rows`` order; amount in fen)."""
        total = sum(line[7] for line in lines)
        values = self._values(month, today, len(lines), total)
        header = [[cell.format(**values) for cell in row] for row in self.header]
        trailer = [[cell.format(**values) for cell in row] for row in self.trailer]
        titles = [[c.title for c in self.columns]] if self.column_titles else []
        if self.format == "xlsx":
            return self._write_xlsx(month, header, titles, lines, trailer, total)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator=self.line_end)
        writer.writerows([*header, *titles])
        writer.writerows([self._cell(c, line) for c in self.columns] for line in lines)
        writer.writerows(trailer)
        return out.getvalue().encode(self.encoding)

    def _values(self, month: str, today: dt.date, count: int, total: int) -> dict[str, str]:
        return {
            "count": str(count),
            "total": self.format_amount(total),
            "month": month,
            "yyyymm": month.replace("-", ""),
            "date": today.strftime(self.date_format),
        }

    def format_amount(self, fen: int) -> str:
        return str(fen) if self.amount == "fen" else yuan_text(fen)

    def _cell(self, column: Column, line: tuple[Any, ...]) -> Any:
        if column.field is None:
            return column.value or ""
        if column.field == "amount":
            return self.format_amount(line[7])
        if column.field == "amount_fen":
            return line[7]
        value = line[EXPORT_FIELDS.index(column.field)]
        return "" if value is None else value

    def _write_xlsx(
        self,
        month: str,
        header: list[list[str]],
        titles: list[list[str]],
        lines: Sequence[tuple[Any, ...]],
        trailer: list[list[str]],
        total: int,
    ) -> bytes:
        # amounts in yuan are numbers shown with two decimals; everything else is text as written
        yuan = frozenset(i for i, c in enumerate(self.columns) if c.field == "amount" and self.amount == "yuan")

        def cell(column: Column, index: int, line: tuple[Any, ...]) -> Any:
            return line[7] / 100 if index in yuan else self._cell(column, line)

        top, *rest = [*header, *titles] or [[]]
        rows = [*rest, *([cell(c, i, line) for i, c in enumerate(self.columns)] for line in lines), *trailer]
        sheets = [("roster", top, rows, yuan)]
        if self.area_sheet:
            sheets.append(_area_sheet(month, lines, total))
        return write_xlsx(sheets)

    # ------------------------------------------------------------ reading the return file

    def read_return(self, content: bytes) -> ReturnFile:
        """The bank's return file, read with this layout: the column titles found (or the header's
        rows skipped), each line's fields, and the summary's count and total. A file in another
        layout is refused here, naming what did not match."""
        rows = list(self._return_rows(content))
        start = 0
        if self.column_titles:
            titles = [_norm(c.title) for c in self.return_columns]
            found = next(
                (k for k, (_n, cells) in enumerate(rows) if [_norm(c) for c in cells[: len(titles)]] == titles), None
            )
            if found is None:
                expected = self.delimiter.join(c.title for c in self.return_columns)
                raise InvalidInput.field("line 1", f"not a {self.title} return file: no line of titles {expected}")
            start = found + 1
        else:
            start = len(self.header)
        head_rows, body = rows[:start], rows[start:]
        trailer_rows: list[tuple[int, list[str]]] = []
        if self.trailer and len(body) >= len(self.trailer):
            candidate = body[-len(self.trailer) :]
            if all(_match(t, cells) is not None for t, (_n, cells) in zip(self.trailer, candidate, strict=True)):
                trailer_rows, body = candidate, body[: -len(self.trailer)]
        summary: dict[str, str] = {}
        for template, (_n, cells) in [
            *zip(self.header, head_rows, strict=False),
            *zip(self.trailer, trailer_rows, strict=False),
        ]:
            summary |= _match(template, cells) or {}
        total = summary.get("total")
        lines = [
            ReturnLine(
                number,
                {c.field or "ignore": cells[i] if i < len(cells) else "" for i, c in enumerate(self.return_columns)},
            )
            for number, cells in body
        ]
        where = "the header" if any("{count}" in c for row in self.header for c in row) else "the trailer"
        return ReturnFile(lines, summary.get("count"), self.parse_amount(total) if total is not None else None, where)

    def parse_amount(self, text: str) -> int | None:
        """An amount as this layout writes it, as exact fen (``None`` when it is not one)."""
        text = text.strip().replace(",", "")
        if self.amount == "fen":
            return int(text) if text.isdigit() else None
        return parse_amount(text)

    def status_of(self, text: str) -> str | None:
        """``paid`` / ``failed`` for the bank's word for it, else ``None``."""
        word = _norm(text)
        if word in (_norm(w) for w in self.paid):
            return "paid"
        if word in (_norm(w) for w in self.failed):
            return "failed"
        return None

    def _return_rows(self, content: bytes) -> Iterator[tuple[int, list[str]]]:
        if self.format == "xlsx":
            yield from _xlsx_rows(content)
            return
        try:
            text = content.decode("utf-8-sig" if self.encoding.startswith("utf") else self.encoding)
        except UnicodeDecodeError:
            raise InvalidInput.field("file", f"not {self.encoding} text: is it a {self.title} return file?") from None
        for number, cells in enumerate(csv.reader(io.StringIO(text), delimiter=self.delimiter), start=1):
            if cells and any(cell.strip() for cell in cells):
                yield number, [cell.strip() for cell in cells]


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidInput.field("file", "not a readable XLSX file") from None
    try:
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            cells = [_text(v) for v in values]
            if any(cells):
                yield number, cells
    finally:
        book.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}" if not value.is_integer() else str(int(value))
    return str(value).strip()


def _area_sheet(month: str, lines: Sequence[tuple[Any, ...]], total: int) -> Any:
    totals: dict[tuple[str, str], list[int]] = {}
    for line in lines:
        entry = totals.setdefault((line[8], line[9]), [0, 0])
        entry[0] += 1
        entry[1] += line[7]
    rows: list[tuple[Any, ...]] = [
        (code, name, count, amount / 100, amount) for (code, name), (count, amount) in sorted(totals.items())
    ]
    rows.append(("TOTAL", month, len(lines), total / 100, total))
    return ("areas", ["area_code", "area_name", "households", "amount", "amount_fen"], rows, frozenset({3}))


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _match(template: Sequence[str], cells: Sequence[str]) -> dict[str, str] | None:
    """The placeholders' values if ``cells`` fit the template row, else ``None``."""
    if len(cells) < len(template):
        return None
    found: dict[str, str] = {}
    for pattern, cell in zip(template, cells, strict=False):
        regex = "".join(
            f"(?P<{part}>[\\d.,]+)" if i % 2 and part in ("count", "total") else (".*?" if i % 2 else re.escape(part))
            for i, part in enumerate(_PLACEHOLDER.split(pattern))
        )
        match = re.fullmatch(regex, cell.strip())
        if match is None:
            return None
        found |= match.groupdict()
    return found


# ---------------------------------------------------------------- loading layout files


def load_layout(path: Path) -> BankLayout:
    """A layout from its TOML file; anything unknown or inconsistent is a :class:`LayoutError`."""
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError(f"{where}: not a readable TOML file", [FieldError(path=where, reason=str(exc))]) from None
    problems = [FieldError(path=f"{where} / {key}", reason="unknown key") for key in data if key not in _KEYS]
    back = data.get("return", {})
    problems += [
        FieldError(path=f"{where} / return.{key}", reason="unknown key") for key in back if key not in _RETURN_KEYS
    ]

    def want(key: str, default: Any, kinds: Any, allowed: Sequence[Any] | None = None) -> Any:
        value = data.get(key, default)
        if not isinstance(value, kinds) or (allowed is not None and value not in allowed):
            hint = f"one of {', '.join(map(str, allowed))}" if allowed else f"a {getattr(kinds, '__name__', 'value')}"
            problems.append(FieldError(path=f"{where} / {key}", reason=f"must be {hint}"))
            return default
        return value

    name = want("name", path.stem, str)
    fmt = want("format", "csv", str, ("csv", "xlsx"))
    encoding = want("encoding", "utf-8", str)
    try:
        codecs.lookup(encoding)
    except LookupError:
        problems.append(FieldError(path=f"{where} / encoding", reason=f"unknown encoding {encoding!r}"))
        encoding = "utf-8"
    columns = _columns(data.get("columns"), EXPORT_FIELDS, f"{where} / columns", problems)
    returns = _columns(back.get("columns"), RETURN_FIELDS, f"{where} / return.columns", problems)
    header = _rows(data.get("header", []), f"{where} / header", problems)
    trailer = _rows(data.get("trailer", []), f"{where} / trailer", problems)
    summary = " ".join(c for row in (*header, *trailer) for c in row)
    if "{count}" not in summary or "{total}" not in summary:
        problems.append(
            FieldError(path=f"{where} / trailer", reason="the header or trailer must give {count} and {total}")
        )
    if returns and "seq" not in {c.field for c in returns}:
        problems.append(FieldError(path=f"{where} / return.columns", reason="the return file needs the seq column"))
    if returns and not {"status", "amount", "bank_account"} <= {c.field for c in returns}:
        problems.append(FieldError(path=f"{where} / return.columns", reason="needs bank_account, amount and status"))
    layout = BankLayout(
        name=name,
        title=want("title", name, str),
        format=fmt,
        encoding=encoding,
        delimiter=want("delimiter", ",", str),
        line_end=want("line_end", "\r\n", str, ("\r\n", "\n")),
        file_name=want("file_name", f"roster-{{month}}.{fmt}", str),
        amount=want("amount", "yuan", str, ("yuan", "fen")),
        date_format=want("date_format", "%Y%m%d", str),
        header=header,
        column_titles=want("column_titles", True, bool),
        columns=columns,
        trailer=trailer,
        area_sheet=want("area_sheet", False, bool),
        return_columns=returns,
        paid=tuple(back.get("paid", ["paid"])),
        failed=tuple(back.get("failed", ["failed"])),
    )
    if len(layout.delimiter) != 1:
        problems.append(FieldError(path=f"{where} / delimiter", reason="one character"))
    for key, text in (("file_name", layout.file_name),):
        unknown = set(_PLACEHOLDER.findall(text)) - _PLACEHOLDERS
        if unknown:
            problems.append(FieldError(path=f"{where} / {key}", reason=f"unknown placeholder {sorted(unknown)}"))
    if problems:
        raise LayoutError(f"{where}: {len(problems)} problem(s) in the layout", problems)
    return layout


def _columns(raw: Any, fields: Sequence[str], where: str, problems: list[FieldError]) -> tuple[Column, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(FieldError(path=where, reason="a list of columns ([[columns]] title = …, field = …)"))
        return ()
    columns = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            problems.append(FieldError(path=f"{where}[{i}]", reason="needs a title"))
            continue
        if set(item) - {"title", "field", "value"}:
            problems.append(
                FieldError(
                    path=f"{where}[{i}]", reason=f"unknown key {sorted(set(item) - {'title', 'field', 'value'})}"
                )
            )
        field, value = item.get("field"), item.get("value")
        if (field is None) == (value is None):
            problems.append(FieldError(path=f"{where}[{i}]", reason="give either field or value"))
        elif field is not None and field not in fields:
            problems.append(
                FieldError(path=f"{where}[{i}] / {field}", reason=f"unknown column field; one of {', '.join(fields)}")
            )
        columns.append(Column(item["title"], field, None if value is None else str(value)))
    return tuple(columns)


def _rows(raw: Any, where: str, problems: list[FieldError]) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list) or not all(isinstance(r, list) for r in raw):
        problems.append(FieldError(path=where, reason="a list of rows, each a list of cells"))
        return ()
    rows = tuple(tuple(str(c) for c in row) for row in raw)
    for row in rows:
        unknown = {p for cell in row for p in _PLACEHOLDER.findall(cell)} - _PLACEHOLDERS
        if unknown:
            problems.append(FieldError(path=where, reason=f"unknown placeholder {sorted(unknown)}"))
    return rows


def layouts(folder: Path | None = None) -> tuple[dict[str, BankLayout], list[LayoutError]]:
    """The shipped layouts and the admin's own (``RECHECK_BANK_LAYOUTS``), by name, and the
    problems of the files that could not be loaded (a broken file never hides the others). An
    admin's layout of the same name replaces the shipped one."""
    found: dict[str, BankLayout] = {}
    broken: list[LayoutError] = []
    for directory in (BUILT_IN, folder):
        if directory is None or not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                layout = load_layout(path)
            except LayoutError as exc:
                broken.append(exc)
                continue
            found[layout.name] = layout
    return found, broken


def find_layout(name: str, folder: Path | None = None) -> BankLayout:
    """The layout called ``name``; a 404 naming ``layout`` and the known ones otherwise, or the
    broken files' problems when one of them may be the layout asked for."""
    known, broken = layouts(folder)
    if name in known:
        return known[name]
    if broken:
        raise broken[0]
    raise NotFound.field("layout", f"no bank layout {name!r}; known: {', '.join(sorted(known))}")
