"""Loading a network file: create, re-run to change, never delete what live routes use."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal.domain import model as m
from lastmile_portal.domain.network import NetworkErrors
from lastmile_portal.services.network import load_network

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLE = (Path(__file__).resolve().parents[2] / "docs" / "network.example.toml").read_text()


def _state(services: Any) -> dict[str, Any]:
    """Return what an operator would check after loading: everything the file governs."""
    with services.uow() as uow:
        return {
            "depots": sorted(
                (d.code, d.name, d.opens_at, d.closes_at) for d in uow.repo.all(m.Depot)
            ),
            "areas": sorted((a.name, a.postcode_prefixes) for a in uow.repo.all(m.ServiceArea)),
            "types": sorted(
                (t.code, t.capacity, t.fixed_cost) for t in uow.repo.all(m.VehicleType)
            ),
            "vehicles": sorted(
                (v.label, v.vehicle_type_id, v.active) for v in uow.repo.all(m.Vehicle)
            ),
            "drivers": sorted(
                (d.phone, d.name, str(d.employment), d.active) for d in uow.repo.all(m.Driver)
            ),
            "lockers": sorted(
                (
                    x.code,
                    x.active,
                    sorted((c.label, str(c.size), str(c.status)) for c in x.compartments),
                )
                for x in uow.repo.all(m.Locker)
            ),
            "slots": sorted(
                (s.starts_at.isoformat(), s.capacity) for s in uow.repo.all(m.DeliverySlot)
            ),
        }


def test_a_new_network_is_created_from_the_file(services) -> None:  # type: ignore[no-untyped-def]
    report = load_network(services, EXAMPLE, "network.toml")

    assert "depot HAM-1" in report.created
    assert "driver Mia Hansen (+494012345601)" in report.created
    state = _state(services)
    assert state["depots"] == [("HAM-1", "Depot Altona", "07:00", "21:00")]
    assert state["areas"] == [("Altona", "227,225"), ("Eimsbüttel", "203,201")]
    assert [v[0] for v in state["vehicles"]] == ["Bike A-1", "HH-LM 101E"]
    assert [d[:3] for d in state["drivers"]] == [
        ("+494012345601", "Mia Hansen", "staff"),
        ("+494012345602", "Ole Petersen", "gig"),
    ]
    [(_, _, altona), (_, _, kiosk)] = state["lockers"]
    assert (len(altona), len(kiosk)) == (22, 30)
    # 7 days from Wednesday 10:00 (the 08:00-10:00 slot is over): Wed 4, Thu 5, Fri 5, Sat 2,
    # Sun none, Mon 5, Tue 5.
    assert len(state["slots"]) == 26
    with services.uow() as uow:
        # The file carries no token: no one can sign in until `driver-token` issues one.
        assert all(d.api_token_hash for d in uow.repo.all(m.Driver))


def test_running_the_same_file_again_changes_nothing(services) -> None:  # type: ignore[no-untyped-def]
    load_network(services, EXAMPLE)
    before = _state(services)
    report = load_network(services, EXAMPLE)
    assert (report.created, report.changed, report.deactivated) == ([], [], [])
    assert report.unchanged == 9  # depot, 2 types, 2 vehicles, 2 drivers, 2 lockers
    assert _state(services) == before


def test_a_changed_file_changes_what_changed(services) -> None:  # type: ignore[no-untyped-def]
    load_network(services, EXAMPLE)
    edited = (
        EXAMPLE.replace('name = "Mia Hansen"', 'name = "Mia Hansen-Kröger"')
        .replace("capacity = 40\nmax_parcel_size", "capacity = 35\nmax_parcel_size")
        .replace(
            "compartments = { S = 10, M = 8, L = 4 }", "compartments = { S = 6, M = 8, L = 6 }"
        )
        .replace('times = ["09:00-12:00", "12:00-15:00"]', 'times = ["09:00-12:00"]')
        .replace('[[vehicles]]\nlabel = "Bike A-1"\ntype = "bike"\ndepot = "HAM-1"\n', "")
    )
    report = load_network(services, edited)

    assert "driver Mia Hansen-Kröger (+494012345601): name" in report.changed
    assert "vehicle type bike: capacity" in report.changed
    assert "locker HH-ALT: compartments" in report.changed
    assert "depot HAM-1: 1 delivery slots no longer offered, closed" in report.changed
    assert report.deactivated == ["vehicle Bike A-1"]
    state = _state(services)
    assert ("Bike A-1", 2, False) in state["vehicles"]  # kept, inactive: history points at it
    altona = next(c for code, _, c in state["lockers"] if code == "HH-ALT")
    in_service = [(label, size) for label, size, status in altona if status != "out_of_service"]
    assert sum(size == "S" for _, size in in_service) == 6
    assert sum(size == "L" for _, size in in_service) == 6
    assert len(altona) == 24  # 4 small doors out of service, 2 large ones added
    with services.uow() as uow:
        saturday_noon = [
            s
            for s in uow.repo.all(m.DeliverySlot)
            if s.starts_at.astimezone(BERLIN).weekday() == 5 and s.starts_at.hour == 11
        ]
        assert [s.remaining for s in saturday_noon] == [0]  # closed, not deleted


def test_a_vehicle_and_driver_on_a_live_route_stay_and_are_reported(services) -> None:  # type: ignore[no-untyped-def]
    load_network(services, EXAMPLE)
    with services.uow() as uow:
        van = next(v for v in uow.repo.all(m.Vehicle) if v.label == "HH-LM 101E")
        mia = next(d for d in uow.repo.all(m.Driver) if d.name == "Mia Hansen")
        uow.repo.add(
            m.Route(
                driver_id=mia.id,  # type: ignore[arg-type]
                vehicle_id=van.id,  # type: ignore[arg-type]
                depot_id=van.depot_id,
                service_date=services.today(),
                status=m.RouteStatus.IN_PROGRESS,
            )
        )
        uow.commit()
    without = EXAMPLE.replace('label = "HH-LM 101E"', 'label = "HH-LM 202E"').replace(
        'name = "Mia Hansen"\nphone = "+49 40 1234 5601"',
        'name = "Jan Koch"\nphone = "+49 40 1234 5609"',
    )
    report = load_network(services, without)

    assert "vehicle HH-LM 101E: not in the file, but on a live route" in report.kept
    assert "driver Mia Hansen (+494012345601): not in the file, but on a live route" in report.kept
    state = _state(services)
    assert ("HH-LM 101E", 1, True) in state["vehicles"]
    assert ("+494012345601", "Mia Hansen", "staff", True) in state["drivers"]


def test_a_file_with_errors_changes_nothing_and_lists_them_all(services) -> None:  # type: ignore[no-untyped-def]
    load_network(services, EXAMPLE)
    before = _state(services)
    broken = (
        EXAMPLE.replace('name = "Depot Altona"', 'name = "Depot Altona-Nord"')
        .replace('type = "bike"', 'type = "cargo-bke"')
        .replace("capacity = 25", "capacity = 0")
        .replace("+49 40 1234 5602", "+49 40")
    )
    with pytest.raises(NetworkErrors) as caught:
        load_network(services, broken, "network.toml")
    assert [e.path for e in caught.value.errors] == [
        "depots[1].slots[2].capacity",
        "vehicles[2].type",
        "drivers[2].phone",  # the phone's own check, reported with the file's errors
    ]
    assert _state(services) == before


def test_bad_and_repeated_phones_are_reported_with_their_lines(services) -> None:  # type: ignore[no-untyped-def]
    text = (
        EXAMPLE.replace('phone = "+49 40 1234 5602"', 'phone = "+494012345601"').replace(
            'name = "Mia Hansen"\nphone = "+49 40 1234 5601"',
            'name = "Mia Hansen"\nphone = "+49 40 1234 5601"',
        )
        + '\n[[drivers]]\nname = "Nobody"\nphone = "12"\ndepot = "HAM-1"\n'
    )
    with pytest.raises(NetworkErrors) as caught:
        load_network(services, text, "network.toml")
    lines = text.splitlines()
    rendered = [e.render("network.toml") for e in caught.value.errors]
    assert len(rendered) == 2
    second = lines.index('phone = "+494012345601"') + 1
    assert rendered[0] == (
        f"network.toml:{second}: drivers[2].phone: +494012345601 is also drivers[1]'s phone"
    )
    bad = lines.index('phone = "12"') + 1
    assert rendered[1].startswith(f"network.toml:{bad}: drivers[3].phone: ")
    assert _state(services)["depots"] == []


def test_the_command_loads_a_file_and_refuses_a_broken_one(app, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good, bad = tmp_path / "network.toml", tmp_path / "broken.toml"
    good.write_text(EXAMPLE)
    bad.write_text(EXAMPLE.replace('type = "bike"', 'type = "cargo-bke"'))
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["load-network", str(bad)])
    assert refused.exit_code == 2
    assert (
        f"{bad}:" in refused.output
        and 'vehicles[2].type: unknown vehicle type "cargo-bke"' in refused.output
    )
    assert "nothing was changed" in refused.output
    assert _state(services)["depots"] == []

    loaded = runner.invoke(args=["load-network", str(good)])
    assert loaded.exit_code == 0, loaded.output
    assert "created   depot HAM-1" in loaded.output
    # The depot, 2 vehicle types, 2 vehicles, 2 drivers, 2 lockers, and the depot's slots.
    assert loaded.output.splitlines()[-1].startswith("10 created, 0 changed")
    token = runner.invoke(args=["driver-token", "Mia Hansen"])
    assert token.exit_code == 0 and "New token for driver" in token.output
