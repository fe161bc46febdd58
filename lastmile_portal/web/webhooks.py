"""Twilio's webhooks: texts from recipients and status reports on ours, signature-checked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, request
from flask.typing import ResponseReturnValue

from ..adapters.twilio_sms import is_opt_out_code, signature_is_valid, twiml_reply
from ..domain.errors import InvalidInput
from ..extensions import csrf
from ..services import inbound_sms, notifications
from . import services, settings

log = logging.getLogger("lastmile.web")

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")
csrf.exempt(bp)  # Twilio cannot send a CSRF token; its signature proves the sender instead

F = TypeVar("F", bound=Callable[..., Any])


def public_url() -> str:
    """Return the URL Twilio called: PUBLIC_BASE_URL, not whatever a proxy made of it."""
    query = request.query_string.decode()
    return settings().public_base_url + request.path + (f"?{query}" if query else "")


def twilio_signed(view: F) -> F:
    """Reject (403) a request without a valid ``X-Twilio-Signature`` for the public URL."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        cfg = settings()
        params = request.get_data(as_text=True) if request.is_json else request.form
        if not signature_is_valid(
            public_url(),
            params,
            request.headers.get("X-Twilio-Signature"),
            auth_token=cfg.twilio_auth_token,
            signing_key=cfg.twilio_webhook_signing_key,
            signature_settings=request.headers.get("X-Twilio-Webhooks-Signature-Settings"),
        ):
            log.warning("Rejected a Twilio webhook without a valid signature: %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@bp.post("/sms")
@twilio_signed
def inbound() -> ResponseReturnValue:
    """Answer a recipient's text in TwiML (STOP, START, HELP, ETA, SAFE ..., a rating)."""
    form = request.form
    reply = inbound_sms.receive_sms(
        services(),
        provider_sid=form.get("MessageSid", "").strip(),
        from_phone=form.get("From", ""),
        body=form.get("Body", ""),
    )
    return Response(twiml_reply(reply), mimetype="text/xml")


@bp.post("/status")
@twilio_signed
def status() -> ResponseReturnValue:
    """Record a status report on one of our texts (queued, sent, delivered, failed...)."""
    form = request.form
    sid = form.get("MessageSid", "").strip()
    if not sid or not form.get("MessageStatus"):
        raise InvalidInput("MessageSid and MessageStatus are required.")
    outbox_id = request.args.get("m", "")
    error_code = form.get("ErrorCode") or None
    notifications.record_status(
        services(),
        provider_sid=sid,
        status=form["MessageStatus"],
        error_code=error_code,
        outbox_id=int(outbox_id) if outbox_id.isdigit() else None,
        opted_out=is_opt_out_code(error_code),
    )
    return "", 204
