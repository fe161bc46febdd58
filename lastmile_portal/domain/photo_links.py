"""Short-lived signed links to proof photos: who may open which photo, in which size, until when.

A link names its audience ("recipient" on the tracking page, "staff" on the support pages),
the delivery, the photo, the size and when it expires. An HMAC-SHA256 over exactly those,
with a key derived from SECRET_KEY, proves that we made it, so nothing is stored per link and
no photo can be reached by guessing its id. A new SECRET_KEY voids every link out there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

AUDIENCES = frozenset({"recipient", "staff"})
SIZES = frozenset({"full", "thumb"})
# Keeps the key for links apart from any other use of SECRET_KEY (sessions, CSRF, ciphers).
KEY_PURPOSE = b"lastmile-portal proof photo links v1"


class LinkCheck(StrEnum):
    """What a link turned out to be."""

    VALID = "valid"
    EXPIRED = "expired"  # ours, for this very photo, but too old
    INVALID = "invalid"  # not ours, or for another audience, delivery, photo or size


def derive_key(secret_key: str) -> bytes:
    """Return the links' own 32-byte key, derived from the app's secret key."""
    return hmac.new(secret_key.encode(), KEY_PURPOSE, hashlib.sha256).digest()


def _digest(
    key: bytes, audience: str, delivery_id: int, photo_id: int, size: str, expires: int
) -> str:
    # A separator no field can contain: ("1", "23") and ("12", "3") sign differently.
    message = f"{audience}\n{delivery_id}\n{photo_id}\n{size}\n{expires}".encode()
    raw = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(
    key: bytes,
    *,
    audience: str,
    delivery_id: int,
    photo_id: int,
    size: str,
    now: float,
    ttl_s: int,
) -> tuple[int, str]:
    """Return (expires, sig) for a link valid ``ttl_s`` seconds from ``now`` (unix seconds)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}")
    if ttl_s < 1:
        raise ValueError("a link must live at least a second")
    expires = int(now) + ttl_s
    return expires, _digest(key, audience, delivery_id, photo_id, size, expires)


def check(
    key: bytes,
    *,
    audience: str,
    delivery_id: int,
    photo_id: int,
    size: str,
    expires: int,
    sig: str,
    now: float,
) -> LinkCheck:
    """Say whether ``sig`` is ours for exactly these values, and whether it is still fresh.

    The signature is compared in constant time and checked before the expiry, so a forged
    link is INVALID whatever expiry it claims: only a real link can be told it is EXPIRED.
    """
    if audience not in AUDIENCES or size not in SIZES or not sig.isascii():
        return LinkCheck.INVALID
    expected = _digest(key, audience, delivery_id, photo_id, size, expires)
    if not hmac.compare_digest(expected, sig):
        return LinkCheck.INVALID
    return LinkCheck.VALID if now < expires else LinkCheck.EXPIRED


def verify(
    key: bytes,
    *,
    audience: str,
    delivery_id: int,
    photo_id: int,
    size: str,
    expires: int,
    sig: str,
    now: float,
) -> bool:
    """Return whether the link is ours for exactly these values and has not expired."""
    return (
        check(
            key,
            audience=audience,
            delivery_id=delivery_id,
            photo_id=photo_id,
            size=size,
            expires=expires,
            sig=sig,
            now=now,
        )
        is LinkCheck.VALID
    )
