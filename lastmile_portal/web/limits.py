"""Rate limits outside Flask-Limiter's decorators, counted in its storage.

Socket.IO events never pass Flask-Limiter's before-request check, and a wrong token is
only known after the lookup; both are counted here, with the limiter's own strategy and
storage (RATELIMIT_STORAGE_URI: memory in development, Redis when configured), so every
process shares the counters and a decorator's ``shared_limit`` can share a bucket too.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from flask import Response, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.http import parse_date

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


@dataclass(frozen=True)
class Counted:
    """One attempt counted against a rate, and the limit the rate-limit headers describe."""

    allowed: bool
    item: RateLimitItem | None = None  # the exceeded limit, else the shortest; None: limits off
    identifiers: tuple[str, ...] = ()


def hit(rate: str, scope: str, key: str) -> bool:
    """Count one attempt by ``key`` in ``scope``; return whether it is within ``rate``.

    ``rate`` is a setting like "60 per minute" (several joined by ";" all apply).
    """
    return count(rate, scope, key).allowed


def count(rate: str, scope: str, key: str) -> Counted:
    """Count one attempt like ``hit`` and keep what ``add_headers`` needs to answer it."""
    if not limiter.enabled:
        return Counted(True)
    ids = _identifiers(scope, key)
    items = _items(rate)
    # Like Flask-Limiter: the shortest window first, stop at the first one exceeded.
    for item in items:
        if not _hit_one(item, ids):
            return Counted(False, item, ids)
    return Counted(True, items[0], ids)


def add_headers(response: Response, counted: Counted) -> None:
    """Add the X-RateLimit-* and Retry-After headers Flask-Limiter gives a decorated view.

    Same names and values (RATELIMIT_HEADERS_ENABLED): the limit, what is left of it after
    this attempt, when its window ends, and the seconds until then or until an earlier
    Retry-After (a refused token), whichever is later.
    """
    item = counted.item
    if item is None or not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        return
    reset, remaining = limiter.limiter.get_window_stats(item, *counted.identifiers)
    reset_at = int(reset + 1)
    response.headers.add("X-RateLimit-Limit", str(item.amount))
    response.headers.add("X-RateLimit-Remaining", str(remaining))
    response.headers.add("X-RateLimit-Reset", str(reset_at))
    existing = response.headers.get("Retry-After")
    if existing is not None:  # a refused token's: seconds, or an HTTP date
        when = parse_date(existing)
        later = when.timestamp() if when is not None else time.time() + int(existing)
        reset_at = max(int(later), reset_at)
    response.headers.set("Retry-After", str(int(reset_at - time.time())))


def _hit_one(item: RateLimitItem, ids: tuple[str, ...]) -> bool:
    storage = limiter.storage
    if type(storage) is MemoryStorage and type(limiter.limiter) is FixedWindowRateLimiter:
        return _memory_incr(storage, item.key_for(*ids), item.get_expiry()) <= item.amount
    return bool(limiter.limiter.hit(item, *ids))


# memory:// sweeps expired keys this often at least (its own timer, started by one hit).
SWEEP_EVERY_S = 10.0
_next_sweep = 0.0


def _memory_incr(storage: MemoryStorage, key: str, expiry: int) -> int:
    """Count a fixed-window hit in ``memory://`` as ``MemoryStorage.incr`` does, mostly timerless.

    ``incr`` starts a ``threading.Timer`` (10 ms) to sweep expired keys on every hit that
    finds none running: with a ping every 20 ms, a new thread per ping. Here one hit per
    SWEEP_EVERY_S goes through ``incr`` (so the sweep still runs); the others change the
    same counters under the same lock without it. A key's ended window is dropped when
    the key is next read either way (``get``).
    """
    global _next_sweep
    now = time.time()
    if now >= _next_sweep:
        _next_sweep = now + SWEEP_EVERY_S
        return storage.incr(key, expiry)
    storage.get(key)  # drops the count of a window that has ended
    with storage.locks[key]:
        storage.storage[key] += 1
        if storage.storage[key] == 1:
            storage.expirations[key] = now + expiry
        return storage.storage.get(key, 0)


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
