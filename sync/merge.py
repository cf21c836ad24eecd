"""Three-way field merge with written per-field rules (ARCHITECTURE rule 4).

Every mergeable field keeps a small record of its last write: the record version it produced,
who wrote it (``source``: a device id, or ``server:<user id>`` for a supervisor or a service) and
that source's own sequence number. A mutation brings ``base_version`` (what the device last saw)
and the fields it changed. For each field:

1. nobody else wrote the field after ``base_version`` → the device's value is applied;
2. the same device wrote it after its base (its own earlier edit arriving late or early) →
   its newer edit wins by the device's own counter: an older one is *superseded*, not a conflict;
3. someone else wrote it after the base and the values differ → both sides changed it: the
   field's rule decides, and the losing value is kept in a conflict record.

Supervisor-owned fields are never changed by a device: a differing device value is kept as a
conflict record (a proposal the supervisor reviews) whatever the versions.

The rules, field by field (the ``why`` is shown to supervisors next to each conflict):

=====================  ===================  ===============================================
entity.field           rule                 why
=====================  ===================  ===============================================
capture.* (all)        device_wins          observed at the door by the investigator
household.address      device_wins          the worker stands at the address
household.phone        device_wins          read from the household on the visit
household.lat / .lon   device_wins          measured on site
household.category     supervisor_owned     the category is a supervisor's decision
=====================  ===================  ===============================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.capture import CAPTURE_FIELDS

__all__ = [
    "CAPTURE_RULES",
    "HOUSEHOLD_RULES",
    "FieldConflictOutcome",
    "FieldMeta",
    "FieldRule",
    "MergeOutcome",
    "Rule",
    "three_way_merge",
]


class Rule(enum.StrEnum):
    device_wins = "device_wins"
    """Field observation: the device's value is applied; the server's value goes to the record."""
    supervisor_owned = "supervisor_owned"
    """Supervisor's decision: the server's value stays; the device's value goes to the record."""


@dataclass(frozen=True)
class FieldRule:
    rule: Rule
    why: str


CAPTURE_RULES: dict[str, FieldRule] = {
    name: FieldRule(Rule.device_wins, "observed at the door by the investigator") for name in CAPTURE_FIELDS
}

HOUSEHOLD_RULES: dict[str, FieldRule] = {
    "address": FieldRule(Rule.device_wins, "the worker stands at the address"),
    "phone": FieldRule(Rule.device_wins, "read from the household on the visit"),
    "lat": FieldRule(Rule.device_wins, "measured on site"),
    "lon": FieldRule(Rule.device_wins, "measured on site"),
    "category": FieldRule(Rule.supervisor_owned, "the category is a supervisor's decision"),
}


@dataclass(frozen=True)
class FieldMeta:
    """The last write of one field: resulting version, its source and the source's own counter."""

    version: int
    source: str
    seq: int = 0

    def to_list(self) -> list[Any]:
        return [self.version, self.source, self.seq]

    @classmethod
    def from_list(cls, value: list[Any]) -> FieldMeta:
        return cls(int(value[0]), str(value[1]), int(value[2]))


@dataclass(frozen=True)
class FieldConflictOutcome:
    """Both sides changed ``field``: ``kept`` says whose value stays; both values are recorded."""

    field: str
    kept: str
    rule: Rule
    why: str
    server_value: Any
    device_value: Any


@dataclass
class MergeOutcome:
    apply: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflictOutcome] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    concurrent: bool = False
    """Someone else changed the record after the device's base version (a true three-way merge)."""


def three_way_merge(
    current: Mapping[str, Any],
    meta: Mapping[str, FieldMeta],
    patch: Mapping[str, Any],
    *,
    base_version: int,
    current_version: int,
    source: str,
    seq: int,
    rules: Mapping[str, FieldRule],
) -> MergeOutcome:
    """Decide, field by field, what a device's ``patch`` changes in ``current`` (see module docs).

    Values must be comparable builtins (as produced by ``msgspec.to_builtins``).
    """
    outcome = MergeOutcome(concurrent=current_version > base_version)
    for name, value in patch.items():
        rule = rules[name]
        now = current.get(name)
        last = meta.get(name)
        if rule.rule is Rule.supervisor_owned:
            if value != now:
                outcome.conflicts.append(FieldConflictOutcome(name, "server", rule.rule, rule.why, now, value))
            continue
        if last is not None and last.source == source and seq < last.seq:
            outcome.superseded.append(name)
            continue
        if last is None or last.version <= base_version or last.source == source:
            if value != now:
                outcome.apply[name] = value
            continue
        if value == now:
            continue
        outcome.apply[name] = value
        outcome.conflicts.append(FieldConflictOutcome(name, "device", rule.rule, rule.why, now, value))
    return outcome
