"""Areas (the area tree), households, members and their income items."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UuidPk, utcnow

__all__ = ["AmountCorrection", "Area", "Household", "IncomeItem", "Member", "MemberChange"]


class Area(Base):
    """A node of the area tree: county → township/office → community/village.

    ``path`` is the chain of ids (``/1/4/17/``) so "everything below this area" is one
    prefix comparison, which is how every query is scoped to a user's areas.
    """

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), default=None)
    path: Mapped[str] = mapped_column(String(200), index=True, default="")
    residence: Mapped[str | None] = mapped_column(String(8), default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)


class Household(Base):
    """A household on (or applying for) the allowance. ``benefit_amount`` is fen per month."""

    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint("benefit_amount >= 0", name="benefit_amount_non_negative"),
        Index("ix_household_area_code", "area_id", "code"),
        Index("ix_household_benefit_amount_id", "benefit_amount", "id"),
        Index("ix_household_head_name_id", "head_name", "id"),
        Index("ix_household_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[UuidPk]
    code: Mapped[str] = mapped_column(String(40), unique=True)
    head_name: Mapped[str] = mapped_column(String(100))
    head_id_number: Mapped[str] = mapped_column(String(18), unique=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), index=True)
    residence: Mapped[str] = mapped_column(String(8))
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active")
    benefit_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    bank_name: Mapped[str | None] = mapped_column(String(100), default=None)
    bank_account: Mapped[str | None] = mapped_column(String(40), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    approved_on: Mapped[dt.date | None] = mapped_column(default=None)
    last_recheck_on: Mapped[dt.date | None] = mapped_column(default=None)
    #: The head left (died, moved out …) at an accepted visit and nobody was named head yet:
    #: the household is held off the payment roster until a new head is named.
    head_vacant_since: Mapped[dt.date | None] = mapped_column(default=None)
    head_vacant_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Member(Base):
    """A household member. ``id_number`` is the 18-character resident ID (GB 11643)."""

    __tablename__ = "member"
    __table_args__ = (
        CheckConstraint("disability_grade IS NULL OR disability_grade BETWEEN 1 AND 4", name="disability_grade"),
    )

    id: Mapped[UuidPk]
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(16))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    sex: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[dt.date]
    health: Mapped[str] = mapped_column(String(16), default="healthy")
    disability_grade: Mapped[int | None] = mapped_column(Integer, default=None)
    labour_capacity: Mapped[str] = mapped_column(String(8), default="full")
    employment: Mapped[str | None] = mapped_column(String(100), default=None)


class IncomeItem(Base):
    """One monthly income item of a household (optionally of one member), in fen."""

    __tablename__ = "income_item"
    __table_args__ = (CheckConstraint("monthly_amount >= 0", name="monthly_amount_non_negative"),)

    id: Mapped[UuidPk]
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(32))
    monthly_amount: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(200), default=None)


class AmountCorrection(Base):
    """A registered amount someone says is wrong (a re-imported roster, a supervisor), waiting
    for an approver. Until it is ``confirmed`` the household keeps ``old_amount``: after the
    first registration an amount changes only through an approved decision or a confirmed
    correction. ``superseded``: a later correction of the same household replaced it."""

    __tablename__ = "amount_correction"
    __table_args__ = (
        CheckConstraint("new_amount >= 0", name="new_amount_non_negative"),
        Index(
            "uq_amount_correction_pending",
            "household_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[UuidPk]
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"))
    old_amount: Mapped[int] = mapped_column(BigInteger)
    new_amount: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(300), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, default=None)


class MemberChange(Base):
    """A member change of an accepted visit as it was applied to the registry (or why not).

    ``change`` is ``add``, ``remove`` or ``edit`` (the capture's), ``applied`` says whether the
    registry changed. The removals are also what lets a proposal computed after the visit still
    count the members who left (their rows are gone from ``member``).
    """

    __tablename__ = "member_change"

    id: Mapped[UuidPk]
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID]
    change: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(16))
    applied: Mapped[bool] = mapped_column(default=True)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    on: Mapped[dt.date | None] = mapped_column(default=None)
    details: Mapped[dict[str, Any]]
    applied_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
