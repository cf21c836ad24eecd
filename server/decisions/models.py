"""Decisions: stored rule versions, proposals, community appraisals, public notices,
objections and approvals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["DECIDED_SQL", "Approval", "CommunityAppraisal", "Objection", "Proposal", "PublicNotice", "RuleSet"]

#: The states of an approved decision (approved, then effective), as SQL for partial indexes.
DECIDED_SQL = "state IN ('approved', 'effective')"


class RuleSet(Base):
    """One version of the programme rules, as an admin loaded it. Rows are never changed: a
    new document is a new version, and the newest row is the one in force for new proposals."""

    __tablename__ = "rule_set"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    document: Mapped[dict[str, Any]]
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PublicNotice(Base):
    """A public notice (公示) of proposals of one village or community: ``ends_on`` is the last
    day of the notice (inclusive); approval is possible from the day after."""

    __tablename__ = "public_notice"

    id: Mapped[UuidPk]
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    days: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Proposal(Base):
    """The policy engine's proposal for one accepted visit, and its way through the workflow.

    ``inputs`` holds the version of every input used (visit, household, capture, rules …) so a
    later change is detected and the proposal recomputed; ``changes`` lists what each
    recomputation changed. ``decided_outcome`` / ``decided_amount`` are what the supervisor
    confirmed or set by override; the roster pays ``decided_amount`` from ``effective_from``.
    A proposal a newer one replaced before approval names it in ``superseded_by``, and why in
    ``superseded_reason``.
    """

    __tablename__ = "proposal"
    __table_args__ = (
        Index("ix_proposal_area_state", "area_id", "state"),
        Index("ix_proposal_household_effective", "household_id", "effective_from"),
        # At most one approved decision per household takes effect in a month (effective_from is
        # always a month's first day), whatever races the approvals run into.
        Index(
            "uq_proposal_household_month",
            "household_id",
            "effective_from",
            unique=True,
            sqlite_where=text(DECIDED_SQL),
            postgresql_where=text(DECIDED_SQL),
        ),
    )

    id: Mapped[UuidPk]
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), unique=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(16), default=None)
    reasons: Mapped[list[Any]]
    rule_version: Mapped[str] = mapped_column(String(64))
    standard: Mapped[int] = mapped_column(BigInteger)
    old_amount: Mapped[int] = mapped_column(BigInteger)
    new_amount: Mapped[int] = mapped_column(BigInteger)
    per_capita_income: Mapped[int | None] = mapped_column(BigInteger, default=None)
    calculated_amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    near_dibao: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    phase_out_months: Mapped[int | None] = mapped_column(Integer, default=None)
    explanation_zh: Mapped[str] = mapped_column(Text)
    explanation_en: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    situation: Mapped[dict[str, Any]]
    inputs: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    changes: Mapped[list[Any]]
    decided_outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    decided_amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("public_notice.id"), default=None, index=True)
    objections: Mapped[int] = mapped_column(Integer, default=0)
    effective_from: Mapped[dt.date | None] = mapped_column(default=None)
    phase_out_until: Mapped[dt.date | None] = mapped_column(default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    applied_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    superseded_reason: Mapped[str | None] = mapped_column(Text, default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CommunityAppraisal(Base):
    """A community appraisal (民主评议) of one proposal: date, participants, verdict."""

    __tablename__ = "community_appraisal"

    id: Mapped[UuidPk]
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposal.id"), index=True)
    held_on: Mapped[dt.date]
    participants: Mapped[list[Any]]
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Objection(Base):
    """An objection raised during a public notice. It holds the proposal until resolved;
    ``complaint_id`` links the complaint it was registered as."""

    __tablename__ = "objection"

    id: Mapped[UuidPk]
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposal.id"), index=True)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("public_notice.id"), default=None)
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    channel: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    received_on: Mapped[dt.date]
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolution: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Approval(Base):
    """The approval of one proposal; proposals approved together share ``batch_id``."""

    __tablename__ = "approval"

    id: Mapped[UuidPk]
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposal.id"), unique=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    approver_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    approved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    effective_from: Mapped[dt.date]
    amount: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text, default=None)
