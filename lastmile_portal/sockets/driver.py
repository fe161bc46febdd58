"""The /driver namespace: a driver's phone streams positions over one socket."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import session
from flask_socketio import ConnectionRefusedError

from ..domain.errors import DomainError
from ..services import drivers, gps_intake
from ..web import limits as rate_limits
from ..web import services, settings
from . import ClientNamespace


class DriverNamespace(ClientNamespace):
    """Drivers connect with ``auth={"token": <driver API token>}`` and emit ``positions``."""

    def on_connect(self, auth: Any = None) -> None:
        """Accept only a valid driver token; wrong ones spend the address's failure budget."""
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token.strip() if isinstance(token, str) else None
        try:
            with rate_limits.token_check():
                session["driver_id"] = drivers.authenticate_driver(services(), token)
        except rate_limits.TooManyFailures:
            raise ConnectionRefusedError(rate_limits.TOO_MANY) from None
        except DomainError:
            raise ConnectionRefusedError("a valid driver token is required") from None
        # The same bucket as the HTTP endpoint's: the hashed token (see web/limits.py).
        session["ping_key"] = rate_limits.token_key(token or "")

    def on_positions(self, data: Any = None, *_ignored: Any) -> dict[str, Any]:
        """Record ``{"positions": [...]}``; the acknowledgement carries the counts or the error.

        Pings share the driver's budget with the HTTP endpoint (DRIVER_RATE_LIMIT).
        """
        rate = settings().driver_rate_limit
        if not rate_limits.hit(rate, rate_limits.DRIVER_PINGS, session["ping_key"]):
            return {"error": rate_limits.TOO_MANY, "status": 429}
        positions = data.get("positions") if isinstance(data, dict) else None
        try:
            result = gps_intake.record_positions(services(), session["driver_id"], positions)
        except DomainError as error:
            return {"error": error.message, "status": error.status_code}
        # The same answer as the HTTP endpoint's, rejected fixes included.
        return dataclasses.asdict(result)
