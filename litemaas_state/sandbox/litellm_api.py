"""The sandbox's LiteLLM admin API: the endpoints litemaas-state uses, answered as LiteLLM 1.81.0 does.

Served over real HTTP on 127.0.0.1 by uvicorn in a background thread; every request reads and writes
the LiteLLM tables of the sandbox PostgreSQL through psycopg 3. The behaviour is held to
docs/litellm-api.md ("observed") and docs/deployment-facts.md §5 ("facts"):

- Auth (docs/deployment-facts.md §5 "Auth", observed "Wrong master key"): ``Authorization: Bearer <key>`` or
  ``x-litellm-api-key`` / ``API-Key`` / ``x-api-key``. No key → 401 ``auth_error``; an unknown key →
  401 ``token_not_found_in_db``; an expired virtual key → 400 ``expired_key`` (observed "Other 1.81.0
  differences"). Sandbox simplification: a valid virtual key (not the master key) gets 401 on admin
  routes; per-user scoping of non-admin callers is not modelled.
- ``GET /key/list`` (observed "/key/list", docs/deployment-facts.md §5): page ≥ 1, 1 ≤ size ≤ 100 (default 10, FastAPI
  422 otherwise), exact-match filters user_id, team_id, organization_id, key_hash, key_alias,
  ``status=deleted`` reads ``LiteLLM_DeletedVerificationToken``, order ``created_at desc, token desc``,
  dashboard keys (``team_id='litellm-dashboard'``) always left out, ``total_pages = ceil(count/size)``.
  ``return_full_object`` gives the exact field set and order of the observed response; timestamps are
  rendered as pydantic v2 renders UTC datetimes (``…:56.683000Z``, ``…:56Z`` at 0 µs).
- ``POST /key/delete`` (observed "POST /key/delete", docs/deployment-facts.md §5): ``keys`` (raw ``sk-`` keys are
  hashed, anything else is used as the token) wins over ``key_aliases``; neither → 422 value_error;
  deletes the rows that exist after copying them to the deleted table, echoes the input verbatim;
  none exist → 404 ``{'error': 'No keys found'}``. ``DELETE /key/delete`` → 405 (not routed).
- ``GET /key/info`` → ``{"key", "info"}`` or 404 ``not_found_error``; ``POST /key/generate``.
- ``GET /health/liveliness`` and ``/health/liveness`` → ``"I'm alive!"``; ``/health/readiness`` →
  the observed connected body, 503 when the DB is unreachable; ``/health/livenessz`` → 404.
- Without a DB the key routes answer 500 ``Not connected to DB!`` (docs/deployment-facts.md §5 "Without a DB").

SANDBOX-ONLY (no such endpoint exists in LiteLLM): ``GET|POST|DELETE /sandbox/faults``, master key
required, to inject failures: make ``/key/delete`` fail after N calls, or pretend the DB is gone.
See :class:`Faults`. ``GET|DELETE /sandbox/stats``: admin requests served per ``"METHOD /path"`` since
the last reset (benchmarks count the requests a prune sends).

Must not: log request headers or keys (uvicorn runs with access_log off).
"""

from __future__ import annotations

import hashlib
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
import uvicorn
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, model_validator

LITELLM_VERSION = "1.81.0"
DASHBOARD_TEAM_ID = "litellm-dashboard"
MASTER_KEY_USER = "default_user_id"
VT = "LiteLLM_VerificationToken"
DVT = "LiteLLM_DeletedVerificationToken"

# Columns of "LiteLLM_VerificationToken" in 1.81.0 (37; sql/litellm.sql).
TOKEN_COLUMNS: tuple[str, ...] = tuple(
    (
        "token key_name key_alias soft_budget_cooldown spend expires models aliases config user_id team_id "
        "permissions max_parallel_requests metadata blocked tpm_limit rpm_limit max_budget budget_duration "
        "budget_reset_at allowed_cache_controls allowed_routes model_spend model_max_budget router_settings "
        "budget_id organization_id object_permission_id created_at created_by updated_at updated_by "
        "rotation_count auto_rotate rotation_interval last_rotation_at key_rotation_at"
    ).split()
)
DELETED_EXTRA_COLUMNS = ("deleted_at", "deleted_by", "deleted_by_api_key", "litellm_changed_by")

# The field order of one full object in GET /key/list?return_full_object=true (observed), and the
# auth-view fields that are not table columns (all null/empty for a key read from the table).
_FULL_OBJECT_FIELDS: tuple[str, ...] = tuple(
    (
        "token key_name key_alias spend max_budget expires models aliases config user_id team_id "
        "max_parallel_requests metadata tpm_limit rpm_limit budget_duration budget_reset_at "
        "allowed_cache_controls allowed_routes permissions model_spend model_max_budget soft_budget_cooldown "
        "blocked litellm_budget_table org_id created_at created_by updated_at updated_by object_permission_id "
        "object_permission rotation_count auto_rotate rotation_interval last_rotation_at key_rotation_at "
        "router_settings team_spend team_alias team_tpm_limit team_rpm_limit team_max_budget team_models "
        "team_blocked soft_budget team_model_aliases team_member team_metadata team_object_permission_id "
        "team_member_spend team_member_tpm_limit team_member_rpm_limit end_user_id end_user_tpm_limit "
        "end_user_rpm_limit end_user_max_budget organization_max_budget organization_tpm_limit "
        "organization_rpm_limit organization_metadata last_refreshed_at api_key user_role "
        "allowed_model_region parent_otel_span rpm_limit_per_model tpm_limit_per_model user_tpm_limit "
        "user_rpm_limit user_email user_spend user_max_budget request_route user"
    ).split()
)
_AUTH_VIEW_DEFAULTS: dict[str, Any] = {"team_models": [], "team_blocked": False}
_EMPTY_LIST = ("models", "allowed_cache_controls", "allowed_routes")
_EMPTY_DICT = (
    "aliases",
    "config",
    "permissions",
    "model_spend",
    "model_max_budget",
    "router_settings",
    "metadata",
)
_DURATION = re.compile(r"^\s*(-?\d+)\s*(s|sec|m|min|h|hr|d|w|mo|y)?\s*$")
_DURATION_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "w": 604800}


# -- helpers ------------------------------------------------------------------------------------


def hash_token(key: str) -> str:
    """sha256 hex of a raw key (LiteLLM ``hash_token``, docs/deployment-facts.md §4)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _hash_if_needed(key: str) -> str:
    """LiteLLM ``_hash_token_if_needed``: raw ``sk-`` keys are hashed, anything else is a token."""
    return hash_token(key) if key.startswith("sk-") else key


def abbreviate(key: str) -> str:
    """LiteLLM ``abbreviate_api_key``: ``sk-...<last 4>``."""
    return f"sk-...{key[-4:]}"


def format_datetime(value: datetime | None) -> str | None:
    """Render as pydantic v2 renders a UTC datetime: ``…T09:13:56.683000Z``, or ``…T09:13:56Z`` at 0 µs.

    Naive values are taken as UTC (the TIMESTAMP(3) columns are UTC, docs/deployment-facts.md §4).
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _duration_seconds(duration: str) -> float | None:
    """LiteLLM ``duration_in_seconds`` for the suffixes in use; None means "never expires" ("-1")."""
    m = _DURATION.match(duration)
    if not m:
        raise ProxyError(f"Invalid duration format: {duration}", "bad_request_error", "duration", 400)
    n, unit = int(m.group(1)), m.group(2) or "s"
    if n < 0:
        return None
    if unit == "mo":
        return n * 30 * 86400.0
    if unit == "y":
        return n * 365 * 86400.0
    return float(n * _DURATION_S[unit])


class ProxyError(Exception):
    """LiteLLM's ProxyException: rendered as ``{"error": {message, type, param, code}}``."""

    def __init__(self, message: str, type_: str, param: str | None, status: int) -> None:
        super().__init__(message)
        self.message, self.type, self.param, self.status = message, type_, param, status

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": str(self.param),
                "code": str(self.status),
            }
        }


def _not_connected() -> ProxyError:
    return ProxyError("Not connected to DB!", "internal_server_error", "None", 500)


# -- faults (SANDBOX-ONLY) ----------------------------------------------------------------------


@dataclass
class Faults:
    """Failure injection, set through ``POST /sandbox/faults`` or :meth:`LiteLLMApiServer.set_faults`.

    key_delete_fail_after: number of ``POST /key/delete`` calls served normally (whatever their
        status) before calls start failing; None disables the fault.
    key_delete_fail_count: how many calls then fail before normal service resumes; None = all.
    key_delete_status, key_delete_message: the failure's HTTP status and ``error.message``; the body
        has LiteLLM's shape with ``type`` ``internal_server_error``.
    db_unavailable: every route that needs the DB behaves as if PostgreSQL were unreachable
        (key routes 500 "Not connected to DB!", readiness 503).
    key_delete_calls, key_delete_failures: counters since the last configuration (read-only).
    """

    key_delete_fail_after: int | None = None
    key_delete_fail_count: int | None = None
    key_delete_status: int = 500
    key_delete_message: str = "Internal Server Error (sandbox fault injected on /key/delete)"
    db_unavailable: bool = False
    key_delete_calls: int = 0
    key_delete_failures: int = 0


class FaultsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_delete_fail_after: int | None = None
    key_delete_fail_count: int | None = None
    key_delete_status: int = 500
    key_delete_message: str = Faults.key_delete_message
    db_unavailable: bool = False


# -- DB access ----------------------------------------------------------------------------------


class _Pool:
    """A tiny connection pool; idle connections are checked with ``SELECT 1`` before reuse."""

    def __init__(self, conninfo: dict[str, Any], max_idle: int = 8) -> None:
        self._conninfo = conninfo
        self._idle: list[psycopg.Connection[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def _new(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(**self._conninfo, row_factory=dict_row, connect_timeout=3, autocommit=True)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        conn = None
        while conn is None:
            with self._lock:
                cand = self._idle.pop() if self._idle else None
            if cand is None:
                conn = self._new()
                break
            try:
                cand.execute("SELECT 1")
                conn = cand
            except psycopg.Error:
                cand.close()
        try:
            with conn.transaction():
                yield conn
        finally:
            reusable = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
            with self._lock:
                if reusable and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()


@dataclass
class Caller:
    """The authenticated caller (only the master key is admitted to admin routes)."""

    api_key: str
    user_id: str = MASTER_KEY_USER


class ApiState:
    def __init__(self, master_key: str, conninfo: dict[str, Any]) -> None:
        self.master_key = master_key
        self.pool = _Pool(conninfo)
        self.faults = Faults()
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}

    def count(self, route: str) -> None:
        with self.lock:
            self.requests[route] = self.requests.get(route, 0) + 1

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        if self.faults.db_unavailable:
            raise _not_connected()
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise _not_connected() from exc


# -- rendering ----------------------------------------------------------------------------------


def _value(col: str, v: Any) -> Any:
    if isinstance(v, datetime):
        return format_datetime(v)
    if v is None and col in _EMPTY_LIST:
        return []
    if v is None and col in _EMPTY_DICT:
        return {}
    return v


def full_object(row: dict[str, Any]) -> dict[str, Any]:
    """One key as GET /key/list?return_full_object=true renders it (observed field set and order)."""
    out: dict[str, Any] = {}
    for f in _FULL_OBJECT_FIELDS:
        if f == "org_id":
            out[f] = row.get("organization_id")
        elif f in row:
            out[f] = _value(f, row[f])
        else:
            out[f] = _AUTH_VIEW_DEFAULTS.get(f)
    for f in DELETED_EXTRA_COLUMNS:
        if f in row:
            out[f] = _value(f, row[f])
    return out


def key_info(row: dict[str, Any]) -> dict[str, Any]:
    """The ``info`` object of GET /key/info: the token's columns without ``token``."""
    info = {c: _value(c, row[c]) for c in TOKEN_COLUMNS if c != "token"}
    info["litellm_budget_table"] = None
    info["object_permission"] = None
    return info


# -- request models -----------------------------------------------------------------------------


class KeyRequest(BaseModel):
    """Body of POST /key/delete (LiteLLM ``KeyRequest``)."""

    keys: list[str] | None = None
    key_aliases: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_least_one(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("keys") and not values.get("key_aliases"):
            raise ValueError("At least one of 'keys' or 'key_aliases' must be provided.")
        return values


class GenerateKeyRequest(BaseModel):
    """Body of POST /key/generate (the fields the sandbox stores)."""

    model_config = ConfigDict(extra="allow")
    key: str | None = None
    key_alias: str | None = None
    duration: str | None = None
    models: list[str] | None = None
    user_id: str | None = None
    team_id: str | None = None
    metadata: dict[str, Any] | None = None
    max_budget: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    budget_duration: str | None = None
    organization_id: str | None = None


# -- the app ------------------------------------------------------------------------------------


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        auth = auth.strip()
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return None
    for header in ("x-litellm-api-key", "api-key", "x-api-key"):
        value = request.headers.get(header)
        if value:
            return value.strip()
    return None


def _auth(request: Request) -> Caller:
    """The auth dependency of every admin route (docs/deployment-facts.md §5 "Auth"; observed "Wrong master key")."""
    state: ApiState = request.app.state.api
    state.count(f"{request.method} {request.url.path}")
    key = _presented_key(request)
    if not key:
        raise ProxyError("Authentication Error, No api key passed in.", "auth_error", "None", 401)
    if key == state.master_key:
        return Caller(api_key=hash_token(key))
    token = hash_token(key)
    row = None
    try:
        with state.db() as conn:
            row = conn.execute(
                sql.SQL("SELECT token, expires FROM {} WHERE token = %s").format(sql.Identifier(VT)), (token,)
            ).fetchone()
    except ProxyError:
        row = None
    if row is None:
        raise ProxyError(
            f"Authentication Error, Invalid proxy server token passed. Received API Key = {abbreviate(key)}, "
            f"Key Hash (Token) ={token}. Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
            "token_not_found_in_db",
            "key",
            401,
        )
    now = _utcnow()
    if row["expires"] is not None and row["expires"].replace(tzinfo=UTC) < now:
        raise ProxyError(
            f"Authentication Error - Expired Key. Key Expiry time {row['expires'].replace(tzinfo=UTC)} "
            f"and current time {now}",
            "expired_key",
            abbreviate(key),
            400,
        )
    raise ProxyError(
        "Authentication Error - only the proxy admin (master key) may call this route in the sandbox",
        "auth_error",
        "None",
        401,
    )


AuthDep = Annotated[Caller, Depends(_auth)]


def create_app(state: ApiState) -> FastAPI:
    """Build the FastAPI application over ``state`` (master key, DB pool, faults)."""
    app = FastAPI(
        title="LiteLLM API (litemaas-state sandbox)", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.api = state

    @app.exception_handler(ProxyError)
    async def _proxy_error(_: Request, exc: ProxyError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    # -- health --------------------------------------------------------------------------------

    @app.get("/health/liveliness")
    @app.get("/health/liveness")
    def liveness() -> str:
        return "I'm alive!"

    @app.get("/health/readiness")
    def readiness() -> Any:
        try:
            with state.db() as conn:
                conn.execute("SELECT 1")
        except ProxyError as exc:
            return JSONResponse({"detail": f"Service Unhealthy ({exc.message})"}, status_code=503)
        return {
            "status": "connected",
            "db": "connected",
            "cache": None,
            "litellm_version": LITELLM_VERSION,
            "success_callbacks": [
                "sync_deployment_callback_on_success",
                "SkillsInjectionHook",
                "_PROXY_VirtualKeyModelMaxBudgetLimiter",
                "_ProxyDBLogger",
                "_PROXY_MaxBudgetLimiter",
                "_PROXY_MaxParallelRequestsHandler_v3",
                "_PROXY_CacheControlCheck",
                "ResponsesIDSecurity",
                "ServiceLogging",
            ],
            "use_aiohttp_transport": True,
            "last_updated": _utcnow().replace(tzinfo=None).isoformat(),
        }

    # -- keys ----------------------------------------------------------------------------------

    @app.get("/key/list")
    def key_list(
        caller: AuthDep,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 10,
        user_id: str | None = None,
        team_id: str | None = None,
        organization_id: str | None = None,
        key_hash: str | None = None,
        key_alias: str | None = None,
        return_full_object: bool = False,
        include_team_keys: bool = False,
        include_created_by_keys: bool = False,
        sort_by: str | None = None,
        sort_order: str = "desc",
        status: str | None = None,
    ) -> dict[str, Any]:
        if status is not None and status != "deleted":
            raise ProxyError(
                "Invalid status value. Currently only 'deleted' is supported.",
                "bad_request_error",
                "status",
                400,
            )
        table = DVT if status == "deleted" else VT
        where: list[sql.Composable] = [sql.SQL("(team_id IS NULL OR team_id <> %s)")]
        params: list[Any] = [DASHBOARD_TEAM_ID]
        for col, val in (
            ("user_id", user_id),
            ("team_id", team_id),
            ("organization_id", organization_id),
            ("token", key_hash),
            ("key_alias", key_alias),
        ):
            if val is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                params.append(val)
        if sort_by is not None and sort_by not in TOKEN_COLUMNS:
            raise ProxyError(f"Invalid sort column: {sort_by}", "bad_request_error", "sort_by", 400)
        direction = sql.SQL("ASC" if sort_order.lower() == "asc" else "DESC")
        order = (
            sql.SQL("{} {}, token {}").format(sql.Identifier(sort_by), direction, direction)
            if sort_by
            else sql.SQL("created_at DESC, token DESC")
        )
        cond = sql.SQL(" AND ").join(where)
        with state.db() as conn:
            total = conn.execute(
                sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(sql.Identifier(table), cond), params
            ).fetchone()
            rows = conn.execute(
                sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {} LIMIT %s OFFSET %s").format(
                    sql.Identifier(table), cond, order
                ),
                [*params, size, (page - 1) * size],
            ).fetchall()
        count = int(total["n"]) if total else 0
        keys: list[Any] = [full_object(r) for r in rows] if return_full_object else [r["token"] for r in rows]
        return {
            "keys": keys,
            "total_count": count,
            "current_page": page,
            "total_pages": math.ceil(count / size),
        }

    @app.get("/key/info")
    def info(caller: AuthDep, key: str | None = None) -> dict[str, Any]:
        presented = key if key is not None else state.master_key
        with state.db() as conn:
            row = conn.execute(
                sql.SQL("SELECT * FROM {} WHERE token = %s").format(sql.Identifier(VT)),
                (_hash_if_needed(presented),),
            ).fetchone()
        if row is None:
            raise ProxyError("Key not found in database", "not_found_error", "key", 404)
        return {"key": presented, "info": key_info(row)}

    @app.post("/key/generate")
    def generate(caller: AuthDep, body: GenerateKeyRequest) -> dict[str, Any]:
        now = _utcnow()
        raw = body.key or "sk-" + _token_urlsafe()
        expires = None
        if body.duration is not None:
            seconds = _duration_seconds(body.duration)
            expires = None if seconds is None else now + timedelta(seconds=seconds)
        token = hash_token(raw)
        metadata = body.metadata or {}
        naive_now = now.replace(tzinfo=None)
        with state.db() as conn:
            if body.key_alias is not None:
                dup = conn.execute(
                    sql.SQL("SELECT 1 FROM {} WHERE key_alias = %s").format(sql.Identifier(VT)),
                    (body.key_alias,),
                ).fetchone()
                if dup:
                    raise ProxyError(
                        f"Unique key aliases across all keys are required. Key alias={body.key_alias} already exists.",
                        "bad_request_error",
                        "key_alias",
                        400,
                    )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (token, key_name, key_alias, expires, models, user_id, team_id, metadata,"
                    " max_budget, tpm_limit, rpm_limit, max_parallel_requests, budget_duration, organization_id,"
                    " created_at, created_by, updated_at, updated_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                ).format(sql.Identifier(VT)),
                (
                    token,
                    abbreviate(raw),
                    body.key_alias,
                    expires.replace(tzinfo=None) if expires else None,
                    body.models or [],
                    body.user_id,
                    body.team_id,
                    Jsonb(metadata),
                    body.max_budget,
                    body.tpm_limit,
                    body.rpm_limit,
                    body.max_parallel_requests,
                    body.budget_duration,
                    body.organization_id,
                    naive_now,
                    caller.user_id,
                    naive_now,
                    caller.user_id,
                ),
            )
        return {
            "key_alias": body.key_alias,
            "duration": None,
            "models": body.models or [],
            "spend": 0.0,
            "max_budget": body.max_budget,
            "user_id": body.user_id,
            "team_id": body.team_id,
            "max_parallel_requests": body.max_parallel_requests,
            "metadata": metadata,
            "tpm_limit": body.tpm_limit,
            "rpm_limit": body.rpm_limit,
            "budget_duration": body.budget_duration,
            "allowed_cache_controls": [],
            "config": {},
            "permissions": {},
            "model_max_budget": {},
            "blocked": None,
            "aliases": {},
            "object_permission": None,
            "key": raw,
            "budget_id": None,
            "tags": None,
            "allowed_routes": [],
            "key_name": abbreviate(raw),
            "expires": format_datetime(expires),
            "token_id": token,
            "organization_id": body.organization_id,
            "litellm_budget_table": None,
            "token": token,
            "created_by": caller.user_id,
            "updated_by": caller.user_id,
            "created_at": format_datetime(now),
            "updated_at": format_datetime(now),
        }

    @app.post("/key/delete")
    def delete(caller: AuthDep, body: KeyRequest, request: Request) -> dict[str, Any]:
        _maybe_fail_delete(state)
        echo: list[str]
        if body.keys:
            echo = body.keys
            match = sql.SQL("token = ANY(%s)")
            arg: list[str] = [_hash_if_needed(k) for k in body.keys]
        else:
            echo = body.key_aliases or []
            match = sql.SQL("key_alias = ANY(%s)")
            arg = list(echo)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in TOKEN_COLUMNS)
        stmt = sql.SQL(
            "WITH gone AS (DELETE FROM {vt} WHERE {match} RETURNING *) "
            "INSERT INTO {dvt} ({cols}, id, deleted_at, deleted_by, deleted_by_api_key, litellm_changed_by) "
            "SELECT {cols}, gen_random_uuid()::text, now() AT TIME ZONE 'UTC', %s, %s, %s FROM gone RETURNING token"
        ).format(vt=sql.Identifier(VT), dvt=sql.Identifier(DVT), cols=cols, match=match)
        with state.db() as conn:
            deleted = conn.execute(
                stmt, (arg, caller.user_id, caller.api_key, request.headers.get("litellm-changed-by"))
            ).fetchall()
        if not deleted:
            raise ProxyError("{'error': 'No keys found'}", "internal_server_error", "None", 404)
        return {"deleted_keys": echo}

    # -- SANDBOX-ONLY: fault injection ---------------------------------------------------------

    @app.get("/sandbox/faults")
    def get_faults(caller: AuthDep) -> dict[str, Any]:
        return asdict(state.faults)

    @app.post("/sandbox/faults")
    def set_faults(caller: AuthDep, body: FaultsRequest) -> dict[str, Any]:
        with state.lock:
            state.faults = Faults(**body.model_dump())
        return asdict(state.faults)

    @app.get("/sandbox/stats")
    def get_stats(caller: AuthDep) -> dict[str, Any]:
        with state.lock:
            return {"requests": dict(state.requests)}

    @app.delete("/sandbox/stats")
    def clear_stats(caller: AuthDep) -> dict[str, Any]:
        with state.lock:
            state.requests = {}
        return {"requests": {}}

    @app.delete("/sandbox/faults")
    def clear_faults(caller: AuthDep) -> dict[str, Any]:
        with state.lock:
            state.faults = Faults()
        return asdict(state.faults)

    return app


def _token_urlsafe() -> str:
    import secrets

    return secrets.token_urlsafe(16)


def _maybe_fail_delete(state: ApiState) -> None:
    with state.lock:
        f = state.faults
        if f.key_delete_fail_after is not None and f.key_delete_calls >= f.key_delete_fail_after:
            if f.key_delete_fail_count is None or f.key_delete_failures < f.key_delete_fail_count:
                f.key_delete_failures += 1
                raise ProxyError(f.key_delete_message, "internal_server_error", "None", f.key_delete_status)
        f.key_delete_calls += 1


# -- the server ---------------------------------------------------------------------------------


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover - older uvicorn only
        pass


class LiteLLMApiServer:
    """The API above, served by uvicorn in a daemon thread on 127.0.0.1 (a free port unless given).

    ``conninfo``: psycopg connection keywords for the database holding the LiteLLM tables.
    """

    def __init__(self, master_key: str, conninfo: dict[str, Any], port: int = 0) -> None:
        self.state = ApiState(master_key, conninfo)
        self.app = create_app(self.state)
        self._requested_port = port
        self.port = 0
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Bind, start serving and return once uvicorn reports it has started.

        Raises:
            RuntimeError: uvicorn did not start within ``timeout_s``.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._requested_port))
        sock.listen(128)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = _ThreadServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox-litellm-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sandbox LiteLLM API did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and close the DB connections. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None
        self.state.pool.close()

    def set_faults(self, **settings: Any) -> Faults:
        """In-process equivalent of ``POST /sandbox/faults`` (replaces the settings, resets counters)."""
        with self.state.lock:
            self.state.faults = Faults(**FaultsRequest(**settings).model_dump())
            return self.state.faults

    @property
    def faults(self) -> Faults:
        return self.state.faults
