"""planning job size: a running job names its stops and its time limit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("planning_jobs") as batch:
        batch.add_column(sa.Column("stops", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("time_limit_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("planning_jobs") as batch:
        batch.drop_column("time_limit_s")
        batch.drop_column("stops")
