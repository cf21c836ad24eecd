"""Languages, message catalogs and the formats of money and dates.

Templates and code are written with English message ids; the Chinese catalog
(``translations/zh/LC_MESSAGES/messages.po``) is the default language. The ``.po`` file is
compiled in memory when first used, so a fresh clone needs no build step for it.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = [
    "CATALOG",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "environment",
    "format_day",
    "format_money",
    "parse_yuan",
    "translations",
]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
CATALOG = HERE / "translations" / "zh" / "LC_MESSAGES" / "messages.po"

#: Language code → Babel locale. Chinese first; English by the switch in the page header.
LANGUAGES = {"zh": "zh_Hans_CN", "en": "en_GB"}
DEFAULT_LANGUAGE = "zh"
#: No amount in the programme comes near a trillion yuan; larger input is a typing error.
_MOST_YUAN = Decimal(10) ** 12


@lru_cache(maxsize=4)
def translations(language: str) -> NullTranslations:
    """The catalog of ``language`` (English is the message ids themselves)."""
    if language != "zh":
        return NullTranslations()
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="zh_Hans_CN")
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def format_money(fen: int | None, language: str = DEFAULT_LANGUAGE) -> str:
    """Integer fen as yuan: ``¥1,234.00`` (exact: decimal arithmetic, never float)."""
    if fen is None:
        return ""
    yuan = Decimal(fen).scaleb(-2)
    if language == "zh":
        return format_currency(yuan, "CNY", locale=LANGUAGES["zh"])
    return "¥" + format_decimal(yuan, format="#,##0.00", locale=LANGUAGES["en"])


def parse_yuan(text: str) -> int:
    """Yuan typed by a person (``1,234.5``, ``¥12``) as integer fen; ``ValueError`` when it is
    not an amount with at most two decimals."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError("not an amount in yuan") from exc
    if not amount.is_finite() or abs(amount) >= _MOST_YUAN:
        raise ValueError("not an amount in yuan")
    fen = amount.scaleb(2)
    if fen != fen.to_integral_value():
        raise ValueError("at most two decimals (fen)")
    return int(fen)


def format_day(day: dt.date | None, language: str = DEFAULT_LANGUAGE) -> str:
    """``2026年12月3日`` in Chinese, ``3 Dec 2026`` in English."""
    if day is None:
        return ""
    return format_date(day, format="long" if language == "zh" else "medium", locale=LANGUAGES[language])


def format_moment(moment: dt.datetime | None, language: str = DEFAULT_LANGUAGE) -> str:
    """A time stamp in China's time zone (stored times are UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_datetime(moment, format="medium", tzinfo=_china(), locale=LANGUAGES[language])


@lru_cache(maxsize=1)
def _china() -> Any:
    from babel.dates import get_timezone

    return get_timezone("Asia/Shanghai")


@lru_cache(maxsize=4)
def environment(language: str) -> Environment:
    """The Jinja2 environment of one language: its catalog installed, its formats as filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = lambda fen: format_money(fen, language)
    env.filters["day"] = lambda day: format_day(day, language)
    env.filters["moment"] = lambda moment: format_moment(moment, language)
    env.globals["language"] = language
    return env
