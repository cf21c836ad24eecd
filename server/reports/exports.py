"""The report as XLSX and as one printable HTML page of simple inline SVG charts (no scripts,
no external files: it prints as it looks)."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

from schemas.reports import ReportRead, ReportRow
from server.decisions.policy import format_yuan
from server.reports.services import FIELDS

__all__ = ["report_html", "report_xlsx"]

_LABELS = {
    "households": "households on the allowance (户)",
    "people": "people (人)",
    "keep": "keep (维持)",
    "adjust": "adjust (调整)",
    "cancel": "cancel (停发)",
    "phase_out": "phase out (渐退)",
    "rostered": "rostered, yuan (应发)",
    "paid": "paid, yuan (实发)",
    "failed": "failed, yuan (失败)",
    "complaints_received": "complaints received (受理举报)",
    "complaints_resolved": "complaints resolved (办结)",
    "rechecks_planned": "rechecks planned (计划复核)",
    "rechecks_done": "rechecks done (完成复核)",
}
_MONEY = frozenset({"rostered", "paid", "failed"})
_COLOURS = ("#3b6ea5", "#e08a2e", "#5b9c4f", "#b5443c")


def report_xlsx(report: ReportRead) -> bytes:
    """One sheet: a row per area and the totals; money in yuan (two decimals)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "report"
    sheet.append([f"recheck report {report.period} ({report.starts_on} – {report.ends_on}), {report.area_name}"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(["area_code", "area_name", *(_LABELS[f] for f in FIELDS)])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for r in [*report.rows, report.totals]:
        values = [getattr(r, f) / 100 if f in _MONEY else getattr(r, f) for f in FIELDS]
        sheet.append([r.area_code, r.area_name, *values])
    for row in sheet.iter_rows(min_row=3):
        for cell, field in zip(row[2:], FIELDS, strict=True):
            if field in _MONEY:
                cell.number_format = "#,##0.00"
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.column_dimensions["B"].width = 22
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _bars(title: str, rows: Sequence[ReportRow], series: Sequence[tuple[str, str]], money: bool = False) -> str:
    """A grouped horizontal bar chart: one group per area, one bar per series."""
    label_w, chart_w, bar_h, gap = 150, 420, 10, 8
    group_h = bar_h * len(series) + gap
    legend_h = 22
    height = legend_h + max(1, len(rows)) * group_h + 10
    top = max([1, *(getattr(r, name) for r in rows for name, _ in series)])
    parts = [
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 90}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">'
    ]
    for i, (_name, label) in enumerate(series):
        x = label_w + i * 140
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{_COLOURS[i % 4]}"/>')
        parts.append(f'<text x="{x + 14}" y="13" font-size="10">{html.escape(label)}</text>')
    for j, r in enumerate(rows):
        y0 = legend_h + j * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2}" font-size="10" text-anchor="end">'
            f"{html.escape(r.area_code)}</text>"
        )
        for i, (name, _label) in enumerate(series):
            value = getattr(r, name)
            width = round(chart_w * value / top, 1)
            y = y0 + i * bar_h
            text = format_yuan(value) if money else str(value)
            parts.append(f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar_h - 1}" fill="{_COLOURS[i % 4]}"/>')
            parts.append(f'<text x="{label_w + width + 4}" y="{y + bar_h - 2}" font-size="9">{text}</text>')
    if not rows:
        parts.append(f'<text x="{label_w}" y="{legend_h + 12}" font-size="10">no data</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


def report_html(report: ReportRead) -> str:
    """One A4 page an office head prints: key figures, four charts, the table."""
    t = report.totals
    rows = report.rows
    done = f"{t.rechecks_done}/{t.rechecks_planned}" if t.rechecks_planned else "0/0"
    cards = [
        ("households / people", f"{t.households} / {t.people}"),
        ("paid (yuan)", format_yuan(t.paid)),
        ("keep · adjust · cancel · phase out", f"{t.keep} · {t.adjust} · {t.cancel} · {t.phase_out}"),
        ("complaints received / resolved", f"{t.complaints_received} / {t.complaints_resolved}"),
        ("rechecks done / planned", done),
    ]
    table_head = "".join(f"<th>{html.escape(_LABELS[f])}</th>" for f in FIELDS)
    table_rows = "".join(
        "<tr><td>"
        + html.escape(r.area_code)
        + "</td>"
        + "".join(f"<td>{format_yuan(getattr(r, f)) if f in _MONEY else getattr(r, f)}</td>" for f in FIELDS)
        + "</tr>"
        for r in [*rows, t]
    )
    charts = [
        _bars("Money rostered and paid per area (yuan)", rows, [("rostered", "rostered"), ("paid", "paid")], True),
        _bars(
            "Decisions approved per area",
            rows,
            [("keep", "keep"), ("adjust", "adjust"), ("cancel", "cancel"), ("phase_out", "phase out")],
        ),
        _bars("Rechecks done against the plan", rows, [("rechecks_planned", "planned"), ("rechecks_done", "done")]),
        _bars("Complaints", rows, [("complaints_received", "received"), ("complaints_resolved", "resolved")]),
    ]
    title = f"低保复核报告 recheck report {report.period} — {report.area_name}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; font-size: 11px; color: #222; }}
h1 {{ font-size: 16px; margin: 0 0 4px; }}
.sub {{ color: #555; margin-bottom: 8px; }}
.cards {{ display: flex; gap: 8px; margin-bottom: 8px; }}
.card {{ border: 1px solid #ccc; padding: 4px 8px; flex: 1; }}
.card b {{ display: block; font-size: 14px; }}
.charts {{ display: grid; grid-template-columns: 1fr 1fr; gap: 4px; }}
figure {{ margin: 0; }} figcaption {{ font-weight: bold; margin: 4px 0; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 8px; font-size: 9px; }}
th, td {{ border: 1px solid #bbb; padding: 2px 4px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr:last-child td {{ font-weight: bold; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="sub">{report.starts_on} – {report.ends_on} · generated {report.generated_at:%Y-%m-%d %H:%M} UTC</div>
<div class="cards">{"".join(f'<div class="card">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in cards)}</div>
<div class="charts">{"".join(charts)}</div>
<table><thead><tr><th>area</th>{table_head}</tr></thead><tbody>{table_rows}</tbody></table>
</body></html>
"""
