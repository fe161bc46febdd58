"""Reading a network file: every error at once, each with its line and field."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from lastmile_portal.domain.network import NetworkErrors, parse_network

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
slot_days = 3

[[depots]]
code = "BER-N"
name = "Depot Wedding"
address = "Gerichtstraße 23, 13347 Berlin"
lat = 52.5446
lng = 13.368
opens = "07:00"
closes = "21:00"
service_areas = [{ name = "Wedding", postcodes = ["133", "101"] }]

[[depots.slots]]
days = ["mon", "tue"]
times = ["08:00-10:00", "18:00-20:00"]
capacity = 25

[[vehicle_types]]
code = "bike"
kind = "cargo_bike"
name = "Cargo bike"
capacity = 40
max_parcel_size = "M"
range_km = 60

[[vehicles]]
label = "Bike N-1"
type = "bike"
depot = "BER-N"

[[vehicles]]
label = "Bike N-2"
type = "cargo-bke"
depot = "BER-N"

[[drivers]]
name = "Anna Schmidt"
phone = "+49 30 23125902"
depot = "BER-N"

[[lockers]]
code = "PS-HBF"
name = "Parcel locker Hauptbahnhof"
depot = "BER-N"
address = "Europaplatz 1, 10557 Berlin"
postcode = "10557"
lat = 52.5251
lng = 13.3694
compartments = { S = 8, L = 2 }
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(NetworkErrors) as caught:
        parse_network(text, "network.toml")
    return [e.render("network.toml") for e in caught.value.errors]


def _line_of(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


def test_an_unknown_vehicle_type_names_its_line_and_field() -> None:
    line = _line_of(GOOD, 'type = "cargo-bke"')
    assert _errors(GOOD) == [
        f"network.toml:{line}: vehicles[2].type: unknown vehicle type "
        '"cargo-bke" (the file has bike)'
    ]


def test_every_error_is_reported_at_once_in_file_order() -> None:
    text = (
        GOOD.replace('closes = "21:00"', 'closes = "06:00"')
        .replace('days = ["mon", "tue"]', 'days = ["mon", "tue", "someday"]')
        .replace('max_parcel_size = "M"', 'max_parcel_size = "XL"')
        .replace('phone = "+49 30 23125902"\n', "")
        .replace("compartments = { S = 8, L = 2 }", "compartments = { S = 8, XXL = 2 }")
        + '\n[[vehicles]]\nlabel = "Bike N-1"\ntype = "bike"\ndepot = "BER-X"\n'
    )
    cargo = _line_of(text, 'type = "cargo-bke"')
    twice = _line_of(text, 'label = "Bike N-1"', "[[lockers]]")
    berx = _line_of(text, 'depot = "BER-X"')
    errors = _errors(text)
    assert errors == [
        f"network.toml:{_line_of(text, 'closes =')}: depots[1].closes: must be after opens (07:00)",
        f"network.toml:{_line_of(text, 'days = [')}: depots[1].slots[1].days: must be a list of "
        "days from mon, tue, wed, thu, fri, sat, sun",
        f"network.toml:{_line_of(text, 'max_parcel_size')}: vehicle_types[1].max_parcel_size: "
        "must be one of S, M, L, not 'XL'",
        f"network.toml:{cargo}: vehicles[2].type: unknown "
        'vehicle type "cargo-bke" (the file has bike)',
        f"network.toml:{_line_of(text, '[[drivers]]')}: drivers[1].phone: is required",
        f"network.toml:{_line_of(text, 'compartments =')}: lockers[1].compartments: size 'XXL' "
        "is not one of S, M, L",
        f"network.toml:{twice}: vehicles[3].label: vehicle 'Bike N-1' appears twice",
        f'network.toml:{berx}: vehicles[3].depot: unknown depot "BER-X" (the file has BER-N)',
    ]


def test_a_nested_table_is_counted_within_its_parent() -> None:
    text = GOOD.replace('type = "cargo-bke"', 'type = "bike"') + (
        '\n[[depots]]\ncode = "BER-S"\nname = "S"\naddress = "A"\nlat = 52.47\nlng = 13.44\n'
        '\n[[depots.slots]]\ndays = ["mon"]\ntimes = ["10:00-08:00"]\ncapacity = 5\n'
    )
    line = _line_of(text, 'times = ["10:00-08:00"]')
    assert _errors(text) == [
        f"network.toml:{line}: depots[2].slots[1].times: '10:00-08:00' ends before it "
        "starts (one day at most)"
    ]


def test_a_token_in_the_file_and_unknown_keys_are_refused() -> None:
    text = (
        GOOD.replace('type = "cargo-bke"', 'type = "bike"')
        .replace('name = "Anna Schmidt"', 'name = "Anna Schmidt"\ntoken = "secret"')
        .replace("range_km = 60", "range_km = 60\nwheels = 3")
    )
    errors = _errors(text)
    assert errors[0].startswith(
        f"network.toml:{_line_of(text, 'wheels')}: vehicle_types[1].wheels: unknown key"
    )
    assert errors[1] == (
        f"network.toml:{_line_of(text, 'token =')}: drivers[1].token: tokens are not kept in "
        "the file: `flask driver-token` issues one"
    )


def test_broken_toml_says_where() -> None:
    text = GOOD.replace('label = "Bike N-1"', 'label = "Bike N-1')
    line = _line_of(text, 'label = "Bike N-1')
    [error] = _errors(text)
    assert error.startswith(f"network.toml:{line}: not valid TOML")


def test_a_good_file_is_read_whole() -> None:
    network = parse_network(GOOD.replace('type = "cargo-bke"', 'type = "bike"'))
    assert network.slot_days == 3
    [depot] = network.depots
    assert depot.service_areas == (("Wedding", ("133", "101")),)
    assert depot.slots[0].days == (0, 1)
    assert depot.slots[0].windows == ((time(8), time(10)), (time(18), time(20)))
    assert network.vehicle_types[0].speed_factor == 1.0  # defaults where the file is silent
    assert network.drivers[0].employment == "staff"
    assert network.lockers[0].compartments == (("S", 8), ("L", 2))


@pytest.mark.parametrize(
    "path", ["docs/network.example.toml", "lastmile_portal/demo_data/demo_city.toml"]
)
def test_the_shipped_files_are_valid(path: str) -> None:
    network = parse_network((ROOT / path).read_text(encoding="utf-8"), path)
    assert network.depots and network.vehicles and network.drivers and network.lockers


def test_lines_stay_right_after_multi_line_arrays_and_brackets_in_names() -> None:
    text = (
        GOOD.replace('type = "cargo-bke"', 'type = "bike"')
        .replace(
            'service_areas = [{ name = "Wedding", postcodes = ["133", "101"] }]',
            'service_areas = [\n  { name = "Wedding [north", postcodes = ["133"] },\n'
            '  { name = "Mitte", postcodes = "101" },\n]',
        )
        .replace('name = "Anna Schmidt"', 'name = "Anna [Schmidt"')
        .replace("range_km = 60", "range_km = -1")
    )
    assert _errors(text) == [
        f"network.toml:{_line_of(text, 'service_areas = [')}: depots[1].service_areas[2]"
        '.postcodes: must be a list of postcode prefixes like ["101", "133"]',
        f"network.toml:{_line_of(text, 'range_km')}: vehicle_types[1].range_km: must be "
        "between 1 and 5000, not -1",
    ]
