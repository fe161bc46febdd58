"""live ETA: expected arrival and planned travel per stop, suspect GPS fixes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stops") as batch:
        batch.add_column(
            sa.Column("planned_travel_s", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("expected_arrival", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("driver_positions") as batch:
        batch.add_column(
            sa.Column("suspect", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("driver_positions") as batch:
        batch.drop_column("suspect")
    with op.batch_alter_table("stops") as batch:
        batch.drop_column("expected_arrival")
        batch.drop_column("planned_travel_s")
