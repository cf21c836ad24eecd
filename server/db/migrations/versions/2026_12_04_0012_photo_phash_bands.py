"""photo: the perceptual hash's three bands (22, 21, 21 bits), each indexed, for the near-duplicate lookup

Multi-index hashing: a hash within d bits of another has a band within d // 3 bits, so the
lookup after an upload reads the photos whose bands are that close instead of every photo.
Existing rows get their bands from their stored hash.

Revision ID: 0012_photo_phash_bands
Revises: 0011_one_decision_a_month
Create Date: 2026-12-04 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_photo_phash_bands"
down_revision: str | Sequence[str] | None = "0011_one_decision_a_month"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BITS = (22, 21, 21)
BANDS = len(BITS)


def upgrade() -> None:
    with op.batch_alter_table("photo", schema=None) as batch_op:
        for i in range(BANDS):
            batch_op.add_column(sa.Column(f"phash_b{i}", sa.Integer(), nullable=True))
    connection = op.get_bind()
    photo = sa.table(
        "photo",
        sa.column("id", sa.Uuid()),
        sa.column("phash", sa.BigInteger()),
        *(sa.column(f"phash_b{i}", sa.Integer()) for i in range(BANDS)),
    )
    rows = connection.execute(sa.select(photo.c.id, photo.c.phash).where(photo.c.phash.is_not(None))).all()
    for photo_id, phash in rows:
        unsigned, bands, shift = phash & 0xFFFF_FFFF_FFFF_FFFF, {}, 0
        for i, bits in enumerate(BITS):
            bands[f"phash_b{i}"] = (unsigned >> shift) & ((1 << bits) - 1)
            shift += bits
        connection.execute(sa.update(photo).where(photo.c.id == photo_id).values(**bands))
    with op.batch_alter_table("photo", schema=None) as batch_op:
        for i in range(BANDS):
            batch_op.create_index(f"ix_photo_phash_b{i}", [f"phash_b{i}"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("photo", schema=None) as batch_op:
        for i in range(BANDS):
            batch_op.drop_index(f"ix_photo_phash_b{i}")
            batch_op.drop_column(f"phash_b{i}")
