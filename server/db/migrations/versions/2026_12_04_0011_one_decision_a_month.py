"""proposals: one live proposal per household (superseded_by, superseded_reason) and at most
one approved decision per household and effective month (a partial unique index)

Two decisions approved for one household in one month (the bug this closes) are settled first:
the one approved last is the one the roster paid and the household took, so it stays and the
others become ``superseded``, naming it, with an audit entry each.

Revision ID: 0011_one_decision_a_month
Revises: 0010_idempotent_answer
Create Date: 2026-12-04 01:30:00
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import server.db.base

revision: str = "0011_one_decision_a_month"
down_revision: str | Sequence[str] | None = "0010_idempotent_answer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DECIDED = "state IN ('approved', 'effective')"
_REASON = (
    "同一月份已有后批准的决定生效（每户每月只生效一个决定）; "
    "another decision for the same month was approved later and is the one in force "
    "(one decision per household a month)"
)

_proposal = sa.table(
    "proposal",
    sa.column("id", sa.Uuid()),
    sa.column("household_id", sa.Uuid()),
    sa.column("state", sa.String()),
    sa.column("effective_from", sa.Date()),
    sa.column("approved_at", server.db.base.UTCDateTime(timezone=True)),
    sa.column("version", sa.Integer()),
    sa.column("updated_at", server.db.base.UTCDateTime(timezone=True)),
    sa.column("superseded_by", sa.Uuid()),
    sa.column("superseded_reason", sa.Text()),
)
_audit = sa.table(
    "audit_event",
    sa.column("at", server.db.base.UTCDateTime(timezone=True)),
    sa.column("actor_role", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("changes", server.db.base.JSONDoc),
)


def _settle_duplicates() -> None:
    """Supersede all but the last-approved decision of each household and month."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_proposal.c.id, _proposal.c.household_id, _proposal.c.effective_from, _proposal.c.state)
        .where(_proposal.c.state.in_(["approved", "effective"]), _proposal.c.effective_from.is_not(None))
        .order_by(_proposal.c.household_id, _proposal.c.effective_from, _proposal.c.approved_at, _proposal.c.id)
    ).all()
    groups: dict[tuple[uuid.UUID, dt.date], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.household_id, row.effective_from), []).append(row)
    now = dt.datetime.now(dt.UTC)
    for group in groups.values():
        kept = group[-1]
        for row in group[:-1]:
            connection.execute(
                sa.update(_proposal)
                .where(_proposal.c.id == row.id)
                .values(
                    state="superseded",
                    superseded_by=kept.id,
                    superseded_reason=_REASON,
                    version=_proposal.c.version + 1,
                    updated_at=now,
                )
            )
            connection.execute(
                sa.insert(_audit).values(
                    at=now,
                    actor_role="migration",
                    action="supersede",
                    entity="proposal",
                    entity_id=str(row.id),
                    changes={"state": [row.state, "superseded"], "superseded_by": str(kept.id), "reason": _REASON},
                )
            )


def upgrade() -> None:
    # Plain ADD / DROP COLUMN on both engines (SQLite 3.35+): rebuilding the table, as batch
    # mode would, is refused on SQLite while approvals and appraisals refer to its rows.
    op.add_column("proposal", sa.Column("superseded_by", sa.Uuid(), nullable=True))
    op.add_column("proposal", sa.Column("superseded_reason", sa.Text(), nullable=True))
    _settle_duplicates()
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(
            "uq_proposal_household_month",
            ["household_id", "effective_from"],
            unique=True,
            sqlite_where=sa.text(_DECIDED),
            postgresql_where=sa.text(_DECIDED),
        )


def downgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index("uq_proposal_household_month")
    op.drop_column("proposal", "superseded_reason")
    op.drop_column("proposal", "superseded_by")
    # The earlier schema knows no superseded state: such proposals become returned (final, not
    # paid, like superseded ones); the audit trail keeps what happened.
    op.execute(sa.update(_proposal).where(_proposal.c.state == "superseded").values(state="returned"))
