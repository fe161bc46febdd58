"""support pages: staff sign-in guard, the supervisor role, lookup columns and indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import re
import unicodedata

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

    # Support's search box: name and street folded (lower case, no accents), filled here
    # for existing rows and by the mapper on every write after. A stored column (not
    # PostgreSQL's unaccent) behaves the same on SQLite, and an index can cover it.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("search_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("search_street", sa.String(length=255), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, recipient_name, address_line FROM deliveries")).all()
    for row in rows:
        bind.execute(
            sa.text("UPDATE deliveries SET search_name = :n, search_street = :s WHERE id = :id"),
            {
                "n": _fold(row.recipient_name),
                "s": re.sub(r"strasse\b", "str", _fold(row.address_line)),
                "id": row.id,
            },
        )
    if bind.dialect.name == "postgresql":
        # Trigram indexes serve LIKE '%text%' on names and streets. pg_trgm is a trusted
        # extension (PostgreSQL 13+): the database's owner may create it. It belongs to the
        # whole database, so it goes to "public" when there is one (not to a schema of this
        # search_path that may be dropped with its tables), and the indexes name its schema.
        has_public = bind.execute(
            sa.text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")
        ).first()
        op.execute(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" SCHEMA public" if has_public else "")
        )
        trgm_schema = bind.execute(
            sa.text(
                "SELECT n.nspname FROM pg_extension e "
                "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
            )
        ).scalar_one()
        for column in ("search_name", "search_street"):
            op.execute(
                f"CREATE INDEX ix_deliveries_{column}_trgm ON deliveries USING gin "
                f'({column} "{trgm_schema}".gin_trgm_ops)'
            )
    else:
        for column in ("search_name", "search_street"):
            op.create_index(f"ix_deliveries_{column}_trgm", "deliveries", [column])


def _fold(text: str | None) -> str:
    # domain/lookup.fold as of this revision (a migration must not change with the code).
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def downgrade() -> None:
    for column in ("search_street", "search_name"):
        op.drop_index(f"ix_deliveries_{column}_trgm", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("search_street")
        batch.drop_column("search_name")
    op.execute("UPDATE staff_users SET role = 'ops' WHERE role = 'supervisor'")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
