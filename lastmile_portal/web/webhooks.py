"""Twilio's webhooks: texts from recipients and status reports on ours, signature-checked."""

from __future__ import annotations

import logging
import re
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

# The shapes of the form fields we read (ASCII only: str.isdigit() also takes "²" and "٣").
SID = re.compile(r"[A-Za-z0-9]{2,64}")  # MessageSid: two letters and 32 hex digits today
PHONE = re.compile(r"[+0-9A-Za-z :()./-]{1,32}")  # a number or a short code; normalised later
STATUS = re.compile(r"[a-z_-]{1,32}")
ERROR_CODE = re.compile(r"[0-9]{1,10}")
OUTBOX_ID = re.compile(r"[0-9]{1,18}")  # fits a 64-bit id


def _field(name: str, shape: re.Pattern[str], *, required: bool = True) -> str:
    """Return form field ``name`` if it has ``shape``; a missing or odd one is a 422."""
    value = request.form.get(name, "").strip()
    if not value and not required:
        return ""
    if not shape.fullmatch(value):
        raise InvalidInput(f"{name} is missing or malformed.")
    return value


def public_url() -> str:
    """Return the URL Twilio called: PUBLIC_BASE_URL, not whatever a proxy made of it."""
    query = request.query_string.decode()
    return settings().public_base_url + request.path + (f"?{query}" if query else "")


def twilio_signed(view: F) -> F:
    """Reject (403) a request without a valid ``X-Twilio-Signature`` for the public URL."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        cfg = settings()
        if request.mimetype != "application/x-www-form-urlencoded":
            # Twilio posts its messaging webhooks as a form; nothing else can be signed here.
            log.warning("Rejected a Twilio webhook that is not a form post: %s", request.path)
            abort(403)
        if not signature_is_valid(
            public_url(),
            request.form,
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
    reply = inbound_sms.receive_sms(
        services(),
        provider_sid=_field("MessageSid", SID),
        from_phone=_field("From", PHONE),
        body=request.form.get("Body", ""),
    )
    return Response(twiml_reply(reply), mimetype="text/xml")


@bp.post("/status")
@twilio_signed
def status() -> ResponseReturnValue:
    """Record a status report on one of our texts (queued, sent, delivered, failed...)."""
    error_code = _field("ErrorCode", ERROR_CODE, required=False) or None
    outbox_id = request.args.get("m", "")
    notifications.record_status(
        services(),
        provider_sid=_field("MessageSid", SID),
        status=_field("MessageStatus", STATUS),
        error_code=error_code,
        # Our own callback URL carries it; anything else there is not ours and is ignored.
        outbox_id=int(outbox_id) if OUTBOX_ID.fullmatch(outbox_id) else None,
        opted_out=is_opt_out_code(error_code),
    )
    return "", 204
