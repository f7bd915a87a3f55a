"""Reads of LiteLLM's database: which tokens still exist (the authoritative read-back after a delete).

Table and column names: litemaas-facts.md §4 ("LiteLLM_VerificationToken".token = sha256 hex).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from litemaas_state.errors import ObserveError
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection

SELECT_EXISTING_TOKENS = 'SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'
SELECT_TOKEN_EXPIRES = 'SELECT token, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'


def existing_tokens(db: DatabaseTarget, tokens: list[str]) -> set[str]:
    """The subset of ``tokens`` that still has a row in "LiteLLM_VerificationToken"."""
    try:
        with connection(db) as conn:
            rows = conn.execute(SELECT_EXISTING_TOKENS, (tokens,)).fetchall()
    except psycopg.Error as exc:
        raise ObserveError("litellm-db", f"reading tokens failed: {type(exc).__name__}") from None
    return {r[0] for r in rows}


def token_expiries(db: DatabaseTarget, tokens: list[str]) -> dict[str, datetime | None]:
    """token → expires (UTC-aware; None = never) for those of ``tokens`` that still exist.

    ``expires`` is ``timestamp(3)`` without time zone holding UTC (litemaas-facts.md §4).
    """
    try:
        with connection(db) as conn:
            rows = conn.execute(SELECT_TOKEN_EXPIRES, (tokens,)).fetchall()
    except psycopg.Error as exc:
        raise ObserveError("litellm-db", f"reading tokens failed: {type(exc).__name__}") from None
    return {r[0]: (r[1].replace(tzinfo=UTC) if r[1] is not None and r[1].tzinfo is None else r[1]) for r in rows}
