"""The console's languages: every message has its Chinese translation, money and dates in the
forms the county uses, yuan typed by people converted exactly to fen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.console.i18n import CATALOG, format_day, format_money, parse_yuan, translations

CONSOLE = Path(__file__).resolve().parents[3] / "server" / "console"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def test_every_message_has_a_chinese_translation() -> None:
    used = {message for _, _, message, *_ in extract_from_dir(str(CONSOLE), METHODS, options_map=OPTIONS)}
    assert len(used) > 30
    with CATALOG.open("rb") as source:
        catalog = {m.id: m.string for m in read_po(source) if m.id}
    missing = sorted(str(m) for m in used if not catalog.get(m))  # type: ignore[call-overload]
    assert missing == [], "add these to messages.po (see server/console/babel.cfg)"
    assert translations("zh").gettext("Sign in") == "登录"
    assert translations("en").gettext("Sign in") == "Sign in"


def test_money_and_dates() -> None:
    assert format_money(123400) == "¥1,234.00"
    assert format_money(5) == "¥0.05"
    assert format_money(-123456789) == "-¥1,234,567.89"
    assert format_money(123400, "en") == "¥1,234.00"
    assert format_day(dt.date(2026, 12, 3)) == "2026年12月3日"
    assert format_day(dt.date(2026, 12, 3), "en") == "3 Dec 2026"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1,234.00", 123400), ("¥12", 1200), ("0.1", 10), ("0.29", 29), (" 56.7 ", 5670), ("1，000", 100000)],
)
def test_yuan_to_fen_is_exact(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["1.234", "abc", "", "1e400", "NaN", "Infinity"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"amount|decimals"):
        parse_yuan(text)
