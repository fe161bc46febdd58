"""locker API keys: a locker's operator reports collections with a key stored hashed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lockers") as batch:
        batch.add_column(sa.Column("api_key_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(batch.f("uq_lockers_api_key_hash"), ["api_key_hash"])


def downgrade() -> None:
    with op.batch_alter_table("lockers") as batch:
        batch.drop_constraint(batch.f("uq_lockers_api_key_hash"), type_="unique")
        batch.drop_column("api_key_hash")
