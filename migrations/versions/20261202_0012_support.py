"""support pages: staff sign-in guard, the supervisor role, lookup columns and indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
    # "ops" was never used by a page; the support pages' middle role is the supervisor.
    op.execute("UPDATE staff_users SET role = 'supervisor' WHERE role = 'ops'")


def downgrade() -> None:
    op.execute("UPDATE staff_users SET role = 'ops' WHERE role = 'supervisor'")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
