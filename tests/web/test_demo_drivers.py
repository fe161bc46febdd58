"""The demo's simulated drivers use the driver API's endpoints, as a phone does, with photos."""

from __future__ import annotations

import io

from PIL import Image

from lastmile_portal import demo
from lastmile_portal.domain import model as m
from lastmile_portal.domain.geo import haversine_m
from lastmile_portal.domain.routing import Point
from lastmile_portal.domain.status import DeliveryStatus


def test_simulated_drivers_deliver_over_the_api_with_a_photo(app, services, clock) -> None:  # type: ignore[no-untyped-def]
    settings = app.config["SETTINGS"]
    demo.ensure_demo(services, settings.secret_key, "s@example.test", "pw-pw-pw-pw")
    with app.app_context():  # as server.serve builds it: the phone is that app's
        simulator = demo.DriverSimulator(services, fail_rate=0.0)

    clock.advance(hours=10)  # far enough that every route is past some of its stops
    for _ in range(4):  # arrived, delivered, arrived, delivered
        simulator.tick()

    with services.uow() as uow:
        delivered = [d for d in uow.repo.all(m.Delivery) if d.status is DeliveryStatus.DELIVERED]
        photos = list(uow.repo.all(m.ProofPhoto))
        answers = list(uow.repo.all(m.IdempotentAnswer))
        stop_at = {s.id: Point(s.lat, s.lng) for s in uow.repo.all(m.Stop)}
    assert delivered, "the simulated drivers delivered something"
    assert {p.delivery_id for p in photos} >= {d.id for d in delivered}
    # Taken a few metres from the stop.
    stop_of = {d.id: d.stop_id for d in delivered}
    for p in (p for p in photos if p.delivery_id in stop_of):
        assert p.lat is not None and p.lng is not None
        assert 2.5 <= haversine_m(Point(p.lat, p.lng), stop_at[stop_of[p.delivery_id]]) <= 40.5
    assert Image.open(io.BytesIO(services.photos.get(photos[0].storage_key))).format == "JPEG"
    # The requests went through the API (its idempotency keys were stored).
    assert {a.request.split(":")[0] for a in answers} == {"arrived", "delivered"}


def test_a_simulated_failed_attempt_goes_through_the_api_too(app, services, clock) -> None:  # type: ignore[no-untyped-def]
    settings = app.config["SETTINGS"]
    demo.ensure_demo(services, settings.secret_key, "s@example.test", "pw-pw-pw-pw")
    with app.app_context():
        simulator = demo.DriverSimulator(services, fail_rate=1.0)

    clock.advance(hours=10)
    simulator.tick()  # arrived
    simulator.tick()  # nobody home

    with services.uow() as uow:
        failed = [d for d in uow.repo.all(m.Delivery) if d.status is DeliveryStatus.FAILED]
        answers = {a.request.split(":")[0] for a in uow.repo.all(m.IdempotentAnswer)}
    assert failed, "the simulated drivers found nobody home"
    assert answers == {"arrived", "failed"}


def test_the_demo_photos_differ_per_stop() -> None:
    first, second = demo.demo_photo(1), demo.demo_photo(2)

    assert first != second
    assert Image.open(io.BytesIO(first)).format == "JPEG"


def test_demo_links_drivers_prints_a_sign_in_link_per_driver(app, client) -> None:  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["demo-links", "--drivers"])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(demo.CREWS)
    driver_id, link, *name = lines[0].split(" ")
    assert driver_id.isdigit() and name
    assert "/driver/sign-in#token=" in link
    page = client.get("/driver/sign-in").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    token = link.split("#token=", 1)[1]
    signed = client.post("/driver/sign-in", data={"csrf_token": csrf, "token": token})
    assert signed.status_code == 303
    assert " ".join(name) in client.get("/driver").get_data(as_text=True)
