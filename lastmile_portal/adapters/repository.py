"""SQLAlchemy implementation of the services' Repository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from ..domain import kpis, lookup
from ..domain import model as m
from ..domain import webhooks as wh
from ..domain.events import TimelineEntry
from ..domain.status import DeliveryStatus
from . import orm

T = TypeVar("T")


class SqlAlchemyRepository:
    """Named queries over one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: object) -> None:
        """Add a new domain object to the transaction."""
        self.session.add(obj)

    def delete(self, obj: object) -> None:
        """Remove an object (and what cascades from it) in this transaction."""
        self.session.delete(obj)

    def delete_all(self, cls: type[Any]) -> None:
        """Delete every row of ``cls`` in one statement (demo resets)."""
        self.session.execute(sa.delete(cls))

    def flush(self) -> None:
        """Write pending changes so new objects get their ids."""
        self.session.flush()

    def get(self, cls: type[T], id: int) -> T | None:
        """Return the object of ``cls`` with ``id``, or None."""
        return self.session.get(cls, id)

    def count(self, cls: type[Any]) -> int:
        """Return how many objects of ``cls`` are stored."""
        return self.session.scalar(sa.select(sa.func.count()).select_from(cls)) or 0

    def all(self, cls: type[T]) -> list[T]:
        """Return every object of ``cls`` (small reference tables only)."""
        return list(self.session.scalars(sa.select(cls).order_by(sa.text("id"))))

    def delivery_by_token(self, token: str) -> m.Delivery | None:
        """Return the delivery a tracking link points at."""
        return self.session.scalars(
            sa.select(m.Delivery).filter_by(tracking_token=token)
        ).one_or_none()

    def delivery_by_tracking_number(self, tracking_number: str) -> m.Delivery | None:
        """Return the delivery with a tracking number."""
        return self.session.scalars(
            sa.select(m.Delivery).filter_by(tracking_number=tracking_number)
        ).one_or_none()

    def deliveries_on(self, depot_id: int, service_date: date) -> list[m.Delivery]:
        """Return a depot's deliveries for one day."""
        return list(
            self.session.scalars(
                sa.select(m.Delivery)
                .filter_by(depot_id=depot_id, service_date=service_date)
                .order_by(sa.text("id"))
            )
        )

    def deliveries_at_stop(self, stop_id: int) -> list[m.Delivery]:
        """Return the parcels handed over at one stop."""
        return list(
            self.session.scalars(
                sa.select(m.Delivery).filter_by(stop_id=stop_id).order_by(sa.text("id"))
            )
        )

    def deliveries_at_stops(self, stop_ids: list[int]) -> dict[int, list[m.Delivery]]:
        """Return the parcels of several stops at once, keyed by stop id."""
        out: dict[int, list[m.Delivery]] = {}
        if not stop_ids:
            return out
        query = sa.select(m.Delivery).where(orm.deliveries.c.stop_id.in_(stop_ids))
        for d in self.session.scalars(query.order_by(orm.deliveries.c.id)):
            out.setdefault(d.stop_id, []).append(d)  # type: ignore[arg-type]
        return out

    def last_position(self, driver_id: int) -> m.DriverPosition | None:
        """Return the newest stored GPS fix of a driver."""
        return self.session.scalars(
            sa.select(m.DriverPosition)
            .filter_by(driver_id=driver_id)
            .order_by(orm.driver_positions.c.recorded_at.desc())
            .limit(1)
        ).first()

    def drivers_with_positions_before(self, cutoff: datetime) -> list[int]:
        """Return the drivers who have GPS fixes recorded before ``cutoff``."""
        t = orm.driver_positions
        query = sa.select(t.c.driver_id).where(t.c.recorded_at < cutoff).distinct()
        return sorted(self.session.scalars(query))

    def delete_positions_before(self, driver_id: int, cutoff: datetime, limit: int) -> int:
        """Delete up to ``limit`` of a driver's fixes recorded before ``cutoff``; return how many.

        By driver and time, so the (driver_id, recorded_at) index finds them, and in bounded
        batches, so the write lock is held briefly while pings keep coming in.
        """
        t = orm.driver_positions
        ids = (
            sa.select(t.c.id)
            .where(t.c.driver_id == driver_id, t.c.recorded_at < cutoff)
            .order_by(t.c.recorded_at)
            .limit(limit)
            .scalar_subquery()
        )
        result = self.session.execute(sa.delete(t).where(t.c.id.in_(ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def routes_on(self, service_date: date, depot_id: int | None = None) -> list[m.Route]:
        """Return the day's routes, optionally for one depot."""
        query = sa.select(m.Route).filter_by(service_date=service_date)
        if depot_id is not None:
            query = query.filter_by(depot_id=depot_id)
        return list(self.session.scalars(query.order_by(sa.text("id"))))

    def route_of_driver(self, driver_id: int, service_date: date) -> m.Route | None:
        """Return a driver's route for the day."""
        return self.session.scalars(
            sa.select(m.Route).filter_by(driver_id=driver_id, service_date=service_date)
        ).first()

    def driver_by_token_hash(self, token_hash: str) -> m.Driver | None:
        """Return the active driver whose API token hashes to ``token_hash``."""
        return self.session.scalars(
            sa.select(m.Driver).filter_by(api_token_hash=token_hash, active=True)
        ).one_or_none()

    def vehicles_at(self, depot_id: int) -> list[m.Vehicle]:
        """Return a depot's active vehicles."""
        return list(
            self.session.scalars(
                sa.select(m.Vehicle)
                .filter_by(depot_id=depot_id, active=True)
                .order_by(sa.text("id"))
            )
        )

    def lockers_of(self, depot_id: int) -> list[m.Locker]:
        """Return a depot's active lockers and pickup points."""
        return list(
            self.session.scalars(
                sa.select(m.Locker)
                .filter_by(depot_id=depot_id, active=True)
                .order_by(sa.text("id"))
            )
        )

    def slots_on(self, depot_id: int, service_date: date) -> list[m.DeliverySlot]:
        """Return a depot's slots for one day in time order."""
        return list(
            self.session.scalars(
                sa.select(m.DeliverySlot)
                .filter_by(depot_id=depot_id, service_date=service_date)
                .order_by(sa.text("starts_at"))
            )
        )

    def timeline(self, delivery_id: int) -> list[TimelineEntry]:
        """Return a delivery's history, oldest first."""
        return list(
            self.session.scalars(
                sa.select(TimelineEntry)
                .filter_by(delivery_id=delivery_id)
                .order_by(sa.text("occurred_at"), sa.text("id"))
            )
        )

    def staff_by_email(self, email: str) -> m.StaffUser | None:
        """Return the staff member with ``email`` (case-insensitive)."""
        return self.session.scalars(
            sa.select(m.StaffUser).where(sa.func.lower(m.StaffUser.email) == email.lower())  # type: ignore[attr-defined]
        ).one_or_none()

    # ---- support (issue 14): the search box

    def search_deliveries(
        self, kind: str, value: str, *, limit: int, offset: int = 0
    ) -> list[lookup.Found]:
        """Return deliveries matching one classified query (domain/lookup), newest first.

        tracking, phone (E.164), postcode and reference match exactly (each indexed);
        street matches the folded street, name the folded name or street (trigram-indexed
        on PostgreSQL, a scan on SQLite).
        """
        d = orm.deliveries
        where: sa.ColumnElement[bool]
        if kind == "tracking":
            where = d.c.tracking_number == value
        elif kind == "phone":
            where = d.c.phone == value
        elif kind == "postcode":
            where = d.c.postcode == value
        elif kind == "reference":
            where = d.c.reference == value
        elif kind == "street":
            where = d.c.search_street.contains(value, autoescape=True)
        elif kind == "name":
            where = sa.or_(
                d.c.search_name.contains(value, autoescape=True),
                d.c.search_street.contains(value, autoescape=True),
            )
        else:
            raise ValueError(f"unknown query kind {kind!r}")
        if kind in ("street", "name"):
            where, offset = self._text_hits(where, limit, offset)
        query = (
            sa.select(
                d.c.tracking_number,
                d.c.recipient_name,
                d.c.phone,
                d.c.address_line,
                d.c.postcode,
                d.c.city,
                d.c.status,
                d.c.service_date,
                d.c.window_start,
                d.c.window_end,
                orm.drivers.c.name.label("driver_name"),
                d.c.reference,
            )
            .select_from(d)
            .outerjoin(orm.stops, orm.stops.c.id == d.c.stop_id)
            .outerjoin(orm.routes, orm.routes.c.id == orm.stops.c.route_id)
            .outerjoin(orm.drivers, orm.drivers.c.id == orm.routes.c.driver_id)
            .where(where)
            .order_by(d.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = list(self.session.execute(query))
        if kind in ("street", "name") and self.session.get_bind().dialect.name == "postgresql":
            # The plan choice above is for that one query, not the rest of the transaction.
            self.session.execute(sa.text("RESET enable_bitmapscan"))
            self.session.execute(sa.text("RESET enable_seqscan"))
        return [
            lookup.Found(
                tracking_number=row.tracking_number,
                recipient_name=row.recipient_name,
                phone=row.phone,
                address_line=row.address_line,
                postcode=row.postcode,
                city=row.city,
                status=str(row.status),
                service_date=row.service_date,
                window_start=row.window_start,
                window_end=row.window_end,
                driver_name=row.driver_name,
                reference=row.reference,
            )
            for row in rows
        ]

    # More text matches than this are "dense": newest first is then a backward walk of the
    # primary key that meets its page soon. Fewer are fetched from the trigram index and
    # sorted here: walking the key for a rare name would read the whole table.
    TEXT_HITS_CAP = 2000

    def _text_hits(
        self, where: sa.ColumnElement[bool], limit: int, offset: int
    ) -> tuple[sa.ColumnElement[bool], int]:
        """Return the condition and offset of a name or street query's page, newest first."""
        d = orm.deliveries
        ids = list(
            self.session.scalars(sa.select(d.c.id).where(where).limit(self.TEXT_HITS_CAP + 1))
        )
        if len(ids) > self.TEXT_HITS_CAP:
            if self.session.get_bind().dialect.name == "postgresql":
                # Dense, so walking the primary key backwards meets the page within a few
                # thousand rows; the planner would rather fetch every hit through the
                # trigram index and sort them (100 ms at 20,000 hits of 1,000,000 rows).
                self.session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
                self.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            return where, offset
        page = sorted(ids, reverse=True)[offset : offset + limit]
        return d.c.id.in_(page), 0

    def inbound_of(self, delivery_id: int) -> list[m.InboundSms]:
        """Return the texts a delivery's recipient sent us, oldest first."""
        return list(
            self.session.scalars(
                sa.select(m.InboundSms)
                .filter_by(delivery_id=delivery_id)
                .order_by(sa.text("received_at"), sa.text("id"))
            )
        )

    def deliveries_for_phone(self, phone: str) -> list[m.Delivery]:
        """Return every delivery to a phone number (E.164), newest first."""
        return list(
            self.session.scalars(
                sa.select(m.Delivery)
                .filter_by(phone=phone)
                .order_by(orm.deliveries.c.created_at.desc(), orm.deliveries.c.id.desc())
            )
        )

    def rating_of(self, delivery_id: int) -> m.Rating | None:
        """Return the recipient's rating of a delivery, if any."""
        return self.session.scalars(
            sa.select(m.Rating).filter_by(delivery_id=delivery_id)
        ).one_or_none()

    # ------------------------------------------------------------ idempotency keys

    def idempotent_answer(self, driver_id: int, key: str) -> m.IdempotentAnswer | None:
        """Return the answer stored for a driver's Idempotency-Key, if any."""
        return self.session.scalars(
            sa.select(m.IdempotentAnswer).filter_by(driver_id=driver_id, key=key)
        ).one_or_none()

    def delete_finished_webhooks_before(self, cutoff: datetime, limit: int) -> int:
        """Delete up to ``limit`` finished webhook rows (and their tries) made before ``cutoff``."""
        t, tries = orm.webhook_messages, orm.webhook_attempts
        ids = list(
            self.session.scalars(
                sa.select(t.c.id)
                .where(t.c.created_at < cutoff, t.c.status.notin_(list(wh.UNFINISHED)))
                .order_by(t.c.id)
                .limit(limit)
            )
        )
        if not ids:
            return 0
        # Tries first: SQLite enforces no ON DELETE CASCADE without its foreign-key pragma.
        self.session.execute(sa.delete(tries).where(tries.c.message_id.in_(ids)))
        self.session.execute(sa.delete(t).where(t.c.id.in_(ids)))
        return len(ids)

    def delete_idempotent_answers_before(self, cutoff: datetime, limit: int) -> int:
        """Delete up to ``limit`` stored answers created before ``cutoff``; return how many."""
        t = orm.idempotency_keys
        ids = (
            sa.select(t.c.id)
            .where(t.c.created_at < cutoff)
            .order_by(t.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        result = self.session.execute(sa.delete(t).where(t.c.id.in_(ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add_idempotent_answer(self, answer: m.IdempotentAnswer) -> bool:
        """Insert ``answer`` unless the driver's key is taken; return whether it was.

        ON CONFLICT DO NOTHING: two retries racing each other store one answer, and the
        loser reads the winner's instead of failing at commit.
        """
        table = orm.idempotency_keys
        values = {c.name: getattr(answer, c.name) for c in table.columns if c.name != "id"}
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[table.c.driver_id, table.c.key])
            .returning(table.c.id)
        )
        answer.id = self.session.execute(statement).scalar_one_or_none()
        return answer.id is not None

    # ------------------------------------------------------------ SMS

    def outbox_message(self, idempotency_key: str) -> m.OutboundSms | None:
        """Return the outbox message with an idempotency key."""
        return self.session.scalars(
            sa.select(m.OutboundSms).filter_by(idempotency_key=idempotency_key)
        ).one_or_none()

    def outbox_of(self, delivery_id: int) -> list[m.OutboundSms]:
        """Return a delivery's outbox messages, oldest first."""
        return list(
            self.session.scalars(
                sa.select(m.OutboundSms)
                .filter_by(delivery_id=delivery_id)
                .order_by(orm.outbound_sms.c.id)
            )
        )

    def outbox_by_provider_sid(self, provider_sid: str) -> m.OutboundSms | None:
        """Return the outbox message the provider knows as ``provider_sid``."""
        return self.session.scalars(
            sa.select(m.OutboundSms).filter_by(provider_sid=provider_sid)
        ).one_or_none()

    def add_outbox_message(self, message: m.OutboundSms) -> bool:
        """Insert ``message`` unless its idempotency key is taken; return whether it was.

        INSERT ... ON CONFLICT DO NOTHING: a concurrent duplicate waits for the first and
        then does nothing, instead of failing the whole business transaction at commit.
        """
        table = orm.outbound_sms
        values = {c.name: getattr(message, c.name) for c in table.columns if c.name != "id"}
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
            .returning(table.c.id)
        )
        message.id = self.session.execute(statement).scalar_one_or_none()
        return message.id is not None

    def claim_outbox_message(
        self, now: datetime, lease_until: datetime
    ) -> tuple[m.OutboundSms, bool] | None:
        """Claim the next text to work on until ``lease_until``; say whether it is in doubt.

        In doubt: a sender claimed it before and its lease ran out (it crashed, or the
        provider did not answer), so the text may have gone out. Otherwise the oldest
        pending or deferred text that is due. Each claim is one UPDATE of one row, so two
        senders never get the same text; PostgreSQL skips rows another sender has locked.
        """
        t = orm.outbound_sms
        S = m.SmsStatus
        due = sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now)
        for condition, values, in_doubt in (
            (
                sa.and_(t.c.status == S.SENDING, t.c.next_attempt_at <= now),
                {"next_attempt_at": lease_until},
                True,
            ),
            (
                sa.and_(t.c.status.in_([S.PENDING, S.DEFERRED]), due),
                {"status": S.SENDING, "next_attempt_at": lease_until},
                False,
            ),
        ):
            pick = sa.select(t.c.id).where(condition).order_by(t.c.id).limit(1)
            if self.session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            claimed = self.session.execute(
                sa.update(t)
                .where(t.c.id == pick.scalar_subquery())
                .values(**values)
                .returning(t.c.id)
            ).scalar_one_or_none()
            if claimed is not None:
                message = self.session.get(m.OutboundSms, claimed, populate_existing=True)
                assert message is not None
                return message, in_doubt
        return None

    def opt_out_of(self, phone: str) -> m.SmsOptOut | None:
        """Return the opt-out of a phone number (E.164), if it texted STOP."""
        return self.session.scalars(sa.select(m.SmsOptOut).filter_by(phone=phone)).one_or_none()

    def inbound_by_provider_sid(self, provider_sid: str) -> m.InboundSms | None:
        """Return the inbound text the provider knows as ``provider_sid``."""
        return self.session.scalars(
            sa.select(m.InboundSms).filter_by(provider_sid=provider_sid)
        ).one_or_none()

    # Built once: with a few rows, building a statement and its cache key costs more than
    # running it, and the 5-second store of every driver runs these.
    _r, _s, _d = orm.routes, orm.stops, orm.deliveries
    _route_today = (
        sa.select(_r.c.id, _r.c.status, _r.c.plan_version)
        .where(_r.c.driver_id == sa.bindparam("driver_id"))
        .where(_r.c.service_date == sa.bindparam("service_date"))
        .limit(1)
        .subquery()
    )
    _live_route_key = sa.select(
        _route_today.c.id,
        _route_today.c.status,
        _route_today.c.plan_version,
        _s.c.id,
        _s.c.sequence,
        _s.c.status,
        _d.c.id,
        _d.c.status,
        _d.c.attempts,
    ).select_from(
        _route_today.outerjoin(
            _s,
            sa.and_(
                _s.c.route_id == _route_today.c.id,
                _s.c.status.in_([m.StopStatus.PENDING, m.StopStatus.ARRIVED]),
            ),
        ).outerjoin(_d, _d.c.stop_id == _s.c.id)
    )
    _move_driver = (
        sa.update(orm.drivers)
        .where(orm.drivers.c.id == sa.bindparam("driver_id"))
        .where(
            sa.or_(
                orm.drivers.c.last_position_at.is_(None),
                orm.drivers.c.last_position_at < sa.bindparam("fix_at"),
            )
        )
        .values(
            last_lat=sa.bindparam("fix_lat"),
            last_lng=sa.bindparam("fix_lng"),
            last_position_at=sa.bindparam("fix_at"),
        )
    )
    _add_positions = sa.insert(orm.driver_positions)
    _store_eta = (
        sa.update(_s)
        .where(_s.c.id == sa.bindparam("stop_id"))
        .values(
            expected_arrival=sa.bindparam("expected"),
            eta_earliest=sa.bindparam("earliest"),
            eta_latest=sa.bindparam("latest"),
        )
    )
    del _r, _s, _d

    def live_route_key(self, driver_id: int, service_date: date) -> tuple[object, ...] | None:
        """Return, in one light query, what a cached live route must still match.

        That is the driver's route today (id, status, plan version) and, for each open stop,
        its sequence and status with its parcels' ids, statuses and attempts.
        """
        rows = self.session.execute(
            self._live_route_key, {"driver_id": driver_id, "service_date": service_date}
        ).all()
        if not rows:
            return None
        route_id, status, plan_version = rows[0][:3]
        stops = frozenset(tuple(row[3:]) for row in rows if row[3] is not None)
        return (route_id, status, plan_version, stops)

    def store_live(
        self,
        driver_id: int,
        fix: tuple[float, float, datetime],
        positions: list[m.DriverPosition],
        etas: list[tuple[int, datetime, datetime, datetime]],
    ) -> bool:
        """Move the driver's stored position to ``fix``, add ``positions``, store stop ETAs.

        ``etas`` are (stop id, expected, earliest, latest). Nothing is loaded. Return False,
        having written nothing, when the stored position is not older than ``fix``.
        """
        lat, lng, at = fix
        moved = self.session.execute(
            self._move_driver,
            {"driver_id": driver_id, "fix_lat": lat, "fix_lng": lng, "fix_at": at},
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if positions:
            self.session.execute(
                self._add_positions,
                [
                    {
                        "driver_id": p.driver_id,
                        "lat": p.lat,
                        "lng": p.lng,
                        "recorded_at": p.recorded_at,
                        "received_at": p.received_at,
                        "speed": p.speed,
                        "heading": p.heading,
                        "accuracy": p.accuracy,
                        "suspect": p.suspect,
                    }
                    for p in positions
                ],
            )
        if etas:
            self.session.execute(
                self._store_eta,
                [
                    {"stop_id": i, "expected": e, "earliest": lo, "latest": hi}
                    for i, e, lo, hi in etas
                ],
            )
        return True

    # ------------------------------------------------------------ lockers (issue 11)

    def reserve_compartment(
        self, locker_id: int, delivery_id: int, size: m.ParcelSize, now: datetime
    ) -> m.LockerCompartment | None:
        """Reserve the smallest free compartment of ``locker_id`` that takes ``size``.

        One conditional UPDATE of one row, so two requests never get the same door and a
        locker is never overbooked; PostgreSQL skips doors another request has locked (it
        is reserving them), SQLite runs one writer at a time. None when the locker is full.
        """
        return self._claim_free_compartment(
            locker_id,
            size,
            status=m.CompartmentStatus.RESERVED,
            delivery_id=delivery_id,
            reserved_at=now,
        )

    def _claim_free_compartment(
        self, locker_id: int, size: m.ParcelSize, **values: Any
    ) -> m.LockerCompartment | None:
        """Give the smallest free compartment of ``locker_id`` taking ``size`` the ``values``."""
        t = orm.locker_compartments
        rank = sa.case({str(size_): rank_ for size_, rank_ in m.SIZE_ORDER.items()}, value=t.c.size)
        free = sa.and_(
            t.c.locker_id == locker_id,
            t.c.status == m.CompartmentStatus.FREE,
            rank >= m.SIZE_ORDER[size],
        )
        pick = sa.select(t.c.id).where(free).order_by(rank, t.c.label, t.c.id).limit(1)
        if self.session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        claimed = self.session.execute(
            sa.update(t)
            .where(t.c.id == pick.scalar_subquery(), t.c.status == m.CompartmentStatus.FREE)
            .values(**values)
            .returning(t.c.id)
        ).scalar_one_or_none()
        if claimed is None:
            return None
        return self.session.get(m.LockerCompartment, claimed, populate_existing=True)

    def release_compartment(self, delivery_id: int) -> int:
        """Free the compartment reserved for ``delivery_id``; return how many were freed."""
        t = orm.locker_compartments
        freed = (
            self.session.execute(
                sa.update(t)
                .where(t.c.delivery_id == delivery_id, t.c.status == m.CompartmentStatus.RESERVED)
                .values(status=m.CompartmentStatus.FREE, delivery_id=None, reserved_at=None)
                .returning(t.c.id)
            )
            .scalars()
            .all()
        )
        for compartment_id in freed:  # objects already loaded see the change
            self.session.get(m.LockerCompartment, compartment_id, populate_existing=True)
        return len(freed)

    # ------------------------------------------------------------ locker pickups (issue 12)

    def occupy_compartment(
        self, locker_id: int, delivery_id: int, size: m.ParcelSize
    ) -> m.LockerCompartment | None:
        """Mark the parcel's compartment of ``locker_id`` occupied; None when none can take it.

        The compartment reserved for the parcel when one is (or the one it already occupies:
        a repeat); else the smallest free one that takes ``size``, claimed with the same
        conditional UPDATE as a reservation, so concurrent deposits never share a door. A
        reservation left in another locker is given back.
        """
        t = orm.locker_compartments
        held = (
            sa.select(t.c.id)
            .where(
                t.c.locker_id == locker_id,
                t.c.delivery_id == delivery_id,
                t.c.status.in_([m.CompartmentStatus.RESERVED, m.CompartmentStatus.OCCUPIED]),
            )
            .order_by(t.c.id)
            .limit(1)
        )
        kept = self.session.execute(
            sa.update(t)
            .where(t.c.id == held.scalar_subquery(), t.c.delivery_id == delivery_id)
            .values(status=m.CompartmentStatus.OCCUPIED)
            .returning(t.c.id)
        ).scalar_one_or_none()
        if kept is not None:
            return self.session.get(m.LockerCompartment, kept, populate_existing=True)
        self.release_compartment(delivery_id)
        return self._claim_free_compartment(
            locker_id,
            size,
            status=m.CompartmentStatus.OCCUPIED,
            delivery_id=delivery_id,
            reserved_at=None,
        )

    def empty_compartment(self, delivery_id: int) -> str | None:
        """Free the compartment ``delivery_id`` occupies or holds; return its label, or None."""
        t = orm.locker_compartments
        rows = self.session.execute(
            sa.update(t)
            .where(
                t.c.delivery_id == delivery_id,
                t.c.status.in_([m.CompartmentStatus.RESERVED, m.CompartmentStatus.OCCUPIED]),
            )
            .values(status=m.CompartmentStatus.FREE, delivery_id=None, reserved_at=None)
            .returning(t.c.id, t.c.label)
        ).all()
        for compartment_id, _label in rows:  # objects already loaded see the change
            self.session.get(m.LockerCompartment, compartment_id, populate_existing=True)
        return str(rows[0][1]) if rows else None

    def compartment_of(self, delivery_id: int) -> m.LockerCompartment | None:
        """Return the compartment reserved for or occupied by ``delivery_id``, if any."""
        t = orm.locker_compartments
        return self.session.scalars(
            sa.select(m.LockerCompartment)
            .where(
                t.c.delivery_id == delivery_id,
                t.c.status.in_([m.CompartmentStatus.RESERVED, m.CompartmentStatus.OCCUPIED]),
            )
            .order_by(t.c.id)
            .limit(1)
        ).first()

    def locker_by_code(self, code: str) -> m.Locker | None:
        """Return the locker with ``code``."""
        return self.session.scalars(sa.select(m.Locker).filter_by(code=code)).one_or_none()

    def locker_by_key_hash(self, key_hash: str) -> m.Locker | None:
        """Return the active locker whose API key hashes to ``key_hash``."""
        return self.session.scalars(
            sa.select(m.Locker).filter_by(api_key_hash=key_hash, active=True)
        ).one_or_none()

    def pickup_code_in_use(self, locker_id: int, code: str, but: int, since: datetime) -> bool:
        """Say whether another parcel of ``locker_id`` has the pickup code ``code``.

        One waiting there, or one that left it at ``since`` or later: a late repeat of the
        report of its collection must not find a new parcel under the same code.
        """
        t = orm.deliveries
        gone = [DeliveryStatus.COLLECTED, DeliveryStatus.RETURNED]
        found = self.session.scalar(
            sa.select(t.c.id)
            .where(
                t.c.locker_id == locker_id,
                t.c.pickup_code == code,
                t.c.id != but,
                sa.or_(
                    t.c.status == DeliveryStatus.AT_LOCKER,
                    sa.and_(t.c.status.in_(gone), t.c.updated_at >= since),
                ),
            )
            .limit(1)
        )
        return found is not None

    def locker_parcel(
        self, locker_id: int, *, tracking_number: str | None = None, pickup_code: str | None = None
    ) -> m.Delivery | None:
        """Return the parcel of ``locker_id`` with that tracking number or pickup code.

        Only parcels that were put in: the one waiting there first, else the one that
        left last (a repeated report of a collection).
        """
        t = orm.deliveries
        if tracking_number is not None:
            which = t.c.tracking_number == tracking_number
        elif pickup_code is not None:
            which = t.c.pickup_code == pickup_code
        else:
            return None
        put_in = [DeliveryStatus.AT_LOCKER, DeliveryStatus.COLLECTED, DeliveryStatus.RETURNED]
        waiting_first = sa.case((t.c.status == DeliveryStatus.AT_LOCKER, 0), else_=1)
        return self.session.scalars(
            sa.select(m.Delivery)
            .where(t.c.locker_id == locker_id, t.c.status.in_(put_in), which)
            .order_by(waiting_first, t.c.updated_at.desc(), t.c.id.desc())
            .limit(1)
        ).first()

    def waiting_in_lockers(
        self, put_in_before: datetime, after_id: int, limit: int
    ) -> list[tuple[int, datetime]]:
        """Return (id, when put in) of parcels in a locker since before ``put_in_before``.

        By id after ``after_id``, at most ``limit``: a job pages through them. When put in:
        the newest deposit (or locker hand-over) on the parcel's timeline.
        """
        d, e = orm.deliveries, orm.delivery_events
        put_in = (
            sa.select(sa.func.max(e.c.occurred_at))
            .where(e.c.delivery_id == d.c.id, e.c.kind.in_(["ParcelDeposited", "ParcelDelivered"]))
            .scalar_subquery()
        )
        since = sa.func.coalesce(put_in, d.c.updated_at, d.c.created_at)
        rows = self.session.execute(
            sa.select(d.c.id, since.label("since"))
            .where(d.c.status == DeliveryStatus.AT_LOCKER, d.c.id > after_id)
            .where(since < put_in_before)
            .order_by(d.c.id)
            .limit(limit)
        ).all()
        return [(int(row[0]), row[1]) for row in rows]

    # ------------------------------------------------------------ slots (issue 11)

    def slots_from(self, depot_id: int, first_day: date, days: int) -> list[m.DeliverySlot]:
        """Return a depot's slots on ``days`` days from ``first_day``, in time order."""
        t = orm.delivery_slots
        last_day = date.fromordinal(first_day.toordinal() + days - 1)
        return list(
            self.session.scalars(
                sa.select(m.DeliverySlot)
                .where(
                    t.c.depot_id == depot_id,
                    t.c.service_date >= first_day,
                    t.c.service_date <= last_day,
                )
                .order_by(t.c.starts_at)
            )
        )

    def claim_slot_place(self, slot_id: int) -> m.DeliverySlot | None:
        """Take one place in a slot if one is left; return the slot as it is now, or None.

        One conditional UPDATE: two requests racing for the last place cannot both get it
        (PostgreSQL re-checks ``booked < capacity`` on the row it waited for).
        """
        t = orm.delivery_slots
        claimed = self.session.execute(
            sa.update(t)
            .where(t.c.id == slot_id, t.c.booked < t.c.capacity)
            .values(booked=t.c.booked + 1)
            .returning(t.c.id)
        ).scalar_one_or_none()
        if claimed is None:
            return None
        return self.session.get(m.DeliverySlot, claimed, populate_existing=True)

    def release_slot_place(self, slot_id: int) -> None:
        """Give back one place in a slot (the parcel moved out of it)."""
        t = orm.delivery_slots
        self.session.execute(
            sa.update(t).where(t.c.id == slot_id, t.c.booked > 0).values(booked=t.c.booked - 1)
        )
        self.session.get(m.DeliverySlot, slot_id, populate_existing=True)

    # ------------------------------------------------------------ integration API (issue 13)

    def depot_by_code(self, code: str) -> m.Depot | None:
        """Return the depot with a code."""
        return self.session.scalars(sa.select(m.Depot).filter_by(code=code)).one_or_none()

    def delivery_by_reference(self, reference: str) -> m.Delivery | None:
        """Return the delivery a carrier announced under ``reference``."""
        return self.session.scalars(
            sa.select(m.Delivery).filter_by(reference=reference)
        ).one_or_none()

    def deliveries_by_references(self, references: list[str]) -> list[m.Delivery]:
        """Return the deliveries announced under any of ``references`` (one query)."""
        if not references:
            return []
        return list(
            self.session.scalars(sa.select(m.Delivery).where(m.Delivery.reference.in_(references)))  # type: ignore[attr-defined]
        )

    def add_announced(self, deliveries: list[m.Delivery]) -> bool:
        """Insert a carrier's new deliveries; False (none added) if a reference was taken.

        In a savepoint, so the loser of concurrent announcements of one reference keeps
        its transaction and reads the winner's delivery instead of failing.
        """
        try:
            with self.session.begin_nested():
                self.session.add_all(deliveries)
                self.session.flush()
        except sa.exc.IntegrityError:
            return False
        return True

    def proof_photos_of(self, delivery_id: int) -> list[m.ProofPhoto]:
        """Return a delivery's proof photos, oldest first."""
        return list(
            self.session.scalars(
                sa.select(m.ProofPhoto).filter_by(delivery_id=delivery_id).order_by(sa.text("id"))
            )
        )

    def api_key_by_hash(self, key_hash: str) -> m.ApiKey | None:
        """Return the API key stored under a hash (revoked ones too: they answer 401)."""
        return self.session.scalars(sa.select(m.ApiKey).filter_by(key_hash=key_hash)).one_or_none()

    def api_key_by_name(self, name: str) -> m.ApiKey | None:
        """Return the API key with a name."""
        return self.session.scalars(sa.select(m.ApiKey).filter_by(name=name)).one_or_none()

    # ------------------------------------------------------------ webhooks (issue 13)

    def webhook_subscriptions(self, *, active_only: bool = True) -> list[wh.WebhookSubscription]:
        """Return the webhook subscribers (only the active ones unless asked), oldest first."""
        query = sa.select(wh.WebhookSubscription).order_by(orm.webhook_subscriptions.c.id)
        if active_only:
            query = query.filter_by(active=True)
        return list(self.session.scalars(query))

    def last_webhook_body(
        self, subscription_id: int, delivery_id: int, event_type: str
    ) -> str | None:
        """Return the body of the newest event of a type told (or to be told) to a subscriber."""
        t = orm.webhook_messages
        return self.session.execute(
            sa.select(t.c.body)
            .where(
                t.c.subscription_id == subscription_id,
                t.c.delivery_id == delivery_id,
                t.c.event_type == event_type,
                t.c.status.notin_([wh.WebhookStatus.FAILED, wh.WebhookStatus.CANCELLED]),
            )
            .order_by(t.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def claim_webhook_message(
        self, now: datetime, lease_until: datetime, skip: Sequence[int] = ()
    ) -> wh.WebhookMessage | None:
        """Claim the oldest due webhook that nothing earlier holds back, until ``lease_until``.

        Due: pending and its retry time has come, or sending and its sender's lease ran out
        (the sender died; at least once means it is sent again). Held back: an earlier row
        of the same subscriber and delivery is still pending or sending, so each subscriber
        gets a delivery's events in order. One UPDATE of one row: two senders never hold
        the same row; PostgreSQL skips rows another sender is claiming. Rows of the
        subscriptions in ``skip`` are left for a later run.
        """
        t = orm.webhook_messages
        candidate, earlier = t.alias("candidate"), t.alias("earlier")
        unfinished = [wh.WebhookStatus.PENDING, wh.WebhookStatus.SENDING]
        held_back = (
            sa.exists()
            .where(earlier.c.subscription_id == candidate.c.subscription_id)
            .where(earlier.c.delivery_id == candidate.c.delivery_id)
            .where(earlier.c.id < candidate.c.id)
            .where(earlier.c.status.in_(unfinished))
        )
        pick = (
            sa.select(candidate.c.id)
            .where(candidate.c.status.in_(unfinished), candidate.c.next_attempt_at <= now)
            .where(~held_back)
            .where(candidate.c.subscription_id.notin_(skip) if skip else sa.true())
            .order_by(candidate.c.id)
            .limit(1)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True, of=candidate)
        claimed = self.session.execute(
            sa.update(t)
            .where(t.c.id == pick.scalar_subquery())
            .where(t.c.status.in_(unfinished), t.c.next_attempt_at <= now)
            .values(
                status=wh.WebhookStatus.SENDING,
                next_attempt_at=lease_until,
                attempts=t.c.attempts + 1,
            )
            .returning(t.c.id)
        ).scalar_one_or_none()
        if claimed is None:
            return None
        return self.session.get(wh.WebhookMessage, claimed, populate_existing=True)

    def cancel_webhook_messages(self, subscription_id: int, reason: str) -> int:
        """Cancel a subscriber's unsent webhooks; return how many."""
        t = orm.webhook_messages
        result = self.session.execute(
            sa.update(t)
            .where(t.c.subscription_id == subscription_id)
            .where(t.c.status.in_([wh.WebhookStatus.PENDING, wh.WebhookStatus.SENDING]))
            .values(status=wh.WebhookStatus.CANCELLED, next_attempt_at=None, error=reason)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def webhook_log(
        self, subscription_id: int, limit: int
    ) -> list[tuple[wh.WebhookAttempt, wh.WebhookMessage]]:
        """Return a subscriber's latest tries, newest first, each with its outbox row."""
        a = orm.webhook_attempts
        rows = self.session.execute(
            sa.select(wh.WebhookAttempt, wh.WebhookMessage)
            .join(wh.WebhookMessage, orm.webhook_messages.c.id == a.c.message_id)
            .where(a.c.subscription_id == subscription_id)
            .order_by(a.c.id.desc())
            .limit(limit)
        ).all()
        return [(attempt, message) for attempt, message in rows]

    # ------------------------------------------------------------ the day: planning jobs (issue 13)

    def open_planning_job(self, depot_id: int, service_date: date) -> m.PlanningJob | None:
        """Return the depot-day's newest planning job still queued or running, if any."""
        return self.session.scalars(
            sa.select(m.PlanningJob)
            .filter_by(depot_id=depot_id, service_date=service_date)
            .where(orm.planning_jobs.c.state.in_([m.JobState.QUEUED, m.JobState.RUNNING]))
            .order_by(orm.planning_jobs.c.id.desc())
            .limit(1)
        ).one_or_none()

    def add_planning_job(self, job: m.PlanningJob) -> bool:
        """Insert a planning job; False (nothing added) if the day may not have it.

        Refused when its ``schedule_key`` is taken, or its depot-day has a job queued or
        running already (a unique partial index: one at a time). In a savepoint, so the
        loser of a race for the day keeps its transaction.
        """
        try:
            with self.session.begin_nested():
                self.session.add(job)
                self.session.flush()
        except sa.exc.IntegrityError:
            return False
        return True

    # ------------------------------------------------------------ operations (issue 14)

    def kpi_facts(
        self, service_date: date, depot_id: int | None = None
    ) -> tuple[list[kpis.RouteFacts], list[kpis.ParcelFacts]]:
        """Return the day's routes and parcels as KPI facts, in three queries.

        Routes with their driver and vehicle type; stop counts per route; parcels with
        their route, hand-over time (the newest ParcelDelivered event) and rating.
        """
        r, dr, v, vt, s = orm.routes, orm.drivers, orm.vehicles, orm.vehicle_types, orm.stops
        d, e, rt = orm.deliveries, orm.delivery_events, orm.ratings
        route_query = (
            sa.select(
                r.c.id,
                r.c.driver_id,
                dr.c.name,
                vt.c.kind,
                vt.c.cost_per_km,
                vt.c.cost_per_hour,
                vt.c.fixed_cost,
                vt.c.co2_g_per_km,
                r.c.planned_distance_m,
                r.c.started_at,
                r.c.completed_at,
            )
            .join(dr, dr.c.id == r.c.driver_id)
            .join(v, v.c.id == r.c.vehicle_id)
            .join(vt, vt.c.id == v.c.vehicle_type_id)
            .where(r.c.service_date == service_date, r.c.status != m.RouteStatus.CANCELLED)
            .order_by(dr.c.name, r.c.id)
        )
        if depot_id is not None:
            route_query = route_query.where(r.c.depot_id == depot_id)
        rows = self.session.execute(route_query).all()
        closed = sa.func.sum(
            sa.case((s.c.status.in_([m.StopStatus.DONE, m.StopStatus.FAILED]), 1), else_=0)
        )
        counts = {
            route_id: (total, int(done or 0))
            for route_id, total, done in self.session.execute(
                sa.select(s.c.route_id, sa.func.count(), closed)
                .where(s.c.route_id.in_([row.id for row in rows]))
                .group_by(s.c.route_id)
            )
        }
        routes = [
            kpis.RouteFacts(
                route_id=row.id,
                driver_id=row.driver_id,
                driver_name=row.name,
                vehicle_kind=m.VehicleKind(row.kind),
                cost_per_km=row.cost_per_km,
                cost_per_hour=row.cost_per_hour,
                fixed_cost=row.fixed_cost,
                co2_g_per_km=row.co2_g_per_km,
                planned_km=row.planned_distance_m / 1000,
                started_at=row.started_at,
                completed_at=row.completed_at,
                stops=counts.get(row.id, (0, 0))[0],
                closed_stops=counts.get(row.id, (0, 0))[1],
            )
            for row in rows
        ]
        handed_over = (
            sa.select(sa.func.max(e.c.occurred_at))
            .where(e.c.delivery_id == d.c.id, e.c.kind == "ParcelDelivered")
            .scalar_subquery()
        )
        parcel_query = (
            sa.select(
                d.c.id,
                s.c.route_id,
                d.c.attempts,
                handed_over.label("delivered_at"),
                d.c.window_start,
                d.c.window_end,
                d.c.option,
                rt.c.score,
            )
            .select_from(d)
            .outerjoin(s, s.c.id == d.c.stop_id)
            .outerjoin(rt, rt.c.delivery_id == d.c.id)
            .where(d.c.service_date == service_date)
            .order_by(d.c.id)
        )
        if depot_id is not None:
            parcel_query = parcel_query.where(d.c.depot_id == depot_id)
        lockers = (m.DeliveryOption.LOCKER, m.DeliveryOption.PICKUP_POINT)
        parcels = [
            kpis.ParcelFacts(
                delivery_id=row.id,
                route_id=row.route_id,
                attempts=row.attempts,
                delivered_at=row.delivered_at,
                window_start=row.window_start,
                window_end=row.window_end,
                to_locker=row.option in lockers,
                rating=row.score,
            )
            for row in self.session.execute(parcel_query)
        ]
        return routes, parcels

    def fleet_routes(
        self, depot_id: int, service_date: date
    ) -> list[tuple[m.Route, m.Driver, m.Vehicle, m.VehicleType]]:
        """Return a depot's routes of the day with driver, vehicle and type; stops loaded."""
        query = (
            sa.select(m.Route, m.Driver, m.Vehicle, m.VehicleType)
            .join(m.Driver, orm.drivers.c.id == orm.routes.c.driver_id)
            .join(m.Vehicle, orm.vehicles.c.id == orm.routes.c.vehicle_id)
            .join(m.VehicleType, orm.vehicle_types.c.id == orm.vehicles.c.vehicle_type_id)
            .where(
                orm.routes.c.depot_id == depot_id,
                orm.routes.c.service_date == service_date,
                orm.routes.c.status != m.RouteStatus.CANCELLED,
            )
            .options(selectinload(m.Route.stops))  # type: ignore[arg-type]
            .order_by(orm.drivers.c.name)
        )
        return [(row[0], row[1], row[2], row[3]) for row in self.session.execute(query)]
