"""The visit: one recheck of one household, and its state machine."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["Visit"]


class Visit(Base):
    """A home visit (入户调查) planned for a household.

    ``state`` follows planned → assigned → downloaded → submitted → accepted / returned, or
    cancelled (see :mod:`server.planning.states`). ``area_id`` repeats the household's area so
    every scope check is one indexed comparison. ``version`` increases on every change.
    """

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_assignee_state", "assigned_to", "state"),
        Index("ix_visit_area_due", "area_id", "due_on"),
    )

    id: Mapped[UuidPk]
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    reason: Mapped[str] = mapped_column(String(16))
    period: Mapped[str | None] = mapped_column(String(16), default=None)
    due_on: Mapped[dt.date]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    visit_on: Mapped[dt.date | None] = mapped_column(default=None)
    route_order: Mapped[int | None] = mapped_column(Integer, default=None)
    return_comment: Mapped[str | None] = mapped_column(String(500), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
