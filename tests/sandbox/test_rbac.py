"""RBAC with a restricted token, the audit log, and Endpoints/EndpointSlices of the sandbox's Kubernetes API.

A kube-only sandbox per module; `manage.restricted_kubeconfig` binds a Role to ServiceAccount `ci` and
writes DIR/kubeconfig-restricted. Denials are held to the apiserver's 403 wording
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go forbiddenMessage).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

from litemaas_state.sandbox import manage
from tests.conftest import Sandbox, kube_api
from tests.sandbox.tunnel import admin, audit_lines, wait_for

pytestmark = pytest.mark.slow

NS = "litellm-rhpds"
CI = "system:serviceaccount:litellm-rhpds:ci"
ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "litemaas-state-plan"},
    "rules": [
        {"apiGroups": [""], "resources": ["pods", "services", "endpoints"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["litellm"], "verbs": ["get"]},
    ],
}


@pytest.fixture(scope="module")
def restricted(kube: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    role_file = tmp_path_factory.mktemp("role") / "role.yaml"
    role_file.write_text(yaml.safe_dump(ROLE))
    path = manage.restricted_kubeconfig(kube.dir, role_file)
    assert path == kube.dir / "kubeconfig-restricted"
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path


@pytest.fixture(scope="module")
def ci(restricted: Path) -> Iterator[client.ApiClient]:
    with kube_api(restricted) as api:
        yield api


@pytest.fixture(scope="module")
def root(kube: Sandbox) -> Iterator[client.ApiClient]:
    with kube_api(kube.kubeconfig) as api:
        yield api


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def test_allowed_verbs_work(ci: client.ApiClient) -> None:
    pods = client.CoreV1Api(ci).list_namespaced_pod(NS).items
    assert any(p.metadata.name == "litellm-postgres-0" for p in pods)
    assert client.AppsV1Api(ci).read_namespaced_deployment("litellm", NS).metadata.name == "litellm"


def test_forbidden_read_is_the_apiserver_403(ci: client.ApiClient) -> None:
    with pytest.raises(ApiException) as info:
        client.AppsV1Api(ci).read_namespaced_deployment("litellm-backend", NS)
    assert info.value.status == 403
    assert status_of(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'deployments.apps "litellm-backend" is forbidden: User "{CI}" cannot get resource '
        '"deployments" in API group "apps" in the namespace "litellm-rhpds"',
        "reason": "Forbidden",
        "details": {"name": "litellm-backend", "group": "apps", "kind": "deployments"},
        "code": 403,
    }
    with pytest.raises(ApiException) as listing:
        client.CoreV1Api(ci).list_namespaced_secret(NS)
    assert status_of(listing.value)["message"] == (
        f'secrets is forbidden: User "{CI}" cannot list resource "secrets" in API group "" '
        'in the namespace "litellm-rhpds"'
    )


def test_forbidden_exec_gets_the_exact_403(kube: Sandbox, restricted: Path) -> None:
    cfg = yaml.safe_load(restricted.read_text())
    with admin(kube) as c:  # same server and CA; the restricted token instead of the admin one
        r = c.get(
            f"/api/v1/namespaces/{NS}/pods/litellm-postgres-0/exec",
            params={"command": "pg_dump", "stdout": "true"},
            headers={
                "Authorization": f"Bearer {cfg['users'][0]['user']['token']}",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
                "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
            },
        )
    assert r.status_code == 403
    body = r.json()
    assert body["message"] == (
        f'pods "litellm-postgres-0" is forbidden: User "{CI}" cannot create resource "pods/exec" '
        'in API group "" in the namespace "litellm-rhpds"'
    )
    assert (body["reason"], body["details"]) == ("Forbidden", {"name": "litellm-postgres-0", "kind": "pods"})


def test_forbidden_exec_with_the_python_client_and_kubectl(
    kube: Sandbox, ci: client.ApiClient, restricted: Path
) -> None:
    with pytest.raises(ApiException) as info:
        stream(
            client.CoreV1Api(ci).connect_get_namespaced_pod_exec,
            "litellm-postgres-0",
            NS,
            command=["pg_dump"],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
        )
    assert "403" in str(info.value.reason)
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(restricted), "exec", "litellm-postgres-0", "--", "pg_dump"],
        env={**os.environ, "KUBECACHEDIR": str(kube.dir / "kube-cache-ci")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert (
        f'pods "litellm-postgres-0" is forbidden: User "{CI}" cannot create resource "pods/exec"'
        in done.stderr
    )


def test_allowed_port_forward_upgrades(ci: client.ApiClient) -> None:
    pf = portforward(
        client.CoreV1Api(ci).connect_get_namespaced_pod_portforward, "litellm-postgres-0", NS, ports="5432"
    )
    # kube-only sandbox: no PostgreSQL behind the pod, so the kubelet-style refusal arrives on the error channel
    assert "connection refused" in wait_for(lambda: pf.error(5432), what="the error channel")


def test_faults_endpoint_is_admin_only(kube: Sandbox, restricted: Path) -> None:
    token = yaml.safe_load(restricted.read_text())["users"][0]["user"]["token"]
    with admin(kube) as c:
        assert c.post("/sandbox/v1/faults", json={"action": "clear"}).status_code == 200
        denied = c.post(
            "/sandbox/v1/faults", json={"action": "clear"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert denied.status_code == 403
        assert c.post("/sandbox/v1/faults", json={"action": "nope"}).status_code == 400
        assert c.get("/api/v1/pods", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_audit_log_has_one_line_per_request(kube: Sandbox, ci: client.ApiClient) -> None:
    with pytest.raises(ApiException):  # a denied exec of its own, whatever ran before in this module
        stream(client.CoreV1Api(ci).connect_get_namespaced_pod_exec, "litellm-postgres-0", NS,
               command=["pg_dump"], stdout=True, stderr=True, stdin=False, tty=False)
    client.CoreV1Api(ci).read_namespaced_pod("litellm-postgres-0", NS)
    with pytest.raises(ApiException):
        client.CoreV1Api(ci).delete_namespaced_pod("litellm-postgres-0", NS)

    def settled() -> list[dict[str, Any]]:  # the audit line may land just after the client has its answer
        lines = audit_lines(kube)
        mine = [x for x in lines if x["user"] == CI]
        return lines if len(mine) >= 2 and mine[-1]["verb"] == "delete" else []

    lines = wait_for(settled, what="the audit lines of both requests")
    keys = {
        "time",
        "user",
        "verb",
        "apiGroup",
        "resource",
        "subresource",
        "namespace",
        "name",
        "path",
        "code",
    }
    mine = [x for x in lines if x["user"] == CI]
    assert all(set(x) == keys for x in mine)
    assert {k: mine[-2][k] for k in keys - {"time", "path"}} == {
        "user": CI,
        "verb": "get",
        "apiGroup": "",
        "resource": "pods",
        "subresource": "",
        "namespace": NS,
        "name": "litellm-postgres-0",
        "code": 200,
    }
    assert (mine[-1]["verb"], mine[-1]["code"]) == ("delete", 403)
    exec_denied = [x for x in mine if x["subresource"] == "exec"]
    assert exec_denied and all((x["verb"], x["code"]) == ("create", 403) for x in exec_denied)
    assert any(x["user"] == "kubernetes-admin" for x in lines)


def test_restricted_kubeconfig_again_replaces_the_rules(kube: Sandbox, restricted: Path) -> None:
    wider = {
        **ROLE,
        "rules": [*ROLE["rules"], {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
    }
    path = manage.restricted_kubeconfig(kube.dir, wider, filename="kubeconfig-wider")
    with kube_api(path) as api:
        assert client.CoreV1Api(api).list_namespaced_secret(NS).items
    manage.restricted_kubeconfig(kube.dir, ROLE, filename="kubeconfig-narrow")


# -- Endpoints and EndpointSlices


def test_endpoints_list_the_ready_pods_behind_each_service(root: client.ApiClient) -> None:
    core = client.CoreV1Api(root)
    ep = core.read_namespaced_endpoints("litellm-postgres", NS)
    (subset,) = ep.subsets
    assert [a.target_ref.name for a in subset.addresses] == ["litellm-postgres-0"]
    assert [(p.name, p.port) for p in subset.ports] == [("postgres", 5432)]
    litellm = core.read_namespaced_endpoints("litellm", NS)
    assert len(litellm.subsets[0].addresses) == 3
    assert all(a.target_ref.name.startswith("litellm-") for a in litellm.subsets[0].addresses)
    names = {e.metadata.name for e in core.list_namespaced_endpoints(NS).items}
    assert names == {"litellm", "litellm-backend", "litellm-frontend", "litellm-postgres", "litellm-redis"}


def test_endpoint_slices_by_service_name_label(root: client.ApiClient) -> None:
    slices = (
        client.DiscoveryV1Api(root)
        .list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=litellm-redis")
        .items
    )
    (s,) = slices
    assert s.address_type == "IPv4" and [p.port for p in s.ports] == [6379]
    (e,) = s.endpoints
    assert e.conditions.ready is True and e.target_ref.name.startswith("litellm-redis-")


def test_a_not_ready_pod_moves_to_not_ready_addresses(root: client.ApiClient) -> None:
    core = client.CoreV1Api(root)
    status = root.sanitize_for_serialization(core.read_namespaced_pod_status("litellm-postgres-0", NS).status)
    conds = [
        {**c, "status": "False"} if c["type"] in ("Ready", "ContainersReady") else c
        for c in status["conditions"]
    ]
    core.patch_namespaced_pod_status("litellm-postgres-0", NS, {"status": {**status, "conditions": conds}})
    try:
        (subset,) = core.read_namespaced_endpoints("litellm-postgres", NS).subsets
        assert subset.addresses is None
        assert [a.target_ref.name for a in subset.not_ready_addresses] == ["litellm-postgres-0"]
        (s,) = (
            client.DiscoveryV1Api(root)
            .list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=litellm-postgres")
            .items
        )
        assert s.endpoints[0].conditions.ready is False
    finally:
        core.patch_namespaced_pod_status("litellm-postgres-0", NS, {"status": status})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_endpoints(kube: Sandbox) -> None:
    done = subprocess.run(
        ["kubectl", "get", "endpoints", "litellm-postgres", "-n", NS, "-o", "json"],
        env=kube.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["subsets"][0]["addresses"][0]["targetRef"]["name"] == "litellm-postgres-0"
