"""Twilio's webhooks through the Flask test client, signed with twilio's real RequestValidator."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from lastmile_portal.domain import model as m
from lastmile_portal.domain.sms import MessageKind
from lastmile_portal.domain.status import DeliveryStatus
from lastmile_portal.services import notifications
from tests.builders import make_delivery, make_world
from tests.conftest import base_config

TOKEN = "webhook-test-auth-token-0123456789"
PUBLIC = "https://track.example.com"
SHARED_KEY = "shared-signing-key-for-webhook-rules"


@pytest.fixture
def config(config):  # type: ignore[no-untyped-def]
    # The app runs behind a proxy: Twilio calls the public address, we see localhost.
    return {**config, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC}


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


def signed(path: str, params: dict[str, str], *, token: str = TOKEN, base: str = PUBLIC) -> str:
    return RequestValidator(token).compute_signature(base + path, params)


def post(client, path: str, params: dict[str, str], signature: str | None, **headers: str) -> Any:  # type: ignore[no-untyped-def]
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, data=params, headers=headers)


def inbound(phone: str, body: str, sid: str = "SM" + "a" * 32) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": "+4930231259999",
        "Body": body,
        "NumMedia": "0",
    }


def test_a_signed_text_is_answered_in_twiml(client, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    params = inbound(d.phone, "SAFE under the stairs")

    response = post(client, "/webhooks/twilio/sms", params, signed("/webhooks/twilio/sms", params))

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    xml = response.get_data(as_text=True)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    assert "at your safe place: under the stairs." in xml
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).safe_place == "under the stairs"
        assert uow.repo.inbound_by_provider_sid(params["MessageSid"]).from_phone == d.phone


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong token", "tampered body", "internal url", "empty"],
)
def test_unsigned_or_wrongly_signed_requests_are_rejected(client, services, world, how) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    params = inbound(d.phone, "STOP")
    path = "/webhooks/twilio/sms"
    signature = {
        "missing": None,
        "empty": "",
        "wrong token": signed(path, params, token="someone-elses-token"),
        "tampered body": signed(path, {**params, "Body": "ETA"}),
        # Signed for the address the app sees behind the proxy, not the public one.
        "internal url": signed(path, params, base="http://localhost"),
    }[how]

    response = post(client, path, params, signature)

    assert response.status_code == 403
    assert response.get_json()["status"] == 403
    with services.uow() as uow:
        assert uow.repo.count(m.InboundSms) == 0
        assert uow.repo.opt_out_of(d.phone) is None


def test_status_callbacks_update_the_text_named_in_the_signed_url(client, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.OUT_FOR_DELIVERY)
    with services.uow() as uow:
        loaded = uow.repo.get(m.Delivery, d.id)
        notifications.queue_message(services, uow, loaded, MessageKind.DISPATCHED)
        uow.commit()
    with services.uow() as uow:
        (text,) = uow.repo.outbox_of(d.id)
    callback = services.sms.callbacks[0]
    assert callback == f"{PUBLIC}/webhooks/twilio/status?m={text.id}"
    path = callback.removeprefix(PUBLIC)

    for status in ("sent", "delivered", "sent", "delivered"):  # stragglers and duplicates
        params = {"MessageSid": text.provider_sid, "MessageStatus": status, "To": d.phone}
        response = post(client, path, params, signed(path, params))
        assert response.status_code == 204

    with services.uow() as uow:
        assert uow.repo.outbox_of(d.id)[0].status is m.SmsStatus.DELIVERED
        delivered = [e for e in uow.repo.timeline(d.id) if e.kind == "SmsStatusReported"]
    assert len(delivered) == 1


def test_a_status_callback_without_its_fields_is_a_clear_4xx(client) -> None:  # type: ignore[no-untyped-def]
    path = "/webhooks/twilio/status"
    params = {"MessageSid": "SMx"}
    response = post(client, path, params, signed(path, params))
    assert response.status_code == 422
    assert "MessageStatus" in response.get_json()["error"]


def test_a_webhook_rule_signature_needs_the_shared_key(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal import create_app
    from lastmile_portal.adapters.migrations import upgrade

    path = "/webhooks/twilio/sms"
    params = inbound("+4915199999999", "HELP")
    signature = RequestValidator(SHARED_KEY).compute_signature(PUBLIC + path, params, "HMAC_SHA256")
    header = {"X-Twilio-Webhooks-Signature-Settings": "key=wk_1,algorithm=HMAC_SHA256"}

    for key, expected in (("", 403), (SHARED_KEY, 200)):
        app = create_app(
            base_config(
                tmp_path / (key or "none"),
                TWILIO_AUTH_TOKEN=TOKEN,
                PUBLIC_BASE_URL=PUBLIC,
                TWILIO_WEBHOOK_SIGNING_KEY=key,
            ),
            clock=clock,
        )
        upgrade(app.config["SETTINGS"].database_url)
        response = post(app.test_client(), path, params, signature, **header)
        assert response.status_code == expected


def test_without_an_auth_token_every_webhook_is_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal import create_app

    app = create_app(base_config(tmp_path, PUBLIC_BASE_URL=PUBLIC))
    params = inbound("+4915199999999", "HELP")
    path = "/webhooks/twilio/sms"
    response = post(app.test_client(), path, params, signed(path, params))
    assert response.status_code == 403


def test_webhooks_take_only_post(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/webhooks/twilio/sms").status_code == 405


# ---------------------------------------------------------------- bad input, signed or not


def test_a_json_body_with_any_signature_is_refused_not_a_crash(client, services, world) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/webhooks/twilio/sms",
        json={"MessageSid": "SM" + "a" * 32, "From": "+4930231250001", "Body": "STOP"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert response.status_code == 403
    assert response.get_json()["status"] == 403


def test_control_characters_never_reach_the_database(client, services, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, status=DeliveryStatus.SCHEDULED)
    params = inbound(d.phone, "SAFE\x00 behind the\x07 bin\u202e\r\n")

    response = post(client, "/webhooks/twilio/sms", params, signed("/webhooks/twilio/sms", params))

    assert response.status_code == 200
    with services.uow() as uow:
        assert uow.repo.get(m.Delivery, d.id).safe_place == "behind the bin"
        assert uow.repo.inbound_by_provider_sid(params["MessageSid"]).body == "SAFE behind the bin"


@pytest.mark.parametrize(
    "sid",
    ["SM\x00" + "a" * 31, "SM" + "a" * 100, "SM a", "SM²³", ""],
    ids=["nul", "too-long", "space", "superscript", "empty"],
)
def test_a_malformed_message_sid_is_a_422(client, services, world, sid) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    params = inbound(d.phone, "HELP", sid=sid)

    response = post(client, "/webhooks/twilio/sms", params, signed("/webhooks/twilio/sms", params))

    assert response.status_code == 422
    assert "MessageSid" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ("?m=%C2%B2", {}),  # "²" passes str.isdigit() but int() refuses it
        ("?m=%D9%A3", {}),  # Arabic-Indic three
        ("?m=" + "9" * 40, {}),  # beyond any database integer
        ("?m=1", {"ErrorCode": "²"}),
        ("?m=1", {"ErrorCode": "9" * 40}),
        ("?m=1", {"MessageStatus": "delivered\x00"}),
    ],
    ids=["superscript-id", "arabic-digit-id", "huge-id", "superscript-code", "huge-code", "nul"],
)
def test_odd_digits_and_huge_numbers_in_status_callbacks_are_never_a_500(
    client, services, world, query, extra
) -> None:  # type: ignore[no-untyped-def]
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", **extra}
    path = "/webhooks/twilio/status"

    response = post(client, path + query, params, signed(path + query, params))

    assert response.status_code in (204, 422)
    if response.status_code == 422:
        assert response.get_json()["status"] == 422
