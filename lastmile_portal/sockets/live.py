"""The /live namespace: a recipient's page joins its own delivery's room and gets live events."""

from __future__ import annotations

from typing import Any

from flask import current_app, session
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room

from ..domain.errors import NotFound
from ..services import tracking


def _services():  # type: ignore[no-untyped-def]
    return current_app.extensions["lastmile"]


class LiveNamespace(Namespace):
    """Serve recipients: ``auth={"token": <tracking token>}``; snapshot, position, eta, status."""

    def on_connect(self, auth: Any = None) -> None:
        """Join ``delivery:<id>`` for a valid token and send the full state; refuse otherwise."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            raise ConnectionRefusedError("a tracking token is required")
        try:
            delivery_id = tracking.delivery_id_for_token(_services(), token)
        except NotFound:
            raise ConnectionRefusedError("unknown tracking token") from None
        session["delivery_id"] = delivery_id
        join_room(f"delivery:{delivery_id}")
        emit("snapshot", tracking.live_snapshot(_services(), delivery_id))

    def on_resync(self, _data: Any = None) -> None:
        """Send the full state again (the page asks after waking from the background)."""
        delivery_id = session.get("delivery_id")
        if delivery_id is not None:
            emit("snapshot", tracking.live_snapshot(_services(), delivery_id))
