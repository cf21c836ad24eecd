"""household list: indexes for the benefit_amount and head_name sorts (keyset pagination)

Revision ID: 0006_household_sort_indexes
Revises: 0005_sync
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_household_sort_indexes"
down_revision: str | Sequence[str] | None = "0005_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.create_index("ix_household_benefit_amount_id", ["benefit_amount", "id"], unique=False)
        batch_op.create_index("ix_household_head_name_id", ["head_name", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index("ix_household_head_name_id")
        batch_op.drop_index("ix_household_benefit_amount_id")
