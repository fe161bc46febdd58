"""Webhooks to a carrier's receiver: a real HTTP server on 127.0.0.1 gets signed events
when drivers act, in order per delivery, retried with backoff, only the types it chose."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lastmile_portal.domain import model as m
from lastmile_portal.domain import webhooks as wh
from lastmile_portal.domain.events import Actor, EtaChanged
from lastmile_portal.domain.proof import PhotoUpload
from lastmile_portal.domain.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from lastmile_portal.services import Services, proof_of_delivery, webhooks
from tests.builders import World, load_stop_id, make_delivery, make_route, make_world
from tests.services.test_proof_photos import photo
from tests.webhook_receiver import Received, WebhookReceiver


class HeldJobs:
    """A job queue that runs nothing."""

    name = "held"

    def enqueue(self, job: str, *args: object, key: str | None = None) -> None:
        pass


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def on_a_route(world: World, n: int = 1) -> tuple[list[m.Delivery], list[int]]:
    """Return ``n`` parcels out for delivery on driver 0's route, and their stops."""
    parcels = [make_delivery(world) for _ in range(n)]
    make_route(world, parcels)
    return parcels, [load_stop_id(world.services, d) for d in parcels]


def signed_by(secret: str, got: Received, services: Services) -> bool:
    return verify(secret, got.headers[SIGNATURE_HEADER], got.body, services.clock.now().timestamp())


def statuses(received: list[Received]) -> list[str]:
    return [r.json["data"]["new"] for r in received if r.json["type"] == wh.STATUS_CHANGED]


def rows(services: Services) -> list[wh.WebhookMessage]:
    with services.uow() as uow:
        return sorted(uow.repo.all(wh.WebhookMessage), key=lambda r: r.id or 0)


# ---------------------------------------------------------------- what arrives


def test_the_receiver_gets_signed_status_events_as_the_driver_acts(  # type: ignore[no-untyped-def]
    services, world, receiver
) -> None:
    sub = webhooks.add_subscription(services, receiver.url + "/hooks", wh.STATUS_CHANGED)
    (d,), (stop,) = on_a_route(world)
    driver = world.driver_ids[0]

    proof_of_delivery.mark_arrived(services, driver, stop)
    proof_of_delivery.mark_delivered(services, driver, stop)

    got = receiver.to("/hooks")
    assert statuses(got) == ["arriving", "delivered"]
    first, second = (r.json for r in got)
    assert first["data"]["old"] == "out_for_delivery"
    assert first["delivery"] == {"tracking_number": d.tracking_number, "status": "arriving"}
    assert second["delivery"]["status"] == "delivered"
    assert first["id"] != second["id"] and first["id"].startswith("evt_")
    for r in got:
        assert signed_by(sub.secret, r, services)
        assert r.headers[EVENT_ID_HEADER] == r.json["id"]
        assert r.headers["Content-Type"] == "application/json"
        # The carrier has the recipient's details already: none of them travel again.
        for private in (d.recipient_name, d.phone, d.address_line, d.postcode, d.tracking_token):
            assert private.encode() not in r.body


def test_a_wrong_secret_cannot_verify_what_arrived(services, world, receiver) -> None:  # type: ignore[no-untyped-def]
    webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    other = webhooks.add_subscription(services, receiver.url + "/other", wh.STATUS_CHANGED)
    _, (stop,) = on_a_route(world)

    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)

    (got,) = receiver.to("/")
    assert not signed_by(other.secret, got, services)


def test_a_subscriber_gets_only_the_types_it_chose(services, world, receiver) -> None:  # type: ignore[no-untyped-def]
    webhooks.add_subscription(services, receiver.url + "/status", wh.STATUS_CHANGED)
    webhooks.add_subscription(services, receiver.url + "/failures", wh.ATTEMPT_FAILED)
    (d,), (stop,) = on_a_route(world)
    driver = world.driver_ids[0]

    proof_of_delivery.mark_arrived(services, driver, stop)
    proof_of_delivery.mark_failed(services, driver, stop, "not_home")

    assert statuses(receiver.to("/status")) == ["arriving", "failed"]
    assert {r.json["type"] for r in receiver.to("/status")} == {wh.STATUS_CHANGED}
    (failure,) = receiver.to("/failures")
    assert failure.json["type"] == wh.ATTEMPT_FAILED
    assert failure.json["data"]["reason"] == "not_home"
    assert failure.json["data"]["attempt"] == 1
    assert failure.json["delivery"] == {"tracking_number": d.tracking_number, "status": "failed"}


def test_proof_added_says_how_many_photos_and_how_far_but_carries_no_photo(  # type: ignore[no-untyped-def]
    services, world, receiver
) -> None:
    webhooks.add_subscription(services, receiver.url, wh.PROOF_ADDED)
    (d,), (stop,) = on_a_route(world)

    proof_of_delivery.mark_delivered(
        services,
        world.driver_ids[0],
        stop,
        photos=[PhotoUpload(photo(), "image/jpeg")],
        lat=d.lat,
        lng=d.lng,
    )

    (got,) = receiver.to("/")
    data = got.json["data"]
    assert data["photo_count"] == 1
    assert data["distance_m"] == 0 and data["flagged"] is False
    assert data["delivery_url"] == (
        f"{services.settings.public_base_url}/api/v1/deliveries/{d.tracking_number}"
    )
    assert b"sig=" not in got.body and b"/proof/" not in got.body and b"/t/" not in got.body


# ---------------------------------------------------------------- retries and order


def test_a_failed_event_is_retried_with_backoff_and_holds_back_the_later_ones(  # type: ignore[no-untyped-def]
    services, world, receiver, clock
) -> None:
    sub = webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    receiver.answer("/", 500, 503)
    (_, other), (stop, other_stop) = on_a_route(world, 2)
    driver = world.driver_ids[0]

    proof_of_delivery.mark_arrived(services, driver, stop)  # 500
    proof_of_delivery.mark_delivered(services, driver, stop)  # waits behind it
    proof_of_delivery.mark_arrived(services, driver, other_stop)  # another parcel: not held

    assert [(r.json["data"]["new"], r.answered) for r in receiver.to("/")] == [
        ("arriving", 500),
        ("arriving", 503),
    ]
    assert receiver.to("/")[1].json["delivery"]["tracking_number"] == other.tracking_number

    clock.advance(seconds=20)  # the first retry waits 30 s (±20 %)
    assert webhooks.send_due(services) == {}
    clock.advance(seconds=20)
    webhooks.send_due(services)

    got = receiver.to("/")
    assert [(r.json["data"]["new"], r.answered) for r in got] == [
        ("arriving", 500),
        ("arriving", 503),
        ("arriving", 200),
        ("delivered", 200),
        ("arriving", 200),
    ]
    # The retry is the same event, byte for byte, signed again at its own time.
    assert got[2].body == got[0].body and got[2].headers[EVENT_ID_HEADER] == got[0].json["id"]
    assert got[2].headers[SIGNATURE_HEADER] != got[0].headers[SIGNATURE_HEADER]
    assert all(signed_by(sub.secret, r, services) for r in got[2:])
    assert {r.status for r in rows(services)} == {wh.WebhookStatus.DELIVERED}

    log = webhooks.delivery_log(services, sub.id)
    assert [(line.status_code, line.attempt) for line in log] == [
        (200, 2),
        (200, 1),
        (200, 2),
        (503, 1),
        (500, 1),
    ]
    assert log[-1].error == "HTTP 500" and log[-1].state == "delivered"


def test_each_retry_waits_twice_as_long(services, world, receiver, clock) -> None:  # type: ignore[no-untyped-def]
    webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    receiver.answer("/", 500, 500)
    _, (stop,) = on_a_route(world)

    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)
    clock.advance(seconds=37)  # past the first wait (24-36 s)
    webhooks.send_due(services)
    clock.advance(seconds=47)  # the second wait is 48-72 s
    webhooks.send_due(services)
    assert [r.answered for r in receiver.to("/")] == [500, 500]

    clock.advance(seconds=26)
    webhooks.send_due(services)
    assert [r.answered for r in receiver.to("/")] == [500, 500, 200]


def test_after_the_last_attempt_an_event_is_failed_and_the_later_ones_go_on(  # type: ignore[no-untyped-def]
    services, world, receiver, clock
) -> None:
    services.settings = dataclasses.replace(services.settings, webhook_max_attempts=2)
    sub = webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    receiver.answer("/", 500, 500)
    _, (stop,) = on_a_route(world)
    driver = world.driver_ids[0]

    proof_of_delivery.mark_arrived(services, driver, stop)
    proof_of_delivery.mark_delivered(services, driver, stop)
    clock.advance(seconds=40)
    webhooks.send_due(services)

    assert [(r.json["data"]["new"], r.answered) for r in receiver.to("/")] == [
        ("arriving", 500),
        ("arriving", 500),
        ("delivered", 200),
    ]
    given_up, sent = rows(services)
    assert given_up.status is wh.WebhookStatus.FAILED and given_up.attempts == 2
    assert "gave up after 2 attempts: HTTP 500" in (given_up.error or "")
    assert sent.status is wh.WebhookStatus.DELIVERED
    assert [line.state for line in webhooks.delivery_log(services, sub.id)] == [
        "delivered",
        "failed",
        "failed",
    ]


def test_an_unreachable_receiver_is_logged_without_a_status_and_retried(  # type: ignore[no-untyped-def]
    services, world, receiver, clock
) -> None:
    gone = WebhookReceiver()
    url = gone.url
    gone.stop()  # nothing listens on that port now
    sub = webhooks.add_subscription(services, url, wh.STATUS_CHANGED)
    _, (stop,) = on_a_route(world)

    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)

    (line,) = webhooks.delivery_log(services, sub.id)
    assert line.status_code is None and line.error == "connection refused"
    assert line.state == "pending"


def test_a_removed_subscriber_gets_nothing_more(services, world, receiver, clock) -> None:  # type: ignore[no-untyped-def]
    sub = webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    receiver.answer("/", 500)
    _, (stop,) = on_a_route(world)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)

    assert webhooks.remove_subscription(services, sub.id) == 1
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop)
    clock.advance(minutes=5)
    webhooks.send_due(services)

    assert [r.answered for r in receiver.to("/")] == [500]
    assert [r.status for r in rows(services)] == [wh.WebhookStatus.CANCELLED]
    assert [s.active for s in webhooks.list_subscriptions(services)] == [False]


# ---------------------------------------------------------------- ETA moves


def announce_eta(services: Services, d: m.Delivery, start_min: int, end_min: int) -> None:
    """Record a re-plan's new window for ``d`` (minutes after 12:00 UTC) and commit it."""
    noon = services.clock.now().replace(hour=12, minute=0)
    start, end = noon + timedelta(minutes=start_min), noon + timedelta(minutes=end_min)
    with services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)  # type: ignore[arg-type]
        assert loaded is not None
        loaded.record(
            EtaChanged(
                delivery_id=d.id,
                occurred_at=services.clock.now(),
                actor=Actor.OPTIMIZER,
                route_id=1,
                plan_version=1,
                old_arrival=None,
                new_arrival=(start + (end - start) / 2).isoformat(),
                eta_earliest=start.isoformat(),
                eta_latest=end.isoformat(),
                stops_before=3,
                shift_minutes=0,
                reason="test",
            )
        )
        uow.commit()


def test_an_eta_is_sent_only_when_it_moved_more_than_the_setting_from_what_was_told(  # type: ignore[no-untyped-def]
    services, world, receiver
) -> None:
    webhooks.add_subscription(services, receiver.url + "/early", wh.ETA_CHANGED)
    (d,), _ = on_a_route(world)

    announce_eta(services, d, 0, 30)  # first ETA: told
    webhooks.add_subscription(services, receiver.url + "/late", wh.ETA_CHANGED)
    announce_eta(services, d, 6, 36)  # 6 min: too little for /early; /late never heard one
    announce_eta(services, d, 12, 42)  # 12 min from what /early was told (6 from /late's)

    early = [r.json["data"] for r in receiver.to("/early")]
    late = [r.json["data"] for r in receiver.to("/late")]
    assert [e["eta"]["earliest"][11:16] for e in early] == ["12:00", "12:12"]
    assert early[0]["previous"] is None
    assert early[1]["previous"]["earliest"][11:16] == "12:00"
    assert early[1]["stops_before"] == 3
    assert [e["eta"]["earliest"][11:16] for e in late] == ["12:06"]


# ---------------------------------------------------------------- claims


def test_a_claimed_event_is_not_sent_twice_until_its_lease_runs_out(  # type: ignore[no-untyped-def]
    services, world, receiver, clock
) -> None:
    webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    receiver.answer("/", 500)
    _, (stop,) = on_a_route(world)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)
    clock.advance(seconds=40)
    now = clock.now()
    lease = now + timedelta(seconds=services.settings.webhook_claim_s)

    with services.uow() as uow:  # a sender that claims the row, then dies
        claimed = uow.repo.claim_webhook_message(now, lease)
        assert claimed is not None and claimed.status is wh.WebhookStatus.SENDING
        uow.commit()
    assert webhooks.send_due(services) == {}  # held by the other sender's lease

    clock.set(lease + timedelta(seconds=1))
    assert webhooks.send_due(services) == {"delivered": 1}  # at least once
    assert [r.answered for r in receiver.to("/")] == [500, 200]


def test_a_silent_subscriber_costs_one_try_per_run_and_does_not_hold_up_others(  # type: ignore[no-untyped-def]
    services, world, receiver, clock
) -> None:
    gone = WebhookReceiver()
    gone.stop()
    down = webhooks.add_subscription(services, gone.url, wh.STATUS_CHANGED)
    webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    _, stops = on_a_route(world, 3)
    services.jobs = HeldJobs()  # the outbox fills; this test's run empties it
    for stop in stops:
        proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)

    outcomes = webhooks.send_due(services)

    assert outcomes == {"retrying": 1, "delivered": 3}
    assert len(receiver.to("/")) == 3
    assert len(webhooks.delivery_log(services, down.id)) == 1  # the other two wait their turn
    clock.advance(minutes=1)
    assert webhooks.send_due(services) == {"retrying": 1}


def test_the_signing_secret_is_encrypted_at_rest(services) -> None:  # type: ignore[no-untyped-def]
    new = webhooks.add_subscription(services, "https://carrier.example/h", wh.STATUS_CHANGED)

    with services.uow() as uow:
        raw = uow.session.execute(sa.text("SELECT secret FROM webhook_subscriptions")).scalar()
        stored = uow.repo.get(wh.WebhookSubscription, new.id)
        assert stored is not None and stored.secret == new.secret
    assert new.secret not in raw and len(raw) > len(new.secret)


def test_the_delivery_log_is_purged_after_a_month_but_unsent_events_stay(  # type: ignore[no-untyped-def]
    services, world, receiver, clock, monkeypatch
) -> None:
    from lastmile_portal.services import retention

    webhooks.add_subscription(services, receiver.url, wh.STATUS_CHANGED)
    [d], [stop] = on_a_route(world)
    proof_of_delivery.mark_arrived(services, world.driver_ids[0], stop)
    webhooks.send_due(services)  # the arrival went out: finished
    monkeypatch.setattr(services, "jobs", HeldJobs())
    proof_of_delivery.mark_delivered(services, world.driver_ids[0], stop)  # left unsent
    sent_before = [r.id for r in rows(services) if r.status is wh.WebhookStatus.DELIVERED]
    assert sent_before and any(r.status is wh.WebhookStatus.PENDING for r in rows(services))

    clock.advance(days=29)
    assert retention.purge_webhook_log(services).deleted == 0
    clock.advance(days=2)
    result = retention.purge_webhook_log(services)

    assert result.deleted == len(sent_before)
    left = rows(services)
    assert left and all(r.status is wh.WebhookStatus.PENDING for r in left)
    with services.uow() as uow:
        assert uow.repo.all(wh.WebhookAttempt) == []
