"""The real twilio Client against a fake Twilio on 127.0.0.1: sending, errors, callbacks, faults.

The fault test runs the `send-sms` command as real processes on SQLite and PostgreSQL,
makes 30 % of sends fail or time out, kills one sender in the middle of a send, and checks
on the fake's own records that every text went out exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.adapters.twilio_sms import TwilioSmsGateway
from lastmile_portal.domain import model as m
from lastmile_portal.domain.sms import MessageKind, SmsSendError
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import notifications, routing
from tests.builders import make_delivery, make_route, make_world
from tests.conftest import base_config
from tests.fakes import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    RecordingJobQueue,
    running_fake_twilio,
    twilio_config,
)

ROOT = Path(__file__).resolve().parents[2]
TO = "+4915112345678"
PUBLIC = "https://track.example.com"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from running_fake_twilio(slow_s=1.0)


def gateway(fake: FakeTwilio, **kwargs: object) -> TwilioSmsGateway:
    options: dict[str, object] = {"from_number": FROM_NUMBER, "api_base": fake.url, "timeout": 0.5}
    return TwilioSmsGateway(ACCOUNT_SID, AUTH_TOKEN, **{**options, **kwargs})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the adapter


def test_the_real_client_sends_what_twilio_expects(fake: FakeTwilio) -> None:
    sid = gateway(fake).send(TO, "Hello Grüße €", status_callback=f"{PUBLIC}/cb?m=7")

    (request,) = fake.received
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {
        "To": TO,
        "From": FROM_NUMBER,
        "Body": "Hello Grüße €",
        "StatusCallback": f"{PUBLIC}/cb?m=7",
    }
    assert sid == fake.messages[0]["sid"] and sid.startswith("SM")


def test_a_messaging_service_sends_instead_of_a_number(fake: FakeTwilio) -> None:
    gateway(fake, from_number="", messaging_service_sid="MG" + "1" * 32).send(TO, "hi")
    assert fake.received[0].form == {"To": TO, "Body": "hi", "MessagingServiceSid": "MG" + "1" * 32}


@pytest.mark.parametrize(
    ("fault", "permanent", "in_doubt", "opted_out", "rate_limited"),
    [
        ("500", False, False, False, False),
        ("503", False, False, False, False),
        ("429", False, False, False, True),
        ("invalid", True, False, False, False),
        ("unsubscribed", True, False, True, False),
        ("timeout", False, True, False, False),
        ("timeout_after", False, True, False, False),
    ],
)
def test_twilio_errors_say_whether_to_retry(  # type: ignore[no-untyped-def]
    fake, fault, permanent, in_doubt, opted_out, rate_limited
) -> None:
    fake.fail_next(fault)
    with pytest.raises(SmsSendError) as caught:
        gateway(fake).send(TO, "hi")
    error = caught.value
    assert (error.permanent, error.in_doubt, error.opted_out, error.rate_limited) == (
        permanent,
        in_doubt,
        opted_out,
        rate_limited,
    )


def test_wrong_credentials_are_retried_not_dropped(fake: FakeTwilio) -> None:
    wrong = TwilioSmsGateway(ACCOUNT_SID, "wrong", from_number=FROM_NUMBER, api_base=fake.url)
    with pytest.raises(SmsSendError, match="401") as caught:
        wrong.send(TO, "hi")
    assert not caught.value.permanent


def test_find_sent_asks_twilio_for_recent_texts_to_the_number(fake: FakeTwilio) -> None:
    g = gateway(fake)
    since = datetime.now(UTC)
    fake.fail_next("timeout_after")
    with pytest.raises(SmsSendError):
        g.send(TO, "did this arrive?")

    assert g.find_sent(TO, "did this arrive?", since) == fake.messages[0]["sid"]
    assert g.find_sent(TO, "something else", since) is None
    assert g.find_sent("+4915199999999", "did this arrive?", since) is None
    assert g.find_sent(TO, "did this arrive?", since + timedelta(hours=1)) is None
    assert fake.received[-1].method == "GET"


# ---------------------------------------------------------------- the app on SMS_BACKEND=twilio


@pytest.fixture
def twilio_services(tmp_path, fake, clock, publisher):  # type: ignore[no-untyped-def]
    fake.clock = clock.now
    app = create_app(
        base_config(tmp_path, PUBLIC_BASE_URL=PUBLIC, **twilio_config(fake)),
        clock=clock,
        publisher=publisher,
    )
    upgrade(app.config["SETTINGS"].database_url)
    return app


def test_a_dispatched_route_is_texted_through_twilio(twilio_services, fake) -> None:  # type: ignore[no-untyped-def]
    services = twilio_services.extensions["lastmile"]
    assert isinstance(services.sms, TwilioSmsGateway)
    world = make_world(services)
    ds = [make_delivery(world, status=DeliveryStatus.SCHEDULED) for _ in range(2)]

    routing.dispatch_route(services, make_route(world, ds, dispatched=False))

    assert sorted(to for to, _ in fake.accepted()) == sorted(d.phone for d in ds)
    with services.uow() as uow:
        texts = {t.provider_sid: t for d in ds for t in uow.repo.outbox_of(d.id)}
    assert set(texts) == {msg["sid"] for msg in fake.messages}
    assert {t.status for t in texts.values()} == {m.SmsStatus.QUEUED}
    callbacks = {r.form["StatusCallback"] for r in fake.sends()}
    assert callbacks == {f"{PUBLIC}/webhooks/twilio/status?m={t.id}" for t in texts.values()}


@pytest.mark.parametrize("fault", ["timeout", "timeout_after"])
def test_after_a_timeout_the_text_is_looked_up_and_sent_at_most_once(  # type: ignore[no-untyped-def]
    twilio_services, fake, clock, fault
) -> None:
    services = twilio_services.extensions["lastmile"]
    d = make_delivery(make_world(services), status=DeliveryStatus.OUT_FOR_DELIVERY)
    fake.fail_next(fault)
    with services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        notifications.queue_message(services, uow, loaded, MessageKind.DISPATCHED)
        uow.commit()  # the inline queue sends at once: the first try times out

    clock.advance(minutes=2)
    outcomes = notifications.send_due(services)

    # Twilio never saw it: the look-up finds nothing and it is sent. Twilio took it: found.
    assert outcomes == ({"released": 1, "sent": 1} if fault == "timeout" else {"recovered": 1})
    assert len(fake.accepted()) == 1
    with services.uow() as uow:
        (text,) = uow.repo.outbox_of(d.id)
    assert text.status is m.SmsStatus.QUEUED
    assert text.provider_sid == fake.messages[0]["sid"]


# ---------------------------------------------------------------- many senders, faults, a crash


def fault_config(tmp_path: Path, database_url: str, fake: FakeTwilio) -> dict[str, str]:
    return base_config(
        tmp_path,
        DATABASE_URL=database_url,
        QUIET_HOURS="off",
        SMS_SWEEP_SECONDS="0",
        SMS_RETRY_SECONDS="0.05",
        SMS_MAX_ATTEMPTS="50",
        **twilio_config(fake, TWILIO_TIMEOUT="0.4"),
    )


def queue_texts(services, count: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Queue one dispatch text each for ``count`` parcels; return (to, body) of each."""
    world = make_world(services)
    ds = [make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY) for _ in range(count)]
    with services.uow() as uow:
        for d in ds:
            loaded = uow.repo.get(m.Delivery, d.id)
            notifications.queue_message(services, uow, loaded, MessageKind.DISPATCHED)
        uow.commit()
    with services.uow() as uow:
        return [(t.to, t.body) for t in uow.repo.all(m.OutboundSms)]


def statuses(services) -> Counter[m.SmsStatus]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return Counter(t.status for t in uow.repo.all(m.OutboundSms))


def test_senders_racing_in_threads_send_each_text_once(database_url, tmp_path, fake) -> None:  # type: ignore[no-untyped-def]
    app = create_app(fault_config(tmp_path, database_url, fake), jobs=RecordingJobQueue())
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    expected = queue_texts(services, 40)
    start = threading.Barrier(4)

    def sender() -> None:
        start.wait()
        notifications.send_due(services)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert Counter(fake.accepted()) == Counter(expected)
    assert statuses(services) == Counter({m.SmsStatus.QUEUED: 40})


def sender_process(config: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **config}
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "app",
        "send-sms",
        "--watch",
        "--every",
        "0.1",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_faults_and_a_killed_sender_still_send_every_text_exactly_once(  # type: ignore[no-untyped-def]
    database_url, tmp_path, fake
) -> None:
    config = fault_config(tmp_path, database_url, fake)
    app = create_app(config, jobs=RecordingJobQueue())
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    expected = queue_texts(services, 60)
    fake.random_faults(0.3, ["500", "503", "429", "timeout", "timeout_after"], seed=7)
    fake.hang_at(15)  # Twilio takes the 15th send and holds its answer: kill the sender then
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first = sender_process(config, tmp_path / "first.log")
        processes.append(first)
        assert fake.hanging.wait(60), (tmp_path / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        fake.release()
        in_doubt = statuses(services)[m.SmsStatus.SENDING]
        assert in_doubt >= 1  # the text Twilio took while its sender died

        # Two fresh senders share the rest and settle the dead one's claim.
        processes += [sender_process(config, tmp_path / f"next{i}.log") for i in (1, 2)]
        deadline = time.monotonic() + 120
        while statuses(services) != Counter({m.SmsStatus.QUEUED: 60}):
            assert time.monotonic() < deadline, statuses(services)
            assert all(p.poll() is None for p in processes[1:]), "a sender died"
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
                p.wait(10)

    accepted = Counter(fake.accepted())
    assert accepted == Counter(expected), "some text went out twice or never"
    sends = fake.sends()
    faults = Counter(r.fault for r in sends if r.fault)
    assert sum(faults.values()) >= 15 and len(faults) >= 4, faults
    assert len(sends) > 60
    logs = "".join((tmp_path / f"next{i}.log").read_text() for i in (1, 2))
    assert "recovered" in logs  # the killed sender's text was found at Twilio, not resent
    with services.uow() as uow:
        sids = {t.provider_sid for t in uow.repo.all(m.OutboundSms)}
    assert sids == {msg["sid"] for msg in fake.messages}
    print(  # the figures for the record (pytest -s)
        f"\n{database_url.split(':')[0]}: 60 texts, {len(sends)} sends, faults {dict(faults)}, "
        f"{in_doubt} in doubt after the kill, each text accepted once"
    )
