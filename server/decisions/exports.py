"""The public notice list for the notice board, as PDF (CJK font embedded) and XLSX.

Only what DOMAIN.md allows on the board: masked name (张*), village, household size, monthly
amount and change. Rendering blocks, so controllers run these in a worker thread.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from schemas.decisions import NoticeRead
from server.decisions.policy import format_yuan

__all__ = ["CJK_FONT", "notice_pdf", "notice_xlsx"]

#: reportlab's built-in Adobe CID font for simplified Chinese (no font file to ship).
CJK_FONT = "STSong-Light"
_HEADERS = ("序号", "户主", "村（社区）", "家庭人数", "月保障金（元）", "变动")


def _register_font() -> None:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _title(notice: NoticeRead) -> str:
    return f"{notice.area_name}最低生活保障公示"


def _period(notice: NoticeRead) -> str:
    return (
        f"公示期：{notice.starts_on:%Y年%m月%d日}至{notice.ends_on:%Y年%m月%d日}（{notice.days}天）。"
        "如有异议，请在公示期内向乡镇（街道）或县民政部门反映。"
    )


def _rows(notice: NoticeRead) -> list[list[str]]:
    return [
        [str(i), e.name, e.village, str(e.household_size), format_yuan(e.monthly_amount), e.change]
        for i, e in enumerate(notice.entries, start=1)
    ]


def notice_pdf(notice: NoticeRead) -> bytes:
    """The notice list as an A4 PDF for printing."""
    _register_font()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=_title(notice),
    )
    title = ParagraphStyle("title", fontName=CJK_FONT, fontSize=16, leading=22, alignment=1)
    body = ParagraphStyle("body", fontName=CJK_FONT, fontSize=10, leading=14)
    table = Table(
        [list(_HEADERS), *_rows(notice)], repeatRows=1, colWidths=[14 * mm, 28 * mm, 45 * mm, 22 * mm, 32 * mm, 39 * mm]
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), CJK_FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("ALIGN", (3, 1), (4, -1), "RIGHT"),
            ]
        )
    )
    doc.build(
        [
            Paragraph(_title(notice), title),
            Spacer(1, 4 * mm),
            Paragraph(_period(notice), body),
            Spacer(1, 4 * mm),
            table,
        ]
    )
    return buffer.getvalue()


def notice_xlsx(notice: NoticeRead) -> bytes:
    """The notice list as a spreadsheet (same columns as the PDF)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "公示"
    sheet.append([_title(notice)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_period(notice)])
    sheet.append(list(_HEADERS))
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for line in _rows(notice):
        sheet.append(line)
    for column, width in zip("ABCDEF", (6, 12, 24, 10, 16, 22), strict=True):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=4, min_col=5, max_col=5):
        for cell in row:
            cell.alignment = Alignment(horizontal="right")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
