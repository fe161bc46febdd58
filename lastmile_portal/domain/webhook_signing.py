"""Sign outbound webhook bodies, and check a signature the way a receiver should.

The header is ``X-Lastmile-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 with the subscriber's secret over ``f"{t}.".encode() + body`` (the raw bytes
sent). Signing the timestamp with the body lets a receiver refuse an old request replayed
later; the tolerance is the receiver's choice (five minutes by default).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lastmile-Signature"
EVENT_ID_HEADER = "X-Lastmile-Event-Id"
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``f"{timestamp}."`` followed by ``body``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the ``X-Lastmile-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]] | None:
    """Return the timestamp and the v1 signatures of a header, or None if it is malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not value.isdigit():
                return None
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    secret: str, header: str, body: bytes | str, now: float, tolerance_s: float = 300
) -> bool:
    """Return whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``.

    ``now`` is the receiver's clock in Unix seconds (``time.time()``); ``body`` must be
    the raw request body, not re-serialised JSON. Comparison is constant-time.
    """
    parsed = parse_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs(now - timestamp) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = signature(secret, timestamp, raw).encode()
    # Check every v1 value (no early exit), so timing says nothing about which matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched
