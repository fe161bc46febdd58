"""Twilio: send texts with the real client, check webhook signatures, answer in TwiML."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from ..domain.sms import SmsSendError

log = logging.getLogger("lastmile.sms")

# Twilio error codes that retrying cannot fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {
    21211,  # invalid 'To' number
    21408,  # no permission to send to that region
    21610,  # the recipient replied STOP to this sender
    21612,  # no route from this sender to that number
    21614,  # 'To' is not a mobile number
}
OPTED_OUT_CODES = {21610}
# Credentials or account trouble is ours to fix; keep retrying (with backoff) meanwhile.
RETRY_HTTP = {401, 403, 408, 429}
# How far back to look for a text that may have gone out: clocks differ a little.
CLOCK_SKEW = timedelta(minutes=5)


class ApiBaseHttpClient(TwilioHttpClient):
    """Send the client's requests to another address (``TWILIO_API_BASE``, a local fake).

    Only scheme and host change: paths, parameters, authentication and parsing stay the
    real client's, so tests exercise exactly what production sends.
    """

    def __init__(self, api_base: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(api_base.rstrip("/"))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Rewrite ``url`` onto the configured base, then send it as usual."""
        parts = urlsplit(url)
        url = urlunsplit(
            (self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, "")
        )
        return super().request(method, url, *args, **kwargs)


class TwilioSmsGateway:
    """Send texts through Twilio's Messages API from a number or a messaging service."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str = "",
        messaging_service_sid: str = "",
        api_base: str = "",
        timeout: float = 10.0,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("a sender number or a messaging service is needed")
        http = (
            ApiBaseHttpClient(api_base, timeout) if api_base else TwilioHttpClient(timeout=timeout)
        )
        self.client = Client(account_sid, auth_token, http_client=http)
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Hand one text to Twilio and return its message SID."""
        sender: dict[str, str] = (
            {"messaging_service_sid": self.messaging_service_sid}
            if self.messaging_service_sid
            else {"from_": self.from_number}
        )
        if status_callback:
            sender["status_callback"] = status_callback
        try:
            message = self.client.messages.create(to=to, body=body, **sender)
        except TwilioRestException as error:
            raise _rest_error(error) from error
        except (RequestException, TwilioException) as error:
            # No answer is not a "no": the request may have arrived. Look before resending.
            raise SmsSendError(f"no answer from Twilio: {error}", in_doubt=True) from error
        return str(message.sid)

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Return the SID of a text with this body sent to ``to`` since ``since``, if any."""
        try:
            recent = self.client.messages.list(to=to, limit=20)
        except TwilioRestException as error:
            raise _rest_error(error, in_doubt=True) from error
        except (RequestException, TwilioException) as error:
            raise SmsSendError(f"could not ask Twilio: {error}", in_doubt=True) from error
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since - CLOCK_SKEW):
                return str(message.sid)
        return None


def _rest_error(error: TwilioRestException, in_doubt: bool = False) -> SmsSendError:
    code = error.code
    text = f"Twilio {error.status}" + (f" error {code}" if code else "") + f": {error.msg}"
    if code in OPTED_OUT_CODES:
        return SmsSendError(text, opted_out=True)
    permanent = code in PERMANENT_CODES or (
        400 <= error.status < 500 and error.status not in RETRY_HTTP
    )
    return SmsSendError(
        text,
        permanent=permanent and not in_doubt,
        in_doubt=in_doubt,
        rate_limited=error.status == 429,
    )


# ---------------------------------------------------------------- webhooks


def signature_is_valid(
    url: str,
    params: Mapping[str, Any],
    signature: str | None,
    *,
    auth_token: str,
    signing_key: str = "",
    signature_settings: str | None = None,
) -> bool:
    """Check ``X-Twilio-Signature`` for a request to ``url`` (the public URL Twilio called).

    Twilio signs with the account's auth token (HMAC-SHA1), or, when a Webhook Rule applies,
    with a shared key and the algorithm named in ``X-Twilio-Webhooks-Signature-Settings``.
    """
    if not signature:
        return False
    try:
        return _signature_matches(
            url, params, signature, auth_token, signing_key, signature_settings
        )
    except (ValueError, TypeError, KeyError, UnicodeError) as error:
        # A forged header the validator cannot even read is just another bad signature.
        log.warning("Unreadable Twilio signature headers: %s", error)
        return False


def _signature_matches(
    url: str,
    params: Mapping[str, Any],
    signature: str,
    auth_token: str,
    signing_key: str,
    signature_settings: str | None,
) -> bool:
    if signature_settings:
        if not signing_key:
            log.error(
                "Twilio signed a webhook with a shared key; set TWILIO_WEBHOOK_SIGNING_KEY "
                "to accept it"
            )
            return False
        algorithm = get_signature_algorithm(signature_settings)
        return bool(RequestValidator(signing_key).validate(url, params, signature, algorithm))
    if not auth_token:
        log.error("A Twilio webhook arrived but TWILIO_AUTH_TOKEN is not set: cannot verify it")
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def twiml_reply(text: str | None) -> str:
    """Return the TwiML that answers an inbound text with ``text`` (or with nothing)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def is_opt_out_code(code: str | None) -> bool:
    """Return whether a status callback's ErrorCode means the recipient opted out."""
    text = (code or "").strip()
    return text.isascii() and text.isdecimal() and int(text) in OPTED_OUT_CODES
