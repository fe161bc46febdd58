"""Alembic environment: the schema is lastmile_portal.adapters.orm.metadata."""

from __future__ import annotations

from alembic import context

from lastmile_portal.adapters.db import make_engine
from lastmile_portal.adapters.orm import metadata
from lastmile_portal.config import load_settings

config = context.config


def run_migrations() -> None:
    """Migrate over the connection the caller passed, or one from DATABASE_URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("database_url") or load_settings().database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations()
