"""The tracking read model on real SQLite with fake adapters: the page's content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile_portal.domain.errors import NotFound
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import gps_intake, proof_of_delivery, tracking
from tests.builders import load_stop_id, make_delivery, make_route, make_world, ping

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


# ---------------------------------------------------------------- get_tracking


def test_view_of_a_parcel_out_for_delivery(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    first = make_delivery(world, recipient_name="Ada Lovelace")
    mine = make_delivery(world, recipient_name="Grace Brewster Hopper", address_line="Hauptstr. 5")
    make_route(world, [first, mine])

    view = tracking.get_tracking(services, mine.tracking_token)

    assert view.delivery_id == mine.id
    assert view.tracking_number == mine.tracking_number
    assert view.status == "out_for_delivery"
    assert view.status_label == "Out for delivery"
    assert view.recipient_first_name == "Grace"
    assert (view.address_line, view.postcode, view.city) == ("Hauptstr. 5", "10115", "Berlin")
    assert view.window_start == NOW + timedelta(hours=1)
    assert view.window_end == NOW + timedelta(hours=4)
    # Before any ping, the plan's promise (second stop: start + 2 × 15 min, -5/+10 min).
    assert view.eta_earliest == NOW + timedelta(minutes=25)
    assert view.eta_latest == NOW + timedelta(minutes=40)
    assert view.stops_before == 1
    assert view.driver_first_name == "Driver0"
    assert (view.vehicle_kind, view.vehicle_label) == ("van", "Van")
    assert view.en_route and not view.finished
    assert view.driver_position is None  # no fix yet
    # The view has no field that could leak a phone number or access code.
    assert not hasattr(view, "phone") and not hasattr(view, "access_code")


def test_view_after_a_ping_shows_the_driver_and_a_live_eta(services, world) -> None:  # type: ignore[no-untyped-def]
    first = make_delivery(world)
    mine = make_delivery(world)
    make_route(world, [first, mine])

    gps_intake.record_positions(services, world.driver_ids[0], [ping(52.5205, 13.4005)])
    view = tracking.get_tracking(services, mine.tracking_token)

    assert view.driver_position is not None
    assert (view.driver_position.lat, view.driver_position.lng) == (52.5205, 13.4005)
    assert view.driver_position.at == NOW
    assert not view.driver_position.stale
    assert 0 < view.driver_position.distance_m < 2_000
    # The promise still brackets the expected arrival, and is never in the past.
    assert view.eta_expected is not None
    assert NOW <= view.eta_earliest <= view.eta_expected <= view.eta_latest


def test_stops_before_shrinks_as_earlier_stops_are_done(services, world) -> None:  # type: ignore[no-untyped-def]
    a, b, mine = (make_delivery(world) for _ in range(3))
    make_route(world, [a, b, mine])
    assert tracking.get_tracking(services, mine.tracking_token).stops_before == 2

    proof_of_delivery.mark_delivered(services, world.driver_ids[0], load_stop_id(services, a))

    assert tracking.get_tracking(services, mine.tracking_token).stops_before == 1


def test_driver_position_turns_stale_after_two_minutes(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    mine = make_delivery(world)
    make_route(world, [mine])
    gps_intake.record_positions(services, world.driver_ids[0], [ping()])

    clock.advance(minutes=1)
    assert not tracking.get_tracking(services, mine.tracking_token).driver_position.stale
    clock.advance(minutes=2)
    assert tracking.get_tracking(services, mine.tracking_token).driver_position.stale


def test_history_lists_status_changes_in_order(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    mine = make_delivery(world)
    make_route(world, [mine])
    stop_id = load_stop_id(services, mine)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop_id)
    clock.advance(minutes=3)
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop_id)

    view = tracking.get_tracking(services, mine.tracking_token)

    assert [h.status for h in view.history] == ["arriving", "delivered"]
    assert [h.label for h in view.history] == ["Driver arriving", "Delivered"]
    assert view.history[1].at == NOW + timedelta(minutes=3)
    assert view.finished and not view.en_route
    # A finished parcel shows no ETA, no queue position and no live driver.
    assert view.eta_earliest is None and view.eta_latest is None
    assert view.stops_before is None
    assert view.driver_position is None


def test_unplanned_parcel_has_window_but_no_route_details(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)

    view = tracking.get_tracking(services, d.tracking_token)

    assert view.status == "created" and view.status_label == "Order received"
    assert view.window_start == NOW + timedelta(hours=1)
    assert view.eta_earliest is None and view.stops_before is None
    assert view.driver_first_name is None and view.vehicle_kind is None
    assert view.driver_position is None
    assert view.history == ()


def test_planned_but_not_dispatched_parcel_hides_the_driver_position(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    make_route(world, [d], dispatched=False)
    gps_intake.record_positions(services, world.driver_ids[0], [ping()])

    view = tracking.get_tracking(services, d.tracking_token)

    assert view.status == "scheduled"
    assert view.eta_earliest is not None  # the plan's window is known
    assert view.driver_position is None  # but where the driver is now is none of their business
    assert view.stops_before is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "x" * 65,
        "has spaces in it and is long enough",
        "../../../../etc/passwd-aaaaaaaaaaaaa",
        "tok€n-with-unicode-aaaaaaaaaaaaaaa",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # well formed but unknown
    ],
)
def test_unknown_and_malformed_tokens_get_the_same_not_found(services, world, token) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world)
    with pytest.raises(NotFound) as excinfo:
        tracking.get_tracking(services, token)
    assert excinfo.value.message == "This tracking link is not valid."


def test_token_lookup_is_exact(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    for near_miss in (d.tracking_token[:-1], d.tracking_token.upper(), d.tracking_token + "A"):
        if near_miss == d.tracking_token:
            continue
        with pytest.raises(NotFound):
            tracking.get_tracking(services, near_miss)
