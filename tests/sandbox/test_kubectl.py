"""The sandbox's Kubernetes API and Deployment controller, driven by the real `kubectl` (the runbook's commands).

One sandbox (Kubernetes only, fast rollouts) is shared by the module; each test works on its own
Deployment, so the tests do not depend on their order. Sources: docs/design.md §9.10–§9.13, docs/deployment-facts.md §1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import Sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("kubectl") is None, reason="kubectl is not installed (needed to test against it)"
    ),
]

NS = "litellm-rhpds"
FRONTEND_050 = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"


def kubectl(sandbox: Sandbox, *args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args],
        env=sandbox.process_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def ok(sandbox: Sandbox, *args: str) -> str:
    done = kubectl(sandbox, *args)
    assert done.returncode == 0, f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return done.stdout


def get_json(sandbox: Sandbox, *args: str) -> Any:
    return json.loads(ok(sandbox, "get", *args, "-o", "json"))


def test_get_deploy_lists_the_four_deployments_with_columns(kube: Sandbox) -> None:
    out = ok(kube, "get", "deploy", "-n", NS)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {
        "litellm": ["3/3", "3", "3"],
        "litellm-backend": ["1/1", "1", "1"],
        "litellm-frontend": ["3/3", "3", "3"],
        "litellm-redis": ["1/1", "1", "1"],
    }
    wide = ok(kube, "get", "deploy", "litellm", "-o", "wide")
    assert "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom" in wide
    assert "app=litellm" in wide


def test_wrong_token_is_refused(kube: Sandbox) -> None:
    done = kubectl(kube, "get", "deploy", "--token=not-the-token")
    assert done.returncode != 0
    assert "provide credentials" in done.stderr or "Unauthorized" in done.stderr


def test_set_image_bumps_generation_and_leaves_the_init_container(kube: Sandbox) -> None:
    before = get_json(kube, "deployment/litellm-frontend")
    ok(kube, "set", "image", "deployment/litellm-frontend", f"frontend={FRONTEND_050}")
    after = get_json(kube, "deployment/litellm-frontend")
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    pod_spec = after["spec"]["template"]["spec"]
    assert [c["image"] for c in pod_spec["containers"]] == [FRONTEND_050]
    # kubectl set image matches containers *by name*: copy-custom-logos keeps the old image (docs/deployment-facts.md §1.2).
    init = {c["name"]: c["image"] for c in pod_spec["initContainers"]}
    assert init == {
        "copy-custom-logos": "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0",
        "wait-for-backend": "busybox:1.36",
    }

    ok(kube, "rollout", "status", "deployment/litellm-frontend", "--timeout=60s")
    done = get_json(kube, "deployment/litellm-frontend")
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]
    assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    rs = get_json(kube, "rs", "-l", "app=litellm-frontend")["items"]
    revisions = {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r["spec"]["replicas"] for r in rs
    }
    assert revisions == {"1": 0, "2": 3}
    pods = get_json(kube, "pods", "-l", "app=litellm-frontend")["items"]
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {FRONTEND_050}


def test_scale_then_rollout_status_and_pods(kube: Sandbox) -> None:
    ok(kube, "scale", "deployment/litellm", "--replicas=5")
    assert get_json(kube, "deployment/litellm")["spec"]["replicas"] == 5
    ok(kube, "rollout", "status", "deployment/litellm", "--timeout=60s")
    out = ok(kube, "get", "pods", "-l", "app=litellm")
    rows = out.splitlines()[1:]
    assert len(rows) == 5
    assert all(row.split()[1:3] == ["1/1", "Running"] for row in rows), out
    # scaling made no new revision
    assert len(get_json(kube, "rs", "-l", "app=litellm")["items"]) == 1


def test_broken_image_exceeds_the_deadline_and_undo_restores(kube: Sandbox) -> None:
    good = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
    ok(
        kube,
        "set",
        "image",
        "deployment/litellm-backend",
        "backend=quay.io/rh-aiservices-bu/litemaas-backend:0.5.0-broken",
    )
    failed = kubectl(kube, "rollout", "status", "deployment/litellm-backend", "--timeout=60s")
    assert failed.returncode != 0
    assert 'deployment "litellm-backend" exceeded its progress deadline' in failed.stderr
    cond = {c["type"]: c for c in get_json(kube, "deployment/litellm-backend")["status"]["conditions"]}
    assert (cond["Progressing"]["status"], cond["Progressing"]["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    assert "CrashLoopBackOff" in ok(kube, "get", "pods", "-l", "app=litellm-backend")

    ok(kube, "rollout", "undo", "deployment/litellm-backend")
    ok(kube, "rollout", "status", "deployment/litellm-backend", "--timeout=60s")
    d = get_json(kube, "deployment/litellm-backend")
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["image"] == good
    assert {c["name"]: c["image"] for c in pod_spec["initContainers"]}["run-migrations"] == good
    # the revision-1 ReplicaSet is reused and becomes revision 3, as the real controller does
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rs = get_json(kube, "rs", "-l", "app=litellm-backend")["items"]
    by_rev = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in rs}
    assert sorted(by_rev) == ["2", "3"]
    assert by_rev["3"]["spec"]["replicas"] == 1 and by_rev["2"]["spec"]["replicas"] == 0
    assert by_rev["3"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"

    history = ok(kube, "rollout", "history", "deployment/litellm-backend")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_get_other_objects(kube: Sandbox) -> None:
    routes = ok(kube, "get", "routes")
    assert "litellm-admin" in routes and "/api" in routes
    secret = get_json(kube, "secret/litellm-secret")
    assert set(secret["data"]) == {"LITELLM_MASTER_KEY", "UI_USERNAME", "UI_PASSWORD"}
    assert ok(kube, "get", "pods", "-l", "app=litellm-redis").count("Running") == 1
