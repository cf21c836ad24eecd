"""household list: (updated_at, id) index for the updated_at sort's keyset cursor

An import gives many households the same ``updated_at``; with the single-column index a page
after the first had to scan all of them to find the cursor's id.

Revision ID: 0008_household_updated_at_id
Revises: 0007_visit_plan_indexes
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_household_updated_at_id"
down_revision: str | Sequence[str] | None = "0007_visit_plan_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.create_index("ix_household_updated_at_id", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index("ix_household_updated_at_id")
