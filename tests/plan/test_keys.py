"""Key retention rules (plan/keys.py): the per-key verdict by table, then plan_keys as a whole.

Sources for the expectations: docs/deployment-facts.md §6.1 (the cleanup script's rules and bugs), §3.2
(rotation keeps a stale alias), §5 (dashboard keys).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from litemaas_state import names
from litemaas_state.errors import Severity
from litemaas_state.live.model import ApiKeyRow, LiteMaaSUser, VirtualKey
from litemaas_state.plan.keys import (
    ORPHAN_SYNC_ERROR,
    key_created_at,
    parse_duration_s,
    plan_keys,
    prune_rule,
)
from litemaas_state.plan.model import (
    DeleteKeysAction,
    KeyExpiries,
    KeyRef,
    OrphanRows,
    Phase,
    RevokeRowsAction,
)
from litemaas_state.spec.model import KeyRetention

from .factories import DAY, NOW, SECOND, desired, live, token


def key(n: int = 1, **kw: Any) -> VirtualKey:
    return VirtualKey(token_hash=token(n), **kw)


# --- parse_duration_s ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", 7 * 86400.0),
        ("30d", 30 * 86400.0),
        ("90d", 90 * 86400.0),
        ("3h", 3 * 3600.0),
        ("1.5d", 1.5 * 86400.0),
        ("0d", 0.0),
        # other suffixes: the script used 0; we say "unknown"
        ("30m", None),
        ("1w", None),
        ("1mo", None),
        ("45s", None),
        ("7D", None),
        ("7", None),
        ("d", None),
        ("xd", None),
        ("-7d", None),
        (" 7d", None),
        ("", None),
        # non-strings: the script's jq crashed (silently, zero deletions)
        (7, None),
        (7.0, None),
        (True, None),
        (None, None),
        ({"days": 7}, None),
        (["7d"], None),
    ],
)
def test_parse_duration_s(value: object, expected: float | None) -> None:
    assert parse_duration_s(value) == expected


# --- key_created_at --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        pytest.param(
            {"created_at": NOW - 40 * DAY, "expires": NOW + DAY, "duration": "90d"},
            NOW - 40 * DAY,
            id="litellm-created_at-wins",
        ),
        pytest.param({"expires": NOW + 60 * DAY, "duration": "90d"}, NOW - 30 * DAY, id="expires-minus-days"),
        pytest.param(
            {"expires": NOW, "duration": "12h"}, NOW - timedelta(hours=12), id="expires-minus-hours"
        ),
        pytest.param({"expires": NOW + DAY, "duration": "1w"}, None, id="unknown-suffix"),
        pytest.param({"expires": NOW + DAY, "duration": 7}, None, id="non-string-duration"),
        pytest.param({"expires": NOW + DAY}, None, id="no-duration"),
        pytest.param({"duration": "30d"}, None, id="no-expires"),
        pytest.param(
            {"created_at": datetime(2026, 1, 1, 12, 0)},
            datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
            id="naive-is-utc",
        ),
    ],
)
def test_key_created_at(kw: dict[str, Any], expected: datetime | None) -> None:
    assert key_created_at(key(**kw)) == expected


# --- prune_rule ------------------------------------------------------------------------------------

EXPIRED_ONLY = KeyRetention()
GRACE_7 = KeyRetention(expired_grace_days=7)
NO_EXPIRED = KeyRetention(delete_expired=False, max_age_days=30)
WORKSHOP_30 = KeyRetention(max_age_days=30)
EXPIRING_30 = KeyRetention(max_age_days=30, max_age_applies_to="expiring")
PROTECTED = KeyRetention(max_age_days=30, protect_aliases=("workshop-admin*", "ops_?"))

PRUNE_CASES = [
    # (id, policy, key kwargs, protected user ids, expected)
    ("expired-one-second-ago", EXPIRED_ONLY, {"expires": NOW - SECOND}, (), "expired"),
    ("expired-exactly-now", EXPIRED_ONLY, {"expires": NOW}, (), None),
    ("expires-in-one-second", EXPIRED_ONLY, {"expires": NOW + SECOND}, (), None),
    ("never-expires", EXPIRED_ONLY, {"expires": None, "created_at": NOW - 999 * DAY}, (), None),
    ("grace-exactly-at-threshold", GRACE_7, {"expires": NOW - 7 * DAY}, (), None),
    ("grace-one-second-past", GRACE_7, {"expires": NOW - 7 * DAY - SECOND}, (), "expired"),
    ("grace-one-second-short", GRACE_7, {"expires": NOW - 7 * DAY + SECOND}, (), None),
    ("grace-expired-yesterday", GRACE_7, {"expires": NOW - DAY}, (), None),
    ("delete-expired-off", NO_EXPIRED, {"expires": NOW - DAY, "created_at": NOW - 2 * DAY}, (), None),
    (
        "delete-expired-off-still-max-age",
        NO_EXPIRED,
        {"expires": NOW - DAY, "created_at": NOW - 31 * DAY, "duration": "30d"},
        (),
        "max_age",
    ),
    # max_age, workshop: only keys carrying metadata.duration
    (
        "workshop-exactly-30-days",
        WORKSHOP_30,
        {"created_at": NOW - 30 * DAY, "expires": NOW + 60 * DAY, "duration": "90d"},
        (),
        None,
    ),
    (
        "workshop-30-days-and-a-second",
        WORKSHOP_30,
        {"created_at": NOW - 30 * DAY - SECOND, "expires": NOW + 60 * DAY, "duration": "90d"},
        (),
        "max_age",
    ),
    (
        "workshop-a-second-short",
        WORKSHOP_30,
        {"created_at": NOW - 30 * DAY + SECOND, "expires": NOW + 60 * DAY, "duration": "90d"},
        (),
        None,
    ),
    ("workshop-needs-duration", WORKSHOP_30, {"created_at": NOW - 100 * DAY, "expires": NOW + DAY}, (), None),
    (
        "workshop-litemaas-key-no-expiry",
        WORKSHOP_30,
        {"created_at": NOW - 100 * DAY, "created_by": "litemaas"},
        (),
        None,
    ),
    (
        "workshop-non-string-duration-uses-created_at",
        WORKSHOP_30,
        {"created_at": NOW - 31 * DAY, "expires": NOW + DAY, "duration": 90},
        (),
        "max_age",
    ),
    (
        "workshop-duration-without-expires",
        WORKSHOP_30,
        {"created_at": NOW - 31 * DAY, "duration": "90d"},
        (),
        "max_age",
    ),
    # created_at missing: reconstructed as expires - duration (the script's rule)
    ("fallback-exactly-at-threshold", WORKSHOP_30, {"expires": NOW + 60 * DAY, "duration": "90d"}, (), None),
    (
        "fallback-one-second-past",
        WORKSHOP_30,
        {"expires": NOW + 60 * DAY - SECOND, "duration": "90d"},
        (),
        "max_age",
    ),
    ("fallback-hours", WORKSHOP_30, {"expires": NOW + 60 * DAY - SECOND, "duration": "2160h"}, (), "max_age"),
    ("fallback-unknown-suffix-kept", WORKSHOP_30, {"expires": NOW + 60 * DAY, "duration": "13w"}, (), None),
    ("fallback-non-string-kept", WORKSHOP_30, {"expires": NOW + 60 * DAY, "duration": 90}, (), None),
    # max_age, expiring: every key with an expiry
    (
        "expiring-covers-litemaas-key",
        EXPIRING_30,
        {"created_at": NOW - 31 * DAY, "expires": NOW + DAY, "created_by": "litemaas"},
        (),
        "max_age",
    ),
    (
        "expiring-exactly-at-threshold",
        EXPIRING_30,
        {"created_at": NOW - 30 * DAY, "expires": NOW + DAY},
        (),
        None,
    ),
    ("expiring-skips-no-expiry", EXPIRING_30, {"created_at": NOW - 31 * DAY, "duration": "90d"}, (), None),
    ("expiring-no-created-no-duration", EXPIRING_30, {"expires": NOW + DAY}, (), None),
    (
        "expired-wins-over-max-age",
        EXPIRING_30,
        {"created_at": NOW - 31 * DAY, "expires": NOW - SECOND},
        (),
        "expired",
    ),
    # protection
    ("protected-alias-glob", PROTECTED, {"alias": "workshop-admin_1a2b3c4d", "expires": NOW - DAY}, (), None),
    ("protected-alias-single-char-glob", PROTECTED, {"alias": "ops_1", "expires": NOW - DAY}, (), None),
    (
        "alias-glob-is-case-sensitive",
        PROTECTED,
        {"alias": "Workshop-Admin_1a2b3c4d", "expires": NOW - DAY},
        (),
        "expired",
    ),
    ("alias-glob-no-match", PROTECTED, {"alias": "ops_12", "expires": NOW - DAY}, (), "expired"),
    ("no-alias-not-protected", PROTECTED, {"alias": None, "expires": NOW - DAY}, (), "expired"),
    ("protected-user-id", PROTECTED, {"user_id": "u-1", "expires": NOW - DAY}, ("u-1",), None),
    ("other-user-not-protected", PROTECTED, {"user_id": "u-2", "expires": NOW - DAY}, ("u-1",), "expired"),
    (
        "dashboard-key",
        PROTECTED,
        {"team_id": names.DASHBOARD_TEAM_ID, "expires": NOW - 100 * DAY, "created_at": NOW - 200 * DAY},
        (),
        None,
    ),
]


@pytest.mark.parametrize(
    ("policy", "kw", "protected", "expected"),
    [pytest.param(p, kw, prot, exp, id=i) for i, p, kw, prot, exp in PRUNE_CASES],
)
def test_prune_rule(
    policy: KeyRetention, kw: dict[str, Any], protected: tuple[str, ...], expected: str | None
) -> None:
    assert prune_rule(key(**kw), policy, NOW, frozenset(protected)) == expected


def test_prune_rule_accepts_other_zones_and_naive_datetimes() -> None:
    plus2 = timezone(timedelta(hours=2))
    k = key(expires=(NOW - SECOND).astimezone(plus2))
    assert prune_rule(k, EXPIRED_ONLY, NOW) == "expired"
    naive = key(expires=(NOW - SECOND).replace(tzinfo=None))
    assert prune_rule(naive, EXPIRED_ONLY, NOW.replace(tzinfo=None)) == "expired"


# --- plan_keys -------------------------------------------------------------------------------------

ALICE = LiteMaaSUser(id="u-alice", email="alice@example.com", roles=("user",))
OBRIEN = LiteMaaSUser(id="u-obrien", email="o'brien@example.com", roles=("user",))
USERS = (ALICE, OBRIEN)


def retention(**kw: Any) -> dict[str, Any]:
    return {"key_retention": kw}


def test_no_policy_no_actions() -> None:
    assert plan_keys(desired(), live(keys=(key(expires=NOW - DAY),)), NOW) == ([], [])


def test_keys_not_observed_is_an_error() -> None:
    actions, diags = plan_keys(desired(**retention()), live(), NOW)
    assert actions == []
    assert [(d.severity, d.summary) for d in diags] == [
        (Severity.ERROR, "LiteLLM virtual keys were not observed: cannot plan key retention")
    ]


def test_one_action_per_rule_with_sorted_keys_owner_and_precondition() -> None:
    keys = (
        key(3, alias="b_3", user_id="u-alice", expires=NOW - 2 * DAY),
        key(1, alias="a_1", user_id="u-alice", expires=NOW - 5 * DAY),
        key(2, alias="c_2", user_id="u-ghost", expires=NOW - 2 * DAY),
        key(4, alias="w_4", created_at=NOW - 40 * DAY, expires=NOW + 50 * DAY, duration="90d"),
        key(5, alias="w_5", expires=NOW + 50 * DAY, duration="90d"),  # created reconstructed: NOW-40d
        key(6, alias="keep", expires=NOW + DAY),
    )
    actions, diags = plan_keys(
        desired(**retention(max_age_days=30, sync_litemaas=False)), live(keys=keys, users=USERS), NOW
    )
    assert diags == []
    expired, max_age = actions
    assert isinstance(expired, DeleteKeysAction) and isinstance(max_age, DeleteKeysAction)
    assert (expired.id, expired.address, expired.phase, expired.rule, expired.destructive) == (
        "keys/expired",
        "keys/expired",
        Phase.KEYS,
        "expired",
        True,
    )
    assert [k.token_hash for k in expired.keys] == [token(1), token(2), token(3)]  # by expires, then token
    assert expired.keys[0] == KeyRef(
        token_hash=token(1),
        alias="a_1",
        user_id="u-alice",
        owner="alice@example.com",
        created_at=None,
        expires=NOW - 5 * DAY,
        rule="expired",
    )
    assert expired.keys[1].owner is None  # user unknown to LiteMaaS
    assert [(c.field, c.before, c.after) for c in expired.changes] == [("keys", 3, 0)]
    assert expired.preconditions == (KeyExpiries(rule="expired"),)  # of these keys' expires (KeyRef.expires)
    assert expired.sync_litemaas is False

    assert (max_age.id, max_age.address, max_age.rule) == ("keys/max_age", "keys/max_age", "max_age")
    assert [(k.token_hash, k.created_at) for k in max_age.keys] == [
        (token(4), NOW - 40 * DAY),
        (token(5), NOW - 40 * DAY),
    ]
    assert max_age.preconditions == (KeyExpiries(rule="max_age"),)
    assert any("reconstructed" in n for n in max_age.notes)


def test_nothing_prunable_means_no_actions() -> None:
    actions, diags = plan_keys(
        desired(**retention()), live(keys=(key(expires=NOW + DAY),), api_key_rows=()), NOW
    )
    assert (actions, diags) == ([], [])


def _expired_keys(n: int) -> tuple[VirtualKey, ...]:
    return tuple(key(i, expires=NOW - DAY) for i in range(1, n + 1))


def test_max_deletions_equal_passes() -> None:
    actions, diags = plan_keys(
        desired(**retention(max_deletions=3, sync_litemaas=False)), live(keys=_expired_keys(3)), NOW
    )
    assert diags == []
    assert len(actions[0].keys) == 3  # type: ignore[union-attr]


def test_max_deletions_plus_one_is_an_error_and_keeps_the_list() -> None:
    actions, diags = plan_keys(
        desired(**retention(max_deletions=3, sync_litemaas=False)), live(keys=_expired_keys(4)), NOW
    )
    assert [(d.severity, d.summary) for d in diags] == [
        (
            Severity.ERROR,
            "4 keys are prunable, more than max_deletions (3): raise the limit or prune in steps",
        )
    ]
    assert len(actions[0].keys) == 4  # type: ignore[union-attr]


def test_max_deletions_counts_both_rules() -> None:
    keys = (key(1, expires=NOW - DAY), key(2, created_at=NOW - 40 * DAY, expires=NOW + DAY, duration="90d"))
    _, diags = plan_keys(
        desired(**retention(max_age_days=30, max_deletions=1, sync_litemaas=False)), live(keys=keys), NOW
    )
    assert [d.summary.split(",")[0] for d in diags] == ["2 keys are prunable"]


def test_max_deletions_zero_blocks_any_deletion() -> None:
    _, diags = plan_keys(
        desired(**retention(max_deletions=0, sync_litemaas=False)), live(keys=_expired_keys(1)), NOW
    )
    assert [d.severity for d in diags] == [Severity.ERROR]


def test_protect_user_by_email_in_other_case_with_apostrophe() -> None:
    keys = (key(1, user_id="u-obrien", expires=NOW - DAY), key(2, user_id="u-alice", expires=NOW - DAY))
    actions, diags = plan_keys(
        desired(**retention(protect_users=["O'Brien@Example.COM"], sync_litemaas=False)),
        live(keys=keys, users=USERS),
        NOW,
    )
    assert diags == []
    assert [k.token_hash for k in actions[0].keys] == [token(2)]  # type: ignore[union-attr]


def test_protect_user_by_litellm_user_id() -> None:
    keys = (key(1, user_id="svc-ci", expires=NOW - DAY), key(2, user_id="u-alice", expires=NOW - DAY))
    actions, diags = plan_keys(
        desired(**retention(protect_users=["svc-ci"], sync_litemaas=False)), live(keys=keys), NOW
    )
    assert diags == []
    assert [k.token_hash for k in actions[0].keys] == [token(2)]  # type: ignore[union-attr]


def test_protected_email_without_user_is_a_warning() -> None:
    _, diags = plan_keys(
        desired(**retention(protect_users=["nobody@example.com"], sync_litemaas=False)),
        live(keys=(), users=USERS),
        NOW,
    )
    assert [(d.severity, d.summary) for d in diags] == [
        (Severity.WARNING, "key_retention.protect_users: nobody@example.com matches no LiteMaaS user")
    ]


def test_protected_email_without_users_observed_is_an_error() -> None:
    _, diags = plan_keys(
        desired(**retention(protect_users=["alice@example.com"], sync_litemaas=False)),
        live(keys=_expired_keys(1)),
        NOW,
    )
    assert [d.severity for d in diags] == [Severity.ERROR]
    assert "protect_users lists emails" in diags[0].summary


def test_dashboard_keys_are_never_listed() -> None:
    keys = (key(1, team_id=names.DASHBOARD_TEAM_ID, expires=NOW - DAY),)
    assert plan_keys(desired(**retention(sync_litemaas=False)), live(keys=keys), NOW) == ([], [])


# --- LiteMaaS rows: orphans by key_hash, never by alias ----------------------------------------------


def test_rotated_key_row_survives_and_orphan_row_is_revoked() -> None:
    # Rotation: LiteLLM's new key has no alias; the LiteMaaS row keeps the stale alias but the new key_hash.
    rotated = key(10, alias=None, user_id="u-alice", created_at=NOW - DAY)
    other = key(11, alias="shared-alias_aaaaaaaa", user_id="u-alice", created_at=NOW - DAY)
    rows = (
        ApiKeyRow(id="r-rotated", user_id="u-alice", key_hash=token(10), alias="mykey_1234abcd"),
        # same alias as a live key, but its key is gone: an alias match must not save it
        ApiKeyRow(id="r-orphan", user_id="u-obrien", key_hash=token(99), alias="shared-alias_aaaaaaaa"),
        ApiKeyRow(id="r-revoked", user_id="u-alice", key_hash=token(98), alias="old_1", is_active=False),
    )
    actions, diags = plan_keys(
        desired(**retention()), live(keys=(rotated, other), api_key_rows=rows, users=USERS), NOW
    )
    assert diags == []
    (revoke,) = actions
    assert isinstance(revoke, RevokeRowsAction)
    assert (revoke.id, revoke.address, revoke.phase, revoke.kind) == (
        "keys/orphans",
        "litemaas/api_keys",
        Phase.KEYS,
        "revoke_rows",
    )
    assert [(r.id, r.key_hash, r.alias, r.owner) for r in revoke.rows] == [
        ("r-orphan", token(99), "shared-alias_aaaaaaaa", "o'brien@example.com")
    ]
    assert revoke.sync_error == ORPHAN_SYNC_ERROR
    assert revoke.sync_error.startswith("Key deleted from LiteLLM") and "orphan" in revoke.sync_error
    assert revoke.preconditions == (OrphanRows(row_ids=("r-orphan",)),)


def test_rows_of_pruned_keys_are_left_to_the_delete_action() -> None:
    rows = (ApiKeyRow(id="r-1", user_id="u-alice", key_hash=token(1), alias="a"),)
    actions, diags = plan_keys(desired(**retention()), live(keys=_expired_keys(1), api_key_rows=rows), NOW)
    assert diags == []
    (delete,) = actions
    assert isinstance(delete, DeleteKeysAction) and delete.sync_litemaas is True
    assert any(n.startswith("1 active LiteMaaS api_keys row") for n in delete.notes)


def test_sync_litemaas_off_means_no_orphan_pass() -> None:
    rows = (ApiKeyRow(id="r-orphan", user_id="u-alice", key_hash=token(99)),)
    assert plan_keys(desired(**retention(sync_litemaas=False)), live(keys=(), api_key_rows=rows), NOW) == (
        [],
        [],
    )


def test_rows_not_observed_warns() -> None:
    actions, diags = plan_keys(desired(**retention()), live(keys=()), NOW)
    assert actions == []
    assert [(d.severity, d.address) for d in diags] == [(Severity.WARNING, "litemaas/api_keys")]


def test_orphans_over_max_deletions_is_an_error() -> None:
    rows = tuple(ApiKeyRow(id=f"r-{i}", user_id="u-alice", key_hash=token(100 + i)) for i in range(3))
    actions, diags = plan_keys(desired(**retention(max_deletions=2)), live(keys=(), api_key_rows=rows), NOW)
    assert len(actions[0].rows) == 3  # type: ignore[union-attr]
    assert [d.summary for d in diags] == [
        "3 LiteMaaS api_keys rows would be revoked as orphans, more than max_deletions (2): "
        "raise the limit or prune in steps"
    ]


def test_plan_is_deterministic_under_input_order() -> None:
    keys = _expired_keys(5)
    a = plan_keys(desired(**retention(sync_litemaas=False)), live(keys=keys), NOW)
    b = plan_keys(desired(**retention(sync_litemaas=False)), live(keys=tuple(reversed(keys))), NOW)
    assert a == b


def test_the_delete_action_counts_the_rows_it_will_revoke() -> None:
    rows = (
        ApiKeyRow(id="r-1", user_id="u-alice", key_hash=token(1), alias="a"),
        ApiKeyRow(id="r-1b", user_id="u-alice", key_hash=token(1), alias="a-dup"),
        ApiKeyRow(id="r-2", user_id="u-alice", key_hash=token(2), alias="b", is_active=False),
        ApiKeyRow(id="r-9", user_id="u-alice", key_hash=token(99), alias="orphan"),
    )
    actions, _ = plan_keys(desired(**retention()), live(keys=_expired_keys(3), api_key_rows=rows), NOW)
    delete, orphans = actions
    assert isinstance(delete, DeleteKeysAction) and delete.litemaas_rows == 2  # the inactive row is not counted
    assert isinstance(orphans, RevokeRowsAction) and len(orphans.rows) == 1
    actions, _ = plan_keys(desired(**retention(sync_litemaas=False)), live(keys=_expired_keys(3), api_key_rows=rows),
                           NOW)
    assert [a.litemaas_rows for a in actions if isinstance(a, DeleteKeysAction)] == [0]
