"""integration API: carriers' API keys, and each delivery's reference and announcement

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("intake_fingerprint", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(batch.f("uq_deliveries_reference"), ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(batch.f("uq_deliveries_reference"), type_="unique")
        batch.drop_column("intake_fingerprint")
        batch.drop_column("reference")
    op.drop_table("api_keys")
