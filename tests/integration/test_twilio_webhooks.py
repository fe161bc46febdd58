"""Round trip: the real client sends through the fake Twilio, signed status reports come back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.request_validator import RequestValidator

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import routing
from tests.builders import make_delivery, make_route, make_world
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio, twilio_config

PUBLIC = "https://track.example.com"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    yield from running_fake_twilio()


def test_status_reports_for_texts_sent_through_twilio_come_back_signed(  # type: ignore[no-untyped-def]
    config, fake, clock, publisher
) -> None:
    fake.clock = clock.now
    app = create_app(
        {**config, "PUBLIC_BASE_URL": PUBLIC, **twilio_config(fake)},
        clock=clock,
        publisher=publisher,
    )
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    ds = [make_delivery(world, status=DeliveryStatus.SCHEDULED) for _ in range(2)]
    routing.dispatch_route(services, make_route(world, ds, dispatched=False))

    # Twilio calls the StatusCallback it was given, signed with the account's auth token.
    client = app.test_client()
    for request in fake.sends():
        url = request.form["StatusCallback"]
        sid = next(msg["sid"] for msg in fake.messages if msg["to"] == request.form["To"])
        for status in ("sent", "delivered"):
            params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
            response = client.post(
                url.removeprefix(PUBLIC), data=params, headers={"X-Twilio-Signature": signature}
            )
            assert response.status_code == 204

    with services.uow() as uow:
        texts = [t for d in ds for t in uow.repo.outbox_of(d.id)]
        reported = [e.summary for d in ds for e in uow.repo.timeline(d.id)]
    assert {t.status for t in texts} == {m.SmsStatus.DELIVERED}
    assert reported.count("SMS 'dispatched' delivered") == 2
