"""The LiteLLM admin API client (httpx): endpoint paths, key listing, health. Shared with apply/keys.py.

Behaviour held to docs/litellm-api.md and docs/deployment-facts.md §5: Bearer master key; ``/key/list``
with ``size`` ≤ 100 (else 422), ``return_full_object=true``, paged until ``total_pages`` — all pages are
collected before anything is deleted, because deleting while paging forward skips rows; timestamps come
as ``…T09:13:56.683000Z`` or ``…:56Z``; ``/health/liveliness`` answers the JSON string ``"I'm alive!"``;
readiness is judged by ``db == "connected"``, not ``status == "healthy"`` (1.81 says ``"connected"``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx

from litemaas_state.errors import ObserveError
from litemaas_state.live.model import VirtualKey
from litemaas_state.timestamps import parse_utc

KEY_LIST = "/key/list"
KEY_DELETE = "/key/delete"
KEY_INFO = "/key/info"
HEALTH_LIVELINESS = "/health/liveliness"
HEALTH_READINESS = "/health/readiness"
PAGE_SIZE = 100  # the server's maximum (size=101 → 422)
TIMEOUT_S = 30.0


def make_client(base_url: str, master_key: str, pool: int = 1) -> httpx.Client:
    """An httpx client for the admin API (the key travels only in the Authorization header); ``pool``:
    keep-alive connections for that many threads sharing it (httpx.Client is thread-safe).

    Raises:
        ObserveError: the URL is not an http(s) URL httpx can use.
    """
    try:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("expected http(s)://host[:port]")
        limits = httpx.Limits(max_connections=max(pool, 1) * 2, max_keepalive_connections=max(pool, 1) * 2)
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {master_key}"}, timeout=TIMEOUT_S,
                            limits=limits)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ObserveError("litellm-api", f"the LiteLLM URL {base_url!r} is not usable: {exc}") from exc


def parse_time(value: Any) -> datetime | None:
    """LiteLLM's JSON datetime (UTC, ``Z`` or offset, any sub-second precision) → aware datetime."""
    return parse_utc(value)


def transport_reason(exc: httpx.HTTPError) -> str:
    """``ConnectError: [Errno 111] Connection refused`` and the like (no URL credentials: scrubbed)."""
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_text(resp: httpx.Response) -> str:
    """A short, secret-free description of an error response (LiteLLM's error.message or FastAPI detail).

    LiteLLM echoes parts of keys in some messages (litellm#18731); callers' output is scrubbed as well.
    """
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            # LiteLLM's 401 repeats the tail of the rejected key and its hash: keep only the first clause
            message = str(err["message"]).split(" Received API Key", 1)[0].rstrip(" .,")
            return f"HTTP {resp.status_code}: {message[:200]}"
        if "detail" in body:
            return f"HTTP {resp.status_code}: {str(body['detail'])[:200]}"
    return f"HTTP {resp.status_code}"


def _text(value: Any) -> str | None:
    """A JSON value that should be a string: None stays None, anything else becomes its text (hostile input
    must not smuggle other types into the planner)."""
    return value if value is None or isinstance(value, str) else str(value)


def key_from_json(obj: dict[str, Any], same: dict[Any, Any] | None = None) -> VirtualKey:
    """One /key/list full object → VirtualKey. ``same``: a dict sharing repeated strings (owners, teams,
    durations, creators) between the keys of one listing, so 100,000 keys hold each once."""
    share = (same if same is not None else {}).setdefault
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    created_by = meta.get("created_by")
    duration = meta.get("duration")
    user_id, team_id = _text(obj.get("user_id")), _text(obj.get("team_id"))
    return VirtualKey(
        token_hash=str(obj.get("token") or ""),
        alias=_text(obj.get("key_alias")),
        user_id=share(user_id, user_id),
        team_id=share(team_id, team_id),
        created_at=parse_time(obj.get("created_at")),
        expires=parse_time(obj.get("expires")),
        duration=share(duration, duration) if isinstance(duration, str) else duration,
        created_by=share(str(created_by), str(created_by)) if created_by is not None else None,
    )


def list_keys(client: httpx.Client) -> tuple[VirtualKey, ...]:
    """Every virtual key (all pages of /key/list, full objects). Dashboard keys are left out by LiteLLM.
    A row created while paging may repeat on the next page: each token is kept once.

    Raises:
        ObserveError: transport error, a non-200 answer, or an unexpected body.
    """
    by_token: dict[str, VirtualKey] = {}
    same: dict[Any, Any] = {}
    page, pages = 1, 1
    while page <= pages:
        body = _get_json(client, {"return_full_object": "true", "size": PAGE_SIZE, "page": page})
        for k in body["keys"]:
            if isinstance(k, dict):
                key = key_from_json(k, same)
                by_token[key.token_hash] = key
        try:
            total = int(body.get("total_count") or 0)
            pages = int(body.get("total_pages") or math.ceil(total / PAGE_SIZE))
        except (TypeError, ValueError) as exc:
            raise ObserveError("litellm-api", f"GET {KEY_LIST}: unexpected total_pages") from exc
        page += 1
    return tuple(by_token.values())


def _get_json(client: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    try:
        resp = client.get(KEY_LIST, params=params)
    except httpx.HTTPError as exc:
        raise ObserveError("litellm-api", f"GET {client.base_url}{KEY_LIST}: {transport_reason(exc)}") from exc
    if resp.status_code != 200:
        raise ObserveError("litellm-api", f"GET {client.base_url}{KEY_LIST}: {error_text(resp)}")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ObserveError("litellm-api", f"GET {KEY_LIST}: unexpected answer (no 'keys' list)")
    return body


def newest_tokens(client: httpx.Client, size: int = PAGE_SIZE) -> tuple[list[str], int]:
    """(the tokens of /key/list's first page in LiteLLM's default order ``created_at desc, token desc``,
    ``total_count``): one request, tokens only (no ``return_full_object``).

    Raises:
        ObserveError: transport error, a non-200 answer, or an unexpected body.
    """
    body = _get_json(client, {"size": size, "page": 1})
    tokens = [str(t) for t in body["keys"] if isinstance(t, str) and t]
    try:
        total = int(body.get("total_count") or 0)
    except (TypeError, ValueError) as exc:
        raise ObserveError("litellm-api", f"GET {KEY_LIST}: unexpected total_count") from exc
    return tokens, total


def existing_tokens(client: httpx.Client, tokens: list[str]) -> set[str]:
    """Which of ``tokens`` still exist, asked one by one with the exact-match ``key_hash`` filter."""
    found: set[str] = set()
    for t in tokens:
        try:
            resp = client.get(KEY_LIST, params={"key_hash": t, "size": 1})
        except httpx.HTTPError as exc:
            raise ObserveError("litellm-api", f"GET {client.base_url}{KEY_LIST}: {transport_reason(exc)}") from exc
        if resp.status_code != 200:
            raise ObserveError("litellm-api", f"GET {KEY_LIST}?key_hash=…: {error_text(resp)}")
        try:
            total = int(resp.json().get("total_count") or 0)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ObserveError("litellm-api", f"GET {KEY_LIST}?key_hash=…: unexpected answer (not JSON)") from exc
        if total > 0:
            found.add(t)
    return found


def health(client: httpx.Client) -> tuple[bool, bool, str]:
    """(alive, ready, detail): liveliness answers 200; readiness answers 200 with db == "connected"."""
    try:
        live = client.get(HEALTH_LIVELINESS)
        ready = client.get(HEALTH_READINESS)
    except httpx.HTTPError as exc:
        return False, False, f"unreachable at {client.base_url} ({transport_reason(exc)})"
    alive = live.status_code == 200
    db = None
    if ready.status_code == 200:
        try:
            body = ready.json()
            db = body.get("db") if isinstance(body, dict) else None
        except ValueError:
            db = None
    ok = ready.status_code == 200 and db == "connected"
    return alive, ok, f"liveliness HTTP {live.status_code}, readiness HTTP {ready.status_code} db={db}"
