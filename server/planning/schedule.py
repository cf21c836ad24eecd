"""Recheck schedule math: intervals by category, due dates, planning periods, who is due.

Pure and framework-free. :func:`due_in_period` is the hot loop of plan generation (a county
may hold a million households), so it works on plain tuples, compares each row's date with
one precomputed threshold per category and computes each distinct due date only once.

Month arithmetic clamps to the end of the month: 2026-08-31 + 6 months is 2027-02-28.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Final, TypeVar

__all__ = [
    "INTERVAL_MONTHS",
    "PeriodError",
    "add_months",
    "due_in_period",
    "interval_months",
    "next_due",
    "parse_period",
    "periods_within",
]

K = TypeVar("K", bound=Hashable)

#: Default recheck interval in months per category (DOMAIN.md; also in the programme rules as
#: ``recheck_interval_months``, which callers should pass as ``intervals``).
INTERVAL_MONTHS: Final[Mapping[str, int]] = MappingProxyType({"three_no": 12, "extreme_hardship": 6, "general": 3})

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class PeriodError(ValueError):
    """A planning period string is not one of the accepted forms."""

    status = 422
    code = "invalid_period"


def _month_days(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` (may be negative), clamped to the end of the target month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, _month_days(year, month)))


def interval_months(category: str, intervals: Mapping[str, int] | None = None) -> int:
    """The recheck interval (months) for ``category``.

    Raises:
        KeyError: unknown category.
    """
    table = INTERVAL_MONTHS if intervals is None else intervals
    try:
        return table[category]
    except KeyError:
        raise KeyError(f"unknown category {category!r}; expected one of {sorted(table)}") from None


def next_due(category: str, since: dt.date, *, intervals: Mapping[str, int] | None = None) -> dt.date:
    """When the next recheck is due: ``since`` (the last recheck, else the approval date) plus
    the category's interval."""
    return add_months(since, interval_months(category, intervals))


_YEAR = r"(?P<year>\d{4})"
_PERIOD = re.compile(rf"^{_YEAR}(?:(?P<q>[Qq])(?P<quarter>\d+)|(?P<h>[Hh])(?P<half>\d+)|-(?P<month>\d{{1,2}}))?$")
_FORMS = "YYYY, YYYYQn (n 1–4), YYYYHn (n 1–2) or YYYY-MM, e.g. 2027, 2027Q1, 2027H1, 2027-03"


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day (both inclusive) of a planning period.

    Accepts ``2027`` (a year), ``2027Q1`` … ``2027Q4``, ``2027H1`` / ``2027H2`` and ``2027-03``
    (case-insensitive, surrounding spaces ignored).

    Raises:
        PeriodError: anything else, saying which forms are accepted.
    """
    match = _PERIOD.match(text.strip())
    if match is None:
        raise PeriodError(f"period {text!r} is not one of {_FORMS}")
    year = int(match["year"])
    if year < 1900:
        raise PeriodError(f"period {text!r}: year must be 1900 or later")
    if match["quarter"] is not None:
        quarter = int(match["quarter"])
        if not 1 <= quarter <= 4:
            raise PeriodError(f"period {text!r}: quarter must be 1–4")
        first, last = 3 * quarter - 2, 3 * quarter
    elif match["half"] is not None:
        half = int(match["half"])
        if not 1 <= half <= 2:
            raise PeriodError(f"period {text!r}: half must be 1 or 2")
        first, last = 6 * half - 5, 6 * half
    elif match["month"] is not None:
        first = last = int(match["month"])
        if not 1 <= first <= 12:
            raise PeriodError(f"period {text!r}: month must be 01–12")
    else:
        first, last = 1, 12
    return dt.date(year, first, 1), dt.date(year, last, _month_days(year, last))


def periods_within(start: dt.date, end: dt.date) -> list[str]:
    """Every period label a plan can carry (as :func:`parse_period` reads it, upper-case) whose
    days all lie within ``start`` … ``end``: the plans a report over that span counts.

    Containment rather than overlap keeps reports additive: the four quarters' figures add up
    to the year's, and a quarter's plan is never counted in each of its months.
    """
    labels: list[str] = []
    for year in range(start.year, end.year + 1):
        candidates = [f"{year}", f"{year}H1", f"{year}H2", *(f"{year}Q{q}" for q in range(1, 5))]
        for month in range(1, 13):
            candidates += [f"{year}-{month:02d}", f"{year}-{month}"] if month < 10 else [f"{year}-{month}"]
        for label in candidates:
            first, last = parse_period(label)
            if start <= first and last <= end:
                labels.append(label)
    return labels


def _latest_since(end: dt.date, months: int) -> dt.date:
    """The latest ``since`` whose due date ``add_months(since, months)`` is on or before ``end``."""
    since = add_months(end, -months)
    one = dt.timedelta(days=1)
    while add_months(since + one, months) <= end:
        since += one
    return since


def _earliest_since(start: dt.date, months: int) -> dt.date:
    """The earliest ``since`` whose due date is on or after ``start``."""
    since = add_months(start, -months)
    one = dt.timedelta(days=1)
    while add_months(since, months) < start:
        since += one
    while add_months(since - one, months) >= start:
        since -= one
    return since


def due_in_period(
    rows: Iterable[tuple[K, str, dt.date | None, str]],
    start: dt.date,
    end: dt.date,
    *,
    intervals: Mapping[str, int] | None = None,
    statuses: frozenset[str] | set[str] = frozenset({"active"}),
    include_overdue: bool = True,
) -> Iterator[tuple[K, dt.date]]:
    """The households due for a recheck by the end of a period, with their due dates.

    Args:
        rows: ``(id, category, since, status)`` per household, where ``since`` is the last
            recheck date, else the approval date, else ``None``.
        start: first day of the period (see :func:`parse_period`).
        end: last day of the period (inclusive).
        intervals: months per category (default :data:`INTERVAL_MONTHS`).
        statuses: household statuses that are rechecked (default only ``active``).
        include_overdue: also yield households whose due date is before ``start`` (default,
            so nobody overdue is forgotten); ``False`` keeps only due dates within the period.

    Yields:
        ``(id, due date)`` in input order. A household with no date at all is yielded as due
        on ``start``.

    Raises:
        KeyError: a row has a category without an interval.
    """
    table = INTERVAL_MONTHS if intervals is None else intervals
    latest = {category: _latest_since(end, months) for category, months in table.items()}
    earliest = (
        {category: _earliest_since(start, months) for category, months in table.items()}
        if not include_overdue
        else None
    )
    caches: dict[str, dict[dt.date, dt.date]] = {category: {} for category in table}
    for key, category, since, status in rows:
        if status not in statuses:
            continue
        if since is None:
            yield key, start
            continue
        limit = latest.get(category)
        if limit is None:
            interval_months(category, table)  # raises the KeyError with the known categories
            continue
        if since > limit:
            continue
        if earliest is not None and since < earliest[category]:
            continue
        cache = caches[category]
        due = cache.get(since)
        if due is None:
            due = cache[since] = add_months(since, table[category])
        yield key, due
