"""Ask Redis whether it is there."""

from __future__ import annotations

import redis


def check_redis(url: str) -> str:
    """Return "ok" if Redis at ``url`` answers PING within a second, else a short reason."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return "ok"
    except redis.RedisError as error:
        return f"error: {error}"
