"""Shared fixtures: an app on a fresh SQLite file, real PostgreSQL and Redis when present.

In CI (CI=true) a missing PostgreSQL or Redis fails the run; on a laptop without them the
tests that need them are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lastmile_portal import create_app
from lastmile_portal.adapters.clock import FrozenClock
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.adapters.socketio_publisher import RecordingPublisher

PG_BASE_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# 10:00 in Berlin on a Wednesday: a normal working morning.
MORNING = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def missing_service(reason: str) -> None:
    """Fail in CI, skip elsewhere: a missing service must never pass silently in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def base_config(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    """Return the settings mapping every test app starts from."""
    return {
        "TESTING": "true",
        "ENV": "testing",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'test.db'}",
        "JOB_BACKEND": "inline",
        "SMS_BACKEND": "fake",
        "MAP_TILE_URL": "none",
        "OPTIMIZER_TIME_LIMIT": "1",
        "TRACKING_RATE_LIMIT": "1000 per minute",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MORNING)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per run; each test starts from a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def config(tmp_path: Path, migrated_sqlite: Path) -> dict[str, Any]:
    """Return the test settings, on a fresh copy of the migrated database."""
    db = tmp_path / "instance" / "test.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_sqlite, db)
    return base_config(tmp_path)


@pytest.fixture
def app(config: dict[str, Any], clock: FrozenClock, publisher: RecordingPublisher):  # type: ignore[no-untyped-def]
    app = create_app(config, clock=clock, publisher=publisher)
    upgrade(app.config["SETTINGS"].database_url)
    return app


@pytest.fixture
def services(app):  # type: ignore[no-untyped-def]
    return app.extensions["lastmile"]


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Return the base URL of the real PostgreSQL server, or skip/fail if it is not there."""
    engine = sa.create_engine(PG_BASE_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        missing_service(f"PostgreSQL not reachable at {PG_BASE_URL}: {error.orig}")
    finally:
        engine.dispose()
    return PG_BASE_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """Yield a URL whose connections live in a fresh, private schema (dropped afterwards)."""
    schema = "t_" + secrets.token_hex(6)
    admin = sa.create_engine(postgres_server)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Yield a migrated-later, empty database URL: once SQLite, once PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def redis_url() -> str:
    """Return the real Redis URL (a database number tests may flush), or skip/fail."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.flushdb()
    except redis.RedisError as error:
        missing_service(f"Redis not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Drive Debian's Chromium, with the flags that keep it off the network."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }
