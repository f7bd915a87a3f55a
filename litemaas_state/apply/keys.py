"""Key pruning: delete through LiteLLM's API in batches, confirm, then revoke the LiteMaaS rows.

Why this shape (litemaas-facts.md §5, §6; litellm-1.81-observed.md):
* ``POST /key/delete`` (never DELETE, which answers 405 — the in-cluster CronJob's bug, facts §6.3), so
  every LiteLLM replica's delete path runs and the row is copied to the deleted-token table.
* Its answer echoes the input and cannot tell which keys existed; 404 means none existed. So after each
  batch the tool reads back which tokens remain (LiteLLM's database when known, else ``/key/list?key_hash``)
  and only then revokes LiteMaaS rows — for confirmed-gone tokens only. A failure midway leaves no
  LiteMaaS row revoked for a key that still exists, and a rerun converges.
* LiteMaaS rows are matched by ``key_hash`` = token, never by alias (a rotated key keeps a stale alias;
  facts §3.2), and marked ``is_active=false, revoked_at=now(), sync_status='error'`` with a ``sync_error``
  naming the rule (the values the CHECK constraint allows and rhpds uses; facts §6.2).
Batches of 50 ran at ≈ 400 keys/s on a real 1.81 proxy (observed doc), 14× one-per-request.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psycopg

from litemaas_state.errors import ApplyError
from litemaas_state.live import litellm_api
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection
from litemaas_state.live.tokens import TokenReader

BATCH_SIZE = 50

REVOKE_BY_HASH = (
    "UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error', sync_error = %s, "
    "updated_at = now() WHERE key_hash = ANY(%s) AND is_active"
)
REVOKE_BY_ID = (
    "UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error', sync_error = %s, "
    "updated_at = now() WHERE is_active AND (id::text, key_hash) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
    "AND NOT (key_hash = ANY(%s))"
)


def revoke_rows_by_hash(db: DatabaseTarget, key_hashes: list[str], sync_error: str) -> int:
    """Mark active rows with these key_hashes revoked; return how many rows changed."""
    try:
        with connection(db) as conn:
            return conn.execute(REVOKE_BY_HASH, (sync_error, key_hashes)).rowcount
    except psycopg.Error as exc:
        raise ApplyError(f"revoking LiteMaaS api_keys rows failed: {type(exc).__name__}") from None


def revoke_rows_by_id(db: DatabaseTarget, rows: list[tuple[str, str]], sync_error: str, live_tokens: set[str]) -> int:
    """Mark these active rows revoked — only while each still has the key_hash the plan saw (a key rotated
    since then is left alone) and that key_hash is not in LiteLLM; return the count. ``rows``: (id, key_hash)."""
    try:
        with connection(db) as conn:
            return conn.execute(REVOKE_BY_ID, (sync_error, [r[0] for r in rows], [r[1] for r in rows],
                                               sorted(live_tokens))).rowcount
    except psycopg.Error as exc:
        raise ApplyError(f"revoking LiteMaaS api_keys rows failed: {type(exc).__name__}") from None


class KeyPruner:
    """Deletes tokens through the API and confirms each batch.

    Read-back goes through ``live.tokens.TokenReader`` (LiteLLM's database when it agrees with the API,
    else the API's key_hash filter). ``progress(done, total)`` is called after each batch.
    """

    def __init__(self, client: httpx.Client, litellm_db: DatabaseTarget | None, batch_size: int = BATCH_SIZE):
        self.client = client
        self.reader = TokenReader(client, litellm_db)
        self.batch_size = batch_size

    def remaining(self, tokens: list[str]) -> set[str]:
        """Which of ``tokens`` still exist in LiteLLM."""
        return self.reader.existing(tokens)

    def delete_batch(self, tokens: list[str]) -> None:
        """POST /key/delete one batch. 404 ("No keys found") means all were already gone.

        Raises:
            ApplyError: transport error or any other non-200 answer.
        """
        try:
            resp = self.client.post(litellm_api.KEY_DELETE, json={"keys": tokens})
        except httpx.HTTPError as exc:
            raise ApplyError(f"POST {litellm_api.KEY_DELETE}: {litellm_api.transport_reason(exc)}") from None
        if resp.status_code == 404 or resp.status_code == 200:
            return
        raise ApplyError(f"POST {litellm_api.KEY_DELETE}: {litellm_api.error_text(resp)}")

    def prune(self, tokens: list[str], on_gone: Callable[[list[str]], None],
              progress: Callable[[int, int], None]) -> tuple[int, int]:
        """Delete ``tokens`` in batches; after each batch call ``on_gone`` with the tokens confirmed gone.

        Returns:
            (deleted, already_gone): keys that existed before their batch and are gone after it, and
            planned keys that no longer existed when their batch came (a rerun, or deleted meanwhile).
        Raises:
            ApplyError: a batch failed, or tokens remained after their batch was deleted.
        """
        deleted = already = 0
        for start in range(0, len(tokens), self.batch_size):
            batch = tokens[start:start + self.batch_size]
            existing = self.remaining(batch)
            already += len(batch) - len(existing)
            failure: ApplyError | None = None
            if existing:
                try:
                    self.delete_batch(sorted(existing))
                except ApplyError as exc:
                    failure = exc
            still = self.remaining(sorted(existing)) if existing else set()
            gone = [t for t in batch if t not in still]
            if gone:
                on_gone(gone)  # rows of keys already gone are revoked too: they are orphans of this rule
            deleted += len(existing) - len(still)
            progress(deleted + already, len(tokens))
            if failure is not None:
                raise ApplyError(f"{failure} (after {deleted} of {len(tokens)} keys were deleted)")
            if still:
                raise ApplyError(f"{len(still)} keys still exist after POST {litellm_api.KEY_DELETE} "
                                 f"(after {deleted} of {len(tokens)} were deleted)")
        return deleted, already
