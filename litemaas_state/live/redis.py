"""Redis readiness: a PING through redis-py when REDIS_URL is known (the runbook checks Redis before
scaling LiteLLM beyond 1 replica)."""

from __future__ import annotations

import redis


def ping(url: str, timeout_s: float = 2.0) -> bool:
    """True when the server answers PING; False on any connection or auth error."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False
