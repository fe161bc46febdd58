"""idempotency keys: the driver API's stop actions answer a retry with the first answer

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request", sa.String(length=60), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["drivers.id"],
            name=op.f("fk_idempotency_keys_driver_id_drivers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("driver_id", "key", name="uq_idempotency_keys_driver_key"),
    )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.create_index(
            batch.f("ix_idempotency_keys_driver_id"), ["driver_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_index(batch.f("ix_idempotency_keys_driver_id"))
    op.drop_table("idempotency_keys")
