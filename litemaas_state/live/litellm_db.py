"""Reads of LiteLLM's database: the key population (one streamed query), which tokens still exist, and the
row count the trust check compares with the API's ``total_count``.

Table and column names: docs/deployment-facts.md §4 ("LiteLLM_VerificationToken".token = sha256 hex; ``expires``
and ``created_at`` are ``timestamp(3)`` without time zone holding UTC, docs/litellm-api.md). Dashboard
session keys (``team_id = 'litellm-dashboard'``) are left out everywhere, as ``/key/list`` leaves them out
(LiteLLM ``litellm/proxy/management_endpoints/key_management_endpoints.py`` filters its
``UI_SESSION_TOKEN_TEAM_ID``; the sandbox's stand-in does the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from litemaas_state import names
from litemaas_state.errors import ObserveError
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection, reason
from litemaas_state.live.model import VirtualKey
from litemaas_state.timestamps import as_utc

SELECT_EXISTING_TOKENS = 'SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'
SELECT_TOKEN_EXPIRES = 'SELECT token, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'
#: Only the columns the retention rules read (plan/keys.py). Times as timestamptz read in a UTC session
#: (aware datetimes, no per-row conversion); ``metadata.duration`` as text when it is a JSON string (nearly
#: always), else as JSON (numbers, objects: decoded only for those rows).
SELECT_KEY_POPULATION = (
    "SELECT token, key_alias, expires AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC', "
    "CASE WHEN jsonb_typeof(metadata -> 'duration') = 'string' THEN metadata ->> 'duration' END, "
    "CASE WHEN jsonb_typeof(metadata -> 'duration') NOT IN ('string', 'null') THEN metadata -> 'duration' END, "
    'user_id, team_id FROM "LiteLLM_VerificationToken" WHERE team_id IS DISTINCT FROM %(dashboard)s'
)
COUNT_KEYS = 'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE team_id IS DISTINCT FROM %(dashboard)s'
#: Rows fetched per round trip of the server-side cursor (memory stays flat; one query overall).
ITERSIZE = 5000


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _failed(what: str, exc: psycopg.Error) -> ObserveError:
    return ObserveError("litellm-db", f"{what} failed: {reason(exc)}")


def existing_tokens(db: DatabaseTarget, tokens: list[str], conn: psycopg.Connection | None = None) -> set[str]:
    """The subset of ``tokens`` that still has a row in "LiteLLM_VerificationToken" (one query).

    ``conn``: an open connection to reuse (apply's workers keep one each); else one is opened.
    Raises:
        ObserveError: the database cannot be reached or read.
    """
    try:
        if conn is not None:
            return {r[0] for r in conn.execute(SELECT_EXISTING_TOKENS, (tokens,))}
        with connection(db) as c:
            return {r[0] for r in c.execute(SELECT_EXISTING_TOKENS, (tokens,))}
    except psycopg.Error as exc:
        raise _failed("reading tokens", exc) from exc


def token_expiries(db: DatabaseTarget, tokens: list[str]) -> dict[str, datetime | None]:
    """token → expires (UTC-aware; None = never) for those of ``tokens`` that still exist (one query)."""
    try:
        with connection(db) as conn:
            rows = conn.execute(SELECT_TOKEN_EXPIRES, (tokens,)).fetchall()
    except psycopg.Error as exc:
        raise _failed("reading tokens", exc) from exc
    return {r[0]: _utc(r[1]) for r in rows}


def count_keys(db: DatabaseTarget) -> int:
    """Rows /key/list would count: every token except dashboard session keys.

    Raises:
        ObserveError: the database cannot be reached, or has no such table (a wrong database).
    """
    try:
        with connection(db) as conn:
            row = conn.execute(COUNT_KEYS, {"dashboard": names.DASHBOARD_TEAM_ID}).fetchone()
    except psycopg.Error as exc:
        raise _failed("counting tokens", exc) from exc
    return int(row[0]) if row else 0


def iter_keys(db: DatabaseTarget) -> Iterator[VirtualKey]:
    """Every virtual key /key/list would list, streamed from ONE query through a server-side (named)
    cursor, ``ITERSIZE`` rows per round trip, in no particular order.

    Yields:
        VirtualKey with token_hash, alias, user_id, team_id, created_at, expires (UTC-aware) and duration
        (``metadata.duration`` as JSON: str, number, … or None); ``created_by`` is not read.
    Raises:
        ObserveError: the database cannot be reached or read.
    """
    same: dict[Any, Any] = {}  # owners and durations repeat across keys: keep one copy of each
    try:
        with connection(db, autocommit=False) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            with conn.cursor(name="litemaas_state_keys") as cur:
                cur.execute(SELECT_KEY_POPULATION, {"dashboard": names.DASHBOARD_TEAM_ID})
                while rows := cur.fetchmany(ITERSIZE):
                    for token, alias, expires, created_at, dur_text, dur_json, user_id, team_id in rows:
                        duration = dur_text if dur_json is None else dur_json
                        yield VirtualKey(token, alias, same.setdefault(user_id, user_id),
                                         same.setdefault(team_id, team_id), created_at, expires,
                                         same.setdefault(duration, duration) if dur_json is None else duration)
    except psycopg.Error as exc:
        raise _failed("reading the key population", exc) from exc
