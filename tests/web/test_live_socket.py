"""The /live and /driver Socket.IO namespaces with the real python-socketio client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import socketio

from lastmile_portal import create_app
from lastmile_portal.adapters.migrations import upgrade
from tests.builders import DRIVER_TOKEN, OTHER_DRIVER_TOKEN, make_delivery, make_route, make_world
from tests.conftest import base_config
from tests.servers import LiveServer


@pytest.fixture
def live(tmp_path, clock) -> Iterator[tuple[str, object, object]]:  # type: ignore[no-untyped-def]
    app = create_app(base_config(tmp_path), clock=clock)
    upgrade(app.config["SETTINGS"].database_url)
    server = LiveServer(app)
    server.start()
    services = app.extensions["lastmile"]
    world = make_world(services)
    yield server.url, services, world
    server.stop()


class Listener:
    """A real Socket.IO client that records every event it gets."""

    def __init__(self, url: str, namespace: str, auth: dict | None) -> None:  # type: ignore[type-arg]
        self.client = socketio.Client(reconnection=False)
        self.events: list[tuple[str, object]] = []
        self.got = threading.Condition()
        for name in ("snapshot", "position", "eta", "status"):
            self.client.on(name, self._recorder(name), namespace=namespace)
        self.client.connect(
            url, namespaces=[namespace], auth=auth, transports=["websocket"], wait_timeout=5
        )

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        def record(payload: object) -> None:
            with self.got:
                self.events.append((name, payload))
                self.got.notify_all()

        return record

    def wait_for(self, name: str, timeout: float = 5.0) -> object:
        with self.got:
            ok = self.got.wait_for(lambda: any(n == name for n, _ in self.events), timeout)
        assert ok, f"no {name!r} event; got {[n for n, _ in self.events]}"
        return next(p for n, p in self.events if n == name)

    def close(self) -> None:
        self.client.disconnect()


def test_customer_gets_a_snapshot_then_live_position_and_eta(live, clock) -> None:
    url, services, world = live
    first, mine = make_delivery(world), make_delivery(world)
    make_route(world, [first, mine])
    listener = Listener(url, "/live", {"token": mine.tracking_token})
    try:
        snap = listener.wait_for("snapshot")
        assert snap["status"] == "out_for_delivery"  # type: ignore[index]
        assert snap["stops_before"] == 1 and snap["position"] is None  # type: ignore[index]
        assert set(snap) >= {"version", "window", "eta", "destination", "history"}  # type: ignore[arg-type]

        driver = socketio.Client(reconnection=False)
        driver.connect(
            url,
            namespaces=["/driver"],
            auth={"token": DRIVER_TOKEN},
            transports=["websocket"],
            wait_timeout=5,
        )
        ack = driver.call(
            "positions",
            {"positions": [{"lat": 52.50, "lng": 13.40, "recorded_at": clock.now().isoformat()}]},
            namespace="/driver",
            timeout=5,
        )
        driver.disconnect()
        assert ack == {"accepted": 1, "ignored": 0, "flagged": 0, "rejected": []}

        position = listener.wait_for("position")
        assert position == {
            "lat": 52.50,
            "lng": 13.40,
            "at": clock.now().isoformat(),
            "stale": False,
        }
        eta = listener.wait_for("eta")
        assert eta["stops_before"] == 1  # type: ignore[index]
    finally:
        listener.close()


def test_customer_never_hears_about_another_delivery(live, clock) -> None:
    url, services, world = live
    mine = make_delivery(world)
    theirs = make_delivery(world)
    make_route(world, [mine], driver_index=0)
    make_route(world, [theirs], driver_index=1)
    listener = Listener(url, "/live", {"token": mine.tracking_token})
    try:
        listener.wait_for("snapshot")
        services.publisher.publish(f"delivery:{theirs.id}", "status", {"status": "secret"})
        from lastmile_portal.services import gps_intake

        gps_intake.record_positions(
            services,
            world.driver_ids[1],
            [
                {
                    "lat": 52.41,
                    "lng": 13.41,
                    "recorded_at": (clock.now() + timedelta(seconds=1)).isoformat(),
                }
            ],
        )
        services.publisher.publish(f"delivery:{mine.id}", "status", {"status": "mine"})
        assert listener.wait_for("status") == {"status": "mine"}
        assert [p for n, p in listener.events if n in ("status", "position")] == [
            {"status": "mine"}
        ]
    finally:
        listener.close()


def test_one_ping_reaches_every_near_page_once_and_no_page_beyond_the_privacy_line(
    live, clock
) -> None:
    url, services, world = live
    shown = services.settings.show_driver_within_stops
    ds = [make_delivery(world) for _ in range(shown + 2)]
    make_route(world, ds)
    near = [Listener(url, "/live", {"token": d.tracking_token}) for d in ds[:2]]
    far = Listener(url, "/live", {"token": ds[-1].tracking_token})  # shown + 1 stops before
    try:
        for listener in [*near, far]:
            listener.wait_for("snapshot")
        from lastmile_portal.services import gps_intake

        for i in range(2):  # the first ping works out the rooms, the second uses them
            clock.advance(seconds=1)
            gps_intake.record_positions(
                services,
                world.driver_ids[0],
                [
                    {
                        "lat": 52.50 + i * 0.0001,  # 11 m in a second: driving
                        "lng": 13.40,
                        "recorded_at": clock.now().isoformat(),
                    }
                ],
            )
        for listener in near:
            with listener.got:
                assert listener.got.wait_for(
                    lambda lst=listener: any(
                        n == "position" and p["lat"] == 52.5001  # type: ignore[index]
                        for n, p in lst.events
                    ),
                    5,
                ), listener.events
            positions = [p for n, p in listener.events if n == "position"]
            assert len(positions) == len({p["at"] for p in positions})  # type: ignore[index]
        assert not [n for n, _ in far.events if n == "position"]
    finally:
        for listener in [*near, far]:
            listener.close()


@pytest.mark.parametrize(
    "auth", [None, {}, {"token": "x" * 32}, {"token": 42}, {"token": "../../etc"}]
)
def test_bad_tracking_tokens_are_refused(live, auth) -> None:
    url, _services, _world = live
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            url, namespaces=["/live"], auth=auth, transports=["websocket"], wait_timeout=5
        )


def test_driver_namespace_refuses_bad_tokens_and_reports_bad_pings(live, clock) -> None:
    url, _services, _world = live
    stranger = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        stranger.connect(
            url,
            namespaces=["/driver"],
            auth={"token": "not-a-driver-token-at-all"},
            transports=["websocket"],
            wait_timeout=5,
        )
    driver = socketio.Client(reconnection=False)
    driver.connect(
        url,
        namespaces=["/driver"],
        auth={"token": OTHER_DRIVER_TOKEN},
        transports=["websocket"],
        wait_timeout=5,
    )
    try:
        ack = driver.call(
            "positions",
            {"positions": [{"lat": 123, "lng": 13.4, "recorded_at": clock.now().isoformat()}]},
            namespace="/driver",
            timeout=5,
        )
        assert ack["status"] == 422 and "lat" in ack["error"]
        # A bad fix next to a good one costs only itself, and says why.
        ack = driver.call(
            "positions",
            {
                "positions": [
                    {"lat": True, "lng": 13.4, "recorded_at": clock.now().isoformat()},
                    {"lat": 52.5, "lng": 13.4, "recorded_at": clock.now().isoformat()},
                ]
            },
            namespace="/driver",
            timeout=5,
        )
        assert ack["accepted"] == 1
        assert ack["rejected"] == [{"index": 0, "error": "lat must be a number, not bool."}]
    finally:
        driver.disconnect()
