"""Each row of live/endpoints.py sends what the official client's generated method sends: method, URL
(path and query), headers and body. Both go through one ``ApiClient`` whose ``call_api`` records the request
instead of sending it, the same seam ``kubernetes.stream`` swaps (``kubernetes/stream/stream.py``)."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from kubernetes import client as k8s

from litemaas_state.live import endpoints as ep

BODY = {"metadata": {"name": "x"}, "spec": {"replicas": 2}}
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "resourceVersion": "7"},
         "spec": {"holderIdentity": "me", "leaseDurationSeconds": 60}}
NS = "litellm-rhpds"

#: endpoint → (generated method's positional arguments, its keyword arguments, ours: path, query, body, type)
CASES: dict[ep.Endpoint, tuple[tuple[Any, ...], dict[str, Any], dict[str, str], list[tuple[str, Any]],
                               Any, str | None]] = {
    ep.READ_NAMESPACE: ((NS,), {}, {"name": NS}, [], None, None),
    ep.READ_SECRET: (("s", NS), {}, {"name": "s", "namespace": NS}, [], None, None),
    ep.READ_SERVICE: (("svc", NS), {}, {"name": "svc", "namespace": NS}, [], None, None),
    ep.READ_POD: (("p", NS), {}, {"name": "p", "namespace": NS}, [], None, None),
    ep.LIST_PODS: ((NS,), {"label_selector": "app=litellm,tier in (a b)"}, {"namespace": NS},
                   [("labelSelector", "app=litellm,tier in (a b)")], None, None),
    ep.EXEC_POD: (("p", NS), {"command": ["pg_dump", "-Fc", "a b"], "container": "c", "stdin": False,
                              "stdout": True, "stderr": True, "tty": False},
                  {"name": "p", "namespace": NS},
                  [("command", ["pg_dump", "-Fc", "a b"]), ("container", "c"), ("stdin", False), ("stdout", True),
                   ("stderr", True), ("tty", False)], None, None),
    ep.PORTFORWARD_POD: (("p", NS), {"ports": "5432"}, {"name": "p", "namespace": NS}, [("ports", "5432")],
                         None, None),
    ep.READ_DEPLOYMENT: (("d", NS), {}, {"name": "d", "namespace": NS}, [], None, None),
    ep.PATCH_DEPLOYMENT: (("d", NS, BODY), {"_content_type": "application/strategic-merge-patch+json"},
                          {"name": "d", "namespace": NS}, [], BODY, "application/strategic-merge-patch+json"),
    ep.LIST_REPLICASETS: ((NS,), {}, {"namespace": NS}, [], None, None),
    ep.LIST_HPAS: ((NS,), {}, {"namespace": NS}, [], None, None),
    ep.LIST_ENDPOINTSLICES: ((NS,), {"label_selector": "kubernetes.io/service-name=db"}, {"namespace": NS},
                             [("labelSelector", "kubernetes.io/service-name=db")], None, None),
    ep.LIST_ROUTES: (("route.openshift.io", "v1", NS, "routes"), {}, {"namespace": NS}, [], None, None),
    ep.CREATE_LEASE: ((NS, LEASE), {}, {"namespace": NS}, [], LEASE, None),
    ep.READ_LEASE: (("l", NS), {}, {"name": "l", "namespace": NS}, [], None, None),
    ep.REPLACE_LEASE: (("l", NS, LEASE), {}, {"name": "l", "namespace": NS}, [], LEASE, None),
    ep.DELETE_LEASE: (("l", NS), {"body": k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(
        resource_version="42"))}, {"name": "l", "namespace": NS}, [], {"preconditions": {"resourceVersion": "42"}},
        None),
}


def recording_client() -> tuple[k8s.ApiClient, list[tuple[Any, ...]]]:
    cfg = k8s.Configuration(host="https://api.example:6443")
    cfg.api_key = {"BearerToken": "Bearer t0ken"}
    api = k8s.ApiClient(cfg)
    sent: list[tuple[Any, ...]] = []

    def call_api(*request: Any, **_: Any) -> SimpleNamespace:
        sent.append(request)
        return SimpleNamespace(status=200, response=SimpleNamespace(data=b"{}"), read=lambda: b"{}", data=b"{}")

    api.call_api = call_api  # type: ignore[method-assign]
    return api, sent


def normalised(request: tuple[Any, ...]) -> tuple[str, str, list[tuple[str, str]], dict[str, str], Any]:
    method, url, headers, body, *_ = request
    parts = urlsplit(url)
    headers = {k: v for k, v in headers.items() if k != "User-Agent"}
    return method, parts.scheme + "://" + parts.netloc + parts.path, sorted(parse_qsl(parts.query)), headers, body


def test_every_endpoint_has_a_case() -> None:
    assert set(CASES) == set(ep.ALL)
    assert len({e.generated for e in ep.ALL}) == len(ep.ALL)


@pytest.mark.parametrize("endpoint", ep.ALL, ids=lambda e: e.generated)
def test_the_request_is_the_generated_methods(endpoint: ep.Endpoint) -> None:
    args, kwargs, path, query, body, content_type = CASES[endpoint]
    api, sent = recording_client()
    cls, method = endpoint.generated.split(".")
    getattr(getattr(k8s, cls)(api), method)(*args, _preload_content=False, **kwargs)
    if endpoint in (ep.EXEC_POD, ep.PORTFORWARD_POD):
        ep.Connect(api, endpoint).open(path["name"], path["namespace"], **dict(query))
    else:
        ep.request(api, endpoint, path, query, body, content_type)
    generated, ours = (normalised(r) for r in sent)
    assert ours == generated
    assert generated[3].get("authorization") == "Bearer t0ken"  # auth settings applied, as by the client


def test_a_non_2xx_answer_is_the_clients_api_exception() -> None:
    api, _ = recording_client()
    api.call_api = lambda *a, **k: SimpleNamespace(  # type: ignore[method-assign]
        status=409, reason="Conflict", data=b'{"message":"x"}', read=lambda: None,
        getheaders=lambda: {}, headers={})
    with pytest.raises(k8s.exceptions.ConflictException) as info:
        ep.call_json(api, ep.CREATE_LEASE, {"namespace": NS}, body=BODY)
    assert info.value.status == 409


def test_connect_is_what_kubernetes_stream_dials() -> None:
    """``kubernetes.stream`` swaps ``call_api`` on ``open.__self__.api_client`` and passes the URL on."""
    from kubernetes.stream.stream import _websocket_request

    api, _ = recording_client()
    dialled: list[str] = []

    def dial(_cfg: Any, method: str, url: str, **_: Any) -> str:
        dialled.append(f"{method} {url}")
        return "ws"

    stream = functools.partial(_websocket_request, dial, None)
    assert stream(ep.Connect(api, ep.PORTFORWARD_POD).open, "p", NS, ports="5432") == "ws"
    assert dialled == [f"GET https://api.example:6443/api/v1/namespaces/{NS}/pods/p/portforward?ports=5432"]
