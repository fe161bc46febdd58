"""Rate limits outside Flask-Limiter's decorators, counted in its storage.

Socket.IO events never pass Flask-Limiter's before-request check, and a wrong token is
only known after the lookup; both are counted here, with the limiter's own strategy and
storage (RATELIMIT_STORAGE_URI: memory in development, Redis when configured), so every
process shares the counters and a decorator's ``shared_limit`` can share a bucket too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from flask import current_app, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from ..domain.errors import DomainError
from ..extensions import limiter
from . import settings
from .errors import MESSAGES

# Scopes (bucket names). DRIVER_PINGS is also the HTTP endpoint's shared_limit scope, so
# pings over HTTP and over the /driver socket spend one budget per driver token.
DRIVER_PINGS = "driver-pings"
LIVE_CONNECTS = "live-connects"
TOKEN_FAILURES = "token-failures"
RESYNCS = "live-resyncs"

TOO_MANY = MESSAGES[429]


class TooManyFailures(TooManyRequests):
    """Raise when a client address has used up its budget of wrong tokens."""

    description = TOO_MANY


def hit(rate: str, scope: str, key: str) -> bool:
    """Count one attempt by ``key`` in ``scope``; return whether it is within ``rate``.

    ``rate`` is a setting like "60 per minute" (several joined by ";" all apply).
    """
    if not limiter.enabled:
        return True
    strategy = limiter.limiter
    ids = _identifiers(scope, key)
    # Like Flask-Limiter: the shortest window first, stop at the first one exceeded.
    return all(strategy.hit(item, *ids) for item in _items(rate))


def within(rate: str, scope: str, key: str) -> bool:
    """Return whether ``key`` has budget left in ``scope`` under ``rate``, spending none."""
    if not limiter.enabled:
        return True
    strategy = limiter.limiter
    ids = _identifiers(scope, key)
    return all(strategy.test(item, *ids) for item in _items(rate))


def client_address() -> str:
    """Return the client's address (ProxyFix has applied X-Forwarded-For when trusted)."""
    return f"addr:{request.remote_addr or 'unknown'}"


def token_key(token: str) -> str:
    """Return the limit key for a token: a hash prefix, so the storage never holds a token."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def bearer_token(header: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, or None.

    The scheme is case-insensitive and whitespace around both parts is ignored; the
    driver API authenticates and rate-limits this same normalised token.
    """
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def driver_key(header: str | None) -> str:
    """Return the driver API's limit key: the hashed bearer token, or the client address."""
    token = bearer_token(header)
    return token_key(token) if token else client_address()


def driver_rate_limit() -> str:
    """Return the per-driver ping budget (for the HTTP endpoint's decorator)."""
    return settings().driver_rate_limit


@contextmanager
def token_check() -> Iterator[None]:
    """Guard a token lookup with the client address's budget of wrong tokens.

    Raise TooManyFailures before the block runs (so nothing is looked up) once the address
    has spent AUTH_FAILURE_RATE_LIMIT; a DomainError raised in the block (the token was
    refused) is counted against that budget and re-raised.
    """
    rate = settings().auth_failure_rate_limit
    address = client_address()
    if not within(rate, TOKEN_FAILURES, address):
        # At the latest, the longest window of the budget has passed by then.
        raise TooManyFailures(retry_after=max(item.get_expiry() for item in _items(rate)))
    try:
        yield
    except DomainError:
        hit(rate, TOKEN_FAILURES, address)
        raise


@lru_cache(maxsize=64)
def _items(rate: str) -> tuple[RateLimitItem, ...]:
    # Parsed once per setting: this runs on every ping.
    return tuple(sorted(parse_many(rate)))


def _identifiers(scope: str, key: str) -> tuple[str, ...]:
    # Flask-Limiter's order (prefix, key, scope), so its shared_limit(scope=...) is this bucket.
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    return (prefix, key, scope) if prefix else (key, scope)
