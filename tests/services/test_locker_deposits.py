"""A locker stop, after the driver: the deposit (a compartment, a pickup code, the text),
what the recipient's page says, the operator's report of the collection, and the return
of what nobody collected."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lastmile_portal.config import ConfigError, load_settings
from lastmile_portal.domain import model as m
from lastmile_portal.domain.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import lockers, tracking
from tests.builders import make_delivery, make_route, make_world


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def add_locker(world, code: str = "LK1", sizes: str = "SSML", name: str = "") -> int:  # type: ignore[no-untyped-def]
    """Create a locker with one compartment per letter of ``sizes`` (labels A0, A1, ...)."""
    with world.services.uow() as uow:
        locker = m.Locker(
            code=code,
            name=name or f"Packstation {code}",
            kind=m.LockerKind.LOCKER,
            address=f"{code}weg 1, 10115 Berlin",
            postcode="10115",
            lat=52.525,
            lng=13.405,
            depot_id=world.depot_id,
        )
        for i, size in enumerate(sizes):
            locker.compartments.append(
                m.LockerCompartment(locker_id=None, label=f"A{i}", size=m.ParcelSize(size))  # type: ignore[arg-type]
            )
        uow.repo.add(locker)
        uow.commit()
        return locker.id  # type: ignore[return-value]


def locker_parcel(world, locker_id: int, *, size: str = "M", reserve: bool = False, **kw):  # type: ignore[no-untyped-def]
    """Create a parcel addressed to the locker, out for delivery on a route of its own."""
    d = make_delivery(
        world,
        option=m.DeliveryOption.LOCKER,
        locker_id=locker_id,
        parcel_size=m.ParcelSize(size),
        **kw,
    )
    make_route(world, [d])
    if reserve:  # as issue 11's choose_locker leaves it
        with world.services.uow() as uow:
            got = uow.repo.reserve_compartment(
                locker_id, d.id, m.ParcelSize(size), world.services.clock.now()
            )
            assert got is not None
            loaded = uow.repo.get(m.Delivery, d.id)
            loaded.pickup_code = "424242"
            uow.commit()
    return d


def deposit(services, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    """Do what the driver's mark_delivered does for a locker parcel, in one unit of work."""
    now = services.clock.now()
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        d.mark_delivered(at=now, driver_id=1)
        assert d.status is DeliveryStatus.AT_LOCKER
        lockers.deposit_at_locker(services, uow, d, at=now)
        uow.commit()


def compartments(services, locker_id: int) -> dict[str, tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        locker = uow.repo.get(m.Locker, locker_id)
        return {c.label: (str(c.status), c.delivery_id) for c in locker.compartments}


def state(services, delivery_id: int):  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        texts = {t.kind: t.body for t in uow.repo.outbox_of(delivery_id)}
        timeline = [(e.kind, e.summary) for e in uow.repo.timeline(delivery_id)]
        return d.status, d.pickup_code, texts, timeline


def key_of(services, code: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    key = lockers.issue_locker_key(services, code)
    return lockers.authenticate_locker(services, key), key


# ---------------------------------------------------------------- deposit


def test_a_reserved_parcel_goes_into_its_door_and_the_recipient_is_texted_code_and_last_day(
    services, world
) -> None:
    locker = add_locker(world, sizes="SMML")
    other = locker_parcel(world, locker, reserve=True)  # takes A1, the first M door
    d = locker_parcel(world, locker, reserve=True)  # A2
    assert compartments(services, locker)["A2"] == ("reserved", d.id)

    deposit(services, d.id)

    status, code, texts, timeline = state(services, d.id)
    assert status is DeliveryStatus.AT_LOCKER and code == "424242"
    assert compartments(services, locker)["A2"] == ("occupied", d.id)
    assert compartments(services, locker)["A1"] == ("reserved", other.id)
    # Deposited on Wed 25 Nov (Berlin): seven hold days, the last one is Wed 2 Dec.
    assert texts["locker_ready"] == (
        f"Parcel {d.tracking_number} is ready at Packstation LK1, LK1weg 1, 10115 Berlin. "
        f"Pickup code: 424242. Collect it by Wed 2 Dec. {services.tracking_url(d.tracking_token)}"
    )
    deposited = [s for kind, s in timeline if kind == "ParcelDeposited"]
    assert deposited == ["Put in compartment A2 of Packstation LK1; to be collected by 2026-12-02"]
    assert not any("424242" in s for _, s in timeline)  # the code is the recipient's alone


def test_a_parcel_addressed_to_the_locker_from_the_start_gets_the_smallest_fitting_door_and_a_code(
    services, world
) -> None:
    locker = add_locker(world, sizes="SLM")
    d = locker_parcel(world, locker, size="M")  # no reservation, no code yet

    deposit(services, d.id)

    status, code, texts, _ = state(services, d.id)
    assert status is DeliveryStatus.AT_LOCKER
    assert compartments(services, locker) == {
        "A0": ("free", None),
        "A1": ("free", None),  # L would fit, but M is the smallest that does
        "A2": ("occupied", d.id),
    }
    assert code is not None and len(code) == 6 and code.isdigit()
    assert f"Pickup code: {code}." in texts["locker_ready"]


def test_a_full_locker_refuses_the_deposit_naming_locker_and_size_and_changes_nothing(
    services, world
) -> None:
    locker = add_locker(world, sizes="SM")
    first = locker_parcel(world, locker, size="M")
    deposit(services, first.id)
    d = locker_parcel(world, locker, size="M")
    before = (state(services, d.id), compartments(services, locker))

    with pytest.raises(lockers.NoCompartment) as refused:
        deposit(services, d.id)

    assert refused.value.status_code == 409
    assert "Packstation LK1 (LK1) has no free compartment for a parcel of size M" in str(
        refused.value
    )
    assert (state(services, d.id), compartments(services, locker)) == before
    assert state(services, d.id)[0] is DeliveryStatus.OUT_FOR_DELIVERY


def test_a_pickup_code_another_parcel_in_the_locker_has_is_replaced_at_the_deposit(
    services, world
) -> None:
    locker = add_locker(world, sizes="MM")
    first = locker_parcel(world, locker, reserve=True)
    deposit(services, first.id)
    d = locker_parcel(world, locker)
    with services.uow() as uow:
        uow.repo.get(m.Delivery, d.id).pickup_code = "424242"  # the same code by chance
        uow.commit()

    deposit(services, d.id)

    _, code, texts, _ = state(services, d.id)
    assert code != "424242" and f"Pickup code: {code}." in texts["locker_ready"]
    assert state(services, first.id)[1] == "424242"


def test_a_code_of_a_parcel_collected_recently_is_not_given_to_a_new_one(
    services, world, clock
) -> None:
    locker = add_locker(world, sizes="MM")
    first = locker_parcel(world, locker, reserve=True)
    deposit(services, first.id)
    locker_id, _ = key_of(services, "LK1")
    lockers.collect_parcel(services, locker_id, "LK1", pickup_code="424242")
    clock.advance(days=29)
    d = locker_parcel(world, locker)
    with services.uow() as uow:
        uow.repo.get(m.Delivery, d.id).pickup_code = "424242"
        uow.commit()

    deposit(services, d.id)

    assert state(services, d.id)[1] != "424242"
    # A late repeat of the first report still finds the first parcel, and changes nothing.
    again = lockers.collect_parcel(services, locker_id, "LK1", pickup_code="424242")
    assert again.tracking_number == first.tracking_number
    assert state(services, d.id)[0] is DeliveryStatus.AT_LOCKER


# ---------------------------------------------------------------- the recipient's page


def test_the_page_shows_the_code_door_and_last_day_to_its_recipient_and_no_socket_payload_does(
    services, world
) -> None:
    locker = add_locker(world)
    d = locker_parcel(world, locker, reserve=True)
    deposit(services, d.id)

    view = tracking.get_tracking(services, d.tracking_token)
    snapshot = tracking.live_snapshot(services, d.id)

    assert view.pickup is not None
    assert (view.pickup.state, view.pickup.pickup_code, view.pickup.compartment) == (
        "waiting",
        "424242",
        "A2",
    )
    assert view.pickup.last_day_text == "Wed 2 Dec"
    assert (view.pickup.locker_name, view.pickup.address) == (
        "Packstation LK1",
        "LK1weg 1, 10115 Berlin",
    )
    assert "424242" not in json.dumps(snapshot, default=str)


# ---------------------------------------------------------------- collection


def test_collecting_by_tracking_number_frees_the_door_records_it_and_asks_for_a_rating(
    services, world, clock
) -> None:
    locker = add_locker(world)
    d = locker_parcel(world, locker, reserve=True)
    deposit(services, d.id)
    locker_id, _key = key_of(services, "LK1")
    clock.advance(hours=5)

    answer = lockers.collect_parcel(services, locker_id, "LK1", tracking_number=d.tracking_number)

    assert (answer.status, answer.compartment, answer.collected_at) == (
        "collected",
        "A2",
        clock.now(),
    )
    status, _, texts, timeline = state(services, d.id)
    assert status is DeliveryStatus.COLLECTED
    assert compartments(services, locker)["A2"] == ("free", None)
    assert ("ParcelCollected", "Collected from Packstation LK1 (compartment A2)") in timeline
    assert "rating_request" in texts
    view = tracking.get_tracking(services, d.tracking_token)
    assert view.pickup.state == "collected" and view.pickup.pickup_code is None  # type: ignore[union-attr]

    clock.advance(minutes=3)
    again = lockers.collect_parcel(services, locker_id, "LK1", pickup_code="424242")
    assert again == answer  # a repeated report, by either reference, answers the same
    assert len(state(services, d.id)[3]) == len(timeline)


def test_a_collection_report_is_refused_for_another_lockers_key_an_unknown_parcel_and_bad_input(
    services, world
) -> None:
    locker = add_locker(world)
    add_locker(world, code="LK2")
    d = locker_parcel(world, locker, reserve=True)
    waiting = locker_parcel(world, locker)  # addressed to the locker, not put in yet
    deposit(services, d.id)
    lk1, _ = key_of(services, "LK1")
    lk2, _ = key_of(services, "LK2")

    with pytest.raises(Forbidden):
        lockers.collect_parcel(services, lk2, "LK1", tracking_number=d.tracking_number)
    with pytest.raises(NotFound):
        lockers.collect_parcel(services, lk2, "LK2", tracking_number=d.tracking_number)
    with pytest.raises(NotFound):
        lockers.collect_parcel(services, lk1, "LK1", tracking_number=waiting.tracking_number)
    with pytest.raises(NotFound):
        lockers.collect_parcel(services, lk1, "LK1", pickup_code="000001")
    for bad in ({}, {"pickup_code": "12345"}, {"tracking_number": "x", "pickup_code": "424242"}):
        with pytest.raises(InvalidInput):
            lockers.collect_parcel(services, lk1, "LK1", **bad)

    assert state(services, d.id)[0] is DeliveryStatus.AT_LOCKER
    assert compartments(services, locker)["A2"] == ("occupied", d.id)


def test_a_new_locker_key_replaces_the_old_one(services, world) -> None:
    add_locker(world)
    old = lockers.issue_locker_key(services, "LK1")
    new = lockers.issue_locker_key(services, "LK1")

    assert lockers.authenticate_locker(services, new) > 0
    with pytest.raises(Exception, match="valid locker API key"):
        lockers.authenticate_locker(services, old)
    with pytest.raises(NotFound):
        lockers.issue_locker_key(services, "NOPE")


# ---------------------------------------------------------------- returns


def test_a_parcel_not_collected_by_the_end_of_its_last_day_goes_back_to_the_sender(
    services, world, clock
) -> None:
    locker = add_locker(world)
    d = locker_parcel(world, locker, reserve=True)
    deposit(services, d.id)  # Wed 25 Nov, 10:00 Berlin

    clock.set(datetime(2026, 12, 2, 22, 59, tzinfo=UTC))  # Wed 2 Dec, 23:59 Berlin
    assert lockers.return_uncollected(services).returned == 0
    assert state(services, d.id)[0] is DeliveryStatus.AT_LOCKER

    clock.set(datetime(2026, 12, 2, 23, 0, tzinfo=UTC))  # Thu 3 Dec, 00:00 Berlin
    run = lockers.return_uncollected(services)

    assert (run.returned, run.failed) == (1, 0)
    status, _, _, timeline = state(services, d.id)
    assert status is DeliveryStatus.RETURNED
    assert compartments(services, locker)["A2"] == ("free", None)
    assert (
        "ParcelReturned",
        "Returned to the sender: not collected from Packstation LK1 within 7 days (by 2026-12-02)",
    ) in timeline
    assert (
        "DeliveryStatusChanged",
        "Status at_locker → returned: not collected from Packstation LK1 within 7 days",
    ) in timeline
    view = tracking.get_tracking(services, d.tracking_token)
    assert view.pickup.state == "returned" and view.pickup.last_day_text == "Wed 2 Dec"  # type: ignore[union-attr]
    assert view.pickup.pickup_code is None  # type: ignore[union-attr]
    # Gone back: the operator's late report is a conflict, and a second run does nothing.
    locker_id, _ = key_of(services, "LK1")
    with pytest.raises(InvalidTransition, match="went back to the sender"):
        lockers.collect_parcel(services, locker_id, "LK1", tracking_number=d.tracking_number)
    assert lockers.return_uncollected(services).returned == 0


def test_the_return_job_pages_through_every_overdue_parcel_and_one_bad_row_blocks_none(
    services, world, clock, monkeypatch
) -> None:
    monkeypatch.setattr(lockers, "RETURN_BATCH", 2)
    locker = add_locker(world, sizes="MMMMM")
    parcels = [locker_parcel(world, locker) for _ in range(4)]
    for d in parcels:
        deposit(services, d.id)
    fresh = locker_parcel(world, locker)
    clock.advance(days=7)
    deposit(services, fresh.id)  # put in a week later: still has time
    with services.uow() as uow:  # a broken row: in no known locker
        uow.repo.get(m.Delivery, parcels[1].id).locker_id = None
        uow.commit()
    clock.advance(days=1)

    run = lockers.return_uncollected(services)

    assert (run.returned, run.failed) == (3, 1)
    statuses = [state(services, d.id)[0] for d in [*parcels, fresh]]
    assert statuses == [
        DeliveryStatus.RETURNED,
        DeliveryStatus.AT_LOCKER,
        DeliveryStatus.RETURNED,
        DeliveryStatus.RETURNED,
        DeliveryStatus.AT_LOCKER,
    ]


def test_locker_hold_days_is_validated() -> None:
    assert load_settings({"TESTING": "true", "ENV": "testing"}).locker_hold_days == 7
    assert load_settings({"TESTING": "true", "LOCKER_HOLD_DAYS": "3"}).locker_hold_days == 3
    for bad in ("0", "61", "-1"):
        with pytest.raises(ConfigError, match="LOCKER_HOLD_DAYS"):
            load_settings({"TESTING": "true", "LOCKER_HOLD_DAYS": bad})


def test_the_return_job_runs_from_the_job_queue(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    locker = add_locker(world)
    d = locker_parcel(world, locker)
    deposit(services, d.id)
    clock.advance(days=8)

    services.jobs.enqueue(lockers.RETURN_JOB, key=lockers.RETURN_JOB)  # inline in tests

    assert state(services, d.id)[0] is DeliveryStatus.RETURNED
