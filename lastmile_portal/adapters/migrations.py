"""Run the Alembic migrations in ``migrations/`` against a database URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc

from ..config import PROJECT_ROOT
from ..domain.errors import ServiceUnavailable
from .db import describe_db_error, make_engine


def alembic_config(url: str) -> Config:
    """Return an Alembic config for this project pointed at ``url``."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; raise ServiceUnavailable if the DB is unreachable."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except sa_exc.OperationalError as error:
        raise ServiceUnavailable("database", describe_db_error(error)) from error
    finally:
        engine.dispose()


def safe_url(url: str) -> str:
    """Return ``url`` with any password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable URL>"
