"""The Kinto harness's workload records, mapped onto recheck: household, visit and capture form.

Same generator, same seed, same devices and records (``../shared/bench/workload.py`` beside the checkout): each
record becomes a registered household (its members and last incomes), a visit assigned to the
record's device's worker, and the capture form that device pushes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.capture import (
    Assets,
    Capture,
    GpsFix,
    IncomeItem,
    MemberStatus,
    Outcome,
    Photo,
    PhotoKind,
    SignatureMissing,
)
from schemas.registry import Health, IncomeKind, LabourCapacity

#: The shared peer harness and workload, beside the project's checkout (``../shared/bench``).
WORKLOAD_DIR = Path(__file__).resolve().parents[3] / "shared" / "bench"
if str(WORKLOAD_DIR) not in sys.path:
    sys.path.insert(0, str(WORKLOAD_DIR))

from workload import device_records, mutate  # noqa: E402

__all__ = ["Mapped", "device_records", "map_record", "mutate", "update_form"]

_NS = uuid.UUID("6f1c2d4e-8a57-4b0e-9a3c-2f0d4b7e9c11")
_RELATION = {
    "户主": "head",
    "配偶": "spouse",
    "子女": "child",
    "孙子女": "grandchild",
    "父母": "parent",
    "儿媳": "child_in_law",
    "女婿": "child_in_law",
    "兄弟姐妹": "sibling",
    "其他亲属": "other",
}
_HEALTH = {
    "healthy": Health.healthy,
    "chronic": Health.often_ill,
    "serious_illness": Health.seriously_ill,
    "disabled": Health.often_ill,
    "bedridden": Health.seriously_ill,
    "mental": Health.seriously_ill,
    "frail_elderly": Health.often_ill,
}
_INCOME = {
    "wage": IncomeKind.wages,
    "odd_jobs": IncomeKind.wages,
    "business": IncomeKind.business,
    "farming": IncomeKind.business,
    "property": IncomeKind.property,
    "pension": IncomeKind.pension,
    "support_from_children": IncomeKind.support,
    "transfer_other": IncomeKind.other,
}
_PHOTO = {
    "house_exterior": PhotoKind.house_outside,
    "house_interior": PhotoKind.house_inside,
    "document": PhotoKind.document,
    "medical_record": PhotoKind.document,
    "member_with_worker": PhotoKind.other,
}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_YEAR = 2025


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(_NS, ":".join(str(p) for p in parts))


def _id_number(birth: dt.date, index: int, member: int) -> str:
    """Unique per (record, member): the region part carries index // 140, the serial the rest."""
    body = f"52{index // 140:04d}{birth:%Y%m%d}{(index % 140) * 7 + member:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


@dataclass
class Mapped:
    """One record as recheck rows and the capture its device pushes."""

    household: dict[str, Any]
    members: list[dict[str, Any]]
    incomes: list[dict[str, Any]]
    visit_id: uuid.UUID
    capture_id: uuid.UUID
    form: Capture


def map_record(record: dict[str, Any], index: int) -> Mapped:
    """``index`` makes codes and ID numbers unique across the whole workload."""
    key = record["visit_id"]
    household_id = _uuid(key, "household")
    member_ids = {m["member_id"]: _uuid(key, m["member_id"]) for m in record["members"]}
    members = []
    for n, m in enumerate(record["members"]):
        born = dt.date(_YEAR - m["age"], 1 + n % 12, 1 + (index + n) % 28)
        members.append(
            {
                "id": member_ids[m["member_id"]],
                "household_id": household_id,
                "name": m["name"],
                "relation": _RELATION.get(m["relation"], "other"),
                "id_number": _id_number(born, index, n),
                "sex": "male" if m["gender"] == "M" else "female",
                "birth_date": born,
                "health": _HEALTH[m["health"]].value,
                "disability_grade": m.get("disability_grade"),
                "labour_capacity": "full" if m["able_to_work"] else "none",
            }
        )
    a = record["address"]
    household = {
        "id": household_id,
        "code": f"{record['household_id']}-{index:05d}",
        "head_name": members[0]["name"],
        "head_id_number": members[0]["id_number"],
        "address": f"{a['district']}{a['township']}{a['village']}{a['group']}",
        "residence": "rural",
        "category": {"A": "three_no", "B": "extreme_hardship"}.get(record["assessment"]["benefit_class"], "general"),
        "lat": record["gps"]["lat"],
        "lon": record["gps"]["lon"],
        "benefit_amount": 56000,
    }
    incomes = [
        {
            "id": _uuid(key, "registry-income", i),
            "household_id": household_id,
            "member_id": member_ids[item["member_id"]],
            "kind": _INCOME[item["kind"]].value,
            "monthly_amount": _fen(item["monthly_yuan"]),
            "note": item["note"] or None,
        }
        for i, item in enumerate(record["income"])
    ]
    return Mapped(
        household=household,
        members=members,
        incomes=incomes,
        visit_id=_uuid(key, "visit"),
        capture_id=_uuid(key, "capture"),
        form=capture_form(record, member_ids),
    )


def capture_form(record: dict[str, Any], member_ids: dict[str, uuid.UUID]) -> Capture:
    key = record["visit_id"]
    at = dt.datetime.fromisoformat(record["recorded_at"]).astimezone(dt.UTC)
    signed = record["assessment"]["household_signed"]
    assets = record["assets"]
    earners = {item["member_id"] for item in record["income"]}
    return Capture(
        outcome=Outcome.completed,
        members=[
            MemberStatus(
                member_id=member_ids[m["member_id"]],
                present=n == 0 or m["age"] >= 18,
                health=_HEALTH[m["health"]],
                disability_grade=m.get("disability_grade"),
                labour_capacity=LabourCapacity.full if m["able_to_work"] else LabourCapacity.none,
                no_income=m["member_id"] not in earners,
            )
            for n, m in enumerate(record["members"])
        ],
        incomes=[
            IncomeItem(
                id=_uuid(key, "income", i),
                kind=_INCOME[item["kind"]],
                monthly_amount=_fen(item["monthly_yuan"]),
                member_id=member_ids[item["member_id"]],
                note=item["note"] or None,
            )
            for i, item in enumerate(record["income"])
        ],
        assets=Assets(
            # the record says only "over the limit": one yuan over the shipped rural limit
            # (24 months of the 560.00 standard per member), as the amount the limit is judged on
            deposits_amount=24 * 560_00 * len(record["members"]) + 100 if assets["savings_over_limit"] else None,
            vehicles=int(assets["vehicle"]),
            extra_housing=assets["extra_housing"],
            commercial_property=assets["commercial_property"],
            business=assets["business_registration"],
            livestock_head=assets["livestock_head"],
            farmland_mu=assets["farmland_mu"],
        ),
        notes=record["notes"],
        gps=GpsFix(lat=record["gps"]["lat"], lon=record["gps"]["lon"], accuracy_m=record["gps"]["accuracy_m"], at=at),
        started_at=dt.datetime.fromisoformat(record["started_at"]).astimezone(dt.UTC),
        ended_at=dt.datetime.fromisoformat(record["ended_at"]).astimezone(dt.UTC),
        head_signature=hashlib.sha256(f"{key}:signature".encode()).hexdigest() if signed else None,
        signature_missing=None if signed else SignatureMissing.refused,
        photos=[Photo(sha256=p["sha256"], kind=_PHOTO.get(p["kind"], PhotoKind.other)) for p in record["photos"]],
    )


def update_form(form: Capture, record: dict[str, Any], member_ids: dict[str, uuid.UUID]) -> Capture:
    """The capture after the harness's ``mutate`` edit of the same record."""
    return capture_form(record, member_ids)
