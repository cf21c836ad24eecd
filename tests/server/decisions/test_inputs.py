"""The engine's input from a stored capture: deposits judged against the property limit, and a
completed capture that lacks what the decision needs (pure: situation_from_capture + propose)."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest

from schemas.capture import Assets, Capture, DepositsBand, MemberStatus, Outcome
from schemas.decisions import ProposalOutcome, ReasonCode
from server.decisions.inputs import CaptureIncomplete, situation_from_capture
from server.decisions.policy import propose
from server.decisions.rules import default_rules

ON = dt.date(2026, 6, 1)


def _household(residence: str, size: int) -> tuple[SimpleNamespace, list[SimpleNamespace]]:
    household = SimpleNamespace(category="general", residence=residence, benefit_amount=10000, area_id=1)
    members = [
        SimpleNamespace(
            id=uuid.uuid4(), health="healthy", disability_grade=None, labour_capacity="none", employment=None
        )
        for _ in range(size)
    ]
    return household, members


def _capture(members: list[SimpleNamespace], assets: Assets) -> Capture:
    return Capture(
        outcome=Outcome.completed,
        members=[MemberStatus(member_id=m.id, no_income=True) for m in members],
        assets=assets,
    )


# DOMAIN.md demo standards (urban 720.00, rural 560.00) × 24 months × members
LIMITS = [
    ("rural", 1, 13_440_00),
    ("rural", 4, 53_760_00),
    ("urban", 1, 17_280_00),
    ("urban", 4, 69_120_00),
]


@pytest.mark.parametrize(("residence", "size", "limit"), LIMITS)
def test_deposits_from_the_tablet_are_judged_against_the_limit(residence: str, size: int, limit: int) -> None:
    household, members = _household(residence, size)

    def decided(amount: int, band: DepositsBand | None = None) -> tuple[ProposalOutcome, list[ReasonCode]]:
        capture = _capture(members, Assets(deposits=band, deposits_amount=amount))
        result = propose(situation_from_capture(capture, household, members, []), default_rules(), ON)
        return result.outcome, result.reasons

    at_limit, reasons = decided(limit)
    assert at_limit != ProposalOutcome.cancel
    assert ReasonCode.property_over_limit not in reasons
    over, reasons = decided(limit + 1)
    assert over == ProposalOutcome.cancel
    assert ReasonCode.property_over_limit in reasons
    # the band the tablet also sent used to be compared at its lower bound: never over the limit
    band = DepositsBand.over_50k if limit + 1 > 50_000_00 else DepositsBand.from_10k_to_50k
    assert decided(limit + 1, band)[0] == ProposalOutcome.cancel


def test_explanation_names_the_deposits() -> None:
    household, members = _household("rural", 4)
    capture = _capture(members, Assets(deposits_amount=53_760_01))
    result = propose(situation_from_capture(capture, household, members, []), default_rules(), ON)
    assert "deposits over the limit" in result.explanation_en
    assert "存款超限" in result.explanation_zh


@pytest.mark.parametrize("band", [DepositsBand.under_10k, DepositsBand.from_10k_to_50k, DepositsBand.over_50k])
def test_a_completed_capture_with_only_a_deposits_band_is_incomplete(band: DepositsBand) -> None:
    household, members = _household("rural", 4)
    with pytest.raises(CaptureIncomplete) as info:
        situation_from_capture(_capture(members, Assets(deposits=band)), household, members, [])
    assert [e.path for e in info.value.errors] == ["$.capture.assets.deposits_amount"]
    # "none" needs no amount; a nobody-home visit's band is simply not used
    assert situation_from_capture(_capture(members, Assets(deposits=DepositsBand.none)), household, members, [])
    away = Capture(outcome=Outcome.nobody_home, assets=Assets(deposits=band))
    assert situation_from_capture(away, household, members, []).property.deposits is None


def test_a_completed_capture_without_every_members_income_answer_is_incomplete() -> None:
    household, members = _household("rural", 3)
    silent = Capture(outcome=Outcome.completed, members=[MemberStatus(member_id=members[0].id, no_income=True)])
    with pytest.raises(CaptureIncomplete) as info:
        situation_from_capture(silent, household, members, [])
    assert len(info.value.errors) == 2
    assert info.value.message.startswith("capture incomplete: $.capture.members: member ")
