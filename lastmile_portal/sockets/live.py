"""The /live namespace: a recipient's page joins its own delivery's room and gets live events."""

from __future__ import annotations

from typing import Any

from flask import request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, emit, join_room

from ..domain.errors import NotFound
from ..services import tracking
from ..services.fleet import OPS_ROLE, fleet_room
from ..web import limits as rate_limits
from ..web import services, settings
from ..web.support_auth import SEEN_KEY
from . import ClientNamespace


class LiveNamespace(ClientNamespace):
    """Serve recipients: ``auth={"token": <tracking token>}``; snapshot, position, eta, status."""

    def on_connect(self, auth: Any = None) -> None:
        """Join ``delivery:<id>`` for a valid token and send the full state; refuse otherwise.

        Connects are limited per client address (LIVE_CONNECT_RATE_LIMIT), and an address
        that sent too many wrong tokens is refused before its token is looked up.
        """
        cfg = settings()
        address = rate_limits.client_address()
        if not rate_limits.hit(cfg.live_connect_rate_limit, rate_limits.LIVE_CONNECTS, address):
            raise ConnectionRefusedError(rate_limits.TOO_MANY)
        if isinstance(auth, dict) and "fleet" in auth:
            self._join_fleet(auth["fleet"])
            return
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            with rate_limits.token_check():
                # No token at all counts as a wrong one: "" is refused without a lookup.
                delivery_id = tracking.delivery_id_for_token(
                    services(), token if isinstance(token, str) else ""
                )
        except rate_limits.TooManyFailures:
            raise ConnectionRefusedError(rate_limits.TOO_MANY) from None
        except NotFound:
            known = isinstance(token, str)
            reason = "unknown tracking token" if known else "a tracking token is required"
            raise ConnectionRefusedError(reason) from None
        session["delivery_id"] = delivery_id
        join_room(f"delivery:{delivery_id}")
        emit("snapshot", tracking.live_snapshot(services(), delivery_id))

    def on_resync(self, *_ignored: Any) -> None:
        """Send the full state again (the page asks after waking from the background).

        Limited per connection (RESYNC_RATE_LIMIT): over it the page gets an ``error``
        event instead of a snapshot.
        """
        delivery_id = session.get("delivery_id")
        if delivery_id is None:
            return
        if not rate_limits.hit(settings().resync_rate_limit, rate_limits.RESYNCS, request.sid):
            emit("error", {"message": rate_limits.TOO_MANY, "status": 429})
            return
        emit("snapshot", tracking.live_snapshot(services(), delivery_id))

    def _join_fleet(self, depot: Any) -> None:
        """Join a signed-in supervisor's socket to ``fleet:<depot id>`` (issue 14).

        Staff come with their session cookie, not a token: Flask-Login's current_user is
        the staff member, held to the support pages' rules (role, idle timeout). A staff
        socket joins no delivery room, and nothing else ever joins a fleet room, so staff
        events (``fleet_position``) never reach a recipient's page.
        """
        if not current_user.is_authenticated or not current_user.role.at_least(OPS_ROLE):
            raise ConnectionRefusedError("staff sign-in required")
        seen = session.get(SEEN_KEY)
        idle_s = settings().staff_idle_minutes * 60
        now = services().clock.now().timestamp()
        if not isinstance(seen, int | float) or now - seen > idle_s:
            raise ConnectionRefusedError("staff sign-in required")
        if isinstance(depot, bool) or not isinstance(depot, int) or depot <= 0:
            raise ConnectionRefusedError("a depot id is required")
        session["fleet_depot_id"] = depot
        join_room(fleet_room(depot))
