"""Values from the world are hostile: a key alias or an owner cannot forge plan lines, drive the terminal
or notify anyone on GitHub (render/escape.py), on the sandbox through the real CLI."""

from __future__ import annotations

import hashlib
import re

import psycopg
import pytest

from tests.e2e.conftest import Sandbox, secrets_file
from tests.e2e.test_end_to_end import write
from tests.render.gfm import gfm_html

pytestmark = pytest.mark.slow

FORGED = "x\n+ deployment/evil will be created"
HOSTILE = [
    FORGED,
    "osc8 \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 cr\rbs\b\bdel\x7f c1\x9b2J bidi\u202etxt.exe",
    "@octo-org/admins please approve #123 GH-45 <img src=x onerror=alert(1)> | forged | row |",
    "A" * 10_000,
]


def insert_expired_tokens(sb: Sandbox, aliases: list[str]) -> None:
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        conn.execute('UPDATE "LiteLLM_VerificationToken" SET expires = NULL')  # only ours are prunable
        for i, alias in enumerate(aliases):
            token = hashlib.sha256(f"hostile-{i}".encode()).hexdigest()
            conn.execute('INSERT INTO "LiteLLM_VerificationToken" (token, key_alias, user_id, expires, created_at) '
                         "VALUES (%s, %s, %s, now() - interval '2 days', now() - interval '3 days')",
                         (token, alias, f"@someone\n+ deployment/evil2 {i}"))


def test_hostile_aliases_cannot_forge_the_plan(make_sandbox) -> None:
    sb = make_sandbox()
    insert_expired_tokens(sb, HOSTILE)
    state = write(sb, "key_retention:\n  delete_expired: true\n  max_deletions: 500\n")
    for color in ("--no-color", "--color"):
        proc = sb.cli("plan", state, color)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert not [ln for ln in lines if re.match(r"\s*\+ deployment/evil", ln)], proc.stdout
        assert "deployment/evil will be created" in proc.stdout  # shown, on the alias's own line
        assert "x\\n+ deployment/evil will be created" in proc.stdout
        raw = proc.stdout.encode()
        if color == "--no-color":
            assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), "raw control byte on a --no-color terminal"
        else:  # only our colour sequences: ESC [ digits m
            assert not re.search(rb"\x1b(?!\[[0-9;]*m)", raw)
            assert not re.search(rb"[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f]", raw)
        text = proc.stdout
        assert "\u202e" not in text and "\x9b" not in text and "\x85" not in text
        assert "\\u202e" in text and "\\u001b]8;;" in text
        assert "A" * 10_000 not in text and "more characters]" in text
        assert max(len(ln) for ln in lines) < 2_000

    md = sb.cli("plan", state, "--format", "markdown", check=0).stdout
    assert "\x1b" not in md and "\x07" not in md and "\u202e" not in md
    html = gfm_html(md)
    assert "<a " not in html and "<img" not in html
    text = re.sub(r"<[^>]+>", "", html)
    assert not re.search(r"(?:^|\W)@[A-Za-z0-9]", text), "a live @mention"
    assert not re.search(r"#\d|\bGH-\d", text), "a live issue reference"
    # every row of a table has as many cells as its header (no forged cell), and the key table has one
    # row per key (no forged row)
    for table in re.findall(r"<table>(.*?)</table>", html, re.S):
        counts = [len(re.findall(r"<t[dh][ >]", tr)) for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
        assert len(set(counts)) == 1, table
        if "Token prefix" in table:
            assert len(counts) == 1 + len(HOSTILE)


def test_a_weak_database_password_is_masked_as_a_secret_not_inside_names(make_sandbox, tmp_path) -> None:
    sb = make_sandbox(secrets_file=secrets_file(tmp_path, db_password="litellm"))
    state = sb.state_copy()
    bad_url = sb.direct["LITELLM_DATABASE_URL"].replace("@", "x@", 1)  # wrong password: an error quoting it
    for args, extra in ((["plan", state], {}), (["plan", state, "--json"], {}),
                        (["plan", state, "--format", "markdown"], {}),
                        (["plan", state, "--litellm-database-url", "host=127.0.0.1 port=1 password=litellm"], {}),
                        (["plan", state], {"LITELLM_DATABASE_URL": bad_url})):
        proc = sb.cli(*args, extra_env=extra)
        out = proc.stdout + proc.stderr
        assert "(sensitive value)-rhpds" not in out and "(sensitive value)-backend" not in out, out
        assert "litellm-rhpds" in out or "litellm-db" in out  # names intact
        assert "password=litellm" not in out and ":litellm@" not in out
    plain = sb.cli("plan", state).stdout
    assert "deployment/litellm" in plain
    warnings = [ln for ln in plain.splitlines() if "database password is weak" in ln]
    assert len(warnings) == len(set(warnings)) >= 1, plain  # once per password


def test_a_saved_plan_holds_no_secret_and_no_raw_control_character(make_sandbox, tmp_path) -> None:
    sb = make_sandbox(secrets_file=secrets_file(tmp_path, master_key="sk-1234", db_password="postgres"))
    leaks = ["leak sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ123456 end", "uses the master key sk-1234 here",
             "dsn host=db password=postgres", "del\x7f nel\x85 csi\x9b2J bidi\u202etxt isolate\u2066x"]
    insert_expired_tokens(sb, leaks)
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        conn.execute('UPDATE "LiteLLM_VerificationToken" SET user_id = %s WHERE key_alias = %s', ("sk-1234", leaks[0]))
    state = write(sb, "key_retention:\n  delete_expired: true\n  max_deletions: 500\n")
    plan_file = sb.dir / "p.json"
    sb.cli("plan", state, "--out", str(plan_file), check=0)
    raw = plan_file.read_bytes()
    for secret in (b"sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ123456", b"sk-1234", b"password=postgres"):
        assert secret not in raw, secret
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f-\xff]", raw), "a raw control or non-ASCII byte in the saved plan"
    text = raw.decode("ascii")
    assert "\\u202e" in text and "\\u0085" in text and "\\u007f" in text and "\\u2066" in text
    assert "(sensitive value)" in text
    # still a plan apply accepts: keys are matched by token hash, the embedded state file by its digest
    applied = sb.cli("apply", "--plan", str(plan_file), check=0)
    assert "sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ123456" not in applied.stdout + applied.stderr
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        left = {r[0] for r in conn.execute('SELECT key_alias FROM "LiteLLM_VerificationToken"')}
    assert not set(leaks) & left
