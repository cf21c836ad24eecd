"""The programme rules: the shipped defaults, the loader's refusals (with paths), lookups."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from schemas.decisions import IncomeTreatment
from schemas.registry import Category, IncomeKind, Residence
from server.decisions.rules import (
    DEFAULT_RULES_PATH,
    NoStandardError,
    ProgrammeRules,
    Rounding,
    RoundingMode,
    RulesError,
    default_rules,
    load_rules_file,
    parse_rules,
)

Doc = dict[str, Any]


def _default_doc() -> Doc:
    doc: Doc = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return doc


def _errors(doc: Doc | bytes) -> list[tuple[str, str]]:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises(RulesError) as info:
        parse_rules(data)
    return [(e.path, e.reason) for e in info.value.errors]


# --------------------------------------------------------------------------- shipped defaults


def test_default_rules_hold_the_domain_numbers() -> None:
    rules = default_rules()
    assert rules.version == "2026.2-demo"
    assert rules.standard_for(Residence.urban, dt.date(2026, 1, 1)).amount == 72000
    assert rules.standard_for(Residence.rural, dt.date(2026, 1, 1)).amount == 56000
    assert rules.minimum_payable == 1000
    assert rules.rounding == Rounding(mode=RoundingMode.up, unit=100)
    assert rules.phase_out_months == 6
    assert rules.near_dibao_percent == 150
    assert rules.failed_attempt_limit == 3
    assert rules.job_refusal_limit == 3
    three_no = rules.supplement_for(Category.three_no)
    assert three_no is not None
    assert three_no.full_standard
    assert rules.supplement_for(Category.general) is None
    assert rules.recheck_interval_months == {
        Category.three_no: 12,
        Category.extreme_hardship: 6,
        Category.general: 3,
    }


COUNTED = [
    "wages",
    "business",
    "property",
    "support",
    "pension",
    "unemployment_benefit",
    "compensation",
    "gift",
]
DISREGARDED = [
    "veteran_preferential",
    "family_planning_reward",
    "scholarship",
    "bravery_reward",
    "social_assistance",
]


@pytest.mark.parametrize(
    ("kind", "on", "expected"),
    [(k, dt.date(2026, 6, 1), IncomeTreatment.counted) for k in [*COUNTED, "other"]]
    + [(k, dt.date(2026, 6, 1), IncomeTreatment.disregarded) for k in DISREGARDED]
    + [
        # DOMAIN.md: disregarded by default, with no end date
        ("resident_basic_pension", dt.date(2020, 12, 31), IncomeTreatment.disregarded),
        ("resident_basic_pension", dt.date(2026, 1, 1), IncomeTreatment.disregarded),
        ("resident_basic_pension", dt.date(2040, 12, 31), IncomeTreatment.disregarded),
    ],
)
def test_default_income_treatment(kind: str, on: dt.date, expected: IncomeTreatment) -> None:
    assert default_rules().income_treatment(IncomeKind(kind), on) is expected


def test_default_rules_file_loads_and_round_trips() -> None:
    rules = load_rules_file(DEFAULT_RULES_PATH)
    assert rules == default_rules()
    again = parse_rules(msgspec.json.encode(rules))
    assert again == rules


def test_rules_are_immutable() -> None:
    with pytest.raises(AttributeError):
        default_rules().version = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- standard_for


def _with_standards(*periods: Doc) -> ProgrammeRules:
    doc = _default_doc()
    doc["standards"] = list(periods)
    return parse_rules(json.dumps(doc))


def _p(residence: str, amount: int, start: str, end: str | None = None, area_id: int | None = None) -> Doc:
    period: Doc = {"residence": residence, "amount": amount, "effective_from": start, "effective_to": end}
    if area_id is not None:
        period["area_id"] = area_id
    return period


HISTORY = _with_standards(
    _p("urban", 65000, "2025-01-01", "2025-12-31"),
    _p("urban", 72000, "2026-01-01"),
    _p("rural", 50000, "2025-01-01", "2025-12-31"),
    _p("rural", 56000, "2026-01-01"),
    _p("rural", 60000, "2026-01-01", None, area_id=7),
)


@pytest.mark.parametrize(
    ("residence", "on", "area_id", "amount"),
    [
        ("urban", "2025-01-01", None, 65000),
        ("urban", "2025-12-31", None, 65000),
        ("urban", "2026-01-01", None, 72000),
        ("urban", "2040-05-05", None, 72000),
        ("rural", "2025-06-30", None, 50000),
        ("rural", "2026-02-01", None, 56000),
        ("rural", "2026-02-01", 7, 60000),
        ("rural", "2025-06-30", 7, 50000),
        ("rural", "2026-02-01", 8, 56000),
        ("urban", "2026-02-01", 7, 72000),
    ],
)
def test_standard_for_picks_the_period_in_force(residence: str, on: str, area_id: int | None, amount: int) -> None:
    period = HISTORY.standard_for(Residence(residence), dt.date.fromisoformat(on), area_id)
    assert period.amount == amount


def test_standard_for_refuses_a_date_without_standard() -> None:
    with pytest.raises(NoStandardError, match="no rural standard in force on 2024-12-31"):
        HISTORY.standard_for(Residence.rural, dt.date(2024, 12, 31))
    with pytest.raises(NoStandardError):
        default_rules().standard_for(Residence.urban, dt.date(2025, 12, 31))


# --------------------------------------------------------------------------- refusals


def _edit(change: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(_default_doc())
    change(doc)
    return doc


def _set(path: list[str | int], value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _append(path: list[str | int], value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        for key in path:
            node = node[key]
        node.append(value)

    return change


def _remove_counted(kind: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        doc["income"]["counted"].remove(kind)

    return change


REFUSALS: list[tuple[str, Callable[[Doc], None], str, str]] = [
    # (case, edit, expected path, fragment of the reason)
    (
        "unknown income kind",
        _append(["income", "counted"], "lottery"),
        "$.income.counted[9]",
        "Invalid enum",
    ),
    ("unknown field", _set(["standards", 0, "colour"], "red"), "$.standards[0].colour", "unknown field"),
    ("amount as text", _set(["standards", 1, "amount"], "560"), "$.standards[1].amount", "Expected `int`"),
    ("zero standard", _set(["standards", 1, "amount"], 0), "$.standards[1].amount", ">= 1"),
    (
        "bad date",
        _set(["standards", 0, "effective_from"], "2026-02-30"),
        "$.standards[0].effective_from",
        "date",
    ),
    ("missing version", lambda d: d.pop("version"), "$", "missing required field `version`"),
    ("empty version", _set(["version"], ""), "$.version", "length"),
    ("no standards", _set(["standards"], []), "$.standards", "at least one"),
    (
        "missing urban",
        _set(["standards"], [_p("rural", 56000, "2026-01-01")]),
        "$.standards",
        "no county-wide standard for residence 'urban'",
    ),
    (
        "overlapping periods",
        _append(["standards"], _p("rural", 58000, "2026-07-01", "2026-12-31")),
        "$.standards[2].effective_from",
        "overlaps $.standards[1]",
    ),
    (
        "end before start",
        _set(["standards", 0, "effective_to"], "2025-12-31"),
        "$.standards[0].effective_to",
        "before effective_from",
    ),
    (
        "counted kind listed twice",
        _append(["income", "counted"], "wages"),
        "$.income.counted[9]",
        "duplicate income kind 'wages'",
    ),
    ("kind neither counted nor disregarded", _remove_counted("gift"), "$.income", "'gift' is neither"),
    (
        "dated disregard without counted fallback",
        _set(
            ["income", "disregarded", 5],
            {"kind": "resident_basic_pension", "effective_from": "2021-01-01", "effective_to": "2025-12-31"},
        ),
        "$.income.disregarded[5].kind",
        "must also be listed in counted",
    ),
    (
        "always disregarded and counted",
        _append(["income", "counted"], "scholarship"),
        "$.income.disregarded[2].kind",
        "also listed in counted",
    ),
    (
        "overlapping disregards",
        _append(
            ["income", "disregarded"],
            {"kind": "resident_basic_pension", "effective_from": "2025-06-01", "effective_to": "2026-12-31"},
        ),
        "$.income.disregarded[6].effective_from",
        "overlaps $.income.disregarded[5]",
    ),
    (
        "unknown deduction",
        _append(["income", "deductible"], "travel"),
        "$.income.deductible[3]",
        "Invalid enum",
    ),
    ("tiered without bands", _set(["method"], "tiered_band"), "$.tiered_bands", "at least one band"),
    (
        "bands not from zero",
        _set(["tiered_bands"], [{"gap_from": 100, "per_person": 1000}]),
        "$.tiered_bands[0].gap_from",
        "start at 0",
    ),
    (
        "bands out of order",
        _set(
            ["tiered_bands"],
            [{"gap_from": 0, "per_person": 1000}, {"gap_from": 0, "per_person": 2000}],
        ),
        "$.tiered_bands[1].gap_from",
        "strictly increasing",
    ),
    (
        "duplicate supplement",
        _append(["category_supplements"], {"category": "three_no", "per_person": 100}),
        "$.category_supplements[1].category",
        "duplicate",
    ),
    ("negative minimum", _set(["minimum_payable"], -1), "$.minimum_payable", ">= 0"),
    ("near dibao below 1x", _set(["near_dibao_percent"], 90), "$.near_dibao_percent", ">= 100"),
    ("zero failed attempts", _set(["failed_attempt_limit"], 0), "$.failed_attempt_limit", ">= 1"),
    ("rounding unit zero", _set(["rounding", "unit"], 0), "$.rounding.unit", ">= 1"),
    ("unknown rounding", _set(["rounding", "mode"], "bankers"), "$.rounding.mode", "Invalid enum"),
    (
        "unknown property flag",
        _append(["property_limit", "disqualifying"], "pets"),
        "$.property_limit.disqualifying[4]",
        "Invalid enum",
    ),
    (
        "missing interval",
        _set(["recheck_interval_months"], {"three_no": 12, "general": 3}),
        "$.recheck_interval_months",
        "'extreme_hardship'",
    ),
]


@pytest.mark.parametrize(("case", "edit", "path", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_loader_refuses_with_the_path(case: str, edit: Callable[[Doc], None], path: str, reason: str) -> None:
    errors = _errors(_edit(edit))
    assert any(p == path and reason in r for p, r in errors), errors


def test_loader_reports_every_problem_at_once() -> None:
    def change(doc: Doc) -> None:
        _append(["standards"], _p("urban", 1, "2026-05-01"))(doc)
        _remove_counted("gift")(doc)
        _set(["recheck_interval_months"], {"three_no": 12, "extreme_hardship": 6})(doc)

    paths = [p for p, _ in _errors(_edit(change))]
    assert paths == ["$.standards[2].effective_from", "$.income", "$.recheck_interval_months"]


def test_malformed_json_is_refused_at_the_root() -> None:
    assert _errors(b'{"version": ') == [("$", "Input data was truncated")]


def test_error_message_lists_paths() -> None:
    with pytest.raises(RulesError, match=r"\$\.standards: at least one standard") as info:
        parse_rules(json.dumps(_edit(_set(["standards"], []))))
    assert info.value.status == 422
    assert info.value.code == "invalid_rules"


def test_area_specific_periods_may_overlap_the_county_ones(tmp_path: Path) -> None:
    doc = _edit(_append(["standards"], _p("rural", 60000, "2026-01-01", area_id=3)))
    target = tmp_path / "rules.json"
    target.write_text(json.dumps(doc), encoding="utf-8")
    rules = load_rules_file(target)
    assert rules.standard_for(Residence.rural, dt.date(2026, 1, 1), 3).amount == 60000
    twice = _edit(_append(["standards"], _p("rural", 60000, "2026-01-01", area_id=3)))
    twice["standards"].append(_p("rural", 61000, "2027-01-01", area_id=3))
    assert ("$.standards[3].effective_from") in [p for p, _ in _errors(twice)]


@pytest.mark.parametrize(
    ("mode", "unit", "amount", "expected"),
    [
        ("up", 100, 0, 0),
        ("up", 100, 1, 100),
        ("up", 100, 1800, 1800),
        ("up", 100, 1801, 1900),
        ("down", 100, 1899, 1800),
        ("half_up", 100, 1849, 1800),
        ("half_up", 100, 1850, 1900),
        ("up", 1000, 1801, 2000),
        ("up", 1, 1801, 1801),
    ],
)
def test_rounding(mode: str, unit: int, amount: int, expected: int) -> None:
    assert Rounding(mode=RoundingMode(mode), unit=unit).apply(amount) == expected
