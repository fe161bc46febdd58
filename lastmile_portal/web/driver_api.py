"""The JSON API a driver's phone talks to (bearer token; only that driver's own stops)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from ..domain import model as m
from ..domain.attempts import FAILURE_REASONS, MAX_NOTE, MAX_RECIPIENT_NAME, failure_text
from ..domain.errors import DomainError, InvalidInput
from ..domain.proof import PhotoUpload, photo_position
from ..extensions import csrf, limiter
from ..services import drivers, gps_intake, proof_of_delivery
from ..services.proof_photos import MAX_PHOTOS
from . import limits as rate_limits
from . import services

bp = Blueprint("driver_api", __name__, url_prefix="/api/v1/driver")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry them

F = TypeVar("F", bound=Callable[..., Any])
# A full batch of fixes with every field is about 150 KB.
MAX_BODY_BYTES = 1024 * 1024
# Multipart boundaries, part headers and the text fields of a delivered form.
FORM_SLACK_BYTES = 64 * 1024


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
    if request.endpoint in ("driver_api.post_delivered", "driver_api.post_failed"):
        # Up to MAX_PHOTOS full-size photos, plus room for the form's few small fields.
        photo_max = services().settings.photo_max_bytes
        request.max_content_length = photo_max * MAX_PHOTOS + FORM_SLACK_BYTES
    else:
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


# ---------------------------------------------------------------- stop actions (issue 12)

MAX_IDEMPOTENCY_KEY = 100
MAX_PARCELS_NAMED = 50
MAX_TRACKING_NUMBER = 40

Answer = tuple[int, dict[str, Any]]


def _optional_body() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    return _json_body()


def _float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{name} must be a finite number.")
    return number


def _position(values: Any) -> tuple[float | None, float | None]:
    lat, lng = _float(values.get("lat"), "lat"), _float(values.get("lng"), "lng")
    photo_position(lat, lng)  # both or neither, and in range
    return lat, lng


def _recorded_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput("recorded_at must be an ISO 8601 time with its UTC offset.")
    return at


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is too long (at most {limit} characters).")
    return value


def _run(action: Callable[[], Answer]) -> Answer:
    try:
        return action()
    except proof_of_delivery.AlreadyAnswered:
        raise  # not a refusal: the caller replays the answer stored by the request that won
    except proof_of_delivery.StopClosed as error:
        return error.status_code, {
            "error": error.message,
            "status": error.status_code,
            "stop_status": error.stop_status,
        }
    except DomainError as error:
        return error.status_code, {"error": error.message, "status": error.status_code}


StopAction = Callable[[proof_of_delivery.Idempotency | None], proof_of_delivery.StopOutcome]


def _answer_once(name: str, stop_id: int, action: StopAction) -> ResponseReturnValue:
    """Run a stop action once per Idempotency-Key; a retry gets the first answer again.

    A success is stored by the action inside its own transaction, so two racing retries
    cannot both act: the loser rolls back and replays the winner's answer. A refusal the
    driver caused changes nothing, so it is stored after; a key sent for another action or
    stop is refused.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        status, body = _run(lambda: (200, dataclasses.asdict(action(None))))
        return jsonify(body), status
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters.")
    scope = f"{name}:{stop_id}"
    stored = _stored_answer(g.driver_id, key, scope)
    if stored is not None:
        return stored
    idempotency = proof_of_delivery.Idempotency(driver_id=g.driver_id, key=key, request=scope)
    try:
        status, body = _run(lambda: (200, dataclasses.asdict(action(idempotency))))
    except proof_of_delivery.AlreadyAnswered:
        status, body = 200, {}
    if status == 200:
        # Stored with the action (or by the concurrent request that won).
        return _stored_answer(g.driver_id, key, scope) or (jsonify(body), status)
    text = json.dumps(body)
    svc = services()
    with svc.uow() as uow:
        added = uow.repo.add_idempotent_answer(
            m.IdempotentAnswer(
                driver_id=g.driver_id,
                key=key,
                request=scope,
                status_code=status,
                body=text,
                created_at=svc.clock.now(),
            )
        )
        uow.commit()
    if not added:
        # A concurrent retry stored its answer first: both phones' requests get that one.
        return _stored_answer(g.driver_id, key, scope) or (jsonify(body), status)
    return Response(text, status=status, mimetype="application/json")


def _stored_answer(driver_id: int, key: str, scope: str) -> ResponseReturnValue | None:
    with services().uow() as uow:
        stored = uow.repo.idempotent_answer(driver_id, key)
        if stored is None:
            return None
        if stored.request != scope:
            raise InvalidInput("This Idempotency-Key was used for another request: send a new key.")
        return Response(stored.body, status=stored.status_code, mimetype="application/json")


def _uploads() -> list[PhotoUpload]:
    return [
        PhotoUpload(data=f.read(), declared_type=f.mimetype or "", filename=f.filename or "")
        for f in request.files.getlist("photo")
    ]


def _tracking_numbers(form: Any) -> list[str] | None:
    """Read ``deliveries``: repeated fields or one comma-separated list; None means all."""
    values = form.getlist("deliveries")
    if not values:
        return None
    numbers = [n.strip() for v in values for n in v.split(",")]
    if len(numbers) > MAX_PARCELS_NAMED or any(len(n) > MAX_TRACKING_NUMBER for n in numbers):
        raise InvalidInput("deliveries must be tracking numbers of this stop's parcels.")
    return numbers


@bp.post("/stops/<int:stop_id>/arrived")
@driver_required
def post_arrived(stop_id: int) -> ResponseReturnValue:
    """Mark the driver arrived at one of their stops."""
    body = _optional_body()
    _position(body)
    _recorded_at(body.get("recorded_at"))
    return _answer_once(
        "arrived",
        stop_id,
        lambda key: proof_of_delivery.mark_arrived(
            services(), g.driver_id, stop_id, idempotency=key
        ),
    )


@bp.post("/stops/<int:stop_id>/failed")
@driver_required
def post_failed(stop_id: int) -> ResponseReturnValue:
    """Mark a stop failed with one of the known reasons, an optional note and photo.

    JSON, or multipart/form-data when a photo of the attempt comes with it.
    """
    values = request.form if request.mimetype == "multipart/form-data" else _json_body()
    reason = values.get("reason")
    if not isinstance(reason, str) or reason not in FAILURE_REASONS:
        raise InvalidInput("reason must be one of: " + ", ".join(FAILURE_REASONS) + ".")
    note = _text(values.get("note"), "note", MAX_NOTE)
    text = failure_text(reason, note)
    lat, lng = _position(values)
    taken_at = _recorded_at(values.get("recorded_at"))
    uploads = _uploads() if request.mimetype == "multipart/form-data" else []
    return _answer_once(
        "failed",
        stop_id,
        lambda key: proof_of_delivery.mark_failed(
            services(),
            g.driver_id,
            stop_id,
            text,
            photos=uploads,
            taken_at=taken_at,
            lat=lat,
            lng=lng,
            strict=True,
            idempotency=key,
        ),
    )


@bp.post("/stops/<int:stop_id>/delivered")
@driver_required
def post_delivered(stop_id: int) -> ResponseReturnValue:
    """Mark a stop's parcels (or the named ``deliveries``) delivered, with proof photos."""
    form = request.form
    lat, lng = _position(form)
    taken_at = _recorded_at(form.get("recorded_at"))
    recipient = _text(form.get("recipient_name"), "recipient_name", MAX_RECIPIENT_NAME)
    numbers = _tracking_numbers(form)
    uploads = _uploads()
    return _answer_once(
        "delivered",
        stop_id,
        lambda key: proof_of_delivery.mark_delivered(
            services(),
            g.driver_id,
            stop_id,
            photos=uploads,
            taken_at=taken_at,
            lat=lat,
            lng=lng,
            tracking_numbers=numbers,
            received_by=recipient,
            strict=True,
            idempotency=key,
        ),
    )
