"""Engine, sessions and the SQLAlchemy unit of work."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ..domain import model as m
from ..domain.errors import ConcurrentUpdate, ServiceUnavailable
from ..domain.events import Event, to_timeline_entry
from .orm import start_mappers
from .repository import SqlAlchemyRepository

log = logging.getLogger("lastmile.db")
SEEN = "lastmile.deliveries"  # Session.info key: the deliveries a unit of work has touched


def make_engine(url: str) -> sa.Engine:
    """Create an engine; SQLite gets a file folder, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL loses no committed data on a crash, only on power loss, and
            # spares an fsync per commit: one-machine installs commit a lot of small writes.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Return the session factory every unit of work uses."""
    start_mappers()
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    # Registered once on the factory, not per session: a per-session listener bound to the
    # unit of work made session -> listener -> unit of work -> session a reference cycle, so
    # every session and every delivery it loaded waited for the cyclic garbage collector,
    # whose full passes over a busy server's heap stall every thread for ~200 ms.
    sa.event.listen(factory, "loaded_as_persistent", _keep_delivery)
    sa.event.listen(factory, "transient_to_pending", _keep_delivery)
    return factory


def _keep_delivery(session: Session, obj: object) -> None:
    # The identity map holds clean objects weakly; keep every delivery a unit of work
    # touches so the events it recorded are still there at commit.
    if isinstance(obj, m.Delivery):
        session.info.setdefault(SEEN, []).append(obj)


def describe_db_error(error: Exception) -> str:
    """Return the first line of a driver error, without SQL or parameters."""
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def check_database(engine: sa.Engine) -> str:
    """Return "ok" if the database answers, else a short reason."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return "ok"
    except sa_exc.SQLAlchemyError as error:
        return "error: " + describe_db_error(error)


class SqlAlchemyUnitOfWork:
    """A transaction that logs each recorded delivery event and dispatches them after commit."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        on_commit: Callable[[list[Event]], None] | None = None,
        before_commit: Callable[[SqlAlchemyRepository, list[Event]], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_commit = on_commit
        # Writes what must be stored with the events in their transaction (webhook outbox).
        self._before_commit = before_commit

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self.session = self._session_factory()
        self.repo = SqlAlchemyRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() alone ends the transaction without expiring loaded objects, so what a
        # read-only unit of work returns stays readable; after an error, expire too.
        if exc is not None:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, StaleDataError):
            raise ConcurrentUpdate(
                "Somebody else changed this delivery at the same moment. Please try again."
            ) from exc
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            raise ServiceUnavailable("database", describe_db_error(exc)) from exc

    def commit(self) -> None:
        """Write the timeline (and outboxes) for recorded events, commit, then run handlers."""
        try:
            events = self._take_events()
            for event in events:
                entry = to_timeline_entry(event)
                if entry is not None:
                    self.session.add(entry)
            if self._before_commit is not None and events:
                self._before_commit(self.repo, events)
            self.session.commit()
        except StaleDataError as error:
            self.session.rollback()
            raise ConcurrentUpdate(
                "Somebody else changed this delivery at the same moment. Please try again."
            ) from error
        if self._on_commit and events:
            try:
                self._on_commit(events)
            except Exception:
                # The change is saved; a failed push must not turn it into an error.
                log.exception("handling %d committed events failed", len(events))

    def rollback(self) -> None:
        """Discard everything since the last commit."""
        self.session.rollback()

    def _take_events(self) -> list[Event]:
        seen: list[m.Delivery] = self.session.info.get(SEEN, [])
        holders = list({id(d): d for d in seen if d.events}.values())
        self.session.flush()  # new deliveries get their ids
        events: list[Event] = []
        for obj in holders:
            if obj.events:
                for event in obj.events:
                    # Events recorded before the first flush had no id to carry yet.
                    if event.delivery_id is None:
                        event = dataclasses.replace(event, delivery_id=obj.id)
                    events.append(event)
                obj.events.clear()
        events.sort(key=lambda e: e.occurred_at)
        return events
