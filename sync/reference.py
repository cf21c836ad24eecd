"""The code lists a device downloads (reference data), from the enums in :mod:`schemas`.

Income kinds say whether they are counted in per-capita income (DOMAIN.md). The version is a
hash of the content, so a device asks with the version it has and gets the lists only when
they changed.
"""

from __future__ import annotations

import enum
import hashlib
from functools import lru_cache

import msgspec

from schemas.capture import ChangeReason, DepositsBand, EmploymentStatus, Outcome, PhotoKind, SignatureMissing
from schemas.decisions import DeductionKind
from schemas.registry import Category, Health, IncomeKind, LabourCapacity, Relation
from schemas.sync import Code, ReferenceData

__all__ = ["DISREGARDED_INCOME", "reference_data"]

#: Income kinds disregarded when counting income (DOMAIN.md defaults).
DISREGARDED_INCOME = frozenset(
    {
        IncomeKind.veteran_preferential,
        IncomeKind.family_planning_reward,
        IncomeKind.scholarship,
        IncomeKind.bravery_reward,
        IncomeKind.social_assistance,
        IncomeKind.resident_basic_pension,
    }
)

_LABELS: dict[enum.Enum, tuple[str, str]] = {
    IncomeKind.wages: ("工资性收入", "wages"),
    IncomeKind.business: ("经营性收入", "business (net, incl. farming)"),
    IncomeKind.property: ("财产性收入", "property income"),
    IncomeKind.support: ("赡养费", "support from relatives"),
    IncomeKind.pension: ("养老金", "pension"),
    IncomeKind.unemployment_benefit: ("失业保险金", "unemployment benefit"),
    IncomeKind.compensation: ("赔偿金", "compensation"),
    IncomeKind.gift: ("赠与", "gift"),
    IncomeKind.other: ("其他收入", "other"),
    IncomeKind.veteran_preferential: ("优抚金", "veteran preferential payment"),
    IncomeKind.family_planning_reward: ("计划生育奖励", "family-planning reward"),
    IncomeKind.scholarship: ("奖学金", "scholarship"),
    IncomeKind.bravery_reward: ("见义勇为奖励", "bravery reward"),
    IncomeKind.social_assistance: ("社会救助", "social assistance"),
    IncomeKind.resident_basic_pension: ("城乡居民基础养老金", "resident basic pension"),
    Health.healthy: ("健康", "healthy"),
    Health.often_ill: ("体弱多病", "often ill"),
    Health.seriously_ill: ("重病", "seriously ill"),
    LabourCapacity.full: ("有劳动能力", "full"),
    LabourCapacity.partial: ("部分丧失劳动能力", "partial"),
    LabourCapacity.none: ("无劳动能力", "none"),
    Outcome.completed: ("完成", "completed"),
    Outcome.nobody_home: ("无人在家", "nobody home"),
    Outcome.moved_away: ("已搬走", "moved away"),
    Outcome.deceased: ("已去世", "deceased"),
    Outcome.refused: ("拒绝调查", "refused"),
    Category.three_no: ("三无", "three no"),
    Category.extreme_hardship: ("特困", "extreme hardship"),
    Category.general: ("一般", "general"),
    DeductionKind.disability_cost: ("残疾刚性支出", "disability costs"),
    DeductionKind.illness_cost: ("重病医疗刚性支出", "serious-illness costs"),
    DeductionKind.job_cost: ("就业必要成本", "necessary job costs"),
}


def _codes(kind: type[enum.StrEnum]) -> list[Code]:
    out = []
    for member in kind:
        zh, en = _LABELS.get(member, (member.value, member.value.replace("_", " ")))
        counted = (member not in DISREGARDED_INCOME) if kind is IncomeKind else None
        out.append(Code(code=member.value, zh=zh, en=en, counted=counted))
    return out


@lru_cache(maxsize=1)
def reference_data() -> ReferenceData:
    """Every code list, with a content version."""
    lists = {
        "income_kinds": _codes(IncomeKind),
        "health": _codes(Health),
        "labour_capacity": _codes(LabourCapacity),
        "outcomes": _codes(Outcome),
        "relations": _codes(Relation),
        "change_reasons": _codes(ChangeReason),
        "employment": _codes(EmploymentStatus),
        "deposits": _codes(DepositsBand),
        "deduction_kinds": _codes(DeductionKind),
        "photo_kinds": _codes(PhotoKind),
        "signature_missing": _codes(SignatureMissing),
        "categories": _codes(Category),
    }
    version = hashlib.sha256(msgspec.json.encode(lists)).hexdigest()[:16]
    return ReferenceData(version=version, lists=lists)
