"""Broken or hostile state files are refused fast, with file:line:column and the limit named; every
number has a bound; timestamps, e-mails and directories that would be taken wrongly are refused."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litemaas_state.errors import StateFileError
from litemaas_state.live.model import LiveState, VirtualKey
from litemaas_state.plan.planner import make_plan
from litemaas_state.spec.load import MAX_FILE_CHARS, MAX_NODES, MAX_SCALAR_CHARS, parse_state
from tests.conftest import run_cli
from tests.plan.factories import token
from tests.spec.test_load import GOOD, HEAD, problems

ROOT = Path(__file__).resolve().parents[2]


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["validate", str(path)], timeout_s=60)


@pytest.mark.parametrize(("raw", "line", "column", "what"), [
    ((HEAD + "x: a\x00b\n").encode(), 7, 5, "U+0000 (NUL)"),
    ((HEAD + "x: a\x7fb\n").encode(), 7, 5, "U+007F (DEL)"),
    ((HEAD + "x: a\x85b\n").encode(), 7, 5, "U+0085 (NEL)"),
    ((HEAD + "x: a\x9bb\n").encode(), 7, 5, "U+009B"),
    ((HEAD + "x: a\x1b[2Jb\n").encode(), 7, 5, "U+001B (ESC)"),
    ((HEAD + "x: a\u202eb\n").encode(), 7, 5, "U+202E (bidirectional control)"),
    (HEAD.encode("utf-16-le"), 1, 2, "UTF-16"),
    (HEAD.encode("utf-16"), 1, 1, "UTF-16"),
    (bytes(range(256)) * 4, 2, 118, "not UTF-8"),
    (b"\x00\x01\x02binary\x00", 1, 1, "U+0000"),
])
def test_bad_characters_get_a_position_not_a_reader_error(tmp_path: Path, raw: bytes, line: int, column: int,
                                                          what: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_bytes(raw)
    proc = validate(f)
    assert proc.returncode == 1
    assert "internal error" not in proc.stderr and "ReaderError" not in proc.stderr and "Traceback" not in proc.stderr
    assert f"{f}:{line}:{column}:" in proc.stderr and what in proc.stderr, proc.stderr
    assert len(proc.stderr) < 500


@pytest.mark.parametrize(("text", "limit"), [
    (HEAD.replace("kind: Environment", "kind: " + "x" * 100_000), f"{MAX_SCALAR_CHARS:,}"),
    (HEAD + "admins:\n  emails:\n" + "    - a@b.co\n" * 400_000, f"{MAX_FILE_CHARS:,}"),
    (HEAD + "admins:\n  emails: [" + ",".join(["a"] * 100_000) + "]\n", f"{MAX_NODES:,}"),
])
def test_oversized_files_and_values_are_refused_fast_with_the_limit(tmp_path: Path, text: str, limit: str) -> None:
    start = time.monotonic()
    [(_, _, _, summary)] = problems(text)
    assert time.monotonic() - start < 3.0  # refused while parsing, not after building 400,000 items (which took 48 s); generous for a loaded 2-core CI
    assert limit in summary and len(summary) < 200
    f = tmp_path / "big.yaml"
    f.write_text(text)
    start = time.monotonic()
    proc = validate(f)
    assert proc.returncode == 1 and limit in proc.stderr and len(proc.stderr) < 500, proc.stderr[:500]


@pytest.mark.parametrize(("body", "field", "bound"), [
    ("key_retention:\n  expired_grace_days: 999999999999\n", "key_retention.expired_grace_days", "3650"),
    ("key_retention:\n  max_age_days: 999999999999\n", "key_retention.max_age_days", "3650"),
    ("key_retention:\n  max_age_days: .inf\n", "key_retention.max_age_days", ""),
    ("key_retention:\n  expired_grace_days: .nan\n", "key_retention.expired_grace_days", ""),
    ("key_retention:\n  max_deletions: 99999999999\n", "key_retention.max_deletions", "1000000"),
    ("backup:\n  keep: 99999999999\n", "backup.keep", "100"),
    ("deployments:\n  litellm:\n    replicas: 99999999999\n", "deployments.litellm.replicas", "1000"),
    (f"admins:\n  emails: ['{'a' * 300}@example.com']\n", "admins.emails", "254"),
    ("backup:\n  directory: /etc\n", "backup.directory", "system directory"),
    ("backup:\n  directory: /usr/local/../lib/x\n", "backup.directory", "system directory"),
    ("deployments:\n  litellm:\n    restart_at: 1700000000\n", "deployments.litellm.restart_at", "RFC 3339"),
    ("deployments:\n  litellm:\n    restart_at: 2026-11-29T10:00:00\n", "deployments.litellm.restart_at", "no zone"),
    ("deployments:\n  litellm:\n    restart_at: '2026-11-29 10:00'\n", "deployments.litellm.restart_at", "RFC 3339"),
    ("deployments:\n  litellm:\n    restart_at: 2026-11-29\n", "deployments.litellm.restart_at", "RFC 3339"),
    ("deployments:\n  litellm:\n    restart_at: 2026-02-30T10:00:00Z\n", "deployments.litellm.restart_at",
     "day is out of range"),
    ("deployments:\n  litellm:\n    restart_at: 2026-13-01T10:00:00Z\n", "deployments.litellm.restart_at", "month"),
    ("deployments:\n  litellm:\n    restart_at: 2026-01-01T10:00:00+25:00\n", "deployments.litellm.restart_at",
     "under 24 hours"),
    ('admins:\n  emails: ["new.hire@example.com\\u202e"]\n', "admins.emails[0]", "U+202E (bidirectional control)"),
    ('admins:\n  emails: ["new.hire@example.com\\u200b"]\n', "admins.emails[0]", "U+200B"),
    ('key_retention:\n  protect_aliases: ["ws-\\x1b[2J"]\n', "key_retention.protect_aliases[0]", "U+001B (ESC)"),
    ('key_retention:\n  protect_users: ["u\\x85"]\n', "key_retention.protect_users[0]", "U+0085 (NEL)"),
    ('metadata2:\n  "x\\u2066": 1\n', "metadata2", "U+2066"),
])
def test_values_out_of_bounds_are_refused_naming_the_bound(body: str, field: str, bound: str) -> None:
    found = problems(HEAD + body)
    assert [f for _, _, f, _ in found] == [field], found
    assert bound in found[0][3]


def test_bounded_numbers_never_overflow_in_plan() -> None:
    text = HEAD + "key_retention:\n  expired_grace_days: 3650\n  max_age_days: 3650\n  max_age_applies_to: expiring\n"
    desired = parse_state(text, "x.yaml")
    keys = (VirtualKey(token_hash=token(1), expires=datetime(1, 1, 2, tzinfo=UTC),
                       created_at=datetime(1, 1, 1, tzinfo=UTC)),)
    for now in (datetime(2026, 11, 29, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)):
        plan = make_plan(desired, LiveState(observed_at=now, namespace="ns", keys=keys), now=now, state_file="x.yaml", state_digest="0" * 64)
        assert plan is not None


def test_restart_at_with_an_offset_is_taken_in_utc() -> None:
    d = parse_state(HEAD + "deployments:\n  litellm:\n    restart_at: 2026-11-29T10:00:00.7+02:00\n", "x.yaml")
    assert d.deployments.litellm is not None
    assert d.deployments.litellm.restart_at == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_restart_at_in_the_future_is_a_plan_error() -> None:
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    soon, later = now + timedelta(minutes=4), now + timedelta(hours=1)
    for when, refused in ((soon, False), (later, True)):
        d = parse_state(HEAD + f"deployments:\n  litellm:\n    restart_at: {when:%Y-%m-%dT%H:%M:%SZ}\n", "x.yaml")
        plan = make_plan(d, LiveState(observed_at=now, namespace="ns"), now=now, state_file="x.yaml", state_digest="0" * 64)
        errors = [x for x in plan.diagnostics if x.severity == "error" and "in the future" in x.summary]
        assert bool(errors) == refused, plan.diagnostics
    for far in ("2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        d = parse_state(HEAD + f"deployments:\n  litellm:\n    restart_at: {far}\n", "x.yaml")
        plan = make_plan(d, LiveState(observed_at=now, namespace="ns"), now=now, state_file="x.yaml", state_digest="0" * 64)
        assert [x for x in plan.diagnostics if x.severity == "error" and "in the future" in x.summary], far


def test_the_shipped_file_is_within_every_limit() -> None:
    assert len(GOOD) < MAX_FILE_CHARS
    parse_state(GOOD, "state/litellm-rhpds.yaml")


def test_a_saved_plans_embedded_state_file_gets_the_same_limits() -> None:
    with pytest.raises(StateFileError):
        parse_state(HEAD + "x" * (MAX_FILE_CHARS + 1), "embedded")


def test_backup_directories_resolving_into_system_directories_are_refused_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "backups_link").symlink_to("/etc")
    for directory, shown in (("../../../../../../../../etc/cron.d", "/etc"), ("../../../../../../../../proc/self", "/proc"),
                             ("backups_link", "/etc"), ("backups_link/sub", "/etc"), ("'~/'", "'~'"),
                             ("~/backups", "'~'")):
        f = tmp_path / "x.yaml"
        f.write_text(HEAD + f"backup:\n  directory: {directory}\n")
        proc = validate(f)
        assert proc.returncode == 1, (directory, proc.stdout)
        assert f"{f}:8:14: backup.directory" in proc.stderr and shown in proc.stderr, (directory, proc.stderr)
        assert not (tmp_path / "~").exists()
    f.write_text(HEAD + "backup:\n  directory: backups\n")
    assert validate(f).returncode == 0
