"""registry: member changes of accepted visits as applied to the registry, the household's
vacant head (held off the payment roster until a new head is named), the roster's held households

Revision ID: 0013_member_changes
Revises: 0012_photo_phash_bands
Create Date: 2026-12-04 01:35:08.217077
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import server.db.base

revision: str = "0013_member_changes"
down_revision: str | Sequence[str] | None = "0012_photo_phash_bands"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_change",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("on", sa.Date(), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("applied_by", sa.Uuid(), nullable=True),
        sa.Column("applied_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_member_change_household_id_household"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visit.id"], name=op.f("fk_member_change_visit_id_visit"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_change")),
    )
    with op.batch_alter_table("member_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_change_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_change_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head_vacant_since", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("head_vacant_reason", sa.String(length=16), nullable=True))

    with op.batch_alter_table("payment_month", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "held",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_month", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("held")

    # plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): recreating the household table would trip
    # the foreign keys of the tables that reference it once they hold rows
    with op.batch_alter_table("household", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("head_vacant_reason")
        batch_op.drop_column("head_vacant_since")

    with op.batch_alter_table("member_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_change_visit_id"))
        batch_op.drop_index(batch_op.f("ix_member_change_household_id"))

    op.drop_table("member_change")
