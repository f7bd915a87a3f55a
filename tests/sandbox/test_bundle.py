"""The kinds of an in-cluster bundle (ServiceAccount, ConfigMap, Role, RoleBinding, CronJob, Job) on the
sandbox's Kubernetes API, with real `kubectl apply` (client-side and server-side), `kubectl create token`
(the TokenRequest API), RBAC from the stored Roles and RoleBindings, and the audit log.

One kube-only sandbox per module; each test uses its own object names, so the order does not matter."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Sandbox
from tests.sandbox.tunnel import audit_lines

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (needed to test against it)"),
]

NS = "litellm-rhpds"
IMAGE = "quay.io/example/litemaas-state:0.1"


def bundle(prefix: str, *, verbs: tuple[str, ...] = ("get", "list"), data: dict[str, str] | None = None) -> list[Any]:
    """The six kinds of an in-cluster bundle, named `<prefix>…`."""
    pod = {"serviceAccountName": prefix, "restartPolicy": "Never",
           "containers": [{"name": "tool", "image": IMAGE, "args": ["drift", "/state/state.yaml"]}]}
    meta = {"name": prefix, "namespace": NS}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{prefix}-state"},
         "data": data or {"state.yaml": "a: 1\n"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(verbs)}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": prefix},
         "subjects": [{"kind": "ServiceAccount", "name": prefix, "namespace": NS}]},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {**meta, "name": f"{prefix}-drift"},
         "spec": {"schedule": "0 * * * *", "concurrencyPolicy": "Forbid",
                  "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": pod}}}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {**meta, "name": f"{prefix}-apply"},
         "spec": {"template": {"spec": pod}}},
    ]


def write(kube: Sandbox, name: str, docs: list[Any]) -> Path:
    path = kube.dir / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def kubectl(kube: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=kube.process_env(), capture_output=True, text=True, timeout=90,
                          check=False)


def ok(kube: Sandbox, *args: str) -> str:
    done = kubectl(kube, *args)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def verbs_of(out: str) -> list[str]:
    """`kind/name created` lines → the last words."""
    return [line.rsplit(" ", 1)[-1] for line in out.splitlines()]


def test_discovery_lists_the_bundle_kinds(kube: Sandbox) -> None:
    names = set(ok(kube, "api-resources", "-o", "name").split())
    assert {"serviceaccounts", "configmaps", "roles.rbac.authorization.k8s.io",
            "rolebindings.rbac.authorization.k8s.io", "cronjobs.batch", "jobs.batch"} <= names


def test_client_side_apply_twice_then_a_change(kube: Sandbox) -> None:
    path = write(kube, "bundle-csa.yaml", bundle("csa"))
    assert verbs_of(ok(kube, "apply", "-f", str(path))) == ["created"] * 6
    assert verbs_of(ok(kube, "apply", "-f", str(path))) == ["unchanged"] * 6
    path = write(kube, "bundle-csa.yaml", bundle("csa", data={"state.yaml": "a: 2\n"}))
    assert verbs_of(ok(kube, "apply", "-f", str(path))) == [
        "unchanged", "configured", "unchanged", "unchanged", "unchanged", "unchanged"]
    cm = json.loads(ok(kube, "get", "configmap", "csa-state", "-o", "json"))
    assert cm["data"] == {"state.yaml": "a: 2\n"}
    cj = json.loads(ok(kube, "get", "cronjob", "csa-drift", "-o", "json"))
    assert cj["spec"]["successfulJobsHistoryLimit"] == 3  # defaulted by the API server
    assert "csa-drift   0 * * * *" in ok(kube, "get", "cronjobs")


def test_server_side_apply_twice_and_a_dropped_field(kube: Sandbox) -> None:
    path = write(kube, "bundle-ssa.yaml", bundle("ssa", data={"a": "1", "b": "2"}))
    assert verbs_of(ok(kube, "apply", "--server-side", "-f", str(path))) == ["serverside-applied"] * 6
    before = json.loads(ok(kube, "get", "configmap", "ssa-state", "-o", "json"))
    assert verbs_of(ok(kube, "apply", "--server-side", "-f", str(path))) == ["serverside-applied"] * 6
    again = json.loads(ok(kube, "get", "configmap", "ssa-state", "-o", "json", "--show-managed-fields"))
    assert again["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # a no-op writes nothing
    assert [(f["manager"], f["operation"]) for f in again["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    path = write(kube, "bundle-ssa.yaml", bundle("ssa", data={"a": "1"}))
    ok(kube, "apply", "--server-side", "-f", str(path))
    assert json.loads(ok(kube, "get", "configmap", "ssa-state", "-o", "json"))["data"] == {"a": "1"}


def test_a_job_with_restart_policy_always_is_invalid(kube: Sandbox) -> None:
    job = bundle("bad")[-1]
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    done = kubectl(kube, "apply", "-f", str(write(kube, "bad-job.yaml", [job])))
    assert done.returncode == 1
    assert 'spec.template.spec.restartPolicy: Unsupported value: "Always"' in done.stderr


def test_a_token_request_is_authorized_by_the_stored_role(kube: Sandbox) -> None:
    ok(kube, "apply", "-f", str(write(kube, "bundle-rbac.yaml", bundle("rbac")[:4])))
    token = ok(kube, "create", "token", "rbac", "-n", NS).strip()
    assert len(token) > 20
    assert "litellm-backend" in ok(kube, "--token", token, "get", "deploy", "-n", NS)
    denied = kubectl(kube, "--token", token, "get", "secrets", "-n", NS)
    assert denied.returncode == 1
    user = f"system:serviceaccount:{NS}:rbac"
    assert denied.stderr.strip() == (
        f'Error from server (Forbidden): secrets is forbidden: User "{user}" cannot list resource "secrets" '
        f'in API group "" in the namespace "{NS}"')
    scaled = kubectl(kube, "--token", token, "scale", "deploy/litellm-redis", "--replicas=1", "-n", NS)
    assert scaled.returncode == 1 and 'cannot patch resource "deployments/scale"' in scaled.stderr
    mine = [(e["verb"], e["apiGroup"], e["resource"], e["subresource"], e["namespace"], e["name"], e["code"])
            for e in audit_lines(kube) if e["user"] == user]
    assert ("list", "apps", "deployments", "", NS, "", 200) in mine
    assert ("list", "", "secrets", "", NS, "", 403) in mine
    assert ("patch", "apps", "deployments", "scale", NS, "litellm-redis", 403) in mine
    assert any(e["user"] == "kubernetes-admin" and e["resource"] == "serviceaccounts" and e["subresource"] == "token"
               and e["code"] == 201 for e in audit_lines(kube))


def test_a_token_dies_with_its_service_account(kube: Sandbox) -> None:
    ok(kube, "create", "serviceaccount", "short-lived", "-n", NS)  # protobuf body, as kubectl create sends it
    token = ok(kube, "create", "token", "short-lived", "-n", NS, "--duration=15m").strip()
    assert kubectl(kube, "--token", token, "get", "deploy", "-n", NS).returncode == 1  # no RoleBinding: 403
    ok(kube, "delete", "serviceaccount", "short-lived", "-n", NS)
    gone = kubectl(kube, "--token", token, "get", "deploy", "-n", NS)
    assert gone.returncode == 1 and "Unauthorized" in gone.stderr
    missing = kubectl(kube, "create", "token", "short-lived", "-n", NS)
    assert 'serviceaccounts "short-lived" not found' in missing.stderr
