"""The JSON API a driver's phone talks to (bearer token; only that driver's own stops)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from ..domain.errors import InvalidInput
from ..extensions import csrf, limiter
from ..services import drivers, gps_intake
from . import limits as rate_limits
from . import services

bp = Blueprint("driver_api", __name__, url_prefix="/api/v1/driver")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry them

F = TypeVar("F", bound=Callable[..., Any])
# A full batch of fixes with every field is about 150 KB.
MAX_BODY_BYTES = 1024 * 1024


def driver_required(view: F) -> F:
    """Authenticate the bearer token and put the driver's id in ``g.driver_id``."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = rate_limits.bearer_token(request.headers.get("Authorization"))
        # Over the address's budget of wrong tokens: 429 before the token is looked up.
        with rate_limits.token_check():
            g.driver_id = drivers.authenticate_driver(services(), token)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _driver_key() -> str:
    return rate_limits.driver_key(request.headers.get("Authorization"))


@bp.before_request
def limit_body() -> None:
    """Refuse (413) bodies far larger than the largest valid request before reading them."""
    request.max_content_length = MAX_BODY_BYTES


@bp.after_request
def ping_limit_headers(response: Response) -> Response:
    """Tell a phone what is left of its ping budget (on every answer to a counted ping)."""
    counted = g.get("ping_counted")
    if counted is not None:
        rate_limits.add_headers(response, counted)
    return response


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object (Content-Type: application/json).")
    return body


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def ping_limit(view: F) -> F:
    """Count the request in the driver's ping budget (DRIVER_RATE_LIMIT) first; 429 over it.

    The budget is the one the /driver socket spends (scope DRIVER_PINGS, keyed by the
    hashed token). Counted here rather than by a Flask-Limiter decorator: the decorator's
    machinery cost a third of a ping's CPU, for the same count and the same headers.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.ping_counted = rate_limits.count(
            rate_limits.driver_rate_limit(), rate_limits.DRIVER_PINGS, _driver_key()
        )
        if not g.ping_counted.allowed:
            raise TooManyRequests()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@limiter.request_filter
def _ping_counted_by_ping_limit() -> bool:
    # Exempt from Flask-Limiter already; this also skips its per-request look-up of limits.
    return request.endpoint == "driver_api.post_positions"


@bp.post("/positions")
@limiter.exempt
@ping_limit
@driver_required
def post_positions() -> ResponseReturnValue:
    """Take a batch of GPS fixes (a phone back online flushes its buffer in one request)."""
    result = gps_intake.record_positions(services(), g.driver_id, _json_body().get("positions"))
    return jsonify(_plain(result)), 200


@bp.get("/manifest")
@driver_required
def get_manifest() -> ResponseReturnValue:
    """Return today's route in visiting order with each parcel's hand-over instructions."""
    return jsonify(_plain(drivers.manifest(services(), g.driver_id)))
