"""The sandbox's Kubernetes API through the official `kubernetes` Python client: reads, /scale, errors, Leases, watch.

Error shapes are those of a real apiserver (Status with reason and code), since the product's
`live/` and `apply/` code maps them (docs/design.md §10.6). Sources: docs/design.md §9.13, §9.17.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from litemaas_state.sandbox import kubeapi
from tests.conftest import Sandbox, kube_api
from tests.sandbox.tunnel import wait_for

pytestmark = pytest.mark.slow

NS = "litellm-rhpds"


@pytest.fixture(scope="module")
def api_client(kube: Sandbox) -> Iterator[client.ApiClient]:
    with kube_api(kube.kubeconfig) as api:
        yield api


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def status_of(exc: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.body)
    return body


def test_read_deployment_as_seeded(apps: client.AppsV1Api) -> None:
    d = apps.read_namespaced_deployment("litellm", NS)
    assert d.metadata.labels == {"app": "litellm", "component": "ai-proxy"}
    assert d.spec.replicas == 3 and d.spec.revision_history_limit == 10
    pod = d.spec.template.spec
    assert [c.name for c in pod.containers] == ["litellm"]
    assert [(c.name, c.image) for c in pod.init_containers] == [
        ("wait-for-postgres", "busybox:1.36"),
        ("wait-for-redis", "busybox:1.36"),
    ]
    env = {e.name: e for e in pod.containers[0].env}
    assert env["LITELLM_MASTER_KEY"].value_from.secret_key_ref.name == "litellm-secret"
    assert "DISABLE_SCHEMA_UPDATE" in env
    assert d.status.observed_generation == d.metadata.generation == 1
    assert d.status.available_replicas == 3
    conds = {c.type: c.reason for c in d.status.conditions}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    backend = apps.read_namespaced_deployment("litellm-backend", NS).spec.template.spec
    images = {c.name: c.image for c in backend.init_containers + backend.containers}
    assert images["run-migrations"] == images["backend"] == "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"


def test_secret_data_is_base64(kube: Sandbox, api_client: client.ApiClient) -> None:
    secret = client.CoreV1Api(api_client).read_namespaced_secret("litellm-secret", NS)
    assert base64.b64decode(secret.data["LITELLM_MASTER_KEY"]).decode() == kube.secrets()["master_key"]
    assert kube.env["LITELLM_MASTER_KEY"] == kube.secrets()["master_key"]
    assert not any(kube.secrets()["master_key"] in line for line in kube.lines)


def test_scale_subresource(apps: client.AppsV1Api) -> None:
    scale = apps.patch_namespaced_deployment_scale("litellm-frontend", NS, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=litellm-frontend"
    assert apps.read_namespaced_deployment_scale("litellm-frontend", NS).spec.replicas == 4
    wait_for(
        lambda: (
            (apps.read_namespaced_deployment_status("litellm-frontend", NS).status.available_replicas or 0)
            == 4
        ),
        timeout_s=20.0,
        what="4 available frontend replicas",
    )
    # PUT with a stale resourceVersion precondition (kubectl scale --resource-version)
    current = apps.read_namespaced_deployment_scale("litellm-frontend", NS)
    apps.patch_namespaced_deployment("litellm-frontend", NS, {"metadata": {"labels": {"touched": "yes"}}})
    current.spec.replicas = 2
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment_scale("litellm-frontend", NS, current)
    assert exc.value.status == 409


def test_missing_deployment_is_404_status(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("no-such-deployment", NS)
    assert exc.value.status == 404
    body = status_of(exc.value)
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'deployments.apps "no-such-deployment" not found'


def test_stale_resource_version_put_is_409(apps: client.AppsV1Api) -> None:
    stale = apps.read_namespaced_deployment("litellm-redis", NS)
    apps.patch_namespaced_deployment("litellm-redis", NS, {"metadata": {"annotations": {"note": "changed"}}})
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("litellm-redis", NS, stale)
    assert exc.value.status == 409
    assert status_of(exc.value)["reason"] == "Conflict"


def test_invalid_input_is_422(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale("litellm-redis", NS, {"spec": {"replicas": -1}})
    assert exc.value.status == 422
    body = status_of(exc.value)
    assert body["reason"] == "Invalid"
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in str(body["message"])

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "redis", "image": ""}]}}}}
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("litellm-redis", NS, patch)
    assert exc.value.status == 422
    assert "spec.template.spec.containers[0].image: Required value" in str(status_of(exc.value)["message"])
    assert apps.read_namespaced_deployment("litellm-redis", NS).spec.replicas == 1


def test_json_patch_as_in_the_runbook(apps: client.AppsV1Api) -> None:
    apps.patch_namespaced_deployment(
        "litellm-backend", NS, [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    )
    d = apps.read_namespaced_deployment("litellm-backend", NS)
    assert d.spec.replicas == 2 and d.metadata.generation == 2


def test_lease_create_conflict_delete(api_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api_client)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="litemaas-state-apply"),
        spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=60),
    )
    created = leases.create_namespaced_lease(NS, body)
    with pytest.raises(ApiException) as exc:
        leases.create_namespaced_lease(NS, body)
    assert exc.value.status == 409 and status_of(exc.value)["reason"] == "AlreadyExists"

    created.spec.holder_identity = "me-again"
    updated = leases.replace_namespaced_lease("litemaas-state-apply", NS, created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    created.spec.holder_identity = "someone-else"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as exc:
        leases.replace_namespaced_lease("litemaas-state-apply", NS, created)
    assert exc.value.status == 409 and status_of(exc.value)["reason"] == "Conflict"

    leases.delete_namespaced_lease("litemaas-state-apply", NS)
    with pytest.raises(ApiException) as exc:
        leases.read_namespaced_lease("litemaas-state-apply", NS)
    assert exc.value.status == 404


def test_watch_sees_the_rollout(apps: client.AppsV1Api) -> None:
    listed = apps.list_namespaced_deployment(NS, field_selector="metadata.name=litellm")
    assert [d.metadata.name for d in listed.items] == ["litellm"]
    apps.patch_namespaced_deployment(
        "litellm",
        NS,
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "litellm", "image": "quay.io/x/litellm:v2"}]}}
            }
        },
    )
    seen: list[tuple[str, int, int]] = []
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment,
        NS,
        field_selector="metadata.name=litellm",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=20,
    ):
        d = event["object"]
        seen.append((event["type"], d.metadata.generation, d.status.updated_replicas or 0))
        if (
            d.status.observed_generation == 2
            and (d.status.available_replicas or 0) == 3
            and d.status.updated_replicas == 3
        ):
            w.stop()
    assert seen[0][:2] == ("MODIFIED", 2)
    assert seen[-1] == ("MODIFIED", 2, 3)


def test_http_errors_401_and_405(kube: Sandbox, api_client: client.ApiClient) -> None:
    cfg = api_client.configuration
    token = yaml.safe_load(kube.kubeconfig.read_text())["users"][0]["user"]["token"]
    verify = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    with httpx.Client(base_url=cfg.host, verify=verify, timeout=10) as http:
        anonymous = http.get(f"/apis/apps/v1/namespaces/{NS}/deployments")
        assert anonymous.status_code == 401 and anonymous.json()["reason"] == "Unauthorized"
        bad = http.get(f"/apis/apps/v1/namespaces/{NS}/deployments", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        wrong = http.post(f"/apis/apps/v1/namespaces/{NS}/deployments/litellm", headers=auth, json={})
        assert wrong.status_code == 405 and wrong.json()["reason"] == "MethodNotAllowed"
        table = http.get(
            f"/apis/apps/v1/namespaces/{NS}/deployments",
            headers={**auth, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
        )
        assert table.json()["kind"] == "Table"


def test_every_object_deserializes_into_the_typed_models(api_client: client.ApiClient) -> None:
    """The client's pydantic models reject objects missing required fields (e.g. containerStatuses[].imageID)."""
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.patch_namespaced_deployment(
        "litellm-redis",
        NS,
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "redis", "image": "quay.io/x/redis:7-broken"}]}}
            }
        },
    )
    wait_for(
        lambda: any(
            "CrashLoopBackOff" in str(p.status.container_statuses)
            for p in core.list_namespaced_pod(NS, label_selector="app=litellm-redis").items
        ),
        timeout_s=20.0,
        what="a crash-looping redis pod",
    )
    assert len(core.list_namespaced_pod(NS).items) >= 9
    assert len(apps.list_namespaced_deployment(NS).items) == 4
    assert len(apps.list_namespaced_replica_set(NS).items) >= 4
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set(NS).items] == ["litellm-postgres"]
    assert len(core.list_namespaced_service(NS).items) == 5
    assert len(core.list_namespaced_secret(NS).items) == 3
    assert [n.metadata.name for n in core.list_namespace().items] == [NS]
    client.CoordinationV1Api(api_client).list_namespaced_lease(NS)
    assert client.AutoscalingV2Api(api_client).list_namespaced_horizontal_pod_autoscaler(NS).items == []
    routes = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "route.openshift.io", "v1", NS, "routes"
    )
    assert sorted(r["metadata"]["name"] for r in routes["items"]) == [
        "litellm",
        "litellm-admin",
        "litellm-frontend",
    ]


def test_connections_to_the_api_have_nagle_off() -> None:
    # accepted connections inherit TCP_NODELAY from the listening socket; without it each TLS response's body
    # waited ~40 ms for the client's delayed ACK, where kube-apiserver (Go sets TCP_NODELAY) answers at once
    server = kubeapi.KubeApiServer(kubeapi.Store(), "token")
    try:
        server._sock.listen(1)
        with socket.create_connection((server.host, server.port)):
            accepted, _ = server._sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server._sock.close()
