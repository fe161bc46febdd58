"""POST webhooks to subscribers over HTTP with the standard library (no extra dependency)."""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

from ..domain.webhooks import WebhookResponse

USER_AGENT = "LastmilePortal-Webhooks/1"
# Enough of an answer to log; the body of a subscriber's answer is never stored.
MAX_READ = 4096


class HttpWebhookTransport:
    """Send each webhook as one POST on a fresh connection; redirects are not followed.

    Not following redirects keeps a signed body from being replayed to a URL the operator
    never subscribed; a 3xx counts as a failed try, like any non-2xx answer.
    """

    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> WebhookResponse:
        """POST ``body`` to ``url``; return the status, or no status and why."""
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=timeout_s,
                context=ssl.create_default_context(),
            )
        elif parts.scheme == "http":
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=timeout_s
            )
        else:
            return WebhookResponse(None, f"unsupported URL scheme {parts.scheme!r}")
        try:
            connection.request(
                "POST",
                path,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    **headers,
                },
            )
            response = connection.getresponse()
            response.read(MAX_READ)
            return WebhookResponse(response.status)
        except TimeoutError:
            return WebhookResponse(None, f"no answer within {timeout_s:g} s")
        except ssl.SSLError as error:
            return WebhookResponse(None, f"TLS error: {error.reason or error}")
        except (OSError, http.client.HTTPException) as error:
            return WebhookResponse(None, _describe(error))
        finally:
            connection.close()


def _describe(error: Exception) -> str:
    if isinstance(error, socket.gaierror):
        return f"host not found ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
