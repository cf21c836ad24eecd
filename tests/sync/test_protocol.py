"""The framework-free protocol parts: cursors, digests, the merge rules, capture checks, codec."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.capture import Assets, Capture, DeductionItem, DepositsBand, IncomeItem, MemberAdd, MemberStatus, Outcome
from sync.codec import DecodeProblem, decode_mutation, decode_push
from sync.cursor import CursorError, decode_cursor, encode_cursor
from sync.digest import EMPTY_DIGEST, digest
from sync.merge import CAPTURE_RULES, HOUSEHOLD_RULES, FieldMeta, three_way_merge
from sync.validate import capture_problems

SECRET = b"s3cret"
DEVICE = uuid.uuid4()


@given(st.integers(min_value=0, max_value=2**62))
def test_cursor_round_trip(seq: int) -> None:
    assert decode_cursor(SECRET, DEVICE, encode_cursor(SECRET, DEVICE, seq)) == seq


def test_cursor_refusals_say_why() -> None:
    cursor = encode_cursor(SECRET, DEVICE, 42)
    with pytest.raises(CursorError, match="another device"):
        decode_cursor(SECRET, uuid.uuid4(), cursor)
    with pytest.raises(CursorError, match="forged"):
        decode_cursor(SECRET, DEVICE, cursor.replace(".42.", ".43."))
    with pytest.raises(CursorError, match="not a cursor"):
        decode_cursor(SECRET, DEVICE, "hello")
    with pytest.raises(CursorError, match="forged"):
        decode_cursor(b"other secret", DEVICE, cursor)


def test_digest_ignores_order_and_id_spelling() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert digest([("visit", a, 1), ("household", b, 2)]) == digest([("household", b.hex, 2), ("visit", str(a), 1)])
    assert digest([("visit", a, 1)]) != digest([("visit", a, 2)])
    assert digest([]) == EMPTY_DIGEST


def _merge(current: dict[str, object], meta: dict[str, FieldMeta], patch: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    defaults = {"base_version": 1, "current_version": 2, "source": "device:a", "seq": 5, "rules": CAPTURE_RULES}
    return three_way_merge(current, meta, patch, **{**defaults, **kw})  # type: ignore[arg-type]


def test_field_nobody_else_touched_is_applied() -> None:
    out = _merge({"notes": "a"}, {"notes": FieldMeta(1, "device:a", 1)}, {"notes": "b"})
    assert out.apply == {"notes": "b"}
    assert not out.conflicts


def test_both_changed_observation_device_wins_with_a_record() -> None:
    out = _merge({"notes": "supervisor"}, {"notes": FieldMeta(2, "server:sup", 0)}, {"notes": "worker"})
    assert out.apply == {"notes": "worker"}
    assert [(c.field, c.kept, c.server_value, c.device_value) for c in out.conflicts] == [
        ("notes", "device", "supervisor", "worker")
    ]


def test_same_value_is_no_conflict_and_own_older_edit_is_superseded() -> None:
    assert not _merge({"notes": "x"}, {"notes": FieldMeta(2, "server:sup", 0)}, {"notes": "x"}).conflicts
    late = _merge({"notes": "newer"}, {"notes": FieldMeta(2, "device:a", 9)}, {"notes": "older"}, seq=3)
    assert late.superseded == ["notes"]
    assert not late.apply


def test_supervisor_owned_field_is_never_applied_from_a_device() -> None:
    out = three_way_merge(
        {"category": "general", "address": "old"},
        {},
        {"category": "three_no", "address": "new"},
        base_version=5,
        current_version=5,
        source="device:a",
        seq=1,
        rules=HOUSEHOLD_RULES,
    )
    assert out.apply == {"address": "new"}
    assert [(c.field, c.kept) for c in out.conflicts] == [("category", "server")]


def test_capture_problems_name_fields_and_only_for_sent_fields() -> None:
    member, stranger, added, cost = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    form = Capture(
        members=[MemberStatus(member_id=member), MemberStatus(member_id=added)],
        member_changes=[
            MemberAdd(
                member_id=added,
                name="新生儿",
                relation="child",
                sex="female",
                birth_date=dt.date(2026, 1, 1),
                reason="birth",
            )
        ],
        incomes=[IncomeItem(id=uuid.uuid4(), kind="wages", monthly_amount=100, member_id=stranger)],
        deductions=[
            DeductionItem(id=cost, kind="illness_cost", monthly_amount=100, member_id=added),
            DeductionItem(id=cost, kind="job_cost", monthly_amount=100, member_id=stranger),
        ],
        started_at=dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC),
        ended_at=dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC),
    )
    sent = {"incomes", "deductions", "ended_at"}
    problems = capture_problems(form, sent, member_ids={member}, submit=True, prefix="$.f")
    assert [p.path for p in problems] == [
        "$.f.incomes[0].member_id",
        "$.f.deductions[1].member_id",
        "$.f.deductions[1].id",
        "$.f.ended_at",
        "$.f.outcome",
    ]
    assert capture_problems(form, set(), member_ids={member}, submit=False, prefix="$.f") == []
    answered = [msgspec.structs.replace(s, no_income=True) for s in form.members]
    done = msgspec.structs.replace(form, outcome=Outcome.completed, members=answered, incomes=[], ended_at=None)
    assert [p.path for p in capture_problems(done, set(), member_ids={member}, submit=True, prefix="$")] == [
        "$.head_signature"
    ]


def test_codec_rejects_one_mutation_with_its_path() -> None:
    envelope = decode_push(
        b'{"device_time":"2026-01-01T00:00:00Z","mutations":[{"entity":"capture"},{"entity":"visit"}]}'
    )
    errors = [decode_mutation(raw, i) for i, raw in enumerate(envelope.mutations)]
    assert [getattr(e, "path", None) for e in errors] == ["$.mutations[0]", "$.mutations[1].entity"]
    with pytest.raises(DecodeProblem) as problem:
        decode_push(b'{"device_time":"yesterday","mutations":[]}')
    assert problem.value.error.path == "$.device_time"


def test_reference_data_lists_every_code_with_labels_and_a_content_version() -> None:
    from schemas.decisions import DeductionKind
    from schemas.registry import IncomeKind
    from sync.reference import reference_data

    ref = reference_data()
    income = {c.code: c for c in ref.lists["income_kinds"]}
    assert set(income) == {k.value for k in IncomeKind}
    assert income["wages"].counted is True
    assert income["resident_basic_pension"].counted is False
    deductions = {c.code: c.zh for c in ref.lists["deduction_kinds"]}
    assert set(deductions) == {k.value for k in DeductionKind}
    assert all(label != code for code, label in deductions.items())  # a Chinese label, not the code
    assert ref.version == hashlib.sha256(msgspec.json.encode(ref.lists)).hexdigest()[:16]


def test_a_completed_capture_gives_the_deposits_amount_with_a_band() -> None:
    member = uuid.uuid4()
    base = Capture(
        outcome=Outcome.completed,
        members=[MemberStatus(member_id=member, no_income=True)],
        signature_missing="cannot_write",
    )

    def problems(assets: Assets) -> list[tuple[str, str]]:
        form = msgspec.structs.replace(base, assets=assets)
        return [
            (p.path, p.reason) for p in capture_problems(form, {"assets"}, member_ids={member}, submit=True, prefix="$")
        ]

    assert problems(Assets(deposits=DepositsBand.over_50k)) == [
        ("$.assets.deposits_amount", "required with a deposits band: the property limit is judged on the amount")
    ]
    assert problems(Assets(deposits=DepositsBand.over_50k, deposits_amount=53_760_01)) == []
    assert problems(Assets(deposits=DepositsBand.from_10k_to_50k, deposits_amount=60_000_00)) == [
        ("$.assets.deposits_amount", "outside the band 10k_50k")
    ]
    assert problems(Assets(deposits=DepositsBand.none)) == []
    assert problems(Assets(deposits_amount=13_440_00)) == []
    # a draft may leave it for later; a handed-in form may not lose it
    draft = msgspec.structs.replace(base, assets=Assets(deposits=DepositsBand.under_10k))
    assert capture_problems(draft, {"assets"}, member_ids={member}, submit=False, prefix="$") == []
    assert [
        p.path
        for p in capture_problems(draft, {"assets"}, member_ids={member}, submit=False, prefix="$", submitted=True)
    ] == ["$.assets.deposits_amount"]
