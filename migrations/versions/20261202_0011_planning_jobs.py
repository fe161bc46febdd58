"""the day: planning jobs (state, progress and result of planning a depot's day)

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "planning_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("depot_id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("schedule_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["depot_id"],
            ["depots.id"],
            name=op.f("fk_planning_jobs_depot_id_depots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planning_jobs")),
        sa.UniqueConstraint("schedule_key", name=op.f("uq_planning_jobs_schedule_key")),
    )
    op.create_index(op.f("ix_planning_jobs_depot_id"), "planning_jobs", ["depot_id"], unique=False)
    # One open job per depot-day: two plans of one day at once would fight over its routes.
    open_job = sa.text("state IN ('queued', 'running')")
    op.create_index(
        "uq_planning_jobs_open",
        "planning_jobs",
        ["depot_id", "service_date"],
        unique=True,
        sqlite_where=open_job,
        postgresql_where=open_job,
    )


def downgrade() -> None:
    op.drop_index("uq_planning_jobs_open", table_name="planning_jobs")
    op.drop_index(op.f("ix_planning_jobs_depot_id"), table_name="planning_jobs")
    op.drop_table("planning_jobs")
