"""In the cluster: the manifests bundle's Role is exact. Plan, apply, the prune CronJob's apply and drift
run as the bundle's CronJobs run them (their own args and env: ``LITEMAAS_STATE_CONNECT=direct``,
``LITELLM_URL`` at the LiteLLM Service), authenticated as the bundle's ServiceAccount bound to the
bundle's Role, against a sandbox with direct URLs. Every API request the tool made (the sandbox's audit
log) is compared with the Role in both directions: nothing used is missing (no 401 or 403, every
request allowed by a rule) and nothing granted is unused (every verb on every named resource of every
rule was requested). Two state files with different features, so the derivation per feature is held
to what the tool really does: the full one (backup, images with a rollback, scaling, admins, keys) and
a keys-only one (no Deployment write, no ReplicaSet read).

Stand-ins for the cluster: the sandbox's Secrets carry 127.0.0.1 database URLs (``direct_urls=True``),
and the Service URLs the pods dial by cluster DNS (``LITELLM_URL``, and ``litellm-redis:6379``, which the
tool builds itself) are given as the sandbox's own addresses.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from litemaas_state import names
from litemaas_state.render.manifests import POD_STATE_DIR
from litemaas_state.sandbox import manage
from tests.conftest import run_cli
from tests.e2e.conftest import Sandbox
from tests.e2e.test_tunnels import admin_api

pytestmark = pytest.mark.slow

NAMESPACE = "litellm-rhpds"
#: The variables the tool reads for connections: none comes from the test's own environment.
CONNECTION_ENV = {names.ENV_LITEMAAS_DATABASE_URL, names.ENV_LITELLM_DATABASE_URL, names.ENV_LITELLM_URL,
                  names.ENV_LITELLM_MASTER_KEY, names.ENV_REDIS_URL, names.ENV_CONNECT, "KUBECONFIG"}


def bundle(sb: Sandbox, state: str, *extra: str) -> list[dict[str, Any]]:
    proc = run_cli(["manifests", state, "--image", "registry.example.com/litemaas-state:test", *extra],
                   timeout_s=60, cwd=sb.dir)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(objects: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, (kind, suffix, [o["metadata"]["name"] for o in objects])
    return found[0]


class Pod:
    """Runs the tool as a CronJob of the bundle runs it: its container's args and env, as its
    ServiceAccount (a kubeconfig with that account's token), the pod's state path mapped to ``state``."""

    def __init__(self, sb: Sandbox, objects: list[dict[str, Any]], state: str) -> None:
        self.sb, self.objects, self.state = sb, objects, state
        role = one(objects, "Role")
        self.account = one(objects, "ServiceAccount")["metadata"]["name"]
        self.kubeconfig = manage.restricted_kubeconfig(sb.dir, role, service_account=self.account,
                                                       filename=f"kubeconfig-{self.account}")
        self.user = f"system:serviceaccount:{NAMESPACE}:{self.account}"

    def run(self, suffix: str, *extra: str, check: int) -> subprocess.CompletedProcess[str]:
        container = one(self.objects, "CronJob", suffix)["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "containers"][0]
        args = [self.state if a.startswith(POD_STATE_DIR + "/") else a for a in container["args"]]
        env = {k: v for k, v in os.environ.items() if k not in CONNECTION_ENV}
        env.pop("LITEMAAS_STATE_DEBUG", None)
        pod_env = {e["name"]: e["value"] for e in container["env"]}
        assert pod_env == {names.ENV_CONNECT: "direct",
                           names.ENV_LITELLM_URL: f"http://litellm.{NAMESPACE}.svc:4000"}
        env.update(pod_env)
        # cluster DNS stand-ins: the Services' addresses in the sandbox
        env[names.ENV_LITELLM_URL] = self.sb.direct[names.ENV_LITELLM_URL]
        env[names.ENV_REDIS_URL] = self.sb.direct[names.ENV_REDIS_URL]
        env["KUBECONFIG"] = str(self.kubeconfig)
        proc = self.sb.run([*args, *extra], env, self.sb.dir)
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        assert "port-forward" not in proc.stdout and "by exec" not in proc.stdout
        return proc

    def requests(self) -> list[dict[str, Any]]:
        lines = (self.sb.dir / "audit.jsonl").read_text().splitlines()
        return [a for a in map(json.loads, lines) if a["user"] == self.user and a["resource"]]


def allows(rule: dict[str, Any], request: dict[str, Any]) -> bool:
    resource = request["resource"] + (f"/{request['subresource']}" if request["subresource"] else "")
    return (request["verb"] in rule["verbs"] and request["apiGroup"] in rule["apiGroups"]
            and resource in rule["resources"]
            and (not rule.get("resourceNames") or request["name"] in rule["resourceNames"]))


def assert_exact(pod: Pod) -> None:
    """Nothing used is missing, nothing granted is unused."""
    rules = one(pod.objects, "Role")["rules"]
    used = pod.requests()
    assert used, "the audit log recorded no request of the ServiceAccount"
    refused = [a for a in used if a["code"] in (401, 403)]
    assert not refused, refused
    unallowed = [a for a in used if not any(allows(r, a) for r in rules)]
    assert not unallowed, unallowed
    seen = {(a["apiGroup"], a["resource"], a["verb"], a["name"]) for a in used}
    seen_any = {(g, r, v) for g, r, v, _ in seen}
    unused = []
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if rule.get("resourceNames"):
                        unused += [(verb, resource, n) for n in rule["resourceNames"]
                                   if (group, resource, verb, n) not in seen]
                    elif (group, resource, verb) not in seen_any:
                        unused.append((verb, resource, "*"))
    assert not unused, f"granted but never requested: {unused}"


def expired_lease(sb: Sandbox) -> None:
    """A lease left by a killed apply long ago: apply reads it (get) and takes it over (update)."""
    old = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": names.LEASE_NAME},
            "spec": {"holderIdentity": "ci@runner pid 1 (environment litellm-rhpds)", "leaseDurationSeconds": 60,
                     "acquireTime": old, "renewTime": old}}
    with admin_api(sb) as c:
        r = c.post(f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases", json=body)
        assert r.status_code == 201, r.text


FULL = "full.yaml"


def test_the_full_state_files_role_is_exactly_what_plan_apply_prune_and_drift_use(make_sandbox) -> None:
    sb = make_sandbox(direct_urls=True)
    shipped = Path(sb.state_copy())
    good = shipped.read_text().replace("on_failure: stop", "on_failure: rollback")
    assert good != shipped.read_text()
    state = sb.dir / FULL
    frontend = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"
    state.write_text(good.replace(frontend, frontend + "-broken"))  # its rollout fails: rolled back
    objects = bundle(sb, str(state), "--prune-schedule", "0 3 * * *")
    pod = Pod(sb, objects, str(state))
    role = one(objects, "Role")
    assert {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["list"]} in role["rules"]

    pod.run("-drift", check=2)
    expired_lease(sb)
    failed = pod.run("-apply", check=1)
    assert "rolling back" in failed.stdout + failed.stderr
    state.write_text(good)  # the fix, as a new ConfigMap; the Role is the same
    assert one(bundle(sb, str(state), "--prune-schedule", "0 3 * * *"), "Role") == role
    applied = pod.run("-apply", check=0)
    assert "Apply complete!" in applied.stdout and "LiteLLM is alive and ready" in applied.stdout
    assert sorted(p.name for p in (sb.dir / "backups").glob("*.sql.gz"))  # local pg_dump, direct
    pod.run("-prune", check=0)
    pod.run("-drift", check=0)
    assert_exact(pod)


def test_a_keys_only_role_has_no_deployment_write_and_is_exact(make_sandbox) -> None:
    sb = make_sandbox(direct_urls=True)
    state = sb.dir / "keys.yaml"
    state.write_text("""apiVersion: litemaas-state/v1
kind: Environment
metadata:
  name: litellm-rhpds
target:
  namespace: litellm-rhpds
key_retention:
  delete_expired: true
  max_deletions: 500
  sync_litemaas: true
""")
    objects = bundle(sb, str(state), "--prune-schedule", "@daily")
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]  # no backup can happen
    rules = one(objects, "Role")["rules"]
    assert not [r for r in rules if "patch" in r["verbs"] or "replicasets" in r["resources"]]
    pod = Pod(sb, objects, str(state))
    pod.run("-drift", check=2)  # expired keys to prune
    expired_lease(sb)
    pruned = pod.run("-prune", check=0)
    assert "deleted" in pruned.stdout
    pod.run("-apply", check=0)
    pod.run("-drift", check=0)
    assert_exact(pod)


def test_the_bundle_applies_cleanly_with_kubectl(make_sandbox) -> None:
    sb = make_sandbox(data_plane=False)
    state = sb.state_copy()
    proc = run_cli(["manifests", state, "--image", "registry.example.com/litemaas-state:test", "--prune-schedule",
                    "@daily"], timeout_s=60, cwd=sb.dir)
    assert proc.returncode == 0, proc.stderr
    env = {"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin", "KUBECACHEDIR": str(sb.dir / "kube-cache")}
    for _ in range(2):  # and again: applying the same bundle twice changes nothing and fails nothing
        applied = subprocess.run(["kubectl", "apply", "-f", "-"], input=proc.stdout, capture_output=True,
                                 text=True, env=env, timeout=120)
        assert applied.returncode == 0, applied.stderr
    got = subprocess.run(["kubectl", "get", "cronjobs", "-o", "name"], capture_output=True, text=True, env=env,
                         timeout=60, check=True).stdout.split()
    assert sorted(got) == [f"cronjob.batch/litemaas-state-litellm-rhpds-{s}" for s in ("apply", "drift", "prune")]
