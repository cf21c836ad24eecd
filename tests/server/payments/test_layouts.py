"""Bank file layouts as data: each shipped layout round-trips a month with Chinese names through
a live server (export, the bank's return file in the same layout, applied); bad layouts and a
return file in the wrong layout are refused with the place named, nothing changed."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from server.payments.layouts import BankLayout, LayoutError, find_layout, layouts, load_layout
from tests.server.decisions.helpers import create_household, ok
from tests.server.payments.test_roster import _month
from tests.support import LiveServer

SHIPPED = ("generic-csv", "generic-xlsx", "daifa-gbk-txt", "daifa-xlsx")
NAMES = ("张三丰", "李四", "欧阳娜娜", "王五")


def _exported_lines(layout: BankLayout, content: bytes) -> list[dict[str, str]]:
    """The bank's side: the file's data lines, by field (as a bank reads the file it was sent)."""
    if layout.format == "xlsx":
        rows = [
            ["" if v is None else str(v) for v in r] for r in load_workbook(io.BytesIO(content)).worksheets[0].values
        ]
    else:
        text = content.decode(layout.encoding)
        rows = list(csv.reader(io.StringIO(text), delimiter=layout.delimiter))
    skip = len(layout.header) + (1 if layout.column_titles else 0)
    body = rows[skip : len(rows) - len(layout.trailer)]
    return [{c.field or c.title: cells[i] for i, c in enumerate(layout.columns)} for cells in body]


def _bank_return(layout: BankLayout, sent: list[dict[str, str]], failed_seq: str) -> bytes:
    """The return file a bank sends in the same layout: each line with its result and reason."""
    lines = []
    for line in sent:
        failed = line["seq"] == failed_seq
        values = {
            **line,
            "status": layout.failed[0] if failed else layout.paid[0],
            "reason": "账户已冻结" if failed else "",
        }
        lines.append([values.get(c.field or "", "") if c.field != "ignore" else "-" for c in layout.return_columns])
    total = sum(layout.parse_amount(line["amount"]) or 0 for line in sent)
    summary = {
        "count": str(len(sent)),
        "total": layout.format_amount(total),
        "month": "",
        "yyyymm": "",
        "date": "20270101",
    }
    header = [[cell.format(**summary) for cell in row] for row in layout.header]
    trailer = [[cell.format(**summary) for cell in row] for row in layout.trailer]
    titles = [[c.title for c in layout.return_columns]] if layout.column_titles else []
    rows = [*header, *titles, *lines, *trailer]
    if layout.format == "xlsx":
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    text = io.StringIO()
    csv.writer(text, delimiter=layout.delimiter, lineterminator=layout.line_end).writerows(rows)
    return text.getvalue().encode(layout.encoding)


def test_shipped_layouts_load_and_are_listed(live: LiveServer) -> None:
    found, broken = layouts()
    assert broken == []
    assert set(SHIPPED) <= set(found)
    with live.as_user("approver") as c:
        listed = ok(c.get("/payments/layouts/"))
    assert {x["name"] for x in listed} >= set(SHIPPED)
    assert next(x for x in listed if x["name"] == "daifa-gbk-txt")["encoding"] == "gbk"


@pytest.mark.parametrize(("offset", "name"), list(enumerate(SHIPPED, start=1)))
def test_each_layout_round_trips_a_month_with_chinese_names(live: LiveServer, offset: int, name: str) -> None:
    layout = find_layout(name)
    amounts = (56000, 78033, 18050, 123456)
    for head, amount in zip(NAMES, amounts, strict=True):
        create_household(live, "T1-b", benefit_amount=amount, head=head)
    month = _month(offset)
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/close"))
        export = c.get(f"/payments/months/{month}/export", params={"layout": name})
        assert export.status_code == 200, export.text
        sent = _exported_lines(layout, export.content)
        assert sorted(line["payee_name"] for line in sent) == sorted(NAMES)
        assert "filename*=UTF-8''" in export.headers["content-disposition"]
        if layout.format == "csv":
            export.content.decode(layout.encoding)  # really in the layout's encoding
            assert (export.content.startswith(b"\xef\xbb\xbf")) == (layout.encoding == "utf-8-sig")
        failed_seq = sent[1]["seq"]
        body = _bank_return(layout, sent, failed_seq)
        result = ok(c.post(f"/payments/months/{month}/returns", params={"layout": name}, content=body))
        failures = ok(c.get(f"/payments/months/{month}/failures"))
        summary = ok(c.get(f"/payments/months/{month}"))
    assert (result["lines"], result["paid"], result["failed"]) == (4, 3, 1)
    assert [f["failure_reason"] for f in failures] == ["账户已冻结"]
    assert str(failures[0]["seq"]) == failed_seq
    assert summary["paid_total"] + summary["failed_total"] == summary["total"] == sum(amounts)


def test_a_return_file_in_the_wrong_layout_changes_nothing(live: LiveServer) -> None:
    for head in NAMES[:2]:
        create_household(live, "T1-b", benefit_amount=50000, head=head)
    month = _month()
    gbk = find_layout("daifa-gbk-txt")
    with live.as_user("approver") as c:
        ok(c.post(f"/payments/months/{month}/close"))
        sent = _exported_lines(gbk, c.get(f"/payments/months/{month}/export", params={"layout": gbk.name}).content)
        body = _bank_return(gbk, sent, sent[0]["seq"])
        as_generic = c.post(f"/payments/months/{month}/returns", params={"layout": "generic-csv"}, content=body)
        as_xlsx = c.post(f"/payments/months/{month}/returns", params={"layout": "daifa-xlsx"}, content=body)
        workbook = _bank_return(find_layout("daifa-xlsx"), sent, sent[0]["seq"])
        other_xlsx = c.post(f"/payments/months/{month}/returns", params={"layout": "generic-xlsx"}, content=workbook)
        unknown = c.post(f"/payments/months/{month}/returns", params={"layout": "nope"}, content=body)
        wrong_total = c.post(
            f"/payments/months/{month}/returns",
            params={"layout": gbk.name},
            content=body.replace(b"1000.00", b"999.00"),
        )
        after = ok(c.get(f"/payments/months/{month}"))
    assert as_generic.status_code == 422
    assert "not utf-8-sig text" in as_generic.json()["errors"][0]["reason"]
    assert other_xlsx.status_code == 422
    assert "not a Generic XLSX return file: no line of titles" in other_xlsx.json()["errors"][0]["reason"]
    assert as_xlsx.status_code == 422
    assert as_xlsx.json()["errors"][0]["path"] == "file"
    assert (unknown.status_code, unknown.json()["errors"][0]["path"]) == (404, "layout")
    assert wrong_total.status_code == 422
    assert any("does not equal the sum" in e["reason"] for e in wrong_total.json()["errors"])
    assert after["pending_count"] == 2
    assert after.get("paid_count", 0) == 0


def test_bad_layout_files_name_the_key(tmp_path: Path) -> None:
    good = (find_layout("generic-csv").name, Path("server/payments/bank_layouts/generic-csv.toml").read_text())
    text = good[1].replace('name = "generic-csv"', 'name = "my-bank"')
    (tmp_path / "mine.toml").write_text(
        text.replace('{ title = "month", field = "month" }', '{ title = "月份", field = "monthh" }')
    )
    (tmp_path / "enc.toml").write_text(
        text.replace('encoding = "utf-8-sig"', 'encoding = "klingon"').replace("my-bank", "b2")
    )
    (tmp_path / "extra.toml").write_text("colour = 'red'\n" + text.replace("my-bank", "b3"))
    found, broken = layouts(tmp_path)
    assert "generic-csv" in found, "a broken admin file never hides the shipped layouts"
    problems = {p.path: p.reason for e in broken for p in e.errors}
    assert "unknown column field" in problems["mine.toml / columns[2] / monthh"]
    assert problems["enc.toml / encoding"] == "unknown encoding 'klingon'"
    assert problems["extra.toml / colour"] == "unknown key"
    with pytest.raises(LayoutError):
        find_layout("my-bank", tmp_path)


def test_an_admins_layout_is_a_file_in_the_folder(tmp_path: Path) -> None:
    text = Path("server/payments/bank_layouts/daifa-gbk-txt.toml").read_text(encoding="utf-8")
    (tmp_path / "county-bank.toml").write_text(
        text.replace('name = "daifa-gbk-txt"', 'name = "county-bank"').replace('amount = "yuan"', 'amount = "fen"'),
        encoding="utf-8",
    )
    layout = load_layout(tmp_path / "county-bank.toml")
    assert find_layout("county-bank", tmp_path) == layout
    line = (1, "2026-12", "H1", "张三", "520111197001020011", "农村信用社", "6217000000000001", 78050, "T1-a", "村")
    content = layout.write("2026-12", [line], dt.date(2026, 12, 3))
    assert content.decode("gbk").splitlines() == [
        "1|78050|20261203|低保金",
        "1|6217000000000001|张三|78050|520111197001020011|低保金",
    ]
    assert layout.file_name_for("2026-12", dt.date(2026, 12, 3)) == "DF202612_20261203.txt"
