"""Payment months (the roster's state) and roster rows (one per household and month)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, BigIntPk, utcnow

__all__ = ["PaymentMonth", "RosterRow"]


class PaymentMonth(Base):
    """One month's payment roster. ``open`` rosters may be rebuilt; ``closed`` ones are frozen
    (approvals made later take effect in the next open month). Totals are integer fen."""

    __tablename__ = "payment_month"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), default="open")
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    built_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    built_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    returned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    paid_count: Mapped[int] = mapped_column(Integer, default=0)
    paid_total: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_total: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Households left off the roster at its last build, with why (e.g. the head died and no
    #: new head was named): ``household_id``, ``household_code``, ``area_id``, ``amount``, ``reason``.
    held: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RosterRow(Base):
    """One household's payment for one month. ``seq`` is the line number in the bank file;
    ``status`` is ``pending`` until the bank's return marks it ``paid`` or ``failed``."""

    __tablename__ = "roster_row"
    __table_args__ = (
        UniqueConstraint("month", "household_id"),
        UniqueConstraint("month", "seq"),
        Index("ix_roster_row_month_area", "month", "area_id"),
    )

    id: Mapped[BigIntPk]
    month: Mapped[str] = mapped_column(ForeignKey("payment_month.month", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id"))
    household_code: Mapped[str] = mapped_column(String(40))
    payee_name: Mapped[str] = mapped_column(String(100))
    payee_id_number: Mapped[str] = mapped_column(String(18))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    bank_name: Mapped[str | None] = mapped_column(String(100), default=None)
    bank_account: Mapped[str | None] = mapped_column(String(40), default=None)
    amount: Mapped[int] = mapped_column(BigInteger)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    failure_reason: Mapped[str | None] = mapped_column(String(200), default=None)
