"""The live-ETA store on real SQLite: the 5-second store's route cache, and when it is redone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from lastmile_portal.domain import model as m
from lastmile_portal.services import gps_intake, proof_of_delivery
from tests.builders import (
    load,
    load_stop_id,
    make_delivery,
    make_route,
    make_world,
    ping,
    stored_positions,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


# ---------------------------------------------------------------- the 5-second store's route cache


@pytest.fixture
def statements():  # type: ignore[no-untyped-def]
    """Record every SQL statement sent while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


FAR = (52.47, 13.40)  # ~5.5 km south of the stops: nobody is "arriving"


def stored_etas(services, stop_ids: list[int]) -> list[tuple[datetime, datetime, datetime]]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [
            (s.expected_arrival, s.eta_earliest, s.eta_latest)
            for s in (uow.repo.get(m.Stop, i) for i in stop_ids)
        ]


def loads_the_route(statements: list[str]) -> bool:
    """Return whether the full store ran: it loads deliveries as objects (every column)."""
    return any("deliveries.tracking_token" in s for s in statements)


@pytest.fixture
def cached_route(services, world, clock):  # type: ignore[no-untyped-def]
    """Three parcels on the first driver's route, and a first store that cached it."""
    parcels = [make_delivery(world, window_hours=(0, 8)) for _ in range(3)]
    make_route(world, parcels)
    gps_intake.record_positions(services, world.driver_ids[0], [ping(*FAR, at=clock.now())])
    assert services.live.peek(world.driver_ids[0]).route is not None
    return SimpleNamespace(
        driver_id=world.driver_ids[0],
        parcels=parcels,
        stop_ids=[load_stop_id(services, d) for d in parcels],
    )


def test_a_warm_store_writes_the_position_but_no_eta_that_did_not_move(  # type: ignore[no-untyped-def]
    services, cached_route, clock, statements, publisher
) -> None:
    before = stored_etas(services, cached_route.stop_ids)
    publisher.published.clear()
    clock.advance(seconds=5)

    gps_intake.record_positions(
        services, cached_route.driver_id, [ping(FAR[0] + 0.0002, FAR[1], at=clock.now())]
    )

    assert not loads_the_route(statements)
    assert not [s for s in statements if s.startswith("UPDATE stops")]
    assert stored_etas(services, cached_route.stop_ids) == before
    assert load(services, m.Driver, cached_route.driver_id).last_lat == FAR[0] + 0.0002
    assert [p.lat for p in stored_positions(services)] == [FAR[0], FAR[0] + 0.0002]
    # Every watcher still gets the position; no ETA moved, so no "eta" event. The depot's
    # staff see the driver move too (issue 14: the fleet map).
    events = sorted((room, event) for room, event, _ in publisher.published)
    watchers = [(f"delivery:{d.id}", "position") for d in cached_route.parcels]
    depot_id = load(services, m.Driver, cached_route.driver_id).depot_id
    assert events == sorted([*watchers, (f"fleet:{depot_id}", "fleet_position")])


def test_a_driver_who_stands_still_sees_the_stored_etas_move(  # type: ignore[no-untyped-def]
    services, cached_route, clock, statements, publisher
) -> None:
    before = stored_etas(services, cached_route.stop_ids)
    publisher.published.clear()
    clock.advance(minutes=5)

    gps_intake.record_positions(services, cached_route.driver_id, [ping(*FAR, at=clock.now())])

    assert not loads_the_route(statements)
    after = stored_etas(services, cached_route.stop_ids)
    for old, new in zip(before, after, strict=True):
        assert all(b - a == timedelta(minutes=5) for a, b in zip(old, new, strict=True))
    etas = {room: p for room, event, p in publisher.published if event == "eta"}
    assert etas.keys() == {f"delivery:{d.id}" for d in cached_route.parcels}
    assert etas[f"delivery:{cached_route.parcels[0].id}"]["expected"] == after[0][0].isoformat()
    # The cache keeps what was stored: five seconds later nothing moves again.
    statements.clear()
    clock.advance(seconds=5)
    gps_intake.record_positions(services, cached_route.driver_id, [ping(*FAR, at=clock.now())])
    assert not [s for s in statements if s.startswith("UPDATE stops")]


def test_after_a_delivered_stop_the_next_store_uses_fresh_data(  # type: ignore[no-untyped-def]
    services, cached_route, clock, statements, publisher
) -> None:
    first, second, third = cached_route.parcels
    proof_of_delivery.mark_delivered(services, cached_route.driver_id, cached_route.stop_ids[0])
    publisher.published.clear()
    statements.clear()
    clock.advance(seconds=5)

    gps_intake.record_positions(services, cached_route.driver_id, [ping(*FAR, at=clock.now())])

    assert loads_the_route(statements)
    rooms = dict(services.live.peek(cached_route.driver_id).rooms)
    assert rooms == {f"delivery:{second.id}": 0, f"delivery:{third.id}": 1}
    assert f"delivery:{first.id}" not in {room for room, _e, _p in publisher.published}


def test_a_stop_event_in_another_process_is_noticed_by_the_next_store(  # type: ignore[no-untyped-def]
    services, cached_route, clock, statements
) -> None:
    # Another process does not drop this one's cache: the store must notice by itself.
    live = services.live.peek(cached_route.driver_id)
    cached = live.route, live.rooms
    proof_of_delivery.mark_delivered(services, cached_route.driver_id, cached_route.stop_ids[0])
    live.route, live.rooms = cached
    statements.clear()
    clock.advance(seconds=5)

    gps_intake.record_positions(services, cached_route.driver_id, [ping(*FAR, at=clock.now())])

    assert loads_the_route(statements)
    assert [stops for _room, stops in live.rooms] == [0, 1]


def test_a_replan_elsewhere_is_noticed_by_its_plan_version(  # type: ignore[no-untyped-def]
    services, cached_route, clock, statements, publisher
) -> None:
    with services.uow() as uow:
        stop = uow.repo.get(m.Stop, cached_route.stop_ids[0])
        route = uow.repo.get(m.Route, stop.route_id)
        route.plan_version += 1
        stop.expected_arrival = stop.eta_earliest = stop.eta_latest = None
        version = route.plan_version
        uow.commit()
    publisher.published.clear()
    statements.clear()
    clock.advance(seconds=5)

    gps_intake.record_positions(services, cached_route.driver_id, [ping(*FAR, at=clock.now())])

    assert loads_the_route(statements)
    etas = [p for room, event, p in publisher.published if event == "eta"]
    assert [p["plan_version"] for p in etas] == [version]
    assert services.live.peek(cached_route.driver_id).route.plan_version == version
