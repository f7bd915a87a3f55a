"""Key pruning: delete through LiteLLM's API in batches, confirm, then revoke the LiteMaaS rows.

Why this shape (docs/deployment-facts.md §5, §6; docs/litellm-api.md):
* ``POST /key/delete`` (never DELETE, which answers 405 — the in-cluster CronJob's bug, docs/deployment-facts.md §6.3), so
  every LiteLLM replica's delete path runs and the row is copied to the deleted-token table.
* Its answer echoes the input and cannot tell which keys existed; 404 means none existed. So after each
  batch the tool reads back which tokens remain and only then revokes LiteMaaS rows — for confirmed-gone
  tokens only. The read-back is one query per batch on LiteLLM's database when ``live.tokens`` trusts it
  (checked again when the pruner starts), and a token that database still shows is asked of the API
  before it counts as alive (existence is what LiteLLM serves); without a trusted database it is one
  ``/key/list?key_hash=`` call per token.
* LiteMaaS rows are matched by ``key_hash`` = token, never by alias (a rotated key keeps a stale alias;
  docs/deployment-facts.md §3.2), and marked ``is_active=false, revoked_at=now(), sync_status='error'`` with a ``sync_error``
  naming the rule (the values the CHECK constraint allows and rhpds uses; docs/deployment-facts.md §6.2): one set-based
  UPDATE per batch.
* ``WORKERS`` batches run at once, each worker on its own database connections. A failure stops new
  batches; the ones in flight finish (and revoke their rows). A kill leaves at most one batch per worker
  (``WORKERS × BATCH_SIZE`` keys) deleted with rows still active; the next plan finds those rows as
  orphans and revokes them.
Batch size and concurrency: batches of 50 ran at ≈ 400 keys/s on a real 1.81 proxy (docs/litellm-api.md §9), 14×
one-per-request; that is the size measured on a real proxy, so it stays. On the sandbox's stand-in (4,000
keys, 2 cores) 50 × 1 worker gave ≈ 940 keys/s, 50 × 4 ≈ 3,500, 100 × 4 ≈ 6,200, 200 × 4 ≈ 9,600,
50 × 8 ≈ 5,900: four workers bound the load on the proxy and its database while removing most of the
round-trip wait (benchmarks/keys_at_scale.py measures the whole prune).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg

from litemaas_state.errors import ApplyError, LitemaasStateError
from litemaas_state.live import litellm_api
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection, open_connection, reason, tunnel_note
from litemaas_state.live.tokens import TokenReader

BATCH_SIZE = 50
WORKERS = 4

REVOKE_BY_HASH = (
    "UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error', sync_error = %s, "
    "updated_at = now() WHERE key_hash = ANY(%s) AND is_active"
)
REVOKE_BY_ID = (
    "UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error', sync_error = %s, "
    "updated_at = now() WHERE is_active AND (id::text, key_hash) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
    "AND NOT (key_hash = ANY(%s))"
)


class ThreadConnections:
    """One autocommit connection per thread to one database, opened on first use; ``close()`` closes all."""

    def __init__(self, db: DatabaseTarget) -> None:
        self.db = db
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> psycopg.Connection:
        conn: psycopg.Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = open_connection(self.db)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                c.close()
            self._all.clear()


def revoke_rows_by_hash(db: DatabaseTarget, key_hashes: list[str], sync_error: str,
                        conn: psycopg.Connection | None = None) -> int:
    """Mark active rows with these key_hashes revoked (one UPDATE); return how many rows changed.
    ``conn``: an open autocommit connection to reuse, else one is opened."""
    try:
        if conn is not None:
            return conn.execute(REVOKE_BY_HASH, (sync_error, key_hashes)).rowcount
        with connection(db) as c:
            return c.execute(REVOKE_BY_HASH, (sync_error, key_hashes)).rowcount
    except psycopg.Error as exc:
        raise ApplyError(_revoke_failed(db, exc)) from exc


def _revoke_failed(db: DatabaseTarget, exc: psycopg.Error) -> str:
    """``revoking … failed: OperationalError: <libpq's reason> (through the port-forward to pod/…:5432)
    (<the tunnel's own error>)``: the reason, the path, and what the port-forward recorded."""
    via = f" (through the port-forward to pod/{db.pod.name}:{db.pod.port})" if db.pod is not None else ""
    return f"revoking LiteMaaS api_keys rows failed: {reason(exc)}{via}{tunnel_note(db)}"


class PruneFailed(ApplyError):
    """Pruning stopped part-way: ``deleted`` keys were confirmed deleted (every batch that finished,
    including those in flight when the failure came) and ``already`` were gone before their batch."""

    def __init__(self, message: str, deleted: int, already: int) -> None:
        self.deleted = deleted
        self.already = already
        super().__init__(message)


def revoke_rows_by_id(db: DatabaseTarget, rows: list[tuple[str, str]], sync_error: str, live_tokens: set[str]) -> int:
    """Mark these active rows revoked — only while each still has the key_hash the plan saw (a key rotated
    since then is left alone) and that key_hash is not in LiteLLM; return the count. ``rows``: (id, key_hash)."""
    try:
        with connection(db) as conn:
            return conn.execute(REVOKE_BY_ID, (sync_error, [r[0] for r in rows], [r[1] for r in rows],
                                               sorted(live_tokens))).rowcount
    except psycopg.Error as exc:
        raise ApplyError(_revoke_failed(db, exc)) from exc


@dataclass
class _BatchResult:
    deleted: int
    already: int
    still: int
    failure: ApplyError | None = None


class KeyPruner:
    """Deletes tokens through the API in concurrent batches and confirms each batch.

    Read-back goes through ``live.tokens.TokenReader``. ``on_gone(tokens)`` runs in the worker that
    confirmed them (it must be thread-safe); ``progress(done, total)`` runs in the caller's thread after
    each batch.
    """

    def __init__(self, client: httpx.Client, litellm_db: DatabaseTarget | None, batch_size: int = BATCH_SIZE,
                 workers: int = WORKERS):
        self.client = client
        self.reader = TokenReader(client, litellm_db)
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self._conns = ThreadConnections(litellm_db) if litellm_db is not None else None
        self._pruning = False

    def _conn(self) -> psycopg.Connection | None:
        """The worker's own connection to the trusted LiteLLM database (only while ``prune`` runs)."""
        if self._pruning and self._conns is not None and self.reader.db_trusted:
            return self._conns.get()
        return None

    def remaining(self, tokens: list[str]) -> set[str]:
        """Which of ``tokens`` still exist in LiteLLM (a token only the database shows is asked of the API)."""
        still = self.reader.existing(tokens, self._conn())
        if still and self.reader.db_trusted:
            still = self.reader.served(sorted(still))
        return still

    def delete_batch(self, tokens: list[str]) -> None:
        """POST /key/delete one batch. 404 ("No keys found") means all were already gone.

        Raises:
            ApplyError: transport error or any other non-200 answer.
        """
        try:
            resp = self.client.post(litellm_api.KEY_DELETE, json={"keys": tokens})
        except httpx.HTTPError as exc:
            raise ApplyError(f"POST {litellm_api.KEY_DELETE}: {litellm_api.transport_reason(exc)}") from exc
        if resp.status_code == 404 or resp.status_code == 200:
            return
        raise ApplyError(f"POST {litellm_api.KEY_DELETE}: {litellm_api.error_text(resp)}")

    def _batch(self, batch: list[str], on_gone: Callable[[list[str]], None]) -> _BatchResult:
        """One batch: read which exist, delete them, read back; a failure after the read-back (revoking the
        rows) still reports the keys confirmed deleted."""
        existing = self.reader.existing(batch, self._conn())
        failure: ApplyError | None = None
        if existing:
            try:
                self.delete_batch(sorted(existing))
            except ApplyError as exc:
                failure = exc
        try:
            still = self.remaining(sorted(existing)) if existing else set()
        except LitemaasStateError as exc:
            if failure is not None:  # neither the delete nor the read-back answered: nothing is known
                raise
            # POST /key/delete answered 200 for keys that existed a moment before: they are deleted; their
            # rows are left for the next plan (it finds them as orphans), as only a read-back confirms
            return _BatchResult(deleted=len(existing), already=len(batch) - len(existing), still=0,
                                failure=ApplyError(str(exc)))
        gone = [t for t in batch if t not in still]
        if gone:
            try:
                on_gone(gone)  # rows of keys already gone are revoked too: they are orphans of this rule
            except LitemaasStateError as exc:  # the keys are deleted all the same: count them
                failure = failure or ApplyError(str(exc))
        return _BatchResult(deleted=len(existing) - len(still), already=len(batch) - len(existing),
                            still=len(still), failure=failure)

    def prune(self, tokens: list[str], on_gone: Callable[[list[str]], None],
              progress: Callable[[int, int], None]) -> tuple[int, int]:
        """Delete ``tokens`` in batches, ``workers`` at once; after each batch ``on_gone`` gets the tokens
        confirmed gone.

        Returns:
            (deleted, already_gone): keys that existed before their batch and are gone after it, and
            planned keys that no longer existed when their batch came (a rerun, or deleted meanwhile).
        Raises:
            PruneFailed: a batch failed, or tokens remained after their batch was deleted (batches in flight
            finish first and are counted; no new batch starts).
        """
        self.reader.use_db()  # the trust check, at apply time
        batches = [tokens[i:i + self.batch_size] for i in range(0, len(tokens), self.batch_size)]
        deleted = already = still = 0
        failure: ApplyError | None = None
        with self._pool() as pool:
            pending: set[Future[_BatchResult]] = set()
            queue = iter(batches)
            while True:
                while failure is None and still == 0 and len(pending) < self.workers:
                    batch = next(queue, None)
                    if batch is None:
                        break
                    pending.add(pool.submit(self._batch, batch, on_gone))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    try:
                        r = f.result()
                    except LitemaasStateError as exc:  # the read-back or the row update failed
                        failure = failure or ApplyError(str(exc))
                        continue
                    deleted, already, still = deleted + r.deleted, already + r.already, still + r.still
                    failure = failure or r.failure
                progress(deleted + already, len(tokens))
        if failure is not None:
            raise PruneFailed(f"{failure} (after {deleted} of {len(tokens)} keys were deleted)", deleted, already)
        if still:
            raise PruneFailed(f"{still} keys still exist after POST {litellm_api.KEY_DELETE} "
                              f"(after {deleted} of {len(tokens)} were deleted)", deleted, already)
        return deleted, already

    @contextmanager
    def _pool(self) -> Iterator[ThreadPoolExecutor]:
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="key-delete")
        self._pruning = True
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._pruning = False
            if self._conns is not None:
                self._conns.close()
