"""planning: complaints, route legs, one scheduled visit per due date

Revision ID: 0002_planning
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.base

revision: str = "0002_planning"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=2000), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("subject_name", sa.String(length=100), nullable=True),
        sa.Column("subject_id_number", sa.String(length=18), nullable=True),
        sa.Column("subject_address", sa.String(length=300), nullable=True),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_contact", sa.String(length=200), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("staff_relative", sa.Boolean(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("deadline_on", sa.Date(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=4000), nullable=True),
        sa.Column("substantiated", sa.Boolean(), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"], name=op.f("fk_complaint_area_id_area")),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"], name=op.f("fk_complaint_created_by_user_account")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_complaint_household_id_household")),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["user_account.id"], name=op.f("fk_complaint_resolved_by_user_account")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"], name=op.f("fk_complaint_visit_id_visit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("number", name=op.f("uq_complaint_number")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_area_status", ["area_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route_leg_m", sa.Integer(), nullable=True))
        batch_op.create_index("ix_visit_assignee_day", ["assigned_to", "visit_on"], unique=False)
        batch_op.create_index(
            "uq_visit_scheduled_due",
            ["household_id", "due_on"],
            unique=True,
            sqlite_where=sa.text("reason = 'scheduled'"),
            postgresql_where=sa.text("reason = 'scheduled'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_visit_scheduled_due",
            sqlite_where=sa.text("reason = 'scheduled'"),
            postgresql_where=sa.text("reason = 'scheduled'"),
        )
        batch_op.drop_index("ix_visit_assignee_day")
        batch_op.drop_column("route_leg_m")

    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_visit_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_household_id"))
        batch_op.drop_index("ix_complaint_area_status")

    op.drop_table("complaint")
