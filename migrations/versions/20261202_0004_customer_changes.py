"""customer changes: trunk delivery, muted texts, reschedule count, pickup codes, reservations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("trunk_make", sa.String(40), nullable=True))
        batch.add_column(sa.Column("trunk_colour", sa.String(30), nullable=True))
        batch.add_column(sa.Column("trunk_plate", sa.String(12), nullable=True))
        batch.add_column(sa.Column("trunk_lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("trunk_lng", sa.Float(), nullable=True))
        batch.add_column(sa.Column("trunk_spot", sa.String(200), nullable=True))
        batch.add_column(sa.Column("trunk_from", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("trunk_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sms_muted", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("reschedules", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("pickup_code", sa.String(16), nullable=True))
    with op.batch_alter_table("depots") as batch:
        batch.add_column(
            sa.Column("trunk_delivery", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("locker_compartments") as batch:
        batch.add_column(sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("locker_compartments") as batch:
        batch.drop_column("reserved_at")
    with op.batch_alter_table("depots") as batch:
        batch.drop_column("trunk_delivery")
    with op.batch_alter_table("deliveries") as batch:
        for name in (
            "pickup_code",
            "reschedules",
            "sms_muted",
            "trunk_until",
            "trunk_from",
            "trunk_spot",
            "trunk_lng",
            "trunk_lat",
            "trunk_plate",
            "trunk_colour",
            "trunk_make",
        ):
            batch.drop_column(name)
