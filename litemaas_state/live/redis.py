"""Redis readiness: a PING through redis-py when REDIS_URL is known (the runbook checks Redis before
scaling LiteLLM beyond 1 replica).

A refused or timed-out connection means "not ready" (a finding about the deployment); a bad URL or a
rejected password is the caller's configuration, reported as such.
"""

from __future__ import annotations

import redis

from litemaas_state.errors import ConfigError


def ping(url: str, timeout_s: float = 2.0, *, discovered: bool = False) -> tuple[bool, str]:
    """(answered, detail). True when the server answers PING.

    ``discovered``: the URL was not given but built from the cluster (Service litellm-redis, the redis
    Deployment's REDIS_PASSWORD if any); then a NOAUTH answer still proves the server is up (readiness only).

    Raises:
        ConfigError: REDIS_URL cannot be parsed, or the server rejects its credentials.
    """
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL / --redis-url is not a valid Redis URL ({str(exc)[:120]})") from exc
    try:
        return bool(client.ping()), "PONG"
    except redis.AuthenticationError as exc:
        if discovered:
            return True, "answered (authentication needed: set REDIS_URL to PING)"
        raise ConfigError("Redis rejected the credentials in REDIS_URL / --redis-url (authentication failed)") \
            from exc
    except redis.ResponseError as exc:
        if discovered and ("NOAUTH" in str(exc) or "WRONGPASS" in str(exc)):
            return True, "answered (NOAUTH: the password is not in the redis Deployment; set REDIS_URL to PING)"
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ConfigError("Redis needs a password that REDIS_URL / --redis-url does not give") from exc
        return False, f"PING answered an error ({str(exc)[:80]})"
    except (redis.RedisError, OSError) as exc:
        return False, f"PING failed ({type(exc).__name__})"
    finally:
        client.close()
