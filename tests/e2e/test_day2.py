"""Day-2 behaviour on the sandbox: discovery with nothing but KUBECONFIG, the shared-database layout,
--target, restart_at, and the interactive `yes` prompt."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.conftest import run_cli
from tests.e2e.conftest import STATE, Sandbox, interactive, rolled_out, wait_until
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow
DATA_PLANE_VARS = ("LITEMAAS_DATABASE_URL", "LITELLM_DATABASE_URL", "LITELLM_URL", "LITELLM_MASTER_KEY", "REDIS_URL")


def kube_only(sb: Sandbox) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in DATA_PLANE_VARS} | {"KUBECONFIG": sb.env["KUBECONFIG"]}


def test_connection_details_are_discovered_from_the_cluster(make_sandbox) -> None:
    sb = make_sandbox()
    env = kube_only(sb)
    proc = run_cli(["plan", str(STATE), "--json"], env=env, cwd=sb.dir, timeout_s=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    phases = {p["phase"] for p in doc["phases"]}
    assert phases == {"backup", "images", "scaling", "admins", "keys"}
    images = next(p for p in doc["phases"] if p["phase"] == "images")["actions"]
    assert [a["id"] for a in images] == ["images/backend", "images/frontend", "images/litellm"]
    backup = next(p for p in doc["phases"] if p["phase"] == "backup")["actions"]
    assert images[2]["requires"] == ["backup/litellm-rhpds"] and backup[0]["required_by"] == ["images/litellm"]


def test_shared_database_layout(make_sandbox) -> None:
    sb = make_sandbox(databases="shared")
    state = sb.state_copy()
    proc = sb.cli("plan", state, check=0)
    assert proc.stdout.count("+ file: ") == 1  # one database to dump
    kube = {"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}
    subprocess.run(["kubectl", "set", "env", "deploy/litellm", "-c", "litellm", "DISABLE_SCHEMA_UPDATE=false"],
                   env=kube, check=True, capture_output=True)
    wait_until(lambda: rolled_out(sb, "litellm", generation=2), "deployment/litellm to roll out")
    proc = sb.cli("plan", state, check=0)
    # the warning of plan/checks.py, with the value kubectl set
    assert ("LiteLLM and LiteMaaS share one database and DISABLE_SCHEMA_UPDATE is 'false': LiteLLM's start-up "
            "migration can drop LiteMaaS tables") in " ".join(proc.stdout.split())
    sb.cli("apply", state, "--auto-approve", check=0)
    sb.cli("plan", state, "--detailed-exitcode", check=0)


def test_target_applies_only_that_phase_loudly(make_sandbox) -> None:
    sb = make_sandbox()
    state = sb.state_copy()  # its backups land beside it, in the sandbox directory
    proc = sb.cli("apply", state, "--auto-approve", "--target", "scaling", check=0)
    assert "Resource targeting is in effect" in proc.stdout
    assert "NOT applied" in proc.stderr
    assert deployment(sb, "litellm")["spec"]["replicas"] == 5
    assert deployment(sb, "litellm")["metadata"]["generation"] == 2  # scaled, image untouched
    # no image changes, so no backup: no dump was taken, and none counted toward `keep`
    assert "backup/" not in proc.stdout and not list(sb.dir.glob("backups/*"))
    rest = sb.cli("plan", state, "--detailed-exitcode", check=2)
    assert "Phase images:" in rest.stdout and "Phase scaling:" not in rest.stdout
    sb.cli("plan", state, "--target", "nonsense", check=1)
    # targeting LiteLLM's image brings its backup along (Terraform brings dependencies along), run first
    proc = sb.cli("apply", state, "--auto-approve", "--target", "images/litellm", check=0)
    started = re.findall(r"^(\S+): (?:Backing up|Modifying)\.\.\. \[", proc.stdout, re.M)
    assert started == ["backup/litellm-rhpds", "deployment/litellm"]
    assert len(list(sb.dir.glob("backups/*.sql.gz"))) == 2
    assert deployment(sb, "litellm-backend")["metadata"]["generation"] == 1


def test_restart_at_restarts_once_and_manual_restarts_are_not_drift(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """deployments:
  backend:
    restart_at: 2026-01-01T00:00:00Z
""")
    proc = sb.cli("apply", state, "--auto-approve", check=0)
    assert "restarted" in proc.stdout
    tmpl = deployment(sb, "litellm-backend")["spec"]["template"]["metadata"]["annotations"]
    assert tmpl["kubectl.kubernetes.io/restartedAt"] == "2026-01-01T00:00:00Z"
    sb.cli("drift", state, check=0)
    kube = {"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}
    subprocess.run(["kubectl", "rollout", "restart", "deploy/litellm-backend"], env=kube, check=True,
                   capture_output=True)
    wait_until(lambda: rolled_out(sb, "litellm-backend", generation=3), "deployment/litellm-backend to roll out")
    sb.cli("drift", state, check=0)


def test_apply_asks_for_yes_on_a_terminal(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\n")
    code, out = interactive(sb, ["apply", state], "no")
    assert code == 1 and "Only 'yes' will be accepted" in out and "Apply cancelled." in out
    assert deployment(sb, "litellm")["spec"]["replicas"] == 3
    code, out = interactive(sb, ["apply", state], "yes")
    assert code == 0 and "Apply complete!" in out
    assert deployment(sb, "litellm")["spec"]["replicas"] == 4
