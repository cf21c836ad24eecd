"""registry: amount corrections (a roster re-import or a supervisor says an amount is wrong;
the amount changes only when an approver confirms), at most one pending per household

Revision ID: 0009_amount_corrections
Revises: 0008_household_updated_at_id
Create Date: 2026-12-04 01:06:03.990360
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.base

revision: str = "0009_amount_corrections"
down_revision: str | Sequence[str] | None = "0008_household_updated_at_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "amount_correction",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("old_amount", sa.BigInteger(), nullable=False),
        sa.Column("new_amount", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint("new_amount >= 0", name=op.f("ck_amount_correction_new_amount_non_negative")),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_amount_correction_area_id_area")),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_amount_correction_household_id_household"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amount_correction")),
    )
    with op.batch_alter_table("amount_correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_amount_correction_household_id"), ["household_id"], unique=False)
        batch_op.create_index(
            "uq_amount_correction_pending",
            ["household_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("amount_correction", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_amount_correction_pending",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_amount_correction_household_id"))

    op.drop_table("amount_correction")
