"""Newcomer-facing behaviour on the sandbox: the answer to apply's prompt from a pipe, and friendly
early errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow


def _piped(sb: Sandbox, args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sb.env}
    env.pop("LITEMAAS_STATE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "litemaas_state", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=sb.dir, timeout=300)


def test_apply_reads_the_answer_from_stdin_when_it_is_not_a_terminal(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\n")
    for answer in ("", "no\n", "yess\n"):
        proc = _piped(sb, ["apply", state], answer)
        assert proc.returncode == 1, proc.stderr
        assert "--auto-approve" in proc.stdout + proc.stderr
        assert deployment(sb, "litellm")["spec"]["replicas"] == 3
    proc = _piped(sb, ["apply", state], "yes\n")
    assert proc.returncode == 0, proc.stderr
    assert "Apply complete!" in proc.stdout
    assert deployment(sb, "litellm")["spec"]["replicas"] == 4


def test_progress_lines_show_values_as_the_plan_does(make_sandbox) -> None:
    sb = make_sandbox()
    state = sb.state_copy()
    plan = sb.cli("plan", state, "--target", "admins", "--target", "keys", check=0).stdout
    proc = sb.cli("apply", state, "--auto-approve", "--target", "admins", "--target", "keys", check=0)
    assert "True" not in proc.stdout and "['" not in proc.stdout  # no Python reprs
    assert "[is_active: true -> false]" in proc.stdout and "~ is_active: true -> false" in plan
    promoted = re.search(r'roles \["user"\] -> \["user", "admin"\]', proc.stdout)
    assert promoted and '~ roles: ["user"] -> ["user", "admin"]' in plan
