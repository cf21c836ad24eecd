"""media: tus uploads in progress and photo evidence records

Revision ID: 0004_media
Revises: 0003_decisions
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import server.db.base

revision: str = "0004_media"
down_revision: str | Sequence[str] | None = "0003_decisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "media_upload",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("upload_metadata", sa.String(length=2000), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("store_upload_id", sa.String(length=1024), nullable=False),
        sa.Column("staging_key", sa.String(length=64), nullable=False),
        sa.Column("part_size", sa.Integer(), nullable=False),
        sa.Column(
            "parts", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("tail", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=40), nullable=True),
        sa.Column("lock_token", sa.String(length=32), nullable=True),
        sa.Column("locked_until", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_media_upload_device_id_device"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_media_upload_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visit.id"], name=op.f("fk_media_upload_visit_id_visit"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_upload")),
    )
    with op.batch_alter_table("media_upload", schema=None) as batch_op:
        batch_op.create_index("ix_media_upload_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_upload_user_id"), ["user_id"], unique=False)

    op.create_table(
        "photo",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reject_reason", sa.String(length=40), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=40), nullable=True),
        sa.Column("byte_size", sa.BigInteger(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("review_sha256", sa.String(length=64), nullable=True),
        sa.Column("thumb_sha256", sa.String(length=64), nullable=True),
        sa.Column("captured_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("capture_time_source", sa.String(length=16), nullable=True),
        sa.Column("gps_lat", sa.Float(), nullable=True),
        sa.Column("gps_lon", sa.Float(), nullable=True),
        sa.Column("gps_altitude", sa.Float(), nullable=True),
        sa.Column(
            "exif_notes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("phash", sa.BigInteger(), nullable=True),
        sa.Column("duplicate_of_id", sa.Uuid(), nullable=True),
        sa.Column("duplicate_visit_id", sa.Uuid(), nullable=True),
        sa.Column("duplicate_distance", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"], name=op.f("fk_photo_device_id_device")),
        sa.ForeignKeyConstraint(["duplicate_of_id"], ["photo.id"], name=op.f("fk_photo_duplicate_of_id_photo")),
        sa.ForeignKeyConstraint(["duplicate_visit_id"], ["visit.id"], name=op.f("fk_photo_duplicate_visit_id_visit")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_photo_household_id_household")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["user_account.id"], name=op.f("fk_photo_uploaded_by_user_account")),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"], name=op.f("fk_photo_visit_id_visit"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo")),
        sa.UniqueConstraint("visit_id", "sha256", name=op.f("uq_photo_visit_id_sha256")),
    )
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.create_index("ix_photo_household_status", ["household_id", "status"], unique=False)
        batch_op.create_index("ix_photo_sha256", ["sha256"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_sha256")
        batch_op.drop_index("ix_photo_household_status")

    op.drop_table("photo")
    with op.batch_alter_table("media_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_upload_user_id"))
        batch_op.drop_index("ix_media_upload_expires_at")

    op.drop_table("media_upload")
