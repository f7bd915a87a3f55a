"""Reads of the LiteMaaS database (psycopg 3): users and api_keys. Read SQL lives only here.

Schema: docs/deployment-facts.md §3.1 (users: roles TEXT[], the system user) and §3.2 (api_keys: key_hash =
sha256 of the LiteLLM key = "LiteLLM_VerificationToken".token). Also the server version (for pg_dump's
version check) of any database. Only parameters, never string-built SQL.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from litemaas_state.errors import ObserveError
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.model import ApiKeyRow, DatabaseInfo, LiteMaaSUser

SELECT_USERS = "SELECT id::text, email, username, coalesce(roles, '{}'), coalesce(is_active, true) FROM users"
SELECT_API_KEYS = (
    "SELECT a.id::text, a.user_id::text, a.key_hash, a.litellm_key_alias, coalesce(a.is_active, true), u.email "
    "FROM api_keys a LEFT JOIN users u ON u.id = a.user_id"
)
SELECT_TABLE_EXISTS = "SELECT to_regclass(%s) IS NOT NULL"
SHOW_SERVER_VERSION = "SHOW server_version_num"
#: Run on a kept connection before it is reused: it must answer within REUSE_PROBE_S, and it drops what an
#: earlier block left in the session (SET, temporary tables, WITH HOLD cursors, advisory locks, LISTEN).
REUSE_PROBE = b"DISCARD ALL"
REUSE_PROBE_S = 5.0
CONNECT_TIMEOUT_S = 5
#: Server-side cap per statement, so a query never waits longer than the tunnel's read timeout.
STATEMENT_TIMEOUT_MS = 100_000


def tunnel_note(db: DatabaseTarget) -> str:
    """`` (the port-forward to pod/…:5432 closed: …)`` when the database's tunnel recorded a failure."""
    error = getattr(db.tunnel, "last_error", None)
    return f" ({error})" if error else ""


def reason(exc: BaseException) -> str:
    """The server's or libpq's one-line reason (e.g. 'password authentication failed for user "litellm"',
    'Connection refused'); the CLI scrubs every output of secrets as well."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = lines[-1] if lines else ""
    for ln in lines:
        if "FATAL:" in ln or "failed:" in ln:
            detail = ln.split("FATAL:", 1)[-1].strip()
            break
    return f"{type(exc).__name__}: {detail[:200]}" if detail else type(exc).__name__


def open_connection(db: DatabaseTarget, *, autocommit: bool = True) -> psycopg.Connection:
    """Open a connection the caller closes; failures become ObserveError naming the database (never the URL).
    Over a port-forward, statements get a server-side timeout (a dropped tunnel is an error, not a hang)."""
    extra: dict[str, Any] = {}
    if db.tunnel is not None:
        extra["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    try:
        # no automatic server-side prepared statements: DISCARD ALL (REUSE_PROBE) drops them behind psycopg
        return psycopg.connect(db.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="litemaas-state", prepare_threshold=None, **extra)
    except psycopg.Error as exc:
        via = f" via port-forward pod/{db.pod.name}:{db.pod.port}" if db.pod is not None else ""
        raise ObserveError(f"{db.info.role}-db", f"cannot connect to {db.info.host}:{db.info.port}/"
                           f"{db.info.database} ({db.info.source}){via}: {reason(exc)}{tunnel_note(db)}") from exc


def _kept(db: DatabaseTarget, autocommit: bool) -> psycopg.Connection | None:
    """A connection an earlier block of this run left in ``db.idle`` that answered ``REUSE_PROBE`` within
    ``REUSE_PROBE_S``, set to ``autocommit``; None when there is none (a dead one, e.g. after a dropped
    port-forward or a pod gone behind its Service IP, is closed)."""
    while db.idle is not None and (conn := db.idle.take()) is not None:
        try:
            conn.autocommit = True
            if _answers(conn, REUSE_PROBE, REUSE_PROBE_S):
                conn.autocommit = autocommit
                kept: psycopg.Connection = conn
                return kept
        except (psycopg.Error, OSError, ValueError):  # ValueError: select() on a socket libpq closed
            pass
        conn.close()
    return None


def _answers(conn: psycopg.Connection, command: bytes, timeout_s: float) -> bool:
    """Whether ``command`` (one statement, no result rows) succeeds on the idle ``conn`` within ``timeout_s``:
    libpq's asynchronous API with a deadline, as a kept connection's path may have died silently (a pod gone
    behind its Service IP, a middlebox that dropped the flow), where a blocking query waits for TCP to give up."""
    pg = conn.pgconn
    deadline = time.monotonic() + timeout_s
    pg.send_query(command)
    while pg.flush():
        if not select.select([], [pg.socket], [], max(0.0, deadline - time.monotonic()))[1]:
            return False
    while True:
        pg.consume_input()
        if not pg.is_busy():
            break
        if not select.select([pg.socket], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return False
    ok = True
    while (res := pg.get_result()) is not None:
        ok = ok and res.status == psycopg.pq.ExecStatus.COMMAND_OK
    return ok


@contextmanager
def connection(db: DatabaseTarget, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """Open a connection for a ``with`` block, or reuse one an earlier block left in ``db.idle``; failures
    become ObserveError naming the database. At the end of the block a transaction is committed (an
    error rolls it back), and the connection goes back to ``db.idle`` when the block succeeded, else it
    is closed."""
    conn = _kept(db, autocommit) or open_connection(db, autocommit=autocommit)
    done = False
    try:
        yield conn
        if not autocommit:
            conn.commit()
        done = True
    except psycopg.OperationalError as exc:
        if db.tunnel is not None and (conn.closed or conn.broken):
            raise ObserveError(f"{db.info.role}-db", f"the connection to {db.info.database} through the "
                               f"port-forward to pod/{db.pod.name if db.pod else '?'} broke: {reason(exc)}"
                               f"{tunnel_note(db)}") from exc
        raise
    finally:
        if done and db.idle is not None and not conn.closed and not conn.broken \
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            db.idle.keep(conn)
        else:
            conn.close()


def server_info(db: DatabaseTarget) -> DatabaseInfo:
    """The DatabaseInfo with ``server_version_num`` filled in."""
    with connection(db) as conn:
        row = conn.execute(SHOW_SERVER_VERSION).fetchone()
    return db.info.model_copy(update={"server_version_num": int(row[0]) if row else 0})


def _require_table(conn: psycopg.Connection, db: DatabaseTarget, table: str) -> None:
    row = conn.execute(SELECT_TABLE_EXISTS, (table,)).fetchone()
    if not row or not row[0]:
        raise ObserveError(f"{db.info.role}-db", f"{db.info.database} has no table {table}: is "
                           f"{db.info.source} the LiteMaaS database?")


def _read_table(db: DatabaseTarget, table: str, sql: str) -> list[tuple[Any, ...]]:
    """All rows of one read query on a table that must exist (else ObserveError naming the database)."""
    try:
        with connection(db) as conn:
            _require_table(conn, db, f"public.{table}")
            return conn.execute(sql).fetchall()
    except psycopg.Error as exc:
        raise ObserveError("litemaas-db", f"reading {table} failed: {reason(exc)}") from exc


def read_users(db: DatabaseTarget) -> tuple[LiteMaaSUser, ...]:
    """Every row of ``users`` (the system user included; the planner leaves it alone)."""
    return tuple(LiteMaaSUser(id=r[0], email=r[1], username=r[2] or "", roles=tuple(r[3]), is_active=bool(r[4]))
                 for r in _read_table(db, "users", SELECT_USERS))


def read_api_keys(db: DatabaseTarget, same: dict[str, str] | None = None) -> tuple[ApiKeyRow, ...]:
    """Every row of ``api_keys`` with its owner's email, streamed through a server-side cursor (one row per
    virtual key: no 100,000-row result held at once). ``same``: strings to share (e.g. the tokens already
    read, so a row's key_hash is the same object); user ids and emails are shared between a user's rows.
    """
    same = {} if same is None else same
    try:
        with connection(db, autocommit=False) as conn:
            _require_table(conn, db, "public.api_keys")
            with conn.cursor(name="litemaas_state_api_keys") as cur:
                cur.execute(SELECT_API_KEYS)
                out: list[ApiKeyRow] = []
                share = same.setdefault
                while rows := cur.fetchmany(5000):
                    out += [ApiKeyRow(i, share(u, u), share(h, h), alias, bool(active), share(e, e) if e else e)
                            for i, u, h, alias, active, e in rows]
                return tuple(out)
    except psycopg.Error as exc:
        raise ObserveError("litemaas-db", f"reading api_keys failed: {reason(exc)}") from exc


SELECT_USER_ROLES = "SELECT coalesce(roles, '{}') FROM users WHERE id::text = %s"


def read_user_roles(db: DatabaseTarget, user_id: str) -> list[str] | None:
    """One user's roles now, or None when the user no longer exists."""
    try:
        with connection(db) as conn:
            row = conn.execute(SELECT_USER_ROLES, (user_id,)).fetchone()
    except psycopg.Error as exc:
        raise ObserveError("litemaas-db", f"reading roles failed: {type(exc).__name__}") from exc
    return list(row[0]) if row else None


COUNT_ACTIVE_SUBSCRIPTIONS = "SELECT count(*) FROM subscriptions WHERE status = 'active'"


def count_active_subscriptions(db: DatabaseTarget) -> int | None:
    """Active subscriptions (the runbook's ad-hoc count); None when the table is absent."""
    try:
        with connection(db) as conn:
            row = conn.execute(SELECT_TABLE_EXISTS, ("public.subscriptions",)).fetchone()
            if not row or not row[0]:
                return None
            count = conn.execute(COUNT_ACTIVE_SUBSCRIPTIONS).fetchone()
    except psycopg.Error as exc:
        raise ObserveError("litemaas-db", f"counting subscriptions failed: {type(exc).__name__}") from exc
    return int(count[0]) if count else 0
