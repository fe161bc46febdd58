"""proof thumbnails: each proof photo row names its small copy for pages

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proof_photos") as batch:
        batch.add_column(sa.Column("thumbnail_key", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proof_photos") as batch:
        batch.drop_column("thumbnail_key")
