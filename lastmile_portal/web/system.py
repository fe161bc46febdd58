"""Operational endpoints: health."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..extensions import limiter
from . import services, settings

bp = Blueprint("system", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> ResponseReturnValue:
    """Report each dependency's state; 503 when one the portal needs is down."""
    svc = services()
    checks = {name: check() for name, check in svc.health_checks.items()}
    cfg = settings()
    ok = all(state == "ok" for state in checks.values())
    body = {
        "status": "ok" if ok else "degraded",
        "checks": checks,
        "jobs": svc.jobs.name,
        "sms": svc.sms.name,
        "database": cfg.database_url.split(":", 1)[0].split("+", 1)[0],
        "socketio_message_queue": bool(cfg.socketio_message_queue),
    }
    return jsonify(body), 200 if ok else 503
