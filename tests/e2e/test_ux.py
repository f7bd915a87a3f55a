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


def test_403_on_scale_and_on_the_lease_name_verb_and_resource_as_rbac_does(make_sandbox) -> None:
    from litemaas_state.sandbox import manage
    from tests.e2e.test_tunnels import PORTFORWARD, RULES

    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\n")
    no_scale = [r for r in RULES if "deployments/scale" not in r["resources"]]
    no_scale.append({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch", "update"]})
    kubeconfig = manage.restricted_kubeconfig(sb.dir, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci"},
        "rules": [*no_scale, PORTFORWARD]})
    restricted = {"KUBECONFIG": str(kubeconfig)}
    proc = sb.cli("apply", state, "--auto-approve", extra_env=restricted, check=1)
    assert 'The token needs "patch" on "deployments/scale" (README: RBAC)' in proc.stderr, proc.stderr
    no_lease = [r for r in RULES if r["resources"] != ["leases"]]
    manage.restricted_kubeconfig(sb.dir, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci"},
        "rules": [*no_lease, PORTFORWARD]})
    proc = sb.cli("apply", state, "--auto-approve", extra_env=restricted, check=1)
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, proc.stderr
    assert 'The token needs "create" on "leases" in API group "coordination.k8s.io" (README: RBAC)' in error[0]
    assert deployment(sb, "litellm")["spec"]["replicas"] == 3
