"""The trust rule for LiteLLM's database, over its evidence (pure): only positive evidence trusts it."""

from __future__ import annotations

import pytest

from litemaas_state.live.tokens import judge

NEWEST = [f"{i:064x}" for i in range(100)]


@pytest.mark.parametrize(
    ("newest", "present", "db_count", "before", "after", "trusted", "says"),
    [
        # the database LiteLLM serves: every newest token present, count as the API's
        (NEWEST, set(NEWEST), 5000, 5000, 5000, True, "are all in"),
        # count moved meanwhile (a delete between the two API reads): within the bracket
        (NEWEST, set(NEWEST), 4990, 5000, 4980, True, "are all in"),
        (NEWEST[:3], set(NEWEST[:3]), 3, 3, 3, True, "are all in"),
        # the stale-database repro: an empty copy of the schema, the API lists keys
        (NEWEST[:8], set(), 0, 8, 8, False, "8 of the 8 newest"),
        # an old copy that still holds the oldest tokens but not the newest
        (NEWEST, set(NEWEST[50:]), 5000, 5000, 5000, False, "50 of the 100 newest"),
        # an old copy holding every newest token plus many deleted ones: the count gives it away
        (NEWEST, set(NEWEST), 9000, 5000, 5000, False, "holds 9000 keys where LiteLLM counts 5000"),
        (NEWEST, set(NEWEST), 4000, 5000, 4990, False, "LiteLLM counts 4990–5000"),
        # nothing on either side proves nothing
        ([], set(), 0, 0, 0, False, "nothing to check"),
        ([], set(), 12, 0, 0, False, "holds 12"),
        # one missing token is enough to refuse
        (NEWEST, set(NEWEST[1:]), 5000, 5000, 5000, False, "1 of the 100"),
    ],
)
def test_trust_needs_positive_evidence(newest, present, db_count, before, after, trusted, says) -> None:  # type: ignore[no-untyped-def]
    verdict = judge(newest, present, db_count, before, after, "litellm")
    assert verdict.trusted is trusted
    assert says in verdict.reason
