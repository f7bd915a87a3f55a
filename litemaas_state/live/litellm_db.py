"""Reads of LiteLLM's database: which tokens still exist (the authoritative read-back after a delete).

Table and column names: litemaas-facts.md §4 ("LiteLLM_VerificationToken".token = sha256 hex).
"""

from __future__ import annotations

import psycopg

from litemaas_state.errors import ObserveError
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection

SELECT_EXISTING_TOKENS = 'SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)'


def existing_tokens(db: DatabaseTarget, tokens: list[str]) -> set[str]:
    """The subset of ``tokens`` that still has a row in "LiteLLM_VerificationToken"."""
    try:
        with connection(db) as conn:
            rows = conn.execute(SELECT_EXISTING_TOKENS, (tokens,)).fetchall()
    except psycopg.Error as exc:
        raise ObserveError("litellm-db", f"reading tokens failed: {type(exc).__name__}") from None
    return {r[0] for r in rows}
