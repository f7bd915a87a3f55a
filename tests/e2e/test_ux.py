"""Newcomer-facing behaviour on the sandbox: the answer to apply's prompt from a pipe, and friendly
early errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow


def _piped(sb: Sandbox, args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sb.env}
    env.pop("LITEMAAS_STATE_DEBUG", None)
    return sb.run(args, env, sb.dir, input=stdin)


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
    # the final line counts resources as the plan's summary does, then the actions
    summary = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.", plan)
    assert summary, plan
    actions = len(re.findall(r"^  [-~+] (?!destroy$|create$)\S+$", plan, re.M))  # action headers, not the legend
    assert (f"Apply complete! Resources: {summary[1]} added, {summary[2]} changed, {summary[3]} destroyed "
            f"({actions} actions).") in proc.stdout, proc.stdout


def test_403_on_scaling_and_on_the_lease_name_verb_and_resource_as_rbac_does(make_sandbox) -> None:
    from litemaas_state.sandbox import manage
    from tests.e2e.test_tunnels import PORTFORWARD, RULES

    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\n")
    # scaling patches the Deployment's spec.replicas (with its last-applied record): without patch, refused
    no_scale = [r for r in RULES if not ("deployments" in r["resources"] and "patch" in r["verbs"])]
    kubeconfig = manage.restricted_kubeconfig(sb.dir, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci"},
        "rules": [*no_scale, PORTFORWARD]})
    restricted = {"KUBECONFIG": str(kubeconfig)}
    proc = sb.cli("apply", state, "--auto-approve", extra_env=restricted, check=1)
    assert 'The token needs "patch" on "deployments" (README: RBAC)' in proc.stderr, proc.stderr
    no_lease = [r for r in RULES if r["resources"] != ["leases"]]
    manage.restricted_kubeconfig(sb.dir, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci"},
        "rules": [*no_lease, PORTFORWARD]})
    proc = sb.cli("apply", state, "--auto-approve", extra_env=restricted, check=1)
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, proc.stderr
    assert 'The token needs "create" on "leases" in API group "coordination.k8s.io" (README: RBAC)' in error[0]
    assert deployment(sb, "litellm")["spec"]["replicas"] == 3


def _bench() -> object:
    """benchmarks/keys_at_scale.py (not a package): its seeding of keys at scale."""
    import importlib.util

    from tests.e2e.conftest import ROOT

    spec = importlib.util.spec_from_file_location("keys_at_scale", ROOT / "benchmarks" / "keys_at_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tunnel_dropped_while_pruning_reports_what_was_deleted(make_sandbox) -> None:
    import psycopg

    from litemaas_state.sandbox import manage

    sb = make_sandbox()
    bench: Any = _bench()
    bench.seed_users(sb.direct)
    bench.seed_keys(sb.direct, 3_000)
    state = sb.dir / "prune.yaml"
    state.write_text(bench.STATE)
    count = 'SELECT count(*) FROM "LiteLLM_DeletedVerificationToken"'
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        before = conn.execute(count).fetchone()[0]
    env = {**os.environ, **sb.env}
    env.pop("LITEMAAS_STATE_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "litemaas_state", "apply", str(state), "--auto-approve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=sb.dir)
    assert proc.stdout is not None
    for line in proc.stdout:
        if " keys done (" in line:  # the first batches are through: connections are open
            break
    manage.inject_fault(sb.dir, "drop-port-forwards")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, out + err
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        gone = conn.execute(count).fetchone()[0] - before
    stopped = re.search(r"\(after (\d+) of (\d+) keys were deleted\)", err)
    assert stopped, err
    reported = int(stopped[1])
    # every batch that finished is counted; at most the batches in flight whose delete and read-back both
    # went unanswered (WORKERS x BATCH_SIZE keys) can be deleted without the tool knowing
    assert 0 < reported <= gone <= reported + 4 * 50 and gone < int(stopped[2]), err
    error = err.split("Apply stopped")[0]
    if "-db:" in error or "revoking" in error:
        assert "port-forward" in error, err  # a database error names the path that broke
    assert f"Partly:   keys/expired ({reported} of {stopped[2]} keys deleted" in err, err
    assert "Done:     nothing" in err and f"{reported} destroyed before it stopped" in err, err
