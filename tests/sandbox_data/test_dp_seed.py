"""The seeded population: counts per category and the shapes each creator leaves (seed.py docstring)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from litemaas_state.sandbox.seed import KEY_CATEGORIES, build, summarize

from .conftest import Sandbox

EXPECTED_CATEGORIES = {
    "litemaas_live": 90,
    "litemaas_never_expires": 40,
    "litemaas_expired": 25,
    "litemaas_rotated": 2,
    "workshop_expired": 60,
    "workshop_live": 25,
    "workshop_90d_old": 20,
    "workshop_90d_recent": 15,
    "workshop_odd_duration": 3,
    "script_live": 10,
    "script_expired": 5,
    "script_never_expires": 3,
    "manual_never_expires": 5,
    "dashboard": 6,
}
VT = '"LiteLLM_VerificationToken"'


def _tokens(sbx: Sandbox, category: str) -> list[dict[str, Any]]:
    with sbx.litellm() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT * FROM {VT} WHERE token = ANY(%s) ORDER BY token",  # noqa: S608
            (list(sbx.dp.seed.keys[category]),),
        ).fetchall()


def test_summary_counts(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    assert {k: s.count(k) for k in s.keys} == EXPECTED_CATEGORIES
    assert (s.users, s.people, s.inactive_users, s.admins, s.readonly_admins) == (301, 300, 12, 3, 1)
    assert (s.tokens, s.listed_tokens, s.deleted_tokens) == (309, 303, 41)
    assert (s.api_keys, s.api_keys_active, s.api_keys_revoked, s.api_keys_orphaned) == (174, 160, 14, 3)
    assert s.litellm_users == 300 and s.models == 6
    assert set(s.subscriptions_by_status) == {
        "active",
        "suspended",
        "cancelled",
        "expired",
        "inactive",
        "pending",
        "denied",
    }
    assert sum(s.subscriptions_by_status.values()) == s.subscriptions


def test_counts_match_the_tables(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    with sbx.litemaas() as m, sbx.litellm() as ll:
        assert m.execute("SELECT count(*) FROM users").fetchone() == (s.users,)
        assert m.execute("SELECT count(*) FROM api_keys").fetchone() == (s.api_keys,)
        assert m.execute(
            "SELECT count(*) FROM api_keys WHERE NOT is_active AND revoked_at IS NOT NULL"
        ).fetchone() == (s.api_keys_revoked,)
        assert m.execute("SELECT count(*) FROM subscriptions").fetchone() == (s.subscriptions,)
        assert m.execute("SELECT count(*) FROM audit_logs WHERE action LIKE 'API_KEY_%'").fetchone() == (
            s.audit_logs,
        )
        seeded = set().union(*s.keys.values())
        present = {r[0] for r in ll.execute(f"SELECT token FROM {VT}")}  # noqa: S608
        assert seeded <= present
        assert ll.execute('SELECT count(*) FROM "LiteLLM_UserTable"').fetchone() == (s.litellm_users,)
        n_deleted = ll.execute('SELECT count(*) FROM "LiteLLM_DeletedVerificationToken"').fetchone()
        assert n_deleted is not None and n_deleted[0] >= s.deleted_tokens  # tests may delete more


def test_system_user_and_roles(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    with sbx.litemaas() as conn:
        row = conn.execute(
            "SELECT username, email, is_active, roles FROM users WHERE id = '00000000-0000-0000-0000-000000000001'"
        ).fetchone()
        assert row == ("system", "system@litemaas.internal", False, [])
        admins = conn.execute(
            "SELECT email, roles FROM users WHERE 'admin' = ANY(roles) ORDER BY email"
        ).fetchall()
        ro = conn.execute("SELECT email, roles FROM users WHERE 'admin-readonly' = ANY(roles)").fetchall()
        apostrophe = conn.execute(
            "SELECT username FROM users WHERE email = %s", (s.apostrophe_email,)
        ).fetchone()
        ci = conn.execute(
            "SELECT count(*) FROM users WHERE lower(email) = lower(%s)", ("dana.whitfield@example.com",)
        ).fetchone()
    with sbx.litellm() as ll:
        roles_ltl = dict(ll.execute('SELECT user_email, user_role FROM "LiteLLM_UserTable"').fetchall())
    assert sorted(s.admin_emails) == [a[0] for a in admins] and all(a[1] == ["admin", "user"] for a in admins)
    assert ro == [(s.readonly_admin_emails[0], ["admin-readonly", "user"])]
    assert "'" in s.apostrophe_email and apostrophe == ("sobrien",)
    assert "Dana.Whitfield@Example.com" in s.admin_emails and ci == (1,)
    assert len(s.mixed_case_emails) == 6
    assert {roles_ltl[e] for e in s.admin_emails} == {"proxy_admin"}
    assert roles_ltl[s.apostrophe_email] == "internal_user"


def test_litemaas_keys_match_their_api_keys_rows(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    rows = (
        _tokens(sbx, "litemaas_live")
        + _tokens(sbx, "litemaas_expired")
        + _tokens(sbx, "litemaas_never_expires")
    )
    with sbx.litemaas() as conn:
        api = {
            r[0]: r
            for r in conn.execute(
                "SELECT key_hash, lite_llm_key_value, litellm_key_alias, key_prefix, is_active, sync_status, expires_at"
                " FROM api_keys"
            )
        }
    now = s.now.replace(tzinfo=None)
    for t in rows:
        key_hash, raw, alias, prefix, active, sync, expires_at = api[t["token"]]
        assert hashlib.sha256(raw.encode()).hexdigest() == t["token"] and prefix == raw[:7]
        assert t["key_alias"] == alias and re.fullmatch(r"[a-z0-9-]+_[0-9a-f]{8}", alias)
        assert t["key_name"] == f"sk-...{raw[-4:]}"
        assert t["metadata"]["created_by"] == "litemaas" and "duration" not in t["metadata"]
        assert active and sync == "synced"
        assert (expires_at is None) == (t["expires"] is None)
        if t["token"] in s.keys["litemaas_expired"]:
            assert t["expires"] < now
        elif t["token"] in s.keys["litemaas_live"]:
            assert t["expires"] > now


def test_rotated_key_keeps_the_stale_alias(sbx: Sandbox) -> None:
    """docs/deployment-facts.md §3.2: the fresh token has no alias; api_keys keeps the old alias, which LiteLLM no longer has."""
    s = sbx.dp.seed
    rotated = _tokens(sbx, "litemaas_rotated")
    assert len(rotated) == 2 and all(t["key_alias"] is None for t in rotated)
    with sbx.litemaas() as m, sbx.litellm() as ll:
        for t in rotated:
            alias = m.execute(
                "SELECT litellm_key_alias FROM api_keys WHERE key_hash = %s", (t["token"],)
            ).fetchone()
            assert alias is not None and alias[0] in s.rotated_stale_aliases
            assert ll.execute(f"SELECT count(*) FROM {VT} WHERE key_alias = %s", alias).fetchone() == (0,)  # noqa: S608
            assert ll.execute(
                'SELECT count(*) FROM "LiteLLM_DeletedVerificationToken" WHERE key_alias = %s', alias
            ).fetchone() == (1,)


def test_orphans_by_hash_and_by_alias(sbx: Sandbox) -> None:
    """By key_hash only the 3 orphans are missing; the rhpds alias rule also flags the 2 rotated keys."""
    s = sbx.dp.seed
    with sbx.litemaas() as m, sbx.litellm() as ll:
        tokens = {r[0] for r in ll.execute(f"SELECT token FROM {VT}")}  # noqa: S608
        aliases = {r[0] for r in ll.execute(f"SELECT key_alias FROM {VT} WHERE key_alias IS NOT NULL")}  # noqa: S608
        active = m.execute("SELECT key_hash, litellm_key_alias FROM api_keys WHERE is_active").fetchall()
        if sbx.databases == "shared":  # the rhpds orphan pass needs both schemas in one DB (docs/deployment-facts.md §6.1 (7))
            n = m.execute(
                "SELECT count(*) FROM api_keys WHERE is_active = true AND litellm_key_alias IS NOT NULL"
                ' AND NOT EXISTS (SELECT 1 FROM "LiteLLM_VerificationToken" lv'
                " WHERE lv.key_alias = api_keys.litellm_key_alias)"
            ).fetchone()
            assert n == (5,)
    assert sorted(h for h, _ in active if h not in tokens) == sorted(s.orphaned_key_hashes)
    by_alias = [a for _, a in active if a not in aliases]
    assert len(by_alias) == 5 and set(s.rotated_stale_aliases) <= set(by_alias)
    assert sum(a.startswith("orphaned_") for a in by_alias) == 1


def test_workshop_keys(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    now = s.now.replace(tzinfo=None)
    for cat in ("workshop_expired", "workshop_live", "workshop_90d_old", "workshop_90d_recent"):
        for t in _tokens(sbx, cat):
            meta = t["metadata"]
            assert set(meta) == {"alias", "models", "duration", "models_count", "user", "user_number"}
            days = int(meta["duration"].rstrip("d"))
            assert t["expires"] - t["created_at"] == timedelta(days=days)
            assert t["user_id"] is None and t["key_alias"] == meta["alias"]
            if cat == "workshop_expired":
                assert days in (7, 30) and t["expires"] < now
            elif cat == "workshop_live":
                assert days in (7, 30) and t["expires"] > now
            elif cat == "workshop_90d_old":
                assert days == 90 and t["created_at"] < now - timedelta(days=30) < now < t["expires"]
            else:
                assert days == 90 and t["created_at"] > now - timedelta(days=30)
    odd = sorted(str(t["metadata"]["duration"]) for t in _tokens(sbx, "workshop_odd_duration"))
    assert odd == ["2w", "30", "48h"]


def test_other_creators(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    now = s.now.replace(tzinfo=None)
    for cat in ("script_live", "script_expired", "script_never_expires"):
        for t in _tokens(sbx, cat):
            assert set(t["metadata"]) == {"user_email", "description"}
            assert {
                "script_live": t["expires"] is not None and t["expires"] > now,
                "script_expired": t["expires"] is not None and t["expires"] < now,
                "script_never_expires": t["expires"] is None,
            }[cat]
    assert all(t["expires"] is None and t["metadata"] == {} for t in _tokens(sbx, "manual_never_expires"))
    dash = _tokens(sbx, "dashboard")
    assert {t["team_id"] for t in dash} == {"litellm-dashboard"}
    assert sum(t["expires"] < now for t in dash) == 4


def test_expired_listed_count(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    seeded = list(set().union(*s.keys.values()))
    with sbx.litellm() as conn:
        n = conn.execute(
            f"SELECT count(*) FROM {VT} WHERE token = ANY(%s) AND expires < %s"  # noqa: S608
            " AND team_id IS DISTINCT FROM 'litellm-dashboard'",
            (seeded, s.now.replace(tzinfo=None)),
        ).fetchone()
    assert n == (s.expired_listed_tokens,)
    assert s.expired_listed_tokens == 25 + 60 + 1 + 5


def test_seed_is_deterministic() -> None:
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    a, b = summarize(build(now), 1), summarize(build(now), 1)
    c = summarize(build(now, seed=7), 7)
    assert a.keys == b.keys and a.subscriptions_by_status == b.subscriptions_by_status
    assert a.keys != c.keys
    assert [k for k, _ in KEY_CATEGORIES] == list(EXPECTED_CATEGORIES)
    assert {k: len(v) for k, v in c.keys.items()} == EXPECTED_CATEGORIES
