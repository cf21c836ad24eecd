"""visit: partial assignee indexes, no foreign key on the copied area_id

A plan inserts a million unassigned visits at once: the two worker indexes now hold assigned
visits only, and ``visit.area_id`` (a copy of the household's area, which keeps its own check)
loses its foreign key, whose per-row check on PostgreSQL cost as much as the rest of the insert.

Revision ID: 0007_visit_plan_indexes
Revises: 0006_household_sort_indexes
Create Date: 2026-11-27 16:20:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007_visit_plan_indexes"
down_revision: str | Sequence[str] | None = "0006_household_sort_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ASSIGNED = sa.text("assigned_to IS NOT NULL")


def _indexes(partial: bool) -> None:
    where: dict[str, Any] = {"sqlite_where": _ASSIGNED, "postgresql_where": _ASSIGNED} if partial else {}
    op.drop_index("ix_visit_assignee_state", table_name="visit")
    op.drop_index("ix_visit_assignee_day", table_name="visit")
    op.create_index("ix_visit_assignee_state", "visit", ["assigned_to", "state"], **where)
    op.create_index("ix_visit_assignee_day", "visit", ["assigned_to", "visit_on"], **where)


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite rebuilds the table to change a foreign key; rows of other tables referring to
    visits must not be checked (or cascaded) while the old table is dropped."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def upgrade() -> None:
    _indexes(partial=True)
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_constraint("fk_visit_area_id_area", type_="foreignkey")
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_visit_area_id_area", "area", ["area_id"], ["id"])
    _sqlite_foreign_keys(True)
    _indexes(partial=False)
