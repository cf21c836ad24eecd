"""Schedule math: intervals, due dates, periods and the due-in-period loop."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.decisions.rules import default_rules
from server.planning.schedule import (
    INTERVAL_MONTHS,
    PeriodError,
    add_months,
    due_in_period,
    interval_months,
    next_due,
    parse_period,
    periods_within,
)

D = dt.date.fromisoformat


@pytest.mark.parametrize(("category", "months"), [("three_no", 12), ("extreme_hardship", 6), ("general", 3)])
def test_intervals(category: str, months: int) -> None:
    assert interval_months(category) == months
    assert dict(default_rules().recheck_interval_months) == dict(INTERVAL_MONTHS)


def test_unknown_category() -> None:
    with pytest.raises(KeyError, match="unknown category 'vip'"):
        interval_months("vip")


@pytest.mark.parametrize(
    ("category", "since", "due"),
    [
        ("three_no", "2026-03-15", "2027-03-15"),
        ("extreme_hardship", "2026-03-15", "2026-09-15"),
        ("general", "2026-03-15", "2026-06-15"),
        ("general", "2026-11-30", "2027-02-28"),
        ("general", "2027-11-30", "2028-02-29"),
        ("extreme_hardship", "2026-08-31", "2027-02-28"),
        ("three_no", "2028-02-29", "2029-02-28"),
        ("general", "2026-12-31", "2027-03-31"),
    ],
)
def test_next_due(category: str, since: str, due: str) -> None:
    assert next_due(category, D(since)) == D(due)


def test_next_due_with_other_intervals() -> None:
    assert next_due("general", D("2026-01-31"), intervals={"general": 1}) == D("2026-02-28")


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-01-15", -13, "2024-12-15"),
        ("2026-12-01", 1, "2027-01-01"),
        ("2026-05-20", 0, "2026-05-20"),
    ],
)
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(D(day), months) == D(expected)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2027", "2027-01-01", "2027-12-31"),
        ("2027Q1", "2027-01-01", "2027-03-31"),
        ("2027Q2", "2027-04-01", "2027-06-30"),
        ("2027q3", "2027-07-01", "2027-09-30"),
        ("2027Q4", "2027-10-01", "2027-12-31"),
        ("2027H1", "2027-01-01", "2027-06-30"),
        ("2027h2", "2027-07-01", "2027-12-31"),
        ("2027-03", "2027-03-01", "2027-03-31"),
        ("2028-02", "2028-02-01", "2028-02-29"),
        ("2027-02", "2027-02-01", "2027-02-28"),
        (" 2027-12 ", "2027-12-01", "2027-12-31"),
    ],
)
def test_parse_period(text: str, start: str, end: str) -> None:
    assert parse_period(text) == (D(start), D(end))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027Q5", "quarter must be 1–4"),
        ("2027Q0", "quarter must be 1–4"),
        ("2027H3", "half must be 1 or 2"),
        ("2027-13", "month must be 01–12"),
        ("2027-00", "month must be 01–12"),
        ("abc", "is not one of YYYY, YYYYQn"),
        ("", "is not one of"),
        ("27Q1", "is not one of"),
        ("2027-03-01", "is not one of"),
        ("2027 Q1", "is not one of"),
        ("0999", "1900 or later"),
    ],
)
def test_parse_period_refuses(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(text)


ROWS: list[tuple[int, str, dt.date | None, str]] = [
    (1, "general", D("2026-10-15"), "active"),  # due 2027-01-15: in 2027Q1
    (2, "general", D("2026-12-31"), "active"),  # due 2027-03-31: last day of 2027Q1
    (3, "general", D("2027-01-01"), "active"),  # due 2027-04-01: next quarter
    (4, "three_no", D("2026-02-10"), "active"),  # due 2027-02-10
    (5, "three_no", D("2025-06-01"), "active"),  # due 2026-06-01: overdue
    (6, "extreme_hardship", D("2026-08-31"), "active"),  # due 2027-02-28
    (7, "general", D("2026-11-01"), "cancelled"),
    (8, "general", D("2026-11-01"), "suspended"),
    (9, "general", None, "active"),  # never checked: due at the start
]


def test_due_in_period() -> None:
    start, end = parse_period("2027Q1")
    assert list(due_in_period(ROWS, start, end)) == [
        (1, D("2027-01-15")),
        (2, D("2027-03-31")),
        (4, D("2027-02-10")),
        (5, D("2026-06-01")),
        (6, D("2027-02-28")),
        (9, D("2027-01-01")),
    ]


def test_due_in_period_without_overdue_and_other_statuses() -> None:
    start, end = parse_period("2027Q1")
    got = dict(due_in_period(ROWS, start, end, include_overdue=False, statuses={"active", "suspended"}))
    assert sorted(got) == [1, 2, 4, 6, 8, 9]


def test_due_in_period_unknown_category() -> None:
    with pytest.raises(KeyError, match="unknown category"):
        list(due_in_period([(1, "vip", D("2026-01-01"), "active")], D("2027-01-01"), D("2027-03-31")))


@settings(max_examples=300, deadline=None)
@given(
    since=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    category=st.sampled_from(sorted(INTERVAL_MONTHS)),
    period=st.sampled_from(["2027", "2027Q1", "2028Q1", "2027H2", "2028-02", "2027-02", "2029-12"]),
    include_overdue=st.booleans(),
)
def test_due_in_period_agrees_with_next_due(since: dt.date, category: str, period: str, include_overdue: bool) -> None:
    start, end = parse_period(period)
    due = next_due(category, since)
    expected = due <= end and (include_overdue or due >= start)
    got = list(due_in_period([("h", category, since, "active")], start, end, include_overdue=include_overdue))
    assert got == ([("h", due)] if expected else [])


def test_due_in_period_is_fast() -> None:
    """The pure loop must leave the million-household plan most of its 30 s for the database."""
    base = D("2025-01-01")
    categories = ("general", "extreme_hardship", "three_no")
    rows = [(i, categories[i % 3], base + dt.timedelta(days=i % 730), "active") for i in range(200_000)]
    start, end = parse_period("2026Q3")
    began = time.perf_counter()
    due = sum(1 for _ in due_in_period(rows, start, end))
    elapsed = time.perf_counter() - began
    assert due > 0
    assert elapsed < 2.0, f"{elapsed:.2f}s for 200k rows"


def test_periods_within_lists_the_plans_a_report_span_contains() -> None:
    q1 = periods_within(*parse_period("2027Q1"))
    assert q1 == ["2027Q1", "2027-01", "2027-1", "2027-02", "2027-2", "2027-03", "2027-3"]
    year = periods_within(*parse_period("2027"))
    assert {"2027", "2027H1", "2027H2", "2027Q4", "2027-12"} <= set(year)
    assert len(year) == 1 + 2 + 4 + 12 + 9
    assert periods_within(*parse_period("2027-02")) == ["2027-02", "2027-2"]
    assert "2026Q4" not in periods_within(dt.date(2026, 11, 1), dt.date(2027, 12, 31))
