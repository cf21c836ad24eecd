"""The visit (one recheck of one household) and the complaint (举报) that may cause one."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["Complaint", "Visit"]


class Visit(Base):
    """A home visit (入户调查) planned for a household.

    ``state`` follows planned → assigned → downloaded → submitted → accepted / returned, or
    cancelled (see :mod:`server.planning.states`). ``area_id`` repeats the household's area so
    every scope check is one indexed comparison. ``version`` increases on every change.

    A household has at most one scheduled visit per due date (``uq_visit_scheduled_due``), so
    generating a plan twice creates nothing new, even when two runs race. ``route_order`` and
    ``route_leg_m`` (metres from the previous stop) are set when the day's route is ordered.
    ``area_id`` is copied from the household (see the column's note on why it has no foreign key).
    """

    __tablename__ = "visit"
    __table_args__ = (
        # Only assigned visits are looked up by worker: a plan's new (unassigned) rows skip these.
        Index(
            "ix_visit_assignee_state",
            "assigned_to",
            "state",
            sqlite_where=text("assigned_to IS NOT NULL"),
            postgresql_where=text("assigned_to IS NOT NULL"),
        ),
        Index("ix_visit_area_due", "area_id", "due_on"),
        Index(
            "ix_visit_assignee_day",
            "assigned_to",
            "visit_on",
            sqlite_where=text("assigned_to IS NOT NULL"),
            postgresql_where=text("assigned_to IS NOT NULL"),
        ),
        Index(
            "uq_visit_scheduled_due",
            "household_id",
            "due_on",
            unique=True,
            sqlite_where=text("reason = 'scheduled'"),
            postgresql_where=text("reason = 'scheduled'"),
        ),
    )

    id: Mapped[UuidPk]
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"), index=True)
    # A copy of the household's area (which is checked against ``area``), kept for one-comparison
    # scope checks. Deliberately no foreign key of its own: on PostgreSQL that check, against a
    # few hundred area rows, cost as much as the rest of a plan's million-row insert.
    area_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    period: Mapped[str | None] = mapped_column(String(16), default=None)
    due_on: Mapped[dt.date]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    visit_on: Mapped[dt.date | None] = mapped_column(default=None)
    route_order: Mapped[int | None] = mapped_column(Integer, default=None)
    route_leg_m: Mapped[int | None] = mapped_column(Integer, default=None)
    return_comment: Mapped[str | None] = mapped_column(String(500), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Complaint(Base):
    """A complaint (举报) about a household, or about a person not yet matched to one.

    ``reporter_name`` and ``reporter_contact`` are shown to approvers only and never written to
    the audit trail. ``deadline_on`` is fixed at intake (received date plus the configured
    number of working days); an open complaint past it is overdue. ``visit_id`` is the urgent
    recheck it created or joined.
    """

    __tablename__ = "complaint"
    __table_args__ = (Index("ix_complaint_area_status", "area_id", "status"),)

    id: Mapped[UuidPk]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(2000))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("household.id"), index=True, default=None)
    subject_name: Mapped[str | None] = mapped_column(String(100), default=None)
    subject_id_number: Mapped[str | None] = mapped_column(String(18), default=None)
    subject_address: Mapped[str | None] = mapped_column(String(300), default=None)
    reporter_name: Mapped[str | None] = mapped_column(String(100), default=None)
    reporter_contact: Mapped[str | None] = mapped_column(String(200), default=None)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    staff_relative: Mapped[bool] = mapped_column(Boolean, default=False)
    received_on: Mapped[dt.date]
    deadline_on: Mapped[dt.date]
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit.id"), index=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolution: Mapped[str | None] = mapped_column(String(4000), default=None)
    substantiated: Mapped[bool | None] = mapped_column(Boolean, default=None)
    resolved_on: Mapped[dt.date | None] = mapped_column(default=None)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
