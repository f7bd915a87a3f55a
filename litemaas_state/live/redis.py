"""Redis readiness: a PING through redis-py when REDIS_URL is known (the runbook checks Redis before
scaling LiteLLM beyond 1 replica).

A refused or timed-out connection means "not ready" (a finding about the deployment); a bad URL or a
rejected password is the caller's configuration, reported as such.
"""

from __future__ import annotations

import redis

from litemaas_state.errors import ConfigError


def ping(url: str, timeout_s: float = 2.0) -> tuple[bool, str]:
    """(answered, detail). True when the server answers PING.

    Raises:
        ConfigError: REDIS_URL cannot be parsed, or the server rejects its credentials.
    """
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL / --redis-url is not a valid Redis URL ({str(exc)[:120]})") from None
    try:
        return bool(client.ping()), "PONG"
    except redis.AuthenticationError:
        raise ConfigError("Redis rejected the credentials in REDIS_URL / --redis-url (authentication failed)") \
            from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ConfigError("Redis needs a password that REDIS_URL / --redis-url does not give") from None
        return False, f"PING answered an error ({str(exc)[:80]})"
    except (redis.RedisError, OSError) as exc:
        return False, f"PING failed ({type(exc).__name__})"
    finally:
        client.close()
