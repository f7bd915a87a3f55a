"""Reads of LiteLLM's database: the key population (one streamed query), which tokens still exist, and the
row count the trust check compares with the API's ``total_count``.

Table and column names: litemaas-facts.md §4 ("LiteLLM_VerificationToken".token = sha256 hex; ``expires``
and ``created_at`` are ``timestamp(3)`` without time zone holding UTC, litellm-1.81-observed.md). Dashboard
session keys (``team_id = 'litellm-dashboard'``) are left out everywhere, as ``/key/list`` leaves them out
(LiteLLM ``proxy/management_endpoints/key_management_endpoints.py`` ``_list_key_helper``; observed doc).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from litemaas_state import names
from litemaas_state.errors import ObserveError
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection, reason
from litemaas_state.live.model import VirtualKey

SELECT_EXISTING_TOKENS = 'SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'
SELECT_TOKEN_EXPIRES = 'SELECT token, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'
#: Only the columns the retention rules read (plan/keys.py); ``metadata->'duration'`` as JSON.
SELECT_KEY_POPULATION = (
    "SELECT token, key_alias, expires, created_at, metadata -> 'duration', user_id, team_id "
    'FROM "LiteLLM_VerificationToken" WHERE team_id IS DISTINCT FROM %(dashboard)s'
)
COUNT_KEYS = 'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE team_id IS DISTINCT FROM %(dashboard)s'
#: Rows fetched per round trip of the server-side cursor (memory stays flat; one query overall).
ITERSIZE = 5000


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


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
        raise _failed("reading tokens", exc) from None


def token_expiries(db: DatabaseTarget, tokens: list[str]) -> dict[str, datetime | None]:
    """token → expires (UTC-aware; None = never) for those of ``tokens`` that still exist (one query)."""
    try:
        with connection(db) as conn:
            rows = conn.execute(SELECT_TOKEN_EXPIRES, (tokens,)).fetchall()
    except psycopg.Error as exc:
        raise _failed("reading tokens", exc) from None
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
        raise _failed("counting tokens", exc) from None
    return int(row[0]) if row else 0


def _key(row: tuple[Any, ...]) -> VirtualKey:
    # model_construct: the values come typed from PostgreSQL; validating 100,000 of them costs ~0.5 s
    return VirtualKey.model_construct(
        token_hash=row[0], alias=row[1], expires=_utc(row[2]), created_at=_utc(row[3]), duration=row[4],
        user_id=row[5], team_id=row[6], created_by=None,
    )


def iter_keys(db: DatabaseTarget) -> Iterator[VirtualKey]:
    """Every virtual key /key/list would list, streamed from ONE query through a server-side (named)
    cursor, ``ITERSIZE`` rows per round trip, in no particular order.

    Yields:
        VirtualKey with token_hash, alias, user_id, team_id, created_at, expires (UTC-aware) and duration
        (``metadata.duration`` as JSON: str, number, … or None); ``created_by`` is not read.
    Raises:
        ObserveError: the database cannot be reached or read.
    """
    try:
        with connection(db, autocommit=False) as conn:
            with conn.cursor(name="litemaas_state_keys") as cur:
                cur.itersize = ITERSIZE
                cur.execute(SELECT_KEY_POPULATION, {"dashboard": names.DASHBOARD_TEAM_ID})
                for row in cur:
                    yield _key(row)
    except psycopg.Error as exc:
        raise _failed("reading the key population", exc) from None
