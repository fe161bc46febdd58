"""Rate limits on every entry (sockets, failed tokens, driver pings) and no log floods."""

from __future__ import annotations

from lastmile_portal.extensions import socketio
from tests.builders import DRIVER_TOKEN

# --- the default namespace ---------------------------------------------------------------


def test_the_default_namespace_refuses_connections(app) -> None:
    assert not socketio.test_client(app).is_connected("/")
    assert not socketio.test_client(app, auth={"token": DRIVER_TOKEN}).is_connected("/")
