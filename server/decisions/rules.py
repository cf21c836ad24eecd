"""The programme rules as data: standards by period, income kinds, rounding, limits.

Rules are a versioned JSON document (the shipped default is ``default_rules.json`` next to
this module; an admin may load another). :func:`parse_rules` decodes it with msgspec and then
checks what a schema cannot: no overlapping periods, a standard for both ``urban`` and
``rural``, every income kind classified, and so on. Every problem is reported as a
:class:`~schemas.errors.FieldError` naming its path (``$.standards[2].effective_from``), all
at once, inside one :class:`RulesError`.

Dates: ``effective_from`` and ``effective_to`` are both *inclusive*; ``effective_to`` ``null``
means open-ended. So "2021–2025" is ``2021-01-01`` … ``2025-12-31``.

This module is framework-free. :class:`RulesError` carries ``status``/``code``/``message``/
``errors`` like :class:`server.errors.DomainError`, so a controller maps it with
``InvalidInput(exc.message, exc.errors)``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Final

import msgspec

from schemas.base import Fen
from schemas.decisions import DeductionKind, IncomeTreatment, PropertyFlag
from schemas.errors import FieldError
from schemas.registry import Category, IncomeKind, Residence

__all__ = [
    "DEFAULT_RULES_PATH",
    "BenefitMethod",
    "CategorySupplement",
    "IncomeDisregard",
    "IncomeRules",
    "NoStandardError",
    "ProgrammeRules",
    "PropertyLimit",
    "Rounding",
    "RoundingMode",
    "RulesError",
    "StandardPeriod",
    "TieredBand",
    "default_rules",
    "load_rules_file",
    "parse_rules",
    "validate_rules",
]

DEFAULT_RULES_PATH: Final = Path(__file__).with_name("default_rules.json")

PositiveFen = Annotated[int, msgspec.Meta(gt=0, le=100_000_000_00)]
Months = Annotated[int, msgspec.Meta(ge=0, le=120)]
Interval = Annotated[int, msgspec.Meta(ge=1, le=120)]


class _Rules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of the rules document: the wire options of :class:`schemas.base.Struct`, plus
    ``frozen`` (and tuples for lists) so one parsed document can be shared and cached safely."""


class RoundingMode(enum.StrEnum):
    """How a calculated amount is rounded to ``Rounding.unit`` fen."""

    up = "up"
    down = "down"
    half_up = "half_up"


class BenefitMethod(enum.StrEnum):
    """``gap_top_up``: (standard − per-capita income) × members. ``tiered_band``: a fixed
    amount per person picked by the size of the per-capita gap."""

    gap_top_up = "gap_top_up"
    tiered_band = "tiered_band"


class StandardPeriod(_Rules, frozen=True):
    """The standard (fen per person per month) for one residence type over one period.

    ``area_id`` ``None`` is the county-wide standard; an area-specific period overrides it.
    """

    residence: Residence
    amount: PositiveFen
    effective_from: dt.date
    effective_to: dt.date | None = None
    area_id: int | None = None

    def covers(self, on: dt.date) -> bool:
        """Whether ``on`` falls within this period (both ends inclusive)."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


class IncomeDisregard(_Rules, frozen=True):
    """An income kind that is not counted, optionally only within a period (inclusive)."""

    kind: IncomeKind
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None

    def covers(self, on: dt.date) -> bool:
        """Whether the disregard applies on ``on``."""
        return (self.effective_from is None or self.effective_from <= on) and (
            self.effective_to is None or on <= self.effective_to
        )


class IncomeRules(_Rules, frozen=True):
    """Which income kinds count. A kind with a dated disregard must also be listed in
    ``counted``: it is counted outside the disregard's period."""

    counted: tuple[IncomeKind, ...]
    disregarded: tuple[IncomeDisregard, ...]
    deductible: tuple[DeductionKind, ...] = ()


class Rounding(_Rules, frozen=True):
    """Rounding of the monthly amount; the default is up to the whole yuan (100 fen)."""

    mode: RoundingMode = RoundingMode.up
    unit: Annotated[int, msgspec.Meta(ge=1, le=100_00)] = 100

    def apply(self, amount: int) -> int:
        """``amount`` (fen, ≥ 0) rounded to a multiple of ``unit`` with ``mode``."""
        unit = self.unit
        if self.mode == RoundingMode.up:
            return -(-amount // unit) * unit
        if self.mode == RoundingMode.down:
            return amount // unit * unit
        return (amount + unit // 2) // unit * unit


class TieredBand(_Rules, frozen=True):
    """With ``tiered_band``: a per-capita gap of at least ``gap_from`` fen pays ``per_person``."""

    gap_from: Fen
    per_person: PositiveFen


class CategorySupplement(_Rules, frozen=True):
    """Extra for a category. ``full_standard``: paid at least the full standard per person.
    ``per_person``: a fixed amount added per paid member."""

    category: Category
    full_standard: bool = False
    per_person: Fen = 0


class PropertyLimit(_Rules, frozen=True):
    """The local property limit. Any flag in ``disqualifying`` puts a household over it;
    deposits above ``deposits_months_of_standard`` × standard × members do too."""

    deposits_months_of_standard: Months = 24
    disqualifying: tuple[PropertyFlag, ...] = tuple(PropertyFlag)


class ProgrammeRules(_Rules, frozen=True):
    """One version of the programme rules (see DOMAIN.md "Benefit and decision").

    ``near_dibao_percent`` is the near-dibao line as a percentage of the standard (150 = 1.5×),
    kept integral so no float ever touches money.
    """

    version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    standards: tuple[StandardPeriod, ...]
    income: IncomeRules
    rounding: Rounding = Rounding()
    method: BenefitMethod = BenefitMethod.gap_top_up
    tiered_bands: tuple[TieredBand, ...] = ()
    category_supplements: tuple[CategorySupplement, ...] = ()
    minimum_payable: Fen = 1000
    phase_out_months: Months = 6
    near_dibao_percent: Annotated[int, msgspec.Meta(ge=100, le=1000)] = 150
    failed_attempt_limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    job_refusal_limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    property_limit: PropertyLimit = PropertyLimit()
    recheck_interval_months: dict[Category, Interval] = msgspec.field(
        default_factory=lambda: {Category.three_no: 12, Category.extreme_hardship: 6, Category.general: 3}
    )
    description: str = ""

    def standard_for(self, residence: Residence | str, on: dt.date, area_id: int | None = None) -> StandardPeriod:
        """The standard period in force for ``residence`` on ``on``.

        An area-specific period for ``area_id`` wins over the county-wide one.

        Raises:
            NoStandardError: no period covers that date.
        """
        fallback: StandardPeriod | None = None
        for period in self.standards:
            if period.residence == residence and period.covers(on):
                if period.area_id is None:
                    fallback = period
                elif period.area_id == area_id:
                    return period
        if fallback is None:
            raise NoStandardError(f"no {residence} standard in force on {on.isoformat()} (rules {self.version})")
        return fallback

    def income_treatment(self, kind: IncomeKind | str, on: dt.date) -> IncomeTreatment:
        """Whether income of ``kind`` is counted or disregarded on ``on``."""
        for disregard in self.income.disregarded:
            if disregard.kind == kind and disregard.covers(on):
                return IncomeTreatment.disregarded
        if kind in self.income.counted:
            return IncomeTreatment.counted
        # validate_rules guarantees this is unreachable for a checked rules document.
        raise NoStandardError(f"income kind {kind!r} is not classified on {on.isoformat()}")

    def supplement_for(self, category: Category | str) -> CategorySupplement | None:
        """The category supplement for ``category``, if any."""
        for supplement in self.category_supplements:
            if supplement.category == category:
                return supplement
        return None

    def tier_for(self, gap: int) -> TieredBand | None:
        """The tiered band for a per-capita gap (fen), or ``None`` below the first band."""
        chosen: TieredBand | None = None
        for band in self.tiered_bands:
            if gap >= band.gap_from:
                chosen = band
        return chosen


class RulesError(ValueError):
    """A rules document was refused; ``errors`` names every offending path."""

    status = 422
    code = "invalid_rules"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        self.message = "invalid programme rules: " + "; ".join(f"{e.path}: {e.reason}" for e in errors)
        super().__init__(self.message)


class NoStandardError(LookupError):
    """The rules have no standard (or income classification) in force for a date."""

    status = 422
    code = "no_standard"


_AT_PATH = re.compile(r"\s*-\s*at `(\$[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`$")


def _decode_error(exc: msgspec.MsgspecError) -> FieldError:
    """A msgspec decoding error as a field error with a path."""
    message = str(exc)
    path = "$"
    match = _AT_PATH.search(message)
    if match:
        path = match.group(1)
        message = message[: match.start()]
    unknown = _UNKNOWN_FIELD.match(message)
    if unknown:
        path = f"{path}.{unknown.group(1)}"
        message = "unknown field"
    return FieldError(path=path, reason=message)


def parse_rules(data: bytes | str) -> ProgrammeRules:
    """Decode and check a rules document (JSON).

    Raises:
        RulesError: the document does not decode or breaks a rule (all problems listed).
    """
    try:
        rules = msgspec.json.decode(data, type=ProgrammeRules)
    except msgspec.MsgspecError as exc:
        raise RulesError([_decode_error(exc)]) from None
    errors = validate_rules(rules)
    if errors:
        raise RulesError(errors)
    return rules


def load_rules_file(path: str | Path) -> ProgrammeRules:
    """Read and check a rules document from a file (see :func:`parse_rules`)."""
    return parse_rules(Path(path).read_bytes())


@functools.cache
def default_rules() -> ProgrammeRules:
    """The shipped default rules (``default_rules.json``), parsed once."""
    return load_rules_file(DEFAULT_RULES_PATH)


def _span(start: dt.date | None, end: dt.date | None) -> str:
    return f"{start.isoformat() if start else '…'}–{end.isoformat() if end else 'open'}"


def _overlaps(periods: Iterable[tuple[int, dt.date | None, dt.date | None]], path: str, field: str) -> list[FieldError]:
    """Overlap errors among (index, from, to) periods of one key; ``None`` from = since ever."""
    errors: list[FieldError] = []
    ordered = sorted(periods, key=lambda p: (p[1] or dt.date.min, p[0]))
    for (i, start_a, end_a), (j, start_b, end_b) in itertools.pairwise(ordered):
        if end_a is None or (start_b or dt.date.min) <= end_a:
            errors.append(
                FieldError(
                    path=f"{path}[{j}].effective_from",
                    reason=f"period {_span(start_b, end_b)} overlaps {path}[{i}] ({_span(start_a, end_a)}) "
                    f"for the same {field}",
                )
            )
    return errors


def _check_order(start: dt.date | None, end: dt.date | None, path: str) -> list[FieldError]:
    if start is not None and end is not None and end < start:
        return [FieldError(path=f"{path}.effective_to", reason=f"is before effective_from {start.isoformat()}")]
    return []


def _validate_standards(rules: ProgrammeRules) -> list[FieldError]:
    errors: list[FieldError] = []
    if not rules.standards:
        return [FieldError(path="$.standards", reason="at least one standard is required")]
    groups: dict[tuple[int | None, Residence], list[tuple[int, dt.date | None, dt.date | None]]]
    groups = defaultdict(list)
    for i, period in enumerate(rules.standards):
        errors += _check_order(period.effective_from, period.effective_to, f"$.standards[{i}]")
        groups[(period.area_id, period.residence)].append((i, period.effective_from, period.effective_to))
    for (area_id, residence), periods in groups.items():
        label = f"residence {residence.value}" + (f" in area {area_id}" if area_id is not None else "")
        errors += _overlaps(periods, "$.standards", label)
    for residence in Residence:
        if (None, residence) not in groups:
            errors.append(
                FieldError(path="$.standards", reason=f"no county-wide standard for residence {residence.value!r}")
            )
    return errors


def _validate_income(rules: ProgrammeRules) -> list[FieldError]:
    errors: list[FieldError] = []
    counted: set[IncomeKind] = set()
    for i, kind in enumerate(rules.income.counted):
        if kind in counted:
            errors.append(FieldError(path=f"$.income.counted[{i}]", reason=f"duplicate income kind {kind.value!r}"))
        counted.add(kind)
    by_kind: dict[IncomeKind, list[tuple[int, dt.date | None, dt.date | None]]] = defaultdict(list)
    always_disregarded: set[IncomeKind] = set()
    for i, disregard in enumerate(rules.income.disregarded):
        path = f"$.income.disregarded[{i}]"
        errors += _check_order(disregard.effective_from, disregard.effective_to, path)
        by_kind[disregard.kind].append((i, disregard.effective_from, disregard.effective_to))
        dated = disregard.effective_from is not None or disregard.effective_to is not None
        if not dated:
            always_disregarded.add(disregard.kind)
            if disregard.kind in counted:
                errors.append(
                    FieldError(
                        path=f"{path}.kind",
                        reason=f"{disregard.kind.value!r} is always disregarded but also listed in counted",
                    )
                )
        elif disregard.kind not in counted:
            errors.append(
                FieldError(
                    path=f"{path}.kind",
                    reason=f"{disregard.kind.value!r} is disregarded only "
                    f"{_span(disregard.effective_from, disregard.effective_to)}, so it must also be listed "
                    "in counted (it is counted outside that period)",
                )
            )
    for kind, periods in by_kind.items():
        errors += _overlaps(periods, "$.income.disregarded", f"income kind {kind.value}")
    for kind in IncomeKind:
        if kind not in counted and kind not in by_kind:
            errors.append(
                FieldError(path="$.income", reason=f"income kind {kind.value!r} is neither counted nor disregarded")
            )
    seen: set[DeductionKind] = set()
    for i, deduction in enumerate(rules.income.deductible):
        if deduction in seen:
            errors.append(
                FieldError(path=f"$.income.deductible[{i}]", reason=f"duplicate deduction kind {deduction.value!r}")
            )
        seen.add(deduction)
    return errors


def _validate_amounts(rules: ProgrammeRules) -> list[FieldError]:
    errors: list[FieldError] = []
    if rules.method == BenefitMethod.tiered_band and not rules.tiered_bands:
        errors.append(FieldError(path="$.tiered_bands", reason="method tiered_band needs at least one band"))
    if rules.tiered_bands and rules.tiered_bands[0].gap_from != 0:
        errors.append(FieldError(path="$.tiered_bands[0].gap_from", reason="the first band must start at 0"))
    for i in range(1, len(rules.tiered_bands)):
        if rules.tiered_bands[i].gap_from <= rules.tiered_bands[i - 1].gap_from:
            errors.append(
                FieldError(path=f"$.tiered_bands[{i}].gap_from", reason="bands must be in strictly increasing order")
            )
    categories: set[Category] = set()
    for i, supplement in enumerate(rules.category_supplements):
        if supplement.category in categories:
            errors.append(
                FieldError(
                    path=f"$.category_supplements[{i}].category",
                    reason=f"duplicate supplement for {supplement.category.value!r}",
                )
            )
        categories.add(supplement.category)
    flags: set[PropertyFlag] = set()
    for i, flag in enumerate(rules.property_limit.disqualifying):
        if flag in flags:
            errors.append(
                FieldError(path=f"$.property_limit.disqualifying[{i}]", reason=f"duplicate flag {flag.value!r}")
            )
        flags.add(flag)
    for category in Category:
        if category not in rules.recheck_interval_months:
            errors.append(
                FieldError(
                    path="$.recheck_interval_months",
                    reason=f"no recheck interval for category {category.value!r}",
                )
            )
    return errors


def validate_rules(rules: ProgrammeRules) -> list[FieldError]:
    """Every semantic problem of a decoded rules document (empty when it is sound)."""
    return _validate_standards(rules) + _validate_income(rules) + _validate_amounts(rules)
