"""Cross-field checks of a capture: what msgspec's types cannot say on their own.

The form is checked as it will be after the merge, but a problem is reported only against the
fields this mutation sent, so an earlier accepted edit never gets a later mutation rejected.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence

from schemas.capture import (
    Capture,
    DeductionItem,
    DepositsBand,
    IncomeItem,
    MemberAdd,
    MemberEdit,
    MemberRemove,
    Outcome,
)
from schemas.errors import FieldError

__all__ = ["capture_problems"]

_MAX_VISIT = dt.timedelta(hours=16)
#: The fields whose change can leave a handed-in form without what the decision is computed
#: from (every member's income answer, the deposits amount).
_DECIDING_FIELDS = frozenset({"outcome", "members", "member_changes", "incomes", "assets"})
#: The amounts (fen, both ends included) each deposits band admits.
_BAND_FEN: dict[DepositsBand, tuple[int, int | None]] = {
    DepositsBand.none: (0, 0),
    DepositsBand.under_10k: (0, 10_000_00),
    DepositsBand.from_10k_to_50k: (10_000_00, 50_000_00),
    DepositsBand.over_50k: (50_000_00, None),
}


def _income_problems(form: Capture, registered: Collection[uuid.UUID]) -> list[tuple[str, str]]:
    """(path, reason) wherever a completed form does not say, for a member still in the
    household, whether they have income (an income item naming them, or ``no_income``), or
    says both.

    A member with neither would otherwise count as having no income at all (DOMAIN.md: the
    income decides the amount), so "no income" has to be said explicitly.
    """
    removed = {c.member_id for c in form.member_changes if isinstance(c, MemberRemove)}
    added = [c.member_id for c in form.member_changes if isinstance(c, MemberAdd)]
    current = {m for m in [*registered, *added] if m not in removed}
    listed = [s.member_id for s in form.members if s.member_id in current]
    # in form order, then those the form leaves out (in a stable order)
    ordered = [*dict.fromkeys(listed), *sorted(current - set(listed), key=str)]
    named: dict[uuid.UUID, int] = {}
    for i, line in enumerate(form.incomes):
        if line.member_id is not None:
            named.setdefault(line.member_id, i)
    statuses = {s.member_id: (j, s) for j, s in enumerate(form.members)}
    problems: list[tuple[str, str]] = []
    for member_id in ordered:
        j, status = statuses.get(member_id, (None, None))
        if status is not None and status.no_income and member_id in named:
            problems.append(
                (f"incomes[{named[member_id]}].member_id", f"this member has no income (members[{j}].no_income)")
            )
        elif member_id in named or (status is not None and status.no_income):
            continue
        elif status is None:
            problems.append(
                ("members", f"member {member_id}: a completed visit needs an income item naming them or no_income")
            )
        else:
            problems.append(
                (
                    f"members[{j}].no_income",
                    "required for a completed visit: an income item naming this member, or true",
                )
            )
    return problems


def _deposit_problems(form: Capture) -> list[tuple[str, str]]:
    """(path, reason) when a completed form's deposits cannot be judged against the property
    limit: a band (other than ``none``) without the amount, or an amount outside its band."""
    assets = form.assets
    if assets is None or assets.deposits is None:
        return []
    low, high = _BAND_FEN[assets.deposits]
    amount = assets.deposits_amount
    if amount is None:
        if assets.deposits is DepositsBand.none:
            return []
        return [("assets.deposits_amount", "required with a deposits band: the property limit is judged on the amount")]
    if amount < low or (high is not None and amount > high):
        return [("assets.deposits_amount", f"outside the band {assets.deposits.value}")]
    return []


def capture_problems(
    form: Capture,
    sent: Collection[str],
    *,
    member_ids: Collection[uuid.UUID],
    submit: bool,
    prefix: str,
    submitted: bool = False,
) -> list[FieldError]:
    """Problems of the merged ``form``; ``sent`` is the set of fields the mutation changed.

    ``member_ids`` are the household's registered members; members added in the form count too.
    ``prefix`` is the path of the mutation's ``fields`` (e.g. ``$.mutations[2].fields``).
    ``submitted``: the form was handed in earlier, so a later edit must keep it complete.
    """
    problems: list[FieldError] = []
    registered = set(member_ids)
    added = {c.member_id for c in form.member_changes if isinstance(c, MemberAdd)}
    known = registered | added

    def report(field: str, path: str, reason: str) -> None:
        if field in sent:
            problems.append(FieldError(path=f"{prefix}.{path}", reason=reason))

    for i, change in enumerate(form.member_changes):
        if isinstance(change, MemberAdd) and change.member_id in registered:
            report("member_changes", f"member_changes[{i}].member_id", "already a member of this household")
        if isinstance(change, MemberRemove | MemberEdit) and change.member_id not in registered:
            report("member_changes", f"member_changes[{i}].member_id", "not a member of this household")
    seen: set[uuid.UUID] = set()
    for i, status in enumerate(form.members):
        if status.member_id not in known:
            report("members", f"members[{i}].member_id", "not a member of this household (nor added in this form)")
        elif status.member_id in seen:
            report("members", f"members[{i}].member_id", "listed twice")
        seen.add(status.member_id)
    lists: tuple[tuple[str, Sequence[IncomeItem | DeductionItem]], ...] = (
        ("incomes", form.incomes),
        ("deductions", form.deductions),
    )
    for name, lines in lists:
        ids: set[uuid.UUID] = set()
        for i, line in enumerate(lines):
            if line.member_id is not None and line.member_id not in known:
                report(name, f"{name}[{i}].member_id", "not a member of this household (nor added in this form)")
            if line.id in ids:
                report(name, f"{name}[{i}].id", "listed twice")
            ids.add(line.id)
    for i, photo in enumerate(form.photos):
        if photo.member_id is not None and photo.member_id not in known:
            report("photos", f"photos[{i}].member_id", "not a member of this household")
    if form.started_at and form.ended_at:
        if form.ended_at < form.started_at:
            report("ended_at", "ended_at", "before started_at")
        elif form.ended_at - form.started_at > _MAX_VISIT:
            report("ended_at", "ended_at", "a visit cannot last more than 16 hours")
    if form.head_signature and form.signature_missing:
        report("signature_missing", "signature_missing", "give either the signature or the reason it is missing")
    if form.outcome is Outcome.completed and (submit or (submitted and _DECIDING_FIELDS & set(sent))):
        for path, reason in [*_income_problems(form, registered), *_deposit_problems(form)]:
            problems.append(FieldError(path=f"{prefix}.{path}", reason=reason))
    if submit:
        if form.outcome is None:
            problems.append(FieldError(path=f"{prefix}.outcome", reason="required to submit"))
        elif form.outcome is Outcome.completed and not (form.head_signature or form.signature_missing):
            problems.append(
                FieldError(
                    path=f"{prefix}.head_signature",
                    reason="a completed visit needs the head's signature or the reason it is missing",
                )
            )
    return problems
