"""Keys on the sandbox, through the real CLI: a stale LiteLLM database is never trusted, a saved plan
applies after someone else deleted some of its keys, and the counts shown are what apply does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import Sandbox, interactive
from tests.e2e.test_end_to_end import api_keys, tokens, write

pytestmark = pytest.mark.slow
KEYS = "key_retention:\n  delete_expired: true\n  max_deletions: 500\n  sync_litemaas: true\n"


def empty_schema_copy(sb: Sandbox, name: str) -> str:
    """A database holding LiteLLM's token table with the same columns and no rows; its URL."""
    url = sb.direct["LITELLM_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
        cols = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                            "'\"LiteLLM_VerificationToken\"'::regclass AND attnum > 0 AND NOT attisdropped "
                            "ORDER BY attnum").fetchall()
    stale = re.sub(r"/litellm\?", f"/{name}?", url)
    assert stale != url
    with psycopg.connect(stale, autocommit=True) as conn:
        conn.execute('CREATE TABLE "LiteLLM_VerificationToken" ({})'.format(", ".join(f'"{c}" {t}' for c, t in cols)))
    return stale


def delete_through_api(sb: Sandbox, token_hashes: list[str]) -> None:
    r = httpx.post(sb.direct["LITELLM_URL"] + "/key/delete", json={"keys": token_hashes},
                   headers={"Authorization": f"Bearer {sb.direct['LITELLM_MASTER_KEY']}"})
    assert r.status_code == 200, r.text


def planned(sb: Sandbox, state: str, extra_env: dict[str, str] | None = None) -> dict:
    return json.loads(sb.cli("plan", state, "--json", check=0, extra_env=extra_env).stdout)


def test_stale_litellm_database_revokes_nothing_alive(make_sandbox) -> None:
    """The repro: LITELLM_DATABASE_URL names an empty copy of the schema; 5 planned keys are deleted
    through the API while apply waits at its prompt; apply must not revoke rows of live keys."""
    sb = make_sandbox()
    state = write(sb, KEYS)
    stale = {"LITELLM_DATABASE_URL": empty_schema_copy(sb, "litellm_stale")}
    doc = planned(sb, state, stale)
    assert doc["key_source"]["origin"] == "key-list", doc["key_source"]
    assert "not in litellm_stale" in doc["key_source"]["detail"]
    plan_tokens = tokens(sb)  # every live token (LiteLLM's real database)
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        oldest = [r[0] for r in conn.execute(
            'SELECT token FROM "LiteLLM_VerificationToken" WHERE expires < now() AT TIME ZONE \'UTC\' '
            "AND team_id IS DISTINCT FROM 'litellm-dashboard' ORDER BY expires LIMIT 5")]
    assert len(oldest) == 5
    with_rows = {h for h, _a, active, _s, _e in api_keys(sb) if active}
    code, out = interactive(sb, ["apply", state], "yes", lambda: delete_through_api(sb, oldest), stale)
    assert code == 0, out
    assert "Virtual keys:" in out and "GET /key/list" in out
    assert "still exist" not in out
    assert "(5 were already gone)" in out
    alive = tokens(sb)
    assert alive < plan_tokens
    for key_hash, _alias, active, _status, err in api_keys(sb):
        if key_hash in alive and key_hash in with_rows:
            assert active, f"row of live key {key_hash[:10]} revoked ({err})"
    assert sb.cli("plan", state, "--detailed-exitcode", check=0)


def saved_delete_keys(sb: Sandbox) -> tuple[str, dict[str, Any]]:
    """`plan --out` of the KEYS state file: the saved plan's path and its delete_keys action (JSON)."""
    plan_file = str(sb.dir / "keys.plan")
    sb.cli("plan", write(sb, KEYS), "--out", plan_file, check=0)
    saved = json.loads(Path(plan_file).read_text())
    return plan_file, next(a for a in saved["actions"] if a["kind"] == "delete_keys")


def test_saved_plan_applies_after_some_keys_were_deleted_elsewhere(make_sandbox) -> None:
    sb = make_sandbox()
    plan_file, action = saved_delete_keys(sb)
    gone = [k["token_hash"] for k in action["keys"][:3]]
    delete_through_api(sb, gone)
    proc = sb.cli("apply", "--plan", plan_file, check=0)
    assert "(3 were already gone)" in proc.stdout, proc.stdout
    assert not {k["token_hash"] for k in action["keys"]} & tokens(sb)
    rows = {h: active for h, _a, active, _s, _e in api_keys(sb)}
    assert not any(rows.get(t, False) for t in gone), "rows of the externally deleted keys are revoked too"


def test_saved_plan_with_every_key_gone_is_done_not_stale(make_sandbox) -> None:
    sb = make_sandbox()
    plan_file, action = saved_delete_keys(sb)
    delete_through_api(sb, [k["token_hash"] for k in action["keys"]])
    proc = sb.cli("apply", "--plan", plan_file, check=0)
    assert f"({len(action['keys'])} were already gone)" in proc.stdout, proc.stdout


def test_counts_shown_are_what_apply_does(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, KEYS)
    doc = planned(sb, state)
    assert doc["key_source"]["origin"] == "litellm-db", doc["key_source"]
    summary = doc["summary"]
    keys_phase = next(p for p in doc["phases"] if p["phase"] == "keys")
    by_kind = {a["kind"]: a for a in keys_phase["actions"]}
    with_key = by_kind["delete_keys"]["rows_revoked"]
    orphans = by_kind["revoke_rows"]["rows_revoked"] if "revoke_rows" in by_kind else 0
    assert with_key > 0 and orphans > 0  # the seed has both kinds
    assert summary["rows_revoked"] == with_key + orphans
    text = sb.cli("plan", state, check=0).stdout
    assert f"{summary['destroy']} virtual keys deleted, {with_key + orphans} LiteMaaS rows revoked" in text
    md = sb.cli("plan", state, "--format", "markdown", check=0).stdout
    assert f"{with_key + orphans:,} LiteMaaS rows to mark revoked" in md
    assert f"| keys | {len(keys_phase['actions'])} | 0 | {summary['change']:,} | {summary['destroy']:,} |" in md
    active_before = sum(1 for *_x, active, _s, _e in api_keys(sb) if active)
    out = sb.cli("apply", state, "--auto-approve", check=0).stdout
    revoked = sum(int(n) for n in re.findall(r"; (\d+) LiteMaaS api_keys rows revoked", out))
    revoked += sum(int(n) for n in re.findall(r"(\d+) orphaned api_keys rows revoked", out))
    active_after = sum(1 for *_x, active, _s, _e in api_keys(sb) if active)
    assert revoked == active_before - active_after == with_key + orphans, out
