"""The staff fleet room on /live, with the real python-socketio client: staff see drivers move,
a recipient's socket never receives a staff event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from lastmile_portal.domain import model as m
from lastmile_portal.services import gps_intake
from tests.builders import make_delivery, make_route, make_world, ping
from tests.conftest import base_config
from tests.servers import LiveServer


@pytest.fixture
def live(tmp_path, clock) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    app = create_app(base_config(tmp_path), clock=clock)
    upgrade(app.config["SETTINGS"].database_url)
    server = LiveServer(app)
    server.start()
    services = app.extensions["lastmile"]
    world = make_world(services)
    with services.uow() as uow:
        for role in m.StaffRole:
            uow.repo.add(
                m.StaffUser(
                    email=f"{role}@example.test", name=role.title(), password_hash="x", role=role
                )
            )
        uow.commit()
        staff = {s.role: s.id for s in uow.repo.all(m.StaffUser)}
    yield app, server.url, services, world, staff
    server.stop()


def cookie_for(app: Any, staff_id: int, seen: float) -> str:
    """Return a Cookie header for a signed-in staff session, as the sign-in page leaves it."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": str(staff_id), "_fresh": True, "staff_seen": seen})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


class Everything:
    """A real Socket.IO client on /live that records every event it gets, whatever its name."""

    def __init__(self, url: str, auth: dict[str, Any], cookie: str | None = None) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.got = threading.Condition()
        self.client.on("*", self._record, namespace="/live")
        self.client.connect(
            url,
            namespaces=["/live"],
            auth=auth,
            headers={"Cookie": cookie} if cookie else {},
            transports=["websocket"],
            wait_timeout=5,
        )

    def _record(self, event: str, payload: Any = None) -> None:
        with self.got:
            self.events.append((event, payload))
            self.got.notify_all()

    def wait_for(self, name: str, timeout: float = 5.0) -> Any:
        with self.got:
            ok = self.got.wait_for(lambda: any(n == name for n, _ in self.events), timeout)
        assert ok, f"no {name!r} event; got {[n for n, _ in self.events]}"
        return next(p for n, p in self.events if n == name)

    def names(self) -> list[str]:
        with self.got:
            return [n for n, _ in self.events]

    def close(self) -> None:
        self.client.disconnect()


def test_staff_see_the_driver_move_and_the_customer_gets_no_staff_event(live, clock) -> None:  # type: ignore[no-untyped-def]
    app, url, services, world, staff = live
    d = make_delivery(world)
    make_route(world, [d])
    customer = Everything(url, {"token": d.tracking_token})
    supervisor = Everything(
        url,
        {"fleet": world.depot_id},
        cookie_for(app, staff[m.StaffRole.SUPERVISOR], clock.now().timestamp()),
    )
    try:
        customer.wait_for("snapshot")
        gps_intake.record_positions(services, world.driver_ids[0], [ping(52.53, 13.41)])
        clock.advance(seconds=1)
        gps_intake.record_positions(
            services, world.driver_ids[0], [ping(52.531, 13.411, at=clock.now())]
        )

        moved = supervisor.wait_for("fleet_position")
        assert moved["driver_id"] == world.driver_ids[0]
        assert (moved["lat"], moved["lng"]) == (52.53, 13.41)
        # The customer's page hears its driver (same pings, same moment) ...
        customer.wait_for("position")
        # ... and nothing meant for staff; staff get no customer event either.
        assert not [n for n in customer.names() if n.startswith("fleet")]
        assert "fleet_position" not in customer.names()
        assert set(supervisor.names()) == {"fleet_position"}
    finally:
        customer.close()
        supervisor.close()


def test_another_depots_staff_hear_nothing(live, clock) -> None:  # type: ignore[no-untyped-def]
    app, url, services, world, staff = live
    d = make_delivery(world)
    make_route(world, [d])
    elsewhere = Everything(
        url,
        {"fleet": world.depot_id + 1},
        cookie_for(app, staff[m.StaffRole.ADMIN], clock.now().timestamp()),
    )
    here = Everything(
        url,
        {"fleet": world.depot_id},
        cookie_for(app, staff[m.StaffRole.ADMIN], clock.now().timestamp()),
    )
    try:
        gps_intake.record_positions(services, world.driver_ids[0], [ping(52.53, 13.41)])
        here.wait_for("fleet_position")
        assert elsewhere.names() == []
    finally:
        here.close()
        elsewhere.close()


@pytest.mark.parametrize("who", ["nobody", "agent", "idle supervisor"])
def test_the_fleet_room_needs_a_signed_in_supervisor(live, clock, who) -> None:  # type: ignore[no-untyped-def]
    app, url, services, world, staff = live
    now = clock.now().timestamp()
    cookie = {
        "nobody": None,
        "agent": cookie_for(app, staff[m.StaffRole.AGENT], now),
        "idle supervisor": cookie_for(app, staff[m.StaffRole.SUPERVISOR], now - 31 * 60),
    }[who]
    with pytest.raises(socketio.exceptions.ConnectionError):
        Everything(url, {"fleet": world.depot_id}, cookie)


def test_a_tracking_token_does_not_open_the_fleet_room(live, clock) -> None:  # type: ignore[no-untyped-def]
    app, url, services, world, staff = live
    d = make_delivery(world)
    make_route(world, [d])
    with pytest.raises(socketio.exceptions.ConnectionError):
        Everything(url, {"token": d.tracking_token, "fleet": world.depot_id})
