"""One translation of Kubernetes ``ApiException``s (live/kube.py ``api_error``): the HTTP status survives
(403 ``Forbidden``; 404, 409, 422 and 5xx ``KubeApiError`` told apart), the client exception is the
cause, and no response body reaches a message or the debug cause chain. The 404/409/422 answers come
from the sandbox's real Kubernetes API through the official client."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from litemaas_state.apply.kube import KubeWriter
from litemaas_state.errors import ApplyError, Forbidden, KubeApiError, ObserveError, cause_chain
from litemaas_state.live.kube import KubeConnection, api_error, connect_kube, kube_errors
from tests.conftest import FAST, Sandbox

BODY_SECRET = "sk-BodyOnlySecretValue1234567890"


def status_exception(status: int, reason: str, message: str) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                           "message": message, "details": {"causes": [{"message": BODY_SECRET}]}})
    return exc


@pytest.mark.parametrize(("status", "reason", "flag"), [
    (404, "NotFound", "not_found"), (409, "Conflict", "conflict"), (422, "Invalid", "invalid"),
    (500, "InternalError", "server_error"), (503, "ServiceUnavailable", "server_error"),
])
def test_each_status_is_its_own_error(status: int, reason: str, flag: str) -> None:
    err = api_error(status_exception(status, reason, "the message"), "patch deployment/litellm")
    assert isinstance(err, KubeApiError) and not isinstance(err, Forbidden)
    assert (err.status, err.reason) == (status, reason)
    assert str(err) == f"kubernetes: patch deployment/litellm: HTTP {status} {reason}: the message"
    assert [f for f in ("not_found", "conflict", "invalid", "server_error") if getattr(err, f)] == [flag]
    assert BODY_SECRET not in str(err)


def test_403_is_forbidden_with_verb_and_resource() -> None:
    err = api_error(status_exception(403, "Forbidden", 'User "x" cannot list resource "pods"'), "list pods -l a=b",
                    alternative="set REDIS_URL")
    assert isinstance(err, Forbidden) and err.status == 403 and (err.verb, err.resource) == ("list", "pods")
    assert "HTTP 403" in str(err) and "set REDIS_URL" in str(err) and BODY_SECRET not in str(err)


def test_a_refused_websocket_upgrade_keeps_its_status() -> None:
    exc = ApiException(status=0, reason='Handshake status 404 Not Found -+-+- {"x": "y"} -+-+- '
                       '{"kind":"Status","message":"pods \\"p\\" not found"}')
    err = api_error(exc, "exec in pod/p")
    assert isinstance(err, KubeApiError) and err.status == 404 and err.not_found
    assert str(err) == 'kubernetes: exec in pod/p: HTTP 404 Not Found: pods "p" not found'
    unreachable = api_error(ApiException(status=0, reason="[Errno 111] Connection refused"), "exec in pod/p")
    assert type(unreachable) is ObserveError and unreachable.status is None
    assert "cannot reach the API server" in str(unreachable)


def test_the_cause_is_chained_and_its_body_never_shown() -> None:
    with pytest.raises(KubeApiError) as info, kube_errors("get deployment/litellm"):
        raise status_exception(500, "InternalError", "etcdserver: request timed out")
    assert isinstance(info.value.__cause__, ApiException)
    chain = cause_chain(info.value)
    assert chain == ["ApiException: HTTP 500 InternalError"]
    assert BODY_SECRET not in "".join(chain)


@pytest.fixture
def kube(sandbox_factory: Callable[..., Sandbox]) -> KubeConnection:
    sb = sandbox_factory(**FAST)
    return connect_kube("litellm-rhpds", kubeconfig=str(sb.kubeconfig))


@pytest.mark.slow
def test_real_404_409_422_from_the_api_server(kube: KubeConnection) -> None:
    writer = KubeWriter(kube)
    with pytest.raises(ApplyError) as missing:
        writer.scale("no-such-deployment", 2)
    assert missing.value.status == 404 and "HTTP 404 NotFound" in str(missing.value)
    assert isinstance(missing.value.__cause__, KubeApiError) and missing.value.__cause__.not_found
    assert isinstance(missing.value.__cause__.__cause__, ApiException)

    apps = k8s.AppsV1Api(kube.api)
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}
    with pytest.raises(KubeApiError) as conflict, kube_errors("patch deployment/litellm"):
        apps.patch_namespaced_deployment("litellm", kube.namespace, stale, _preload_content=False)
    assert conflict.value.conflict and conflict.value.reason == "Conflict"

    with pytest.raises(KubeApiError) as invalid, kube_errors("scale deployment/litellm"):
        apps.patch_namespaced_deployment_scale("litellm", kube.namespace, {"spec": {"replicas": -1}},
                                               _content_type="application/merge-patch+json",
                                               _preload_content=False)
    assert invalid.value.invalid and invalid.value.status == 422
