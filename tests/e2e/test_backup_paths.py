"""Where dumps go, through the real CLI on the sandbox: relative to the state file (not the current
directory), never un-ignored inside a git work tree, and a killed backup's partial is cleaned up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import STATE

pytestmark = pytest.mark.slow


def test_dumps_go_next_to_the_state_file_and_never_unignored_into_git(make_sandbox) -> None:
    sb = make_sandbox()
    repo = sb.dir / "repo"
    (repo / "state").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    state = repo / "state" / "litellm-rhpds.yaml"
    state.write_text(STATE.read_text())
    prefix = "litellm-rhpds-litellm-"
    stale = repo / "state" / "backups" / f"{prefix}20200101T000000Z.sql.gz.partial"

    # from inside state/, with a path through ..: refused, nothing written, no traceback
    refused = sb.cli("apply", "../state/litellm-rhpds.yaml", "--auto-approve", "--target", "backup",
                     cwd=repo / "state", check=1)
    assert "inside the git work tree" in refused.stderr and "git does not ignore it" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not list(repo.rglob("*.sql.gz"))

    (repo / ".gitignore").write_text("backups/\n")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"")  # what a kill -9 during pg_dump leaves
    other = stale.parent / "notes.sql.gz.partial"
    other.write_bytes(b"")
    done = sb.cli("apply", "../state/litellm-rhpds.yaml", "--auto-approve", "--target", "backup",
                  cwd=repo / "state", check=0)
    dumps = sorted(p.name for p in (repo / "state" / "backups").glob("*.sql.gz"))
    assert len(dumps) == 2, done.stdout
    assert not (repo / "state" / "state").exists() and not list(Path(repo / "state").glob("*.sql.gz"))
    assert not stale.exists() and other.exists()
    assert "unfinished dump" in done.stdout
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout
    assert ".sql.gz" not in status
