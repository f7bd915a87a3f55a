"""Which virtual keys exist: LiteLLM's database when it is shown to be the one LiteLLM serves, else the API.

Reading LiteLLM's database is one query for the whole key population (or one indexed query for a batch
of tokens), where the API needs 1,000 ``/key/list`` pages for 100,000 keys (or one ``?key_hash=`` call
per token). But the database URL may name the wrong database: rhpds HEAD sets ``LITELLM_DATABASE_URL``
to a stale ``litellm`` database LiteLLM no longer uses (docs/deployment-facts.md §2), empty or holding old
tokens. So the database is trusted only on positive evidence (``check_trust``):

* every token of ``/key/list``'s newest page (size 100, LiteLLM's default order ``created_at desc``,
  docs/litellm-api.md) has a row in it, and
* its row count, leaving out dashboard session keys as ``/key/list`` does, lies between the API's
  ``total_count`` read before and after it (what changed meanwhile).

An empty sample proves nothing: when the API lists no key the database is not trusted, whatever it holds
(both empty means "no keys", read in one API call). Apply checks again (a new ``TokenReader`` per action),
and a token the trusted database still shows after a delete is asked of the API before it counts as
alive: existence is what LiteLLM serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
import psycopg

from litemaas_state.errors import ObserveError
from litemaas_state.live import litellm_api, litellm_db
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.model import KeySource, VirtualKey


@dataclass(frozen=True)
class Trust:
    """The verdict on LiteLLM's database: ``trusted`` and the evidence (or the reason not) as a sentence."""

    trusted: bool
    reason: str


def judge(newest: list[str], present: set[str], db_count: int, api_total_before: int,
          api_total_after: int, database: str = "the database") -> Trust:
    """The trust rule over its evidence (pure; table-tested).

    Args:
        newest: the tokens of ``/key/list``'s newest page (at most 100).
        present: those of ``newest`` found in the database.
        db_count: the database's rows, dashboard session keys left out.
        api_total_before, api_total_after: ``/key/list``'s ``total_count`` before and after the reads.
        database: its name, for the sentence.
    Returns:
        Trusted only when ``newest`` is non-empty, every one of it is present, and ``db_count`` lies
        between the two API totals (inclusive).
    """
    lo, hi = sorted((api_total_before, api_total_after))
    if not newest:
        if db_count:
            return Trust(False, f"LiteLLM lists no keys but {database} holds {db_count}: not the database "
                                "LiteLLM serves")
        return Trust(False, "LiteLLM lists no keys: nothing to check the database against")
    missing = len(set(newest) - present)
    if missing:
        return Trust(False, f"{missing} of the {len(newest)} newest keys LiteLLM lists are not in {database}: "
                            "not the database LiteLLM serves")
    if not lo <= db_count <= hi:
        counted = f"{lo}" if lo == hi else f"{lo}–{hi}"
        return Trust(False, f"{database} holds {db_count} keys where LiteLLM counts {counted}: not the "
                            "database LiteLLM serves")
    return Trust(True, f"the {len(newest)} newest keys LiteLLM lists are all in {database}, and it holds "
                       f"{db_count} keys as LiteLLM counts")


def check_trust(client: httpx.Client, db: DatabaseTarget | None) -> Trust:
    """Gather the evidence ``judge`` needs: two ``/key/list`` calls and two queries (never raises for the
    database: an unreadable one is untrusted).

    Raises:
        ObserveError: the API could not be read.
    """
    if db is None:
        return Trust(False, "no LiteLLM database URL is known")
    newest, before = litellm_api.newest_tokens(client)
    name = db.info.database
    try:
        db_count = litellm_db.count_keys(db)
        present = litellm_db.existing_tokens(db, newest) if newest else set()
    except ObserveError as exc:
        return Trust(False, f"{name} could not be read ({exc})")
    _, after = litellm_api.newest_tokens(client, size=1)
    return judge(newest, present, db_count, before, after, name)


def read_keys(client: httpx.Client, db: DatabaseTarget | None) -> tuple[tuple[VirtualKey, ...], KeySource]:
    """The key population and where it came from: one streamed query on LiteLLM's database when
    ``check_trust`` trusts it, else every page of ``/key/list``.

    Raises:
        ObserveError: the API could not be read (or the trusted database failed midway).
    """
    trust = check_trust(client, db)
    if trust.trusted:
        assert db is not None
        keys = tuple(litellm_db.iter_keys(db))
        return keys, KeySource(origin="litellm-db", detail=f"{db.info.database}: {trust.reason}", count=len(keys))
    keys = litellm_api.list_keys(client)
    return keys, KeySource(origin="key-list", detail=f"LiteLLM's database not used: {trust.reason}",
                           count=len(keys))


class TokenReader:
    """Existence and expiry of tokens. ``db_trusted`` is None until checked (on first use), then True/False."""

    def __init__(self, client: httpx.Client, db: DatabaseTarget | None) -> None:
        self.client = client
        self.db = db
        self.trust: Trust | None = None if db is not None else Trust(False, "no LiteLLM database URL is known")

    @property
    def db_trusted(self) -> bool | None:
        return None if self.trust is None else self.trust.trusted

    def use_db(self) -> bool:
        """Check trust once (on first use) and say whether the database answers."""
        if self.trust is None:
            try:
                self.trust = check_trust(self.client, self.db)
            except ObserveError as exc:
                self.trust = Trust(False, f"the trust check failed ({exc})")
        return self.trust.trusted

    def _distrust(self, why: str) -> None:
        self.trust = Trust(False, why)

    def existing(self, tokens: list[str], conn: psycopg.Connection | None = None) -> set[str]:
        """The subset of ``tokens`` that exists in LiteLLM now: one query on a trusted database, else one
        ``/key/list?key_hash=`` call per token. ``conn``: an open connection to the LiteLLM database."""
        if not tokens:
            return set()
        if self.use_db():
            assert self.db is not None
            try:
                return litellm_db.existing_tokens(self.db, tokens, conn)
            except ObserveError as exc:
                self._distrust(str(exc))
        return litellm_api.existing_tokens(self.client, tokens)

    def served(self, tokens: list[str]) -> set[str]:
        """Of ``tokens`` (few: those a database still shows after a delete), the ones the API serves."""
        return litellm_api.existing_tokens(self.client, tokens) if tokens else set()

    def expiries(self, tokens: list[str]) -> dict[str, datetime | None]:
        """token → expires (UTC-aware; None = never) for the ``tokens`` that exist now."""
        if not tokens:
            return {}
        if self.use_db():
            assert self.db is not None
            try:
                return litellm_db.token_expiries(self.db, tokens)
            except ObserveError as exc:
                self._distrust(str(exc))
        live = {k.token_hash: k.expires for k in litellm_api.list_keys(self.client)}
        return {t: live[t] for t in tokens if t in live}

