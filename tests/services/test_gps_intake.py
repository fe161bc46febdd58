"""GPS intake on real SQLite with fake adapters: reading fixes, the live push, the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import InvalidInput, NotFound
from lastmile_portal.services import gps_intake, proof_of_delivery, tracking
from tests.builders import (
    iso,
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


# ---------------------------------------------------------------- record_positions: validation


BAD_PINGS = {
    "lat-over-90": {"lat": 91, "lng": 13.4, "recorded_at": iso(NOW)},
    "lat-under-90": {"lat": -90.5, "lng": 13.4, "recorded_at": iso(NOW)},
    "lng-over-180": {"lat": 52.5, "lng": 180.01, "recorded_at": iso(NOW)},
    "lat-text": {"lat": "north", "lng": 13.4, "recorded_at": iso(NOW)},
    "lat-numeric-text": {"lat": "52.5", "lng": 13.4, "recorded_at": iso(NOW)},
    "lat-true": {"lat": True, "lng": 13.4, "recorded_at": iso(NOW)},
    "lng-false": {"lat": 52.5, "lng": False, "recorded_at": iso(NOW)},
    "lat-nan": {"lat": float("nan"), "lng": 13.4, "recorded_at": iso(NOW)},
    "lng-inf": {"lat": 52.5, "lng": float("inf"), "recorded_at": iso(NOW)},
    "lat-huge-int": {"lat": 10**400, "lng": 13.4, "recorded_at": iso(NOW)},
    "lat-null": {"lat": None, "lng": 13.4, "recorded_at": iso(NOW)},
    "lat-missing": {"lng": 13.4, "recorded_at": iso(NOW)},
    "lng-missing": {"lat": 52.5, "recorded_at": iso(NOW)},
    "recorded-at-missing": {"lat": 52.5, "lng": 13.4},
    "recorded-at-number": {"lat": 52.5, "lng": 13.4, "recorded_at": 1764061200},
    "recorded-at-garbage": {"lat": 52.5, "lng": 13.4, "recorded_at": "yesterday"},
    "recorded-at-naive": {"lat": 52.5, "lng": 13.4, "recorded_at": "2026-11-25T09:00:00"},
    "recorded-at-year-one": {"lat": 52.5, "lng": 13.4, "recorded_at": "0001-01-01T00:00:00+01:00"},
    "recorded-at-year-one-utc": {"lat": 52.5, "lng": 13.4, "recorded_at": "0001-01-01T00:00:00Z"},
    "recorded-at-day-old": {
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": iso(NOW - timedelta(hours=25)),
    },
    "recorded-at-future": {
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": iso(NOW + timedelta(minutes=3)),
    },
    # 09:03 UTC
    "recorded-at-future-other-offset": {
        "lat": 52.5,
        "lng": 13.4,
        "recorded_at": "2026-11-25T10:03:00+01:00",
    },
    "speed-text": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "speed": "fast"},
    "speed-negative": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "speed": -3},
    "heading-list": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "heading": [90]},
    "heading-9999": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "heading": 9999},
    "accuracy-object": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "accuracy": {}},
    "accuracy-negative": {"lat": 52.5, "lng": 13.4, "recorded_at": iso(NOW), "accuracy": -1.5},
    "not-a-mapping": ["not", "an", "object"],
}


@pytest.mark.parametrize("bad", BAD_PINGS.values(), ids=BAD_PINGS.keys())
def test_a_bad_ping_is_dropped_with_its_reason_and_the_good_ones_are_taken(
    services, world, publisher, bad
) -> None:  # type: ignore[no-untyped-def]
    mine = make_delivery(world)
    make_route(world, [mine])
    good = ping(at=NOW - timedelta(seconds=30))

    result = gps_intake.record_positions(services, world.driver_ids[0], [bad, good])

    assert (result.accepted, result.ignored, result.flagged) == (1, 0, 0)
    assert [r.index for r in result.rejected] == [0]
    assert result.rejected[0].error
    assert [(p.lat, p.lng) for p in stored_positions(services)] == [(52.521, 13.401)]
    driver = load(services, m.Driver, world.driver_ids[0])
    assert driver.last_position_at == NOW - timedelta(seconds=30)


@pytest.mark.parametrize("bad", BAD_PINGS.values(), ids=BAD_PINGS.keys())
def test_a_batch_of_only_bad_pings_is_refused_and_stores_nothing(
    services, world, publisher, bad
) -> None:  # type: ignore[no-untyped-def]
    mine = make_delivery(world)
    make_route(world, [mine])

    with pytest.raises(InvalidInput):
        gps_intake.record_positions(services, world.driver_ids[0], [bad])

    assert stored_positions(services) == []
    driver = load(services, m.Driver, world.driver_ids[0])
    assert driver.last_lat is None and driver.last_position_at is None
    assert publisher.published == []


def test_a_driver_keeps_being_tracked_after_a_fix_from_year_one(services, world) -> None:  # type: ignore[no-untyped-def]
    driver_id = world.driver_ids[0]
    with pytest.raises(InvalidInput, match="plausible"):
        gps_intake.record_positions(
            services,
            driver_id,
            [{"lat": 52.5, "lng": 13.4, "recorded_at": "0001-01-01T00:00:00+01:00"}],
        )

    assert gps_intake.record_positions(services, driver_id, [ping()]).accepted == 1
    assert load(services, m.Driver, driver_id).last_position_at == NOW


def test_small_clock_skew_is_tolerated_but_never_dates_a_fix_in_the_future(services, world) -> None:  # type: ignore[no-untyped-def]
    result = gps_intake.record_positions(
        services, world.driver_ids[0], [ping(at=NOW + timedelta(seconds=90))]
    )
    assert result == gps_intake.PositionsResult(accepted=1, ignored=0)
    # A fix cannot have been taken after it reached us: it counts as taken on arrival.
    assert [p.recorded_at for p in stored_positions(services)] == [NOW]


def test_a_fix_dated_ahead_and_far_away_is_flagged_and_the_next_genuine_fixes_count(
    services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    driver_id = world.driver_ids[0]
    gps_intake.record_positions(services, driver_id, [ping(52.5200, 13.4000, NOW)])

    # Five seconds later a fix arrives stamped a minute ahead, 2.5 km away.
    clock.advance(seconds=5)
    odd = ping(52.5425, 13.4000, NOW + timedelta(seconds=65))
    assert gps_intake.record_positions(services, driver_id, [odd]).flagged == 1

    # The genuine fixes after it are taken at once, not after the phone's clock catches up.
    for step in range(1, 4):
        clock.advance(seconds=5)
        here = ping(52.5200 + step * 0.0001, 13.4000, NOW + timedelta(seconds=5 + 5 * step))
        assert gps_intake.record_positions(services, driver_id, [here]).accepted == 1
    driver = load(services, m.Driver, driver_id)
    assert driver.last_lat == pytest.approx(52.5203)
    assert driver.last_position_at == NOW + timedelta(seconds=20)


def test_fixes_that_agree_with_each_other_outvote_one_odd_fix_before_them(
    services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    driver_id = world.driver_ids[0]
    # The day's first fix is 5 km off (a cold GPS); the driver really is elsewhere.
    gps_intake.record_positions(services, driver_id, [ping(52.5650, 13.4000, NOW)])
    verdicts = []
    for step in range(1, 5):
        clock.advance(seconds=5)
        here = ping(52.5200, 13.4000 + step * 0.0001, NOW + timedelta(seconds=5 * step))
        result = gps_intake.record_positions(services, driver_id, [here])
        verdicts.append((result.accepted, result.flagged))

    # Two doubts, then the third agreeing fix moves the driver, and the track goes on.
    assert verdicts == [(0, 1), (0, 1), (1, 0), (1, 0)]
    driver = load(services, m.Driver, driver_id)
    assert (driver.last_lat, driver.last_lng) == pytest.approx((52.5200, 13.4004))


@pytest.mark.parametrize("batch", ["52.5,13.4", {"lat": 52.5}, None, 42])
def test_positions_must_be_a_list(services, world, batch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        gps_intake.record_positions(services, world.driver_ids[0], batch)
    assert stored_positions(services) == []


def test_unknown_driver_is_not_found(services, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        gps_intake.record_positions(services, 99_999, [ping()])


# ---------------------------------------------------------------- record_positions: storing


def test_pings_are_stored_with_extras_and_the_driver_moves(services, world) -> None:  # type: ignore[no-untyped-def]
    result = gps_intake.record_positions(
        services,
        world.driver_ids[0],
        [
            ping(52.5200, 13.4000, NOW - timedelta(seconds=20), speed=5, heading=90, accuracy=8.5),
            # ~40 m further, ten seconds later, sent with a Berlin offset.
            {"lat": 52.5203, "lng": 13.4004, "recorded_at": "2026-11-25T09:59:50+01:00"},
        ],
    )

    assert result == gps_intake.PositionsResult(accepted=2, ignored=0, flagged=0)
    first, second = stored_positions(services)
    assert (first.lat, first.lng, first.speed, first.heading, first.accuracy) == (
        52.5200,
        13.4000,
        5.0,
        90.0,
        8.5,
    )
    assert first.received_at == NOW
    assert second.recorded_at == NOW - timedelta(seconds=10)  # the offset was honoured
    assert second.recorded_at.tzinfo is not None
    assert second.speed is None
    assert not first.suspect and not second.suspect
    driver = load(services, m.Driver, world.driver_ids[0])
    assert (driver.last_lat, driver.last_lng) == (52.5203, 13.4004)
    assert driver.last_position_at == NOW - timedelta(seconds=10)


def test_batch_out_of_order_keeps_the_newest_as_current(services, world) -> None:  # type: ignore[no-untyped-def]
    result = gps_intake.record_positions(
        services,
        world.driver_ids[0],
        [ping(52.5230, 13.4030, NOW), ping(52.5210, 13.4010, NOW - timedelta(seconds=40))],
    )
    assert result.accepted == 2
    driver = load(services, m.Driver, world.driver_ids[0])
    assert (driver.last_lat, driver.last_lng, driver.last_position_at) == (52.5230, 13.4030, NOW)


def test_an_impossible_jump_is_kept_flagged_but_does_not_move_the_driver(  # type: ignore[no-untyped-def]
    services, world, publisher, clock
) -> None:
    mine = make_delivery(world)
    make_route(world, [mine])
    driver_id = world.driver_ids[0]
    gps_intake.record_positions(services, driver_id, [ping(52.5200, 13.4000, NOW)])
    publisher.published.clear()

    # 50 km in ten seconds: a GPS glitch, not a van. (History is stored every few seconds.)
    clock.advance(seconds=10)
    result = gps_intake.record_positions(
        services, driver_id, [ping(52.9700, 13.4000, NOW + timedelta(seconds=10))]
    )

    assert result == gps_intake.PositionsResult(accepted=0, ignored=0, flagged=1)
    driver = load(services, m.Driver, driver_id)
    assert (driver.last_lat, driver.last_lng, driver.last_position_at) == (52.5200, 13.4000, NOW)
    positions = stored_positions(services)
    assert [p.suspect for p in positions] == [False, True]
    assert [e for _r, e, _p in publisher.published if e == "position"] == []


def test_old_and_duplicate_pings_are_ignored(services, world, publisher, clock) -> None:  # type: ignore[no-untyped-def]
    driver_id = world.driver_ids[0]
    assert gps_intake.record_positions(services, driver_id, [ping(52.52, 13.40, NOW)]).accepted == 1

    # A phone flushes its offline buffer after a fresher ping: older fixes are dropped.
    clock.advance(seconds=30)
    result = gps_intake.record_positions(
        services,
        driver_id,
        [
            ping(52.51, 13.39, NOW - timedelta(minutes=5)),
            ping(52.52, 13.40, NOW),  # duplicate of the stored one
            ping(52.5220, 13.4020, NOW + timedelta(seconds=30)),
            ping(52.5220, 13.4020, NOW + timedelta(seconds=30)),  # duplicate within the batch
        ],
    )

    assert result == gps_intake.PositionsResult(accepted=1, ignored=3, flagged=0)
    assert [p.recorded_at for p in stored_positions(services)] == [
        NOW,
        NOW + timedelta(seconds=30),
    ]
    driver = load(services, m.Driver, driver_id)
    assert (driver.last_lat, driver.last_lng) == (52.5220, 13.4020)

    # Nothing new at all: nothing stored, nothing published.
    publisher.published.clear()
    result = gps_intake.record_positions(services, driver_id, [ping(at=NOW - timedelta(hours=1))])
    assert result == gps_intake.PositionsResult(accepted=0, ignored=1, flagged=0)
    assert publisher.published == []
    assert len(stored_positions(services)) == 2


def test_an_empty_batch_is_refused_and_harmless(services, world, publisher) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        gps_intake.record_positions(services, world.driver_ids[0], [])
    assert publisher.published == []


# ---------------------------------------------------------------- record_positions: live push


def test_newest_position_goes_only_to_en_route_parcels_of_this_driver(  # type: ignore[no-untyped-def]
    services, world, publisher
) -> None:
    done = make_delivery(world)
    arriving = make_delivery(world)
    waiting = make_delivery(world)
    make_route(world, [done, arriving, waiting], driver_index=0)
    other_drivers = make_delivery(world)
    make_route(world, [other_drivers], driver_index=1)
    unplanned = make_delivery(world)
    driver_id = world.driver_ids[0]
    proof_of_delivery.mark_delivered(services, driver_id, load_stop_id(services, done))
    proof_of_delivery.mark_arrived(services, driver_id, load_stop_id(services, arriving))
    publisher.published.clear()

    gps_intake.record_positions(
        services,
        driver_id,
        [ping(52.5200, 13.3990, NOW - timedelta(seconds=10)), ping(52.5210, 13.3980, NOW)],
    )

    positions = [
        (room, payload) for room, event, payload in publisher.published if event == "position"
    ]
    assert sorted(room for room, _ in positions) == sorted(
        [f"delivery:{arriving.id}", f"delivery:{waiting.id}"]
    )
    for _room, payload in positions:
        # One message per room, with the newest fix only.
        assert payload == {"lat": 52.5210, "lng": 13.3980, "at": NOW.isoformat(), "stale": False}
    # Nothing at all (position, eta or status) reaches the others' rooms.
    every_room = {room for room, _event, _payload in publisher.published}
    assert f"delivery:{done.id}" not in every_room
    assert f"delivery:{other_drivers.id}" not in every_room
    assert f"delivery:{unplanned.id}" not in every_room


def test_far_away_recipients_see_neither_the_driver_nor_their_position_pushes(  # type: ignore[no-untyped-def]
    services, world, publisher
) -> None:
    # Where the driver is now tells where earlier recipients live: shown only when close.
    within = services.settings.show_driver_within_stops
    parcels = [make_delivery(world) for _ in range(within + 2)]
    make_route(world, parcels)
    near, far = parcels[within], parcels[within + 1]  # within and within+1 stops before

    gps_intake.record_positions(services, world.driver_ids[0], [ping()])

    near_view = tracking.get_tracking(services, near.tracking_token)
    far_view = tracking.get_tracking(services, far.tracking_token)
    assert near_view.stops_before == within and near_view.driver_position is not None
    assert far_view.stops_before == within + 1
    assert far_view.driver_position is None
    assert far_view.driver_hidden_until_stops == within
    assert far_view.eta_earliest is not None  # they still get an honest ETA
    position_rooms = {room for room, event, _p in publisher.published if event == "position"}
    assert f"delivery:{near.id}" in position_rooms
    assert f"delivery:{far.id}" not in position_rooms


def test_a_driver_without_a_route_today_publishes_nothing(services, world, publisher) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    make_route(world, [d], driver_index=1)

    result = gps_intake.record_positions(services, world.driver_ids[0], [ping()])

    assert result.accepted == 1
    assert publisher.published == []


def test_history_that_cannot_be_stored_is_dropped_and_never_blocks_later_pings(
    services, world, clock
) -> None:  # type: ignore[no-untyped-def]
    driver_id = world.driver_ids[0]
    # A fix the database cannot take got into the buffer (the old year-one bug).
    year_one = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    services.live.driver(driver_id).buffer.append(
        m.DriverPosition(
            driver_id=driver_id, lat=52.5, lng=13.4, recorded_at=year_one, received_at=NOW
        )
    )
    with pytest.raises(sa.exc.StatementError, match="date value out of range"):
        gps_intake.record_positions(services, driver_id, [ping(at=NOW)])

    clock.advance(seconds=10)
    later = NOW + timedelta(seconds=10)
    assert gps_intake.record_positions(services, driver_id, [ping(at=later)]).accepted == 1
    assert [p.recorded_at for p in stored_positions(services)] == [later]
    assert services.live.driver(driver_id).buffer == []
