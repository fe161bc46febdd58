"""SMS outbox sender: an index for claiming due texts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 05:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_sms") as batch:
        batch.create_index("ix_outbound_sms_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_sms") as batch:
        batch.drop_index("ix_outbound_sms_due")
