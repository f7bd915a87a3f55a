"""Which virtual keys still exist, and their expiry: LiteLLM's database when it agrees with the API,
else the API.

Reading LiteLLM's database is one indexed query for a whole batch, where the API needs one
``/key/list?key_hash=`` call per token. But the database URL may name the wrong database: rhpds HEAD
sets ``LITELLM_DATABASE_URL`` to a stale ``litellm`` DB that LiteLLM no longer uses (litemaas-facts.md
§2), where every token would look deleted. So before trusting it, the first few tokens asked about are
checked both ways; on any disagreement the database is not used again.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from litemaas_state.errors import ObserveError
from litemaas_state.live import litellm_api, litellm_db
from litemaas_state.live.connect import DatabaseTarget

SAMPLE = 5


class TokenReader:
    """Existence and expiry of tokens. ``db_trusted`` is None until checked, then True/False."""

    def __init__(self, client: httpx.Client, db: DatabaseTarget | None) -> None:
        self.client = client
        self.db = db
        self.db_trusted: bool | None = None if db is not None else False

    def _use_db(self, tokens: list[str]) -> bool:
        if self.db is None or self.db_trusted is False:
            return False
        if self.db_trusted is None:
            sample = tokens[:SAMPLE]
            try:
                self.db_trusted = litellm_db.existing_tokens(self.db, sample) == \
                    litellm_api.existing_tokens(self.client, sample)
            except ObserveError:
                self.db_trusted = False
        return bool(self.db_trusted)

    def existing(self, tokens: list[str]) -> set[str]:
        """The subset of ``tokens`` that exists in LiteLLM now."""
        if not tokens:
            return set()
        if self._use_db(tokens):
            assert self.db is not None
            try:
                return litellm_db.existing_tokens(self.db, tokens)
            except ObserveError:
                self.db_trusted = False
        return litellm_api.existing_tokens(self.client, tokens)

    def expiries(self, tokens: list[str]) -> dict[str, datetime | None]:
        """token → expires (UTC-aware; None = never) for the ``tokens`` that exist now."""
        if not tokens:
            return {}
        if self._use_db(tokens):
            assert self.db is not None
            try:
                return litellm_db.token_expiries(self.db, tokens)
            except ObserveError:
                self.db_trusted = False
        live = {k.token_hash: k.expires for k in litellm_api.list_keys(self.client)}
        return {t: live[t] for t in tokens if t in live}
