"""The JSON API a parcel locker's operator reports to (bearer locker API key; its own locker)."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..domain.errors import InvalidInput
from ..extensions import csrf
from ..services import lockers
from . import limits as rate_limits
from . import services

bp = Blueprint("locker_api", __name__, url_prefix="/api/v1/lockers")
csrf.exempt(bp)  # bearer keys, not cookies: no cross-site request can carry them

MAX_BODY_BYTES = 4 * 1024  # two short fields


@bp.before_request
def limit_body() -> None:
    """Refuse (413) a body far larger than the largest valid report, before reading it."""
    request.max_content_length = MAX_BODY_BYTES


def _locker_id() -> int:
    """Return the locker the bearer key belongs to; wrong keys spend the address's budget."""
    key = rate_limits.bearer_token(request.headers.get("Authorization"))
    with rate_limits.token_check():
        return lockers.authenticate_locker(services(), key)


def _reference(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.")
    return value


@bp.post("/<code>/collected")
def post_collected(code: str) -> ResponseReturnValue:
    """Record that the recipient took a parcel out of locker ``code``.

    Body ``{"tracking_number": ...}`` or ``{"pickup_code": ...}``; a repeat answers the same.
    """
    locker_id = _locker_id()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object (Content-Type: application/json).")
    outcome = lockers.collect_parcel(
        services(),
        locker_id,
        code,
        tracking_number=_reference(body, "tracking_number"),
        pickup_code=_reference(body, "pickup_code"),
    )
    answer = dataclasses.asdict(outcome)
    at = outcome.collected_at
    answer["collected_at"] = at.isoformat() if at else None
    return jsonify(answer), 200
