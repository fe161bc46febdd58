"""flask --app app webhook add / list / remove / log, as an operator types them; then a
phone's request reaching the subscriber."""

from __future__ import annotations

from lastmile_portal.domain import webhooks as wh
from lastmile_portal.domain.webhook_signing import SIGNATURE_HEADER, verify
from lastmile_portal.services import proof_of_delivery
from tests.builders import DRIVER_TOKEN, load_stop_id, make_delivery, make_route, make_world
from tests.webhook_receiver import WebhookReceiver


def run(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args))


def test_add_prints_the_id_and_the_secret_once_and_list_never_shows_it(app) -> None:  # type: ignore[no-untyped-def]
    added = run(
        app,
        "webhook",
        "add",
        "https://carrier.example/hooks",
        "--events",
        "delivery.status_changed,delivery.proof_added",
    )

    assert added.exit_code == 0, added.output
    lines = added.stdout.splitlines()
    assert lines[0] == "id 1"
    secret = lines[1].removeprefix("secret ")
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = run(app, "webhook", "list")
    assert listed.stdout.strip() == (
        "1\tactive\thttps://carrier.example/hooks\tdelivery.proof_added,delivery.status_changed"
    )
    assert secret not in listed.output


def test_bad_urls_and_event_names_are_refused_in_one_line(app) -> None:  # type: ignore[no-untyped-def]
    for url, events, words in (
        ("ftp://carrier.example/x", "delivery.status_changed", "http:// or https://"),
        ("https://carrier.example/x", "delivery.gone", "Unknown event type delivery.gone"),
    ):
        result = run(app, "webhook", "add", url, "--events", events)
        assert result.exit_code == 1
        assert words in result.stderr and "Traceback" not in result.output
    assert run(app, "webhook", "list").stdout == ""
    missing = run(app, "webhook", "remove", "9")
    assert missing.exit_code == 1 and "no webhook subscription 9" in missing.stderr


def test_log_shows_each_try_with_its_answer_and_remove_stops_it(app, services) -> None:  # type: ignore[no-untyped-def]
    receiver = WebhookReceiver().start()
    try:
        receiver.answer("/", 500)
        assert (
            run(app, "webhook", "add", receiver.url, "--events", wh.STATUS_CHANGED).exit_code == 0
        )
        world = make_world(services)
        d = make_delivery(world)
        make_route(world, [d])
        proof_of_delivery.mark_arrived(services, world.driver_ids[0], load_stop_id(services, d))
    finally:
        receiver.stop()

    log = run(app, "webhook", "log", "1").stdout.splitlines()
    assert len(log) == 1
    assert "\tdelivery.status_changed\tevt_" in log[0] and "\ttry 1\t500\tpending" in log[0]
    removed = run(app, "webhook", "remove", "1")
    assert "1 unsent events cancelled" in removed.stdout
    assert run(app, "webhook", "list").stdout.startswith("1\tremoved\t")


def test_a_phone_marking_a_stop_delivered_reaches_the_carriers_receiver(  # type: ignore[no-untyped-def]
    app, client, services
) -> None:
    receiver = WebhookReceiver().start()
    try:
        added = run(app, "webhook", "add", receiver.url, "--events", f"{wh.STATUS_CHANGED}")
        secret = added.stdout.splitlines()[1].removeprefix("secret ")
        world = make_world(services)
        d = make_delivery(world)
        make_route(world, [d])
        stop = load_stop_id(services, d)
        replay = {"Authorization": f"Bearer {DRIVER_TOKEN}", "Idempotency-Key": "k-1"}

        for _ in range(2):  # the phone retries after a timeout: one event, not two
            answer = client.post(f"/api/v1/driver/stops/{stop}/arrived", json={}, headers=replay)
            assert answer.status_code == 200, answer.get_data(as_text=True)
    finally:
        receiver.stop()

    (got,) = receiver.received
    assert got.json["data"]["new"] == "arriving"
    assert verify(secret, got.headers[SIGNATURE_HEADER], got.body, services.clock.now().timestamp())
