"""The storage adapter on real engines: each test runs on SQLite and on PostgreSQL.

Migrations and models must agree, secrets are encrypted at rest, times come back as aware
UTC, and two writers racing on one delivery never silently lose an update.
"""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lastmile_portal import create_app
from lastmile_portal.adapters.db import make_engine
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.adapters.orm import metadata
from lastmile_portal.adapters.repository import SqlAlchemyRepository
from lastmile_portal.demo import demo_deliveries, demo_drivers, ensure_demo
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import ConcurrentUpdate
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import gps_intake, retention, tracking
from tests.builders import DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.conftest import base_config


@pytest.fixture
def db_services(database_url, tmp_path, clock, publisher):  # type: ignore[no-untyped-def]
    """Return the services of an app on a freshly migrated database of either kind."""
    app = create_app(
        base_config(tmp_path, DATABASE_URL=database_url), clock=clock, publisher=publisher
    )
    url = app.config["SETTINGS"].database_url
    upgrade(url)
    return app.extensions["lastmile"]


@pytest.fixture
def engine(database_url):  # type: ignore[no-untyped-def]
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def world(db_services):  # type: ignore[no-untyped-def]
    return make_world(db_services)


# ---------------------------------------------------------------- migrations


def test_migrations_create_exactly_the_schema_the_models_describe(database_url, engine) -> None:  # type: ignore[no-untyped-def]
    upgrade(database_url)
    upgrade(database_url)  # a second run (every start does one) changes nothing

    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        tables = set(sa.inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)

    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables
    assert diff == [], f"migrations and models disagree: {diff}"
    assert len(versions) == 1


# ---------------------------------------------------------------- encryption at rest


def test_secrets_are_unreadable_at_rest_and_readable_through_the_repository(  # type: ignore[no-untyped-def]
    db_services, world, engine
) -> None:
    a = make_delivery(world, access_code="4711#B")
    b = make_delivery(world, access_code="4711#B")
    none = make_delivery(world)

    with engine.connect() as conn:
        raw = dict(
            conn.execute(
                sa.text("SELECT id, access_code FROM deliveries WHERE id IN (:a, :b, :n)"),
                {"a": a.id, "b": b.id, "n": none.id},
            ).all()
        )

    assert raw[none.id] is None
    for delivery_id in (a.id, b.id):
        assert raw[delivery_id] != "4711#B"
        assert "4711" not in raw[delivery_id]
    # Same code, different ciphertext: equal secrets cannot be spotted in a dump.
    assert raw[a.id] != raw[b.id]
    with db_services.uow() as uow:
        assert uow.repo.get(m.Delivery, a.id).access_code == "4711#B"
        assert uow.repo.get(m.Delivery, b.id).access_code == "4711#B"
        assert uow.repo.get(m.Delivery, none.id).access_code is None

    # Driver API tokens are kept only as hashes.
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT api_token_hash FROM drivers")).scalars().all()
    assert DRIVER_TOKEN not in stored
    assert m.hash_api_token(DRIVER_TOKEN) in stored


# ---------------------------------------------------------------- time


def test_datetimes_round_trip_as_aware_utc(db_services, world) -> None:  # type: ignore[no-untyped-def]
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 25, 11, 15, 30, 123456, tzinfo=berlin)  # 10:15:30 UTC
    end = datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("America/New_York"))
    d = make_delivery(world, window_start=start, window_end=end)

    with db_services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        window_start, window_end, created = (
            loaded.window_start,
            loaded.window_end,
            loaded.created_at,
        )

    for value in (window_start, window_end, created):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert window_start == start
    assert window_start.hour == 10 and window_start.microsecond == 123456
    assert window_end == end
    assert created == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    # 10:30 in Berlin is 09:30 UTC, so it sorts before 10:00 UTC despite the larger hour.
    early = make_delivery(world, window_start=datetime(2026, 11, 25, 10, 30, tzinfo=berlin))
    late = make_delivery(world, window_start=datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    with db_services.uow() as uow:
        rows = uow.repo.session.execute(
            sa.select(m.Delivery.id)  # type: ignore[attr-defined]
            .where(m.Delivery.id.in_([early.id, late.id]))  # type: ignore[attr-defined]
            .order_by(m.Delivery.window_start)  # type: ignore[attr-defined]
        ).scalars()
        assert list(rows) == [early.id, late.id]


def test_naive_datetimes_are_refused(db_services, world) -> None:  # type: ignore[no-untyped-def]
    # A naive datetime is ambiguous: refused rather than silently taken as local or UTC.
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        make_delivery(world, window_start=datetime(2026, 11, 25, 10, 0))
    with db_services.uow() as uow:
        assert uow.repo.count(m.Delivery) == 0


# ---------------------------------------------------------------- concurrency and constraints


def test_second_writer_on_a_stale_delivery_gets_concurrent_update(db_services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    with db_services.uow() as first, db_services.uow() as second:
        mine = first.repo.get(m.Delivery, d.id)
        theirs = second.repo.get(m.Delivery, d.id)
        assert mine.version == theirs.version == 1
        mine.instructions = "Ring twice"
        first.commit()
        theirs.safe_place = "Behind the bins"
        with pytest.raises(ConcurrentUpdate):
            second.commit()

    with db_services.uow() as uow:
        stored = uow.repo.get(m.Delivery, d.id)
        assert stored.instructions == "Ring twice"  # the first change is kept
        assert stored.safe_place is None  # the stale one was not written over it
        assert stored.version == 2

    # Retrying on fresh data works and keeps both changes.
    with db_services.uow() as retry:
        retry.repo.get(m.Delivery, d.id).safe_place = "Behind the bins"
        retry.commit()
    with db_services.uow() as uow:
        stored = uow.repo.get(m.Delivery, d.id)
        assert (stored.instructions, stored.safe_place, stored.version) == (
            "Ring twice",
            "Behind the bins",
            3,
        )


def test_racing_writers_never_lose_an_update(db_services, world) -> None:  # type: ignore[no-untyped-def]
    # Customer, driver, support and optimizer all load the same delivery at once; each
    # retries on ConcurrentUpdate as a caller should. Every change must survive.
    d = make_delivery(world)
    workers = 4
    barrier = threading.Barrier(workers)
    conflicts: list[int] = []

    def change(i: int) -> None:
        first_round = True
        for _attempt in range(50):
            try:
                with db_services.uow() as uow:
                    loaded = uow.repo.get(m.Delivery, d.id)
                    if first_round:
                        first_round = False
                        barrier.wait(timeout=10)  # everyone holds the same version now
                    loaded.instructions = (loaded.instructions or "") + f"[{i}]"
                    uow.commit()
                return
            except ConcurrentUpdate:
                conflicts.append(i)
        raise AssertionError(f"writer {i} never got its change in")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(change, range(workers)))

    with db_services.uow() as uow:
        stored = uow.repo.get(m.Delivery, d.id)
        assert sorted(stored.instructions.replace("]", "] ").split()) == [
            f"[{i}]" for i in range(workers)
        ]
        assert stored.version == 1 + workers
    assert conflicts, "the writers never actually raced"


def test_tracking_tokens_and_numbers_are_unique_in_the_database(db_services, world) -> None:  # type: ignore[no-untyped-def]
    original = make_delivery(world)

    with pytest.raises(sa.exc.IntegrityError):
        make_delivery(world, tracking_token=original.tracking_token)
    with pytest.raises(sa.exc.IntegrityError):
        make_delivery(world, tracking_number=original.tracking_number)

    with db_services.uow() as uow:
        assert uow.repo.count(m.Delivery) == 1
        assert uow.repo.delivery_by_token(original.tracking_token).id == original.id


def test_status_changes_commit_with_their_timeline_line(db_services, world, publisher) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    with db_services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        loaded.transition_to(
            DeliveryStatus.CANCELLED,
            at=datetime(2026, 11, 25, 9, 5, tzinfo=UTC),
            actor="support",
            reason="shipper recalled it",  # type: ignore[arg-type]
        )
        uow.commit()
    with db_services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.CANCELLED
        (entry,) = uow.repo.timeline(d.id)
        assert entry.kind == "DeliveryStatusChanged"
        assert entry.data == {"old": "created", "new": "cancelled", "reason": "shipper recalled it"}
        assert entry.occurred_at == datetime(2026, 11, 25, 9, 5, tzinfo=UTC)
    assert (f"delivery:{d.id}", "status") in [(r, e) for r, e, _ in publisher.published]


def test_a_rolled_back_change_leaves_no_timeline_and_publishes_nothing(
    db_services, world, publisher
) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    publisher.published.clear()
    with pytest.raises(RuntimeError), db_services.uow() as uow:
        uow.repo.get(m.Delivery, d.id).transition_to(
            DeliveryStatus.CANCELLED,
            at=datetime(2026, 11, 25, 9, 5, tzinfo=UTC),
            actor="support",  # type: ignore[arg-type]
        )
        raise RuntimeError("boom before commit")
    with db_services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).status is DeliveryStatus.CREATED
        assert uow.repo.timeline(d.id) == []
    assert publisher.published == []


def test_a_unit_of_work_is_freed_without_the_cyclic_garbage_collector(db_services, world) -> None:  # type: ignore[no-untyped-def]
    # A reference cycle would keep the session and every delivery it loaded until a
    # collector pass; on a server with thousands of socket threads a full pass stalls
    # every thread for ~200 ms, which is what the live fan-out's p99 measured.
    d = make_delivery(world)
    gc.collect()
    gc.disable()
    try:
        with db_services.uow() as uow:
            loaded = uow.repo.get(m.Delivery, d.id)
            loaded.transition_to(
                DeliveryStatus.CANCELLED,
                at=datetime(2026, 11, 25, 9, 5, tzinfo=UTC),
                actor="support",  # type: ignore[arg-type]
            )
            session, delivery = weakref.ref(uow.session), weakref.ref(loaded)
            uow.commit()
        del uow, loaded
        assert session() is None
        assert delivery() is None
    finally:
        gc.enable()
    with db_services.uow() as uow:
        assert [e.kind for e in uow.repo.timeline(d.id)] == ["DeliveryStatusChanged"]


# ---------------------------------------------------------------- the demo city on PostgreSQL


def test_demo_city_seeds_on_postgresql(postgres_url, tmp_path, clock, publisher) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock, publisher=publisher
    )
    settings = app.config["SETTINGS"]
    assert settings.database_url.startswith("postgresql+psycopg://")
    upgrade(settings.database_url)
    services = app.extensions["lastmile"]

    seeded = ensure_demo(
        services, settings.secret_key, settings.demo_staff_email, settings.demo_staff_password
    )

    assert seeded is True
    with services.uow() as uow:
        all_deliveries = uow.repo.all(m.Delivery)
        assert 70 <= len(all_deliveries) <= 90
        unplanned = [d.tracking_number for d in all_deliveries if d.stop_id is None]
        assert unplanned == [], f"demo parcels left unplanned: {unplanned}"
        statuses = {d.status for d in all_deliveries}
        assert statuses == {DeliveryStatus.OUT_FOR_DELIVERY}
        day_routes = uow.repo.routes_on(services.today())
        assert day_routes
        assert all(r.status is m.RouteStatus.IN_PROGRESS for r in day_routes)
        assert uow.repo.staff_by_email(settings.demo_staff_email) is not None

    links = demo_deliveries(services)
    assert len(links) == len(all_deliveries)
    assert len({link["token"] for link in links}) == len(links)
    for link in links:
        assert link["url"] == f"{settings.public_base_url}/t/{link['token']}"
        assert link["driver_id"] is not None
        view = tracking.get_tracking(services, str(link["token"]))
        assert view.tracking_number == link["tracking_number"]
        assert view.en_route

    drivers = demo_drivers(services, settings.secret_key)
    assert drivers
    assert {link["driver_id"] for link in links} <= {d.id for d in drivers}

    # Seeding again on the same day is a no-op.
    assert (
        ensure_demo(
            services, settings.secret_key, settings.demo_staff_email, settings.demo_staff_password
        )
        is False
    )
    with services.uow() as uow:
        assert uow.repo.count(m.Delivery) == len(all_deliveries)


# ---------------------------------------------------------------- retention


def test_gps_history_past_retention_is_deleted_and_the_rest_kept(  # type: ignore[no-untyped-def]
    db_services, world, clock, monkeypatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 7)  # several batches per driver
    now = clock.now()
    keep_days = db_services.settings.position_retention_days
    cutoff = now - timedelta(days=keep_days)
    ages = [timedelta(days=keep_days + 5, minutes=i) for i in range(20)]  # old: go
    ages += [timedelta(days=keep_days) - timedelta(minutes=1), timedelta(hours=2)]  # kept
    with db_services.uow() as uow:
        for driver_id in world.driver_ids:
            for age in ages:
                uow.repo.add(
                    m.DriverPosition(
                        driver_id=driver_id,
                        lat=52.5,
                        lng=13.4,
                        recorded_at=now - age,
                        received_at=now - age,
                    )
                )
        uow.commit()

    result = retention.purge_driver_positions(db_services)

    assert result.deleted == 20 * len(world.driver_ids)
    assert result.cutoff == cutoff
    with db_services.uow() as uow:
        left = uow.repo.all(m.DriverPosition)
        assert len(left) == 2 * len(world.driver_ids)
        assert all(p.recorded_at >= cutoff for p in left)
        assert uow.repo.count(m.Driver) == len(world.driver_ids)  # drivers themselves stay
    assert retention.purge_driver_positions(db_services).deleted == 0


# ---------------------------------------------------------------- live store


def test_the_cached_live_store_writes_positions_and_moved_etas(  # type: ignore[no-untyped-def]
    db_services, world, clock, monkeypatch
) -> None:
    # The 5-second store's light path (no objects loaded) on each engine: a driver who
    # stands still for five minutes has the history, position and later ETAs stored.
    parcels = [make_delivery(world, window_hours=(0, 8)) for _ in range(3)]
    route_id = make_route(world, parcels)
    driver_id = world.driver_ids[0]

    def fix() -> list[dict[str, object]]:
        return [{"lat": 52.49, "lng": 13.40, "recorded_at": clock.now().isoformat()}]

    def etas() -> list[tuple[datetime, datetime, datetime]]:
        with db_services.uow() as uow:
            stops = uow.repo.get(m.Route, route_id).ordered_stops()
            return [(s.expected_arrival, s.eta_earliest, s.eta_latest) for s in stops]

    gps_intake.record_positions(db_services, driver_id, fix())
    assert db_services.live.peek(driver_id).route is not None  # cached by the first store
    before = etas()
    stored = []
    light = SqlAlchemyRepository.store_live
    monkeypatch.setattr(
        SqlAlchemyRepository,
        "store_live",
        lambda self, *a: stored.append(a[0]) or light(self, *a),
    )
    clock.advance(minutes=5)
    gps_intake.record_positions(db_services, driver_id, fix())
    assert stored == [driver_id]  # the light path, not the full one

    for old, new in zip(before, etas(), strict=True):
        assert all(b - a == timedelta(minutes=5) for a, b in zip(old, new, strict=True))
    with db_services.uow() as uow:
        assert uow.repo.get(m.Driver, driver_id).last_position_at == clock.now()
        assert uow.repo.count(m.DriverPosition) == 2
