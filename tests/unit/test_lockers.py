"""The locker rules: opening hours, what fits, which status a redirection leaves."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from lastmile_portal.domain import lockers as rules
from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus as S

BERLIN = ZoneInfo("Europe/Berlin")
WED_10 = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)
SAT_15 = datetime(2026, 11, 28, 15, 0, tzinfo=BERLIN)
SUN_10 = datetime(2026, 11, 29, 10, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "readable"),
    [
        ("Mo-Su 00:00-24:00", "Open 24 hours, every day"),
        ("24/7", "Open 24 hours, every day"),
        ("Mo-Fr 08:00-20:00; Sa 09:00-14:00", "Mon–Fri 08:00–20:00 · Sat 09:00–14:00"),
        ("Mo-Sa 07:00-22:00", "Mon–Sat 07:00–22:00"),
        ("Mo-Fr 09:00-12:00,14:00-18:00", "Mon–Fri 09:00–12:00, 14:00–18:00"),
        ("Mo-Su 08:00-20:00; Su off", "Mon–Sat 08:00–20:00"),
    ],
)
def test_simple_hours_read_as_words(text: str, readable: str) -> None:
    assert rules.hours_text(text) == readable


@pytest.mark.parametrize(
    "text", ["Mo-Fr 22:00-02:00", "PH off", "Mo-Fr 08:00-20:00 open", "sunrise-sunset", ""]
)
def test_anything_else_is_shown_as_written_and_open_now_is_unknown(text: str) -> None:
    assert rules.hours_text(text) == text
    assert rules.open_now(text, WED_10) is None


def test_open_now_follows_the_days_and_the_ranges() -> None:
    hours = "Mo-Fr 08:00-20:00; Sa 09:00-14:00"
    assert rules.open_now(hours, WED_10) is True
    assert rules.open_now(hours, SAT_15) is False
    assert rules.open_now(hours, SUN_10) is False
    assert rules.open_now("Mo-Su 00:00-24:00", SUN_10) is True


def test_a_compartment_fits_a_parcel_of_its_size_or_smaller() -> None:
    assert rules.fits(m.ParcelSize.L, m.ParcelSize.S)
    assert rules.fits(m.ParcelSize.M, m.ParcelSize.M)
    assert not rules.fits(m.ParcelSize.S, m.ParcelSize.M)


def test_only_a_failed_parcel_becomes_redirected_the_others_keep_their_status() -> None:
    assert rules.status_after_choice(S.FAILED) is S.REDIRECTED_TO_LOCKER
    # Out for delivery stays so: the driver's arrived/delivered work on en-route parcels.
    for kept in (S.CREATED, S.SCHEDULED, S.RESCHEDULED, S.OUT_FOR_DELIVERY):
        assert rules.status_after_choice(kept) is kept


def test_a_redirected_parcel_counts_as_it_was_for_the_cut_off() -> None:
    assert rules.changeable_as(S.REDIRECTED_TO_LOCKER, S.OUT_FOR_DELIVERY) is S.OUT_FOR_DELIVERY
    assert rules.changeable_as(S.REDIRECTED_TO_LOCKER, None) is S.REDIRECTED_TO_LOCKER
    assert rules.changeable_as(S.SCHEDULED, None) is S.SCHEDULED


def test_joining_the_routes_locker_stop_wins_over_moving_a_stop() -> None:
    move = rules.stop_move
    assert move(on_open_stop=False, alone=True, existing_target=True) is rules.StopMove.NONE
    assert move(on_open_stop=True, alone=True, existing_target=True) is rules.StopMove.JOIN
    assert move(on_open_stop=True, alone=True, existing_target=False) is rules.StopMove.RELOCATE
    assert move(on_open_stop=True, alone=False, existing_target=False) is rules.StopMove.SPLIT


def test_pickup_codes_are_six_digits() -> None:
    codes = {rules.new_pickup_code() for _ in range(50)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 40


def test_the_section_goes_once_the_journey_is_over() -> None:
    for over in (S.DELIVERED, S.AT_LOCKER, S.COLLECTED, S.RETURNED, S.CANCELLED):
        assert not rules.offers_lockers(over)
    for live in (S.SCHEDULED, S.OUT_FOR_DELIVERY, S.ARRIVING, S.FAILED, S.REDIRECTED_TO_LOCKER):
        assert rules.offers_lockers(live)
