"""The SMS outbox on real SQLite with the fake gateway: written with its change, sent once.

Texts are queued by the use cases that cause them (dispatch, arrive, deliver, fail, live
ETAs) inside their transaction; ``send_due`` sends them, retries, defers and cancels.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.domain import model as m
from lastmile_portal.domain.sms import (
    MessageKind,
    ReplyKind,
    SmsSendError,
    count_segments,
)
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import gps_intake, notifications, proof_of_delivery, routing
from tests.builders import make_delivery, make_route, make_world
from tests.conftest import MORNING
from tests.fakes import RecordingJobQueue

S = m.SmsStatus


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def held(config, clock, publisher):  # type: ignore[no-untyped-def]
    """Return services whose jobs are only recorded: texts wait until send_due runs."""
    app = create_app(config, clock=clock, publisher=publisher, jobs=RecordingJobQueue())
    return app.extensions["lastmile"]


def held_with(config, clock, **settings: str):  # type: ignore[no-untyped-def]
    """Return services like ``held`` with some settings changed."""
    app = create_app({**config, **settings}, clock=clock, jobs=RecordingJobQueue())
    return app.extensions["lastmile"]


def snapshot(obj: Any) -> SimpleNamespace:
    return SimpleNamespace(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def outbox(services, delivery_id: int) -> list[SimpleNamespace]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [snapshot(x) for x in uow.repo.outbox_of(delivery_id)]


def timeline(services, delivery_id: int) -> list[SimpleNamespace]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return [snapshot(e) for e in uow.repo.timeline(delivery_id)]


def queue(services, delivery_id: int, kind: MessageKind, occasion: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    values = {"minutes": 10, "stops_before": 1} if kind is MessageKind.APPROACHING else {}
    with services.uow() as uow:
        d = uow.repo.get(m.Delivery, delivery_id)
        queued = notifications.queue_message(
            services, uow, d, kind, occasion=occasion, values=values
        )
        uow.commit()
        return queued


def out_for_delivery(world, **overrides: Any) -> m.Delivery:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED, **overrides)
    make_route(world, [d], dispatched=False)
    with world.services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        loaded.transition_to(
            DeliveryStatus.OUT_FOR_DELIVERY, at=world.services.clock.now(), actor="system"
        )
        uow.commit()
    return d


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour - 1, minute, tzinfo=UTC)  # November: UTC+1


# ---------------------------------------------------------------- written with the change


def test_dispatching_a_route_texts_each_parcel_its_tracking_link(services, world) -> None:  # type: ignore[no-untyped-def]
    ds = [make_delivery(world, status=DeliveryStatus.SCHEDULED) for _ in range(2)]
    route_id = make_route(world, ds, dispatched=False)

    assert routing.dispatch_route(services, route_id) == 2

    sent = services.sms.sent
    assert len(sent) == 2
    for d in ds:
        (text,) = outbox(services, d.id)
        assert text.kind == "dispatched" and text.idempotency_key == f"d{d.id}:dispatched:a1"
        assert text.status is S.QUEUED and text.provider_sid and text.attempts == 1
        assert services.tracking_url(d.tracking_token) in text.body
        assert (d.phone, text.body) in sent
        assert count_segments(text.body).encoding == "GSM-7"
        assert count_segments(text.body).count <= 2
        kinds = [e.kind for e in timeline(services, d.id)]
        assert kinds[-2:] == ["SmsQueued", "SmsSent"]
    # The status report for each text comes back to us, naming the outbox row.
    assert all("/webhooks/twilio/status?m=" in (c or "") for c in services.sms.callbacks)


def test_a_text_is_stored_with_its_change_or_not_at_all(services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    with pytest.raises(RuntimeError), services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        loaded.transition_to(DeliveryStatus.OUT_FOR_DELIVERY, at=MORNING, actor="system")
        notifications.queue_message(services, uow, loaded, MessageKind.DISPATCHED)
        raise RuntimeError("the change fails after the text was queued")

    assert outbox(services, d.id) == []
    assert timeline(services, d.id) == []
    assert services.sms.sent == []


def test_one_text_per_delivery_kind_and_occasion(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)

    assert queue(held, d.id, MessageKind.DISPATCHED, "a1") is True
    assert queue(held, d.id, MessageKind.DISPATCHED, "a1") is False
    assert queue(held, d.id, MessageKind.DISPATCHED, "a2") is True  # a second attempt

    assert [t.idempotency_key for t in outbox(held, d.id)] == [
        f"d{d.id}:dispatched:a1",
        f"d{d.id}:dispatched:a2",
    ]
    queued = [e for e in timeline(held, d.id) if e.kind == "SmsQueued"]
    assert len(queued) == 2
    # Each commit with new texts asks for one coalesced sender run.
    assert held.jobs.jobs[-1] == ("send_outbox", (), "send_outbox")


def test_driver_progress_is_texted_arrived_delivered_and_failed(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    home, away = make_delivery(world), make_delivery(world)
    make_route(world, [home, away])
    stops = {d.id: snapshot_delivery(services, d.id).stop_id for d in (home, away)}
    driver = world.driver_ids[0]

    proof_of_delivery.mark_arrived(services, driver, stops[home.id])
    proof_of_delivery.mark_delivered(services, driver, stops[home.id])
    proof_of_delivery.mark_failed(services, driver, stops[away.id], "nobody home")

    arrived, delivered, rating = outbox(services, home.id)
    assert arrived.kind == "arrived" and "is at your door now" in arrived.body
    # The rating question waits an hour after the hand-over (issue 11).
    assert rating.kind == "rating_request" and rating.status is S.DEFERRED
    assert "Driver0" in arrived.body  # the driver's first name only
    assert delivered.kind == "delivered" and "delivered at 10:00 (handed over)" in delivered.body
    (failed,) = outbox(services, away.id)
    assert failed.kind == "failed_attempt" and failed.idempotency_key.endswith(":a1")
    assert services.tracking_url(away.tracking_token) in failed.body
    assert all(t.status is S.QUEUED for t in (arrived, delivered, failed))


def snapshot_delivery(services, delivery_id: int) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return snapshot(uow.repo.get(m.Delivery, delivery_id))


def test_the_live_eta_texts_approaching_once_per_parcel(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    # The fourth is 3 stops away and its window opens in an hour: nothing to tell yet.
    ds = [make_delivery(world, window_hours=(0, 6)) for _ in range(3)]
    ds.append(make_delivery(world, window_hours=(1, 6)))
    make_route(world, ds)
    ping = {"lat": 52.521, "lng": 13.401, "recorded_at": MORNING.isoformat()}

    gps_intake.record_positions(services, world.driver_ids[0], [ping])
    clock.advance(seconds=30)
    later = {**ping, "recorded_at": clock.now().isoformat()}
    gps_intake.record_positions(services, world.driver_ids[0], [later])

    texts = {d.id: [t for t in outbox(services, d.id) if t.kind == "approaching"] for d in ds}
    # Two stops before yours or fewer: get ready. The fourth parcel is 3 stops away.
    assert [len(texts[d.id]) for d in ds[:3]] == [1, 1, 1]
    assert texts[ds[3].id] == []
    first = texts[ds[0].id][0]
    assert "min away" in first.body and "Driver0" in first.body
    assert "(1 stop before yours)" in texts[ds[1].id][0].body


def test_the_approaching_check_asks_the_outbox_once_per_parcel(  # type: ignore[no-untyped-def]
    services, world, clock, monkeypatch
) -> None:
    # Each store runs the check for every stop within two; once a parcel's text is in
    # the outbox, later stores in this process skip the query (the key never goes away).
    ds = [make_delivery(world, window_hours=(0, 6)) for _ in range(3)]
    make_route(world, ds)
    asked: list[int] = []
    queue_message = notifications.queue_message

    def counting(services, uow, delivery, kind, **kwargs):  # type: ignore[no-untyped-def]
        if kind is MessageKind.APPROACHING:
            asked.append(delivery.id)
        return queue_message(services, uow, delivery, kind, **kwargs)

    monkeypatch.setattr(notifications, "queue_message", counting)
    for _ in range(4):  # four stores, 30 s apart
        at = clock.now().isoformat()
        gps_intake.record_positions(
            services, world.driver_ids[0], [{"lat": 52.521, "lng": 13.401, "recorded_at": at}]
        )
        clock.advance(seconds=30)

    assert sorted(asked) == sorted(d.id for d in ds)
    assert [len([t for t in outbox(services, d.id) if t.kind == "approaching"]) for d in ds] == [
        1,
        1,
        1,
    ]


def test_an_invalid_number_is_recorded_with_the_reason_and_never_sent(held) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world, phone="+49 12")
    queue(held, d.id, MessageKind.DISPATCHED)

    (text,) = outbox(held, d.id)
    assert text.status is S.FAILED and "not a valid phone number" in text.error
    assert notifications.send_due(held) == {}
    assert [e.kind for e in timeline(held, d.id)][-1] == "SmsFailed"


def test_numbers_are_stored_in_e164(held) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world, phone="030 23125 042")
    queue(held, d.id, MessageKind.DISPATCHED)
    assert outbox(held, d.id)[0].to == "+493023125042"


# ---------------------------------------------------------------- quiet hours


def test_quiet_hours_hold_routine_texts_until_morning_but_not_urgent_ones(held, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(berlin(25, 22, 30))
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    queue(held, d.id, MessageKind.APPROACHING)

    dispatched, approaching = outbox(held, d.id)
    assert dispatched.status is S.DEFERRED and dispatched.next_attempt_at == berlin(26, 8)
    assert approaching.status is S.PENDING
    queued = [e.summary for e in timeline(held, d.id) if e.kind == "SmsQueued"]
    assert queued[0] == "SMS 'dispatched' queued, held until 08:00 (quiet hours)"

    assert notifications.send_due(held) == {"sent": 1}
    assert [body for _to, body in held.sms.sent] == [approaching.body]

    clock.set(berlin(26, 7, 59))
    assert notifications.send_due(held) == {}
    clock.set(berlin(26, 8, 0))
    assert notifications.send_due(held) == {"sent": 1}
    assert outbox(held, d.id)[0].status is S.QUEUED


@pytest.mark.parametrize(
    ("own", "default", "held_back"),
    [
        (None, "21:00-08:00", True),
        ("23:00-06:00", "21:00-08:00", False),  # the recipient's own choice wins
        ("20:00-07:00", "off", True),
        (None, "off", False),
        ("off", "21:00-08:00", False),
    ],
)
def test_quiet_hours_per_recipient_or_global(  # type: ignore[no-untyped-def]
    config, clock, own, default, held_back
) -> None:
    services = held_with(config, clock, QUIET_HOURS=default)
    clock.set(berlin(25, 22, 30))
    d = out_for_delivery(make_world(services), quiet_hours=own)

    queue(services, d.id, MessageKind.DISPATCHED)

    assert (outbox(services, d.id)[0].status is S.DEFERRED) is held_back


def test_a_retry_that_drifts_into_the_night_waits_for_the_morning(held, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(berlin(25, 20, 59))
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    held.sms.failures.append(SmsSendError("Twilio 503"))
    assert notifications.send_due(held) == {"retrying": 1}

    clock.advance(minutes=5)  # 21:04: due again, but quiet now
    assert notifications.send_due(held) == {"deferred": 1}
    (text,) = outbox(held, d.id)
    assert text.status is S.DEFERRED and text.next_attempt_at == berlin(26, 8)
    assert held.sms.sent == []


# ---------------------------------------------------------------- STOP / START


def test_stop_cancels_queued_texts_and_start_lets_new_ones_through(held) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)

    notifications.opt_out(held, d.phone)  # what a STOP reply does

    assert notifications.send_due(held) == {"cancelled": 1}
    queue(held, d.id, MessageKind.APPROACHING)  # cancelled as it is written
    dispatched, approaching = outbox(held, d.id)
    assert dispatched.status is S.CANCELLED and approaching.status is S.CANCELLED
    assert dispatched.error == "the recipient texted STOP"
    assert held.sms.sent == []
    cancelled = [e.summary for e in timeline(held, d.id) if e.kind == "SmsCancelled"]
    assert cancelled == [
        "SMS 'dispatched' not sent: the recipient texted STOP",
        "SMS 'approaching' not sent: the recipient texted STOP",
    ]

    notifications.opt_in(held, d.phone)  # START
    queue(held, d.id, MessageKind.ARRIVED)
    assert notifications.send_due(held) == {"sent": 1}


def test_a_recipient_who_turned_texts_off_gets_none(held) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world, sms_enabled=False)
    queue(held, d.id, MessageKind.DISPATCHED)
    assert outbox(held, d.id)[0].status is S.CANCELLED
    assert notifications.send_due(held) == {}


# ---------------------------------------------------------------- failures and retries


def test_a_text_that_meets_a_bug_never_blocks_the_texts_behind_it(held, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    first, second = out_for_delivery(world), out_for_delivery(world)
    queue(held, first.id, MessageKind.DISPATCHED)
    queue(held, second.id, MessageKind.DISPATCHED)
    held.sms.failures.append(RuntimeError("gateway bug"))

    assert notifications.send_due(held) == {"retrying": 1, "sent": 1}

    statuses = {d.id: outbox(held, d.id)[0] for d in (first, second)}
    stuck = [t for t in statuses.values() if t.status is S.PENDING]
    assert len(stuck) == 1 and "gateway bug" in stuck[0].error
    clock.advance(seconds=60)
    assert notifications.send_due(held) == {"sent": 1}


def test_transient_failures_are_retried_with_growing_waits(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    held.sms.failures += [SmsSendError("Twilio 500"), SmsSendError("Twilio 429", rate_limited=True)]

    assert notifications.send_due(held) == {"retrying": 1}
    (text,) = outbox(held, d.id)
    first_wait = text.next_attempt_at - clock.now()
    assert text.status is S.PENDING and text.error == "Twilio 500"
    assert timedelta(seconds=24) <= first_wait <= timedelta(seconds=36)
    assert notifications.send_due(held) == {}  # not due yet

    clock.advance(seconds=40)
    assert notifications.send_due(held) == {"rate_limited": 1}
    second_wait = outbox(held, d.id)[0].next_attempt_at - clock.now()
    assert second_wait == 2 * first_wait

    clock.advance(seconds=80)
    assert notifications.send_due(held) == {"sent": 1}
    (text,) = outbox(held, d.id)
    assert text.status is S.QUEUED and text.attempts == 3 and text.error is None
    assert len(held.sms.sent) == 1
    assert timeline(held, d.id)[-1].summary.startswith("SMS 'dispatched' sent after 3 attempts")


def test_permanent_failures_are_recorded_and_not_retried(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    bad, gone = out_for_delivery(world), out_for_delivery(world)
    queue(held, bad.id, MessageKind.DISPATCHED)
    queue(held, gone.id, MessageKind.DISPATCHED)
    held.sms.failures += [
        SmsSendError("Twilio 400 error 21211: invalid 'To'", permanent=True),
        SmsSendError("Twilio 400 error 21610: unsubscribed", opted_out=True),
    ]

    assert notifications.send_due(held) == {"failed": 2}
    clock.advance(hours=2)
    assert notifications.send_due(held) == {}
    assert outbox(held, bad.id)[0].status is S.FAILED
    assert "21610" in outbox(held, gone.id)[0].error
    assert [e.kind for e in timeline(held, bad.id)][-1] == "SmsFailed"
    # Twilio says the recipient sent STOP: we remember it, so nothing else is tried.
    queue(held, gone.id, MessageKind.APPROACHING)
    assert outbox(held, gone.id)[1].status is S.CANCELLED


def test_after_the_last_attempt_a_text_is_given_up(config, clock) -> None:  # type: ignore[no-untyped-def]
    services = held_with(config, clock, SMS_MAX_ATTEMPTS="2")
    d = out_for_delivery(make_world(services))
    queue(services, d.id, MessageKind.DISPATCHED)
    services.sms.failures += [SmsSendError("Twilio 500"), SmsSendError("Twilio 503")]

    assert notifications.send_due(services) == {"retrying": 1}
    clock.advance(minutes=5)
    assert notifications.send_due(services) == {"failed": 1}
    (text,) = outbox(services, d.id)
    assert text.status is S.FAILED and text.error == "gave up after 2 attempts: Twilio 503"
    assert timeline(services, d.id)[-1].summary.startswith("SMS 'dispatched' failed: gave up")


def test_an_unanswered_send_is_looked_up_before_it_is_sent_again(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    # The provider took the text but its answer never came back.
    held.sms.failures.append(SmsSendError("read timed out", in_doubt=True))

    assert notifications.send_due(held) == {"retrying": 1}
    assert outbox(held, d.id)[0].status is S.SENDING  # still claimed: in doubt

    clock.advance(minutes=2)
    assert notifications.send_due(held) == {"recovered": 1}
    (text,) = outbox(held, d.id)
    assert text.status is S.QUEUED and text.provider_sid == held.sms.sids[0]
    assert len(held.sms.sent) == 1


def test_a_text_in_doubt_waits_while_the_provider_cannot_be_asked(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    held.sms.failures.append(SmsSendError("read timed out", in_doubt=True))
    notifications.send_due(held)
    real_find = held.sms.find_sent

    def unreachable(to: str, body: str, since: datetime) -> str | None:
        raise SmsSendError("connection refused", in_doubt=True)

    held.sms.find_sent = unreachable
    for _ in range(12):  # far more than SMS_MAX_ATTEMPTS: looking is not sending
        clock.advance(hours=1)
        assert notifications.send_due(held) == {"retrying": 1}
    assert outbox(held, d.id)[0].status is S.SENDING

    held.sms.find_sent = real_find
    clock.advance(hours=1)
    assert notifications.send_due(held) == {"recovered": 1}
    assert len(held.sms.sent) == 1


class Crash(BaseException):
    """The sender process dies (not an error anybody could catch and record)."""


def test_a_sender_that_dies_mid_send_never_causes_a_second_text(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    ds = [out_for_delivery(world) for _ in range(3)]
    for d in ds:
        queue(held, d.id, MessageKind.DISPATCHED)
    real_send = held.sms.send

    def send_then_die(to: str, body: str, status_callback: str | None = None) -> str:
        real_send(to, body, status_callback)
        if len(held.sms.sent) == 2:
            raise Crash()
        return held.sms.sids[-1]

    held.sms.send = send_then_die
    with pytest.raises(Crash):
        notifications.send_due(held)
    held.sms.send = real_send
    assert [outbox(held, d.id)[0].status for d in ds] == [S.QUEUED, S.SENDING, S.PENDING]

    # A restarted sender leaves the dead one's claim alone until its lease runs out ...
    assert notifications.send_due(held) == {"sent": 1}
    clock.advance(seconds=held.settings.sms_claim_s + 1)
    # ... then asks the provider, finds the text, and does not send it again.
    assert notifications.send_due(held) == {"recovered": 1}
    assert len(held.sms.sent) == 3
    assert sorted(body for _to, body in held.sms.sent) == sorted(
        outbox(held, d.id)[0].body for d in ds
    )


def test_texts_no_longer_relevant_are_cancelled_not_sent(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.APPROACHING)
    with held.uow() as uow:
        uow.repo.get(m.Delivery, d.id).mark_delivered(at=clock.now(), driver_id=1)
        uow.commit()

    assert notifications.send_due(held) == {"cancelled": 1}
    assert "now delivered" in outbox(held, d.id)[0].error


# ---------------------------------------------------------------- status reports


def test_status_reports_move_a_text_forward_only(services, world, clock) -> None:  # type: ignore[no-untyped-def]
    d = out_for_delivery(world)
    queue(services, d.id, MessageKind.DISPATCHED)
    (text,) = outbox(services, d.id)
    sid = text.provider_sid

    def report(status: str, **kw: Any) -> bool:
        return notifications.record_status(services, provider_sid=sid, status=status, **kw)

    assert report("sent") is True
    assert report("sent") is False  # a duplicate
    assert report("delivered") is True
    assert report("sent") is False  # a straggler
    assert report("undelivered", error_code="30003") is False
    assert outbox(services, d.id)[0].status is S.DELIVERED
    reported = [e.summary for e in timeline(services, d.id) if e.kind == "SmsStatusReported"]
    assert reported == ["SMS 'dispatched' delivered"]
    assert notifications.record_status(services, provider_sid="SMnope", status="sent") is False


def test_a_report_that_beats_the_sender_is_matched_by_the_outbox_id(held, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world)
    queue(held, d.id, MessageKind.DISPATCHED)
    (text,) = outbox(held, d.id)

    assert notifications.record_status(
        held, provider_sid="SMearly", status="sent", outbox_id=text.id
    )
    (text,) = outbox(held, d.id)
    assert text.provider_sid == "SMearly" and text.status is S.SENT


def test_an_undelivered_report_names_the_error_and_opt_outs_are_remembered(services, world) -> None:  # type: ignore[no-untyped-def]
    d = out_for_delivery(world)
    queue(services, d.id, MessageKind.DISPATCHED)
    sid = outbox(services, d.id)[0].provider_sid
    notifications.record_status(
        services, provider_sid=sid, status="failed", error_code="21610", opted_out=True
    )
    (text,) = outbox(services, d.id)
    assert text.status is S.FAILED and text.error == "provider error 21610"
    assert timeline(services, d.id)[-1].summary == "SMS 'dispatched' failed (error 21610)"
    with services.uow() as uow:
        assert uow.repo.opt_out_of(text.to) is not None


# ---------------------------------------------------------------- templates

LINK = "https://track.example-logistics.com/t/" + "x" * 32
WORST: dict[str, Any] = {
    "first_name": "Maximiliane-Theres.",
    "tracking_number": "LM0123456789",
    "link": LINK,
    "window": "13:00-15:00",
    "driver": "Bartholomew-Alexand.",
    "minutes": 15,
    "stops_before": 2,
    "time": "14:05",
    "where": "left at your safe place",
    "proof_link": LINK + "/proof",
    "change": "delivery moved to Thu 26 Nov, 10:00-12:00",
    "locker": "Packstation 123 Hauptbahnhof Nord-Ost",
    "address": "Invalidenstrasse 10-12, 10115 Berlin",
    "code": "482913",
    "deadline": "Sat 28 Nov",
    "eta": "14:05-14:25",
    "status": "Delivery attempt failed",
    "safe_place": "x" * 60,
    "score": 5,
    "what": "a slot or a locker",
    # Numbered choices by text: three locker names cut to 30 characters, with the distance.
    "choices": ["Packstation 123 Hauptbahnhof N (12.5 km)"] * 3,
    "by": "Thu 26 Nov, 14:30",
    "same_day": False,
    "reason": (
        "The parcel is 'going to a parcel locker': it is too late to change where it is left."
    ),
}


@pytest.mark.parametrize("kind", [*MessageKind, *ReplyKind], ids=str)
def test_every_text_fits_two_gsm_segments_with_the_longest_values(services, kind) -> None:  # type: ignore[no-untyped-def]
    body = notifications.render(services, kind, WORST)

    parts = count_segments(body)
    assert parts.encoding == "GSM-7", body
    assert parts.count <= 2, f"{kind}: {len(body)} characters: {body}"
    assert "{" not in body and "  " not in body and "\n" not in body


def test_a_name_outside_gsm7_is_left_out_rather_than_doubling_the_cost(held) -> None:  # type: ignore[no-untyped-def]
    world = make_world(held)
    d = out_for_delivery(world, recipient_name="Łukasz Nowak")
    queue(held, d.id, MessageKind.DISPATCHED)
    body = outbox(held, d.id)[0].body
    assert body.startswith("Hi, your parcel") and count_segments(body).encoding == "GSM-7"


def test_rendered_texts_read_well(services) -> None:  # type: ignore[no-untyped-def]
    render = services.sms_templates.render
    assert render("dispatched", {**WORST, "first_name": "Ada", "link": "L"}) == (
        "Hi Ada, your parcel LM0123456789 is out for delivery today, expected 13:00-15:00. "
        "Follow it live: L Reply HELP for options, STOP to opt out."
    )
    assert render("approaching", {**WORST, "driver": "", "stops_before": 1, "link": "L"}) == (
        "Your driver is about 15 min away with parcel LM0123456789 (1 stop before yours). Live: L"
    )
    assert render("approaching", {**WORST, "driver": "Piotr", "stops_before": 0, "link": "L"}) == (
        "Your driver Piotr is about 15 min away with parcel LM0123456789. Live: L"
    )


# ---------------------------------------------------------------- the operator's command


def test_send_sms_command_sends_what_is_due(config, clock) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config, clock=clock, jobs=RecordingJobQueue())
    services = app.extensions["lastmile"]
    d = out_for_delivery(make_world(services))
    queue(services, d.id, MessageKind.DISPATCHED)
    runner = app.test_cli_runner()

    assert runner.invoke(args=["send-sms"]).output == "Outbox: 1 sent.\n"
    assert runner.invoke(args=["send-sms"]).output == "Outbox: nothing due.\n"
    assert len(services.sms.sent) == 1
