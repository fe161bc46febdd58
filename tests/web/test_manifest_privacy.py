"""The manifest tells the driver's phone a recipient's phone and access code only when needed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lastmile_portal.services import proof_of_delivery
from tests.builders import DRIVER_TOKEN, load_stop_id, make_delivery, make_route, make_world

AUTH = {"Authorization": f"Bearer {DRIVER_TOKEN}"}


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def _parcels(client) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    body = client.get("/api/v1/driver/manifest", headers=AUTH).get_json()
    return [p for s in body["stops"] for p in s["parcels"]]


def _route(world, count: int, *, dispatched: bool = True) -> list[Any]:  # type: ignore[no-untyped-def]
    parcels = [make_delivery(world, access_code=f"{i}{i}{i}{i}#") for i in range(count)]
    make_route(world, parcels, dispatched=dispatched)
    return parcels


def test_before_dispatch_the_phone_gets_no_phone_numbers_or_codes(client, world) -> None:  # type: ignore[no-untyped-def]
    _route(world, 2, dispatched=False)

    parcels = _parcels(client)

    assert [p["recipient_name"] for p in parcels]  # the names load the van
    assert all(p["phone"] is None and p["access_code"] is None for p in parcels)


def test_on_the_way_codes_show_only_for_the_next_stops(
    client, services, world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, manifest_code_stops=2)
    )
    _route(world, 4)

    parcels = _parcels(client)

    assert all(p["phone"] for p in parcels)
    assert [p["access_code"] for p in parcels] == ["0000#", "1111#", None, None]


def test_a_closed_stop_keeps_nothing_private_and_the_next_code_moves_up(
    client, services, world, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, manifest_code_stops=1)
    )
    first, second, third = _route(world, 3)
    driver = world.driver_ids[0]
    proof_of_delivery.mark_delivered(services, driver, load_stop_id(services, first))

    done, nxt, later = _parcels(client)

    assert (done["phone"], done["access_code"]) == (None, None)
    assert nxt["access_code"] == "1111#" and later["access_code"] is None

    # At the door the code shows whatever the setting says.
    proof_of_delivery.mark_arrived(services, driver, load_stop_id(services, third))
    assert _parcels(client)[2]["access_code"] == "2222#"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("Lockerweg 1", "Packstation Test, Lockerweg 1, 10115"),
        ("Lockerweg 1, 10115 Berlin", "Packstation Test, Lockerweg 1, 10115 Berlin"),
    ],
)
def test_a_locker_stop_names_the_locker_and_its_postcode_once(
    client, services, world, address, shown
) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal.domain import model as m
    from tests.builders import make_locker

    locker_id = make_locker(world)
    d = make_delivery(world, option=m.DeliveryOption.LOCKER, locker_id=locker_id)
    make_route(world, [d])
    with services.uow() as uow:
        locker = uow.repo.get(m.Locker, locker_id)
        locker.address = address
        stop = uow.repo.get(m.Stop, uow.repo.get(m.Delivery, d.id).stop_id)
        stop.kind, stop.locker_id = m.StopKind.LOCKER, locker_id
        uow.commit()

    body = client.get("/api/v1/driver/manifest", headers=AUTH).get_json()

    assert body["stops"][0]["address"] == shown
