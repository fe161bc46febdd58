"""The integration API a carrier's systems call: announce, read and cancel parcels (API keys)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..domain.errors import InvalidInput
from ..domain.intake import FieldErrors
from ..extensions import csrf
from ..services import api_keys, day_jobs, intake
from . import limits as rate_limits
from . import services

bp = Blueprint("integration_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer keys, not cookies: no cross-site request can carry them

F = TypeVar("F", bound=Callable[..., Any])
MAX_BODY_BYTES = 64 * 1024  # one announcement with its longest fields is under 4 KB


def key_required(scope: str) -> Callable[[F], F]:
    """Let the request through with an API key allowing ``scope`` (401 or 403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            request.max_content_length = MAX_BODY_BYTES
            key = rate_limits.bearer_token(request.headers.get("Authorization"))
            # Over the address's budget of wrong keys: 429 before the key is looked up.
            with rate_limits.token_check():
                g.api_key = api_keys.authenticate_api_key(services(), key, scope)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


@bp.errorhandler(FieldErrors)
def field_errors(error: FieldErrors) -> ResponseReturnValue:
    """Answer a refused announcement with every bad field, so it can be fixed in one go."""
    return jsonify({"error": error.message, "status": 422, "fields": error.errors}), 422


@bp.errorhandler(intake.ReferenceClash)
def reference_clash(error: intake.ReferenceClash) -> ResponseReturnValue:
    """Answer 409 naming the parcel the reference already stands for."""
    body = {"error": error.message, "status": 409, "tracking_number": error.tracking_number}
    return jsonify(body), 409


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@bp.post("/deliveries")
@key_required("deliveries:write")
def post_delivery() -> ResponseReturnValue:
    """Announce one parcel; the same ``reference`` again answers the same (idempotent)."""
    body = request.get_json(silent=True)
    answer = intake.announce_delivery(services(), body)
    out = _json(answer)
    replayed = out.pop("replayed")
    response = jsonify(out)
    response.status_code = 201
    response.headers["Location"] = url_for(
        "integration_api.get_delivery", tracking_number=answer.tracking_number
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/deliveries/<tracking_number>")
@key_required("deliveries:read")
def get_delivery(tracking_number: str) -> ResponseReturnValue:
    """Return a parcel's status, window, ETA and proof photos."""
    return jsonify(_json(intake.delivery_info(services(), tracking_number)))


@bp.get("/deliveries/<tracking_number>/photos/<int:photo_id>")
@key_required("deliveries:read")
def get_proof_photo(tracking_number: str, photo_id: int) -> ResponseReturnValue:
    """Return one proof photo of the parcel (JPEG, EXIF stripped)."""
    data = intake.proof_photo(services(), tracking_number, photo_id)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/deliveries/<tracking_number>/cancel")
@key_required("deliveries:write")
def post_cancel(tracking_number: str) -> ResponseReturnValue:
    """Cancel a parcel not yet out for delivery (a repeat answers the same)."""
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    text = reason.strip()[:200] if isinstance(reason, str) else ""
    return jsonify(_json(intake.cancel_delivery(services(), tracking_number, text)))


# ------------------------------------------------------------ the day (issue 13)


@bp.post("/depots/<code>/plan")
@key_required("routes:write")
def post_plan(code: str) -> ResponseReturnValue:
    """Queue the planning of a depot's day; answer 202 with the job to poll."""
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise InvalidInput('The body must be JSON, e.g. {"date": "2026-12-03"}, or empty.')
    body = body or {}
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    job = day_jobs.request_plan(services(), code, _service_date(body.get("date")))
    response = jsonify(_job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("integration_api.get_job", job_id=job.id)
    return response


@bp.get("/jobs/<int:job_id>")
@key_required("routes:write")
def get_job(job_id: int) -> ResponseReturnValue:
    """Return a planning job's state, progress and, once done, its routes and dropped parcels."""
    return jsonify(_job_json(day_jobs.job_info(services(), job_id)))


@bp.post("/routes/<int:route_id>/dispatch")
@key_required("routes:write")
def post_dispatch(route_id: int) -> ResponseReturnValue:
    """Send a planned route out: its parcels go out for delivery, their recipients are texted."""
    return jsonify(_json(day_jobs.dispatch(services(), route_id)))


def _service_date(value: object) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if isinstance(value, str) else _bad_date(value)
    except ValueError:
        return _bad_date(value)


def _bad_date(value: object) -> date:
    raise InvalidInput(f"date must be a day like 2026-12-03, not {value!r}.")


def _job_json(job: day_jobs.JobInfo) -> dict[str, Any]:
    out: dict[str, Any] = _json(job)
    out["url"] = url_for("integration_api.get_job", job_id=job.id)
    return out
