"""The kubernetes path end to end: with only a kubeconfig (the sandbox's Secrets name `litellm-postgres:5432`,
no URL and no pg_dump given to the tool), plan and apply reach the databases, the LiteLLM API and Redis
through pods/portforward and back up by exec; a restricted token gets one clear 403 line, or the exec →
local pg_dump fallback; faults (dropped tunnels, a cut or killed pg_dump, a missing or not-Ready pod) are
one-line errors that leave nothing half-written, and a rerun converges."""

from __future__ import annotations

import gzip
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from litemaas_state.sandbox import manage
from tests.e2e.conftest import Sandbox, interactive
from tests.e2e.test_end_to_end import write

pytestmark = pytest.mark.slow

TRAILER = b"-- PostgreSQL database dump complete"
NAMESPACE = "litellm-rhpds"


def no_pg_dump_env(sb: Sandbox) -> dict[str, str]:
    """A PATH with no pg_dump (nor anything else): the tool must not need a local PostgreSQL client."""
    empty = sb.dir / "empty-bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty)}


def admin_api(sb: Sandbox) -> httpx.Client:
    cfg = yaml.safe_load(Path(sb.env["KUBECONFIG"]).read_text())
    return httpx.Client(base_url=cfg["clusters"][0]["cluster"]["server"],
                        headers={"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"},
                        verify=ssl.create_default_context(cafile=str(sb.dir / "tls" / "ca.crt")), timeout=10)


def fault(sb: Sandbox, action: str, after_bytes: int | None = None) -> None:
    body: dict[str, Any] = {"action": action}
    if after_bytes is not None:
        body["after_bytes"] = after_bytes
    with admin_api(sb) as c:
        r = c.post("/sandbox/v1/faults", json=body)
        assert r.status_code == 200, r.text


def audit(sb: Sandbox) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sb.dir / "audit.jsonl").read_text().splitlines()]


def roles(sb: Sandbox, email: str) -> list[str]:
    with psycopg.connect(sb.direct["LITEMAAS_DATABASE_URL"]) as conn:
        row = conn.execute("SELECT roles FROM users WHERE email = %s", (email,)).fetchone()
    return list(row[0]) if row else []


# What the kubernetes path reads and writes (README "RBAC"); the in-cluster Role is derived and held exact
# by plan/permissions.py and tests/e2e/test_incluster.py. No deployments/scale: scaling patches the
# Deployment itself (apply/kube.py), and no watch: the tool polls.
READ = ["get", "list"]
RULES: list[dict[str, Any]] = [
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "secrets"], "verbs": READ},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    {"apiGroups": ["route.openshift.io"], "resources": ["routes"], "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update", "delete"]},
]


def role(*extra: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ci"},
            "rules": [*RULES, *extra]}


PORTFORWARD = {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}
EXEC = {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}


def test_plan_and_apply_over_port_forwards_with_backups_by_exec(make_sandbox) -> None:
    sb = make_sandbox()
    assert set(sb.env) == {"KUBECONFIG", "LITEMAAS_SANDBOX_DIR"}  # nothing but the kubeconfig
    env = no_pg_dump_env(sb)
    plan = sb.cli("plan", sb.state_copy(), "--detailed-exitcode", extra_env=env, check=2)
    assert plan.stdout.startswith("Connections:\n  LiteMaaS DB: port-forward pod/litellm-postgres-0:5432\n"
                                  "  LiteLLM DB: port-forward pod/litellm-postgres-0:5432\n"
                                  "  LiteLLM API: port-forward pod/litellm-")
    assert "  Redis: port-forward pod/litellm-redis-" in plan.stdout
    assert "pg_dump litemaas_db runs in pod/litellm-postgres-0 by exec" in plan.stdout
    assert "pg_dump was not found" not in plan.stdout and plan.stderr == ""
    doc = json.loads(sb.cli("plan", sb.state_copy(), "--json", extra_env=env, check=0).stdout)
    assert {c["source"]: c["kind"] for c in doc["connections"]} == {
        "LiteMaaS DB": "kubernetes", "LiteLLM DB": "kubernetes", "LiteLLM API": "kubernetes", "Redis": "kubernetes"}

    applied = sb.cli("apply", sb.state_copy(), "--auto-approve", extra_env=env, check=0)
    assert "LiteMaaS DB: port-forward pod/litellm-postgres-0:5432" in applied.stdout
    assert "pg_dump litemaas_db by exec in pod/litellm-postgres-0" in applied.stdout
    dumps = sorted((sb.dir / "backups").glob("*.sql.gz"))
    assert len(dumps) == 2 and not list((sb.dir / "backups").glob("*.partial"))
    for dump in dumps:
        assert TRAILER in gzip.decompress(dump.read_bytes())[-4096:]
    assert "Apply complete!" in applied.stdout and "deleted" in applied.stdout
    assert "admin" in roles(sb, "sean.o'brien@example.com")
    sb.cli("plan", sb.state_copy(), "--detailed-exitcode", extra_env=env, check=0)

    streams = {(a["resource"], a["subresource"]) for a in audit(sb) if a["code"] < 400}
    assert ("pods", "portforward") in streams and ("pods", "exec") in streams
    status = sb.cli("status", sb.state_copy(), extra_env=env, check=0)
    assert "Connections:\n  LiteMaaS DB: port-forward pod/litellm-postgres-0:5432" in status.stdout
    assert "Admins:   4" in status.stdout and "Redis:    ready" in status.stdout


def test_restricted_token_gets_one_403_line_and_exec_falls_back_to_a_local_pg_dump(make_sandbox) -> None:
    sb = make_sandbox(restricted_role=role(PORTFORWARD))  # no pods/exec
    restricted = {"KUBECONFIG": str(sb.dir / "kubeconfig-restricted")}
    applied = sb.cli("apply", sb.state_copy(), "--auto-approve", "--target", "backup", extra_env=restricted, check=0)
    assert ("exec is forbidden (create pods/exec); falling back to a local pg_dump over the port-forward to "
            "pod/litellm-postgres-0") in applied.stdout
    dumps = sorted((sb.dir / "backups").glob("*.sql.gz"))
    assert len(dumps) == 2 and all(TRAILER in gzip.decompress(d.read_bytes())[-4096:] for d in dumps)
    denied = [a for a in audit(sb) if a["code"] == 403]
    assert denied and all(a["subresource"] == "exec" for a in denied)

    manage.restricted_kubeconfig(sb.dir, role())  # now no pods/portforward either
    proc = sb.cli("plan", sb.state_copy(), extra_env=restricted, check=1)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("Error: kubernetes: create pods/portforward is forbidden (HTTP 403): ")
    assert 'cannot create resource "pods/portforward"' in lines[0]
    assert 'needs "create" on "pods/portforward"' in lines[0]
    assert "; or set REDIS_URL to a URL reachable from here" in lines[0]  # Redis is the first source read


def test_a_tunnel_dropped_mid_apply_stops_before_the_next_write_and_a_rerun_converges(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """deployments:
  litellm:
    replicas: 4
admins:
  emails: [sean.o'brien@example.com]
key_retention:
  delete_expired: true
  max_deletions: 500
  sync_litemaas: true
""")
    # at the prompt the plan's tunnels are up; from then on every port-forward is cut at its first byte
    code, out = interactive(sb, ["apply", state], before_answer=lambda: fault(sb, "drop-port-forwards", after_bytes=0))
    assert code == 1, out
    assert "scaling/litellm: scaled to 4" in out or "deployment/litellm: scaled to 4" in out
    assert "Apply stopped at admins/sean.o'brien@example.com" in out
    assert "Not done: keys/expired" in out
    assert "port-forward" in out.split("Apply stopped")[0].rsplit("Error:", 1)[1]
    assert "Traceback" not in out
    assert "admin" not in roles(sb, "sean.o'brien@example.com")  # the write never started

    fault(sb, "clear")
    sb.cli("apply", state, "--auto-approve", check=0)
    assert "admin" in roles(sb, "sean.o'brien@example.com")
    sb.cli("plan", state, "--detailed-exitcode", check=0)


@pytest.mark.parametrize(("action", "message"), [
    ("drop-execs", "was cut off"),
    ("kill-execs", "failed (exit 137)"),
])
def test_pg_dump_cut_off_or_killed_stops_before_any_image_change(make_sandbox, action: str, message: str) -> None:
    sb = make_sandbox()
    fault(sb, action, after_bytes=20_000)
    proc = sb.cli("apply", sb.state_copy(), "--auto-approve", check=1)
    assert message in proc.stderr and "Apply stopped at backup/litellm-rhpds" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((sb.dir / "backups").glob("*"))
    out = subprocess.run(["kubectl", "get", "deploy", "litellm", "-o", "jsonpath={.metadata.generation}"],
                         env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, check=True).stdout
    assert out == "1"  # no image changed
    fault(sb, "clear")
    sb.cli("apply", sb.state_copy(), "--auto-approve", check=0)
    sb.cli("plan", sb.state_copy(), "--detailed-exitcode", check=0)


def test_database_pod_missing_or_not_ready_is_one_line(make_sandbox) -> None:
    sb = make_sandbox()
    with admin_api(sb) as c:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods/litellm-postgres-0"
        pod = c.get(path).json()
        for cond in pod["status"]["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(status="False", reason="ContainersNotReady")
        r = c.put(path + "/status", json=pod)
        assert r.status_code == 200, r.text
    proc = sb.cli("plan", sb.state_copy(), check=1)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pod/litellm-postgres-0 behind service/litellm-postgres is not Ready (Ready=False (ContainersNotReady))" \
        in lines[0] and "set LITEMAAS_DATABASE_URL" in lines[0]

    with admin_api(sb) as c:
        assert c.delete(f"/api/v1/namespaces/{NAMESPACE}/pods/litellm-postgres-0").status_code == 200
    proc = sb.cli("plan", sb.state_copy(), check=1)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "service/litellm-postgres has no endpoints: no pod matches its selector " \
        "app=litellm-postgres" in lines[0], proc.stderr
