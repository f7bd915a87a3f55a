"""The Kubernetes API endpoints litemaas-state calls: one table, sent through the official client's
``ApiClient``.

Each ``Endpoint`` is an HTTP method and a path template, as the generated API class spells it. A request
goes through ``ApiClient.param_serialize`` and ``ApiClient.call_api``, exactly what the generated methods
call (kubernetes-client/python 37, ``kubernetes/client/api_client.py``: ``_call_with_legacy_options`` with
``_preload_content=False``). Configuration, authentication, TLS, proxies and ``ApiException`` therefore
stay the official client's.

Why not the generated classes (``CoreV1Api`` …): in ``kubernetes`` 37 they are pydantic. Importing
``CoreV1Api``, ``AppsV1Api``, ``CustomObjectsApi``, ``AutoscalingV2Api``, ``CoordinationV1Api`` and
``DiscoveryV1Api`` builds hundreds of model classes and ``validate_call`` wrappers: 1.9 s of CPU
(measured), about half of a whole ``plan``. This tool only ever reads and writes raw JSON, so it needs none
of them. ``tests/live/test_endpoints.py`` holds every row to the generated method named in ``generated``:
same method, URL, headers and body.

Reads are made by ``live/``; the write endpoints (``PATCH_DEPLOYMENT``, the Lease writes) are called only
from ``apply/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

#: A Kubernetes object as the API server sent it (camelCase JSON).
RawObject = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """One Kubernetes API endpoint.

    ``method``: the HTTP method. ``path``: the path template, ``{namespace}``/``{name}`` … filled from the
    ``path`` mapping of ``request``. ``generated``: the official client's method that sends the same
    request (``CoreV1Api.read_namespaced_secret``), the test's reference. ``accept``: the Accept header
    (the generated method's first choice). ``multi``: query parameters repeated once per value
    (``command=a&command=b``, OpenAPI collection format ``multi``)."""

    method: str
    path: str
    generated: str
    accept: str = "application/json"
    multi: tuple[str, ...] = ()


_NS = "/api/v1/namespaces/{namespace}"
_APPS = "/apis/apps/v1/namespaces/{namespace}"
_LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

READ_NAMESPACE = Endpoint("GET", "/api/v1/namespaces/{name}", "CoreV1Api.read_namespace")
READ_SECRET = Endpoint("GET", _NS + "/secrets/{name}", "CoreV1Api.read_namespaced_secret")
READ_SERVICE = Endpoint("GET", _NS + "/services/{name}", "CoreV1Api.read_namespaced_service")
READ_POD = Endpoint("GET", _NS + "/pods/{name}", "CoreV1Api.read_namespaced_pod")
LIST_PODS = Endpoint("GET", _NS + "/pods", "CoreV1Api.list_namespaced_pod")
EXEC_POD = Endpoint("GET", _NS + "/pods/{name}/exec", "CoreV1Api.connect_get_namespaced_pod_exec",
                    accept="*/*", multi=("command",))
PORTFORWARD_POD = Endpoint("GET", _NS + "/pods/{name}/portforward",
                           "CoreV1Api.connect_get_namespaced_pod_portforward", accept="*/*")
READ_DEPLOYMENT = Endpoint("GET", _APPS + "/deployments/{name}", "AppsV1Api.read_namespaced_deployment")
PATCH_DEPLOYMENT = Endpoint("PATCH", _APPS + "/deployments/{name}", "AppsV1Api.patch_namespaced_deployment")
LIST_REPLICASETS = Endpoint("GET", _APPS + "/replicasets", "AppsV1Api.list_namespaced_replica_set")
LIST_HPAS = Endpoint("GET", "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
                     "AutoscalingV2Api.list_namespaced_horizontal_pod_autoscaler")
LIST_ENDPOINTSLICES = Endpoint("GET", "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                               "DiscoveryV1Api.list_namespaced_endpoint_slice")
LIST_ROUTES = Endpoint("GET", "/apis/route.openshift.io/v1/namespaces/{namespace}/routes",
                       "CustomObjectsApi.list_namespaced_custom_object")
CREATE_LEASE = Endpoint("POST", _LEASES, "CoordinationV1Api.create_namespaced_lease")
READ_LEASE = Endpoint("GET", _LEASES + "/{name}", "CoordinationV1Api.read_namespaced_lease")
REPLACE_LEASE = Endpoint("PUT", _LEASES + "/{name}", "CoordinationV1Api.replace_namespaced_lease")
DELETE_LEASE = Endpoint("DELETE", _LEASES + "/{name}", "CoordinationV1Api.delete_namespaced_lease")

#: Every endpoint above, for the test that holds each to its generated method.
ALL: tuple[Endpoint, ...] = (
    READ_NAMESPACE, READ_SECRET, READ_SERVICE, READ_POD, LIST_PODS, EXEC_POD, PORTFORWARD_POD,
    READ_DEPLOYMENT, PATCH_DEPLOYMENT, LIST_REPLICASETS, LIST_HPAS, LIST_ENDPOINTSLICES, LIST_ROUTES,
    CREATE_LEASE, READ_LEASE, REPLACE_LEASE, DELETE_LEASE,
)


def serialize(api: ApiClient, endpoint: Endpoint, path: Mapping[str, str],
              query: Sequence[tuple[str, Any]] = (), body: Any = None,
              content_type: str | None = None) -> tuple[Any, ...]:
    """The request tuple ``(method, url, headers, body, post_params)`` for ``ApiClient.call_api``.

    ``query``: (name, value) pairs in order; None values are left out, booleans sent as ``true``/``false``
    (the client's ``parameters_to_url_query``). ``content_type``: for a body; when None the
    client's REST layer sends ``application/json`` (``kubernetes/client/rest.py``), as for the generated
    methods."""
    headers: dict[str, str] = {"Accept": endpoint.accept}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return tuple(api.param_serialize(
        method=endpoint.method, resource_path=endpoint.path, path_params=dict(path),
        query_params=[(k, v) for k, v in query if v is not None], header_params=headers, body=body,
        post_params=[], files={}, auth_settings=["BearerToken"],
        collection_formats={k: "multi" for k in endpoint.multi},
    ))


def request(api: ApiClient, endpoint: Endpoint, path: Mapping[str, str], query: Sequence[tuple[str, Any]] = (),
            body: Any = None, content_type: str | None = None) -> Any:
    """Send one request; return the raw HTTP response (a ``kubernetes.client.rest.RESTResponse``, read).

    Raises:
        kubernetes.client.exceptions.ApiException: a non-2xx answer (``status``, ``reason``, ``body``), or
            the API server could not be reached (urllib3's errors, as from the generated methods).
    """
    resp = api.call_api(*serialize(api, endpoint, path, query, body, content_type))
    resp.read()
    if not 200 <= resp.status <= 299:
        raise ApiException.from_response(http_resp=resp, body=None, data=None)
    return resp


def call_json(api: ApiClient, endpoint: Endpoint, path: Mapping[str, str], query: Sequence[tuple[str, Any]] = (),
              body: Any = None, content_type: str | None = None) -> RawObject:
    """``request`` and parse the JSON body (camelCase, as the API server sent it).

    Raises:
        kubernetes.client.exceptions.ApiException: as ``request``.
    """
    data: RawObject = json.loads(request(api, endpoint, path, query, body, content_type).data)
    return data


class Connect:
    """A WebSocket endpoint (exec, port-forward) in the shape ``kubernetes.stream.stream`` and
    ``portforward`` take: they call ``Connect(api, EXEC_POD).open`` after swapping ``api.call_api`` for
    their WebSocket dialer, and read ``open.__self__.api_client`` (kubernetes-client/python
    ``kubernetes/stream/stream.py``, ``_websocket_request``)."""

    def __init__(self, api: ApiClient, endpoint: Endpoint) -> None:
        self.api_client = api
        self.endpoint = endpoint

    def open(self, name: str, namespace: str, *, _preload_content: bool = False, **query: Any) -> Any:
        """Dial through the (swapped) ``call_api``; ``query`` keyword arguments in order.

        Raises:
            kubernetes.client.exceptions.ApiException: the upgrade was refused (``status`` 0 from
                ``kubernetes.stream``: see live/kube.py ``api_error``).
        """
        request = serialize(self.api_client, self.endpoint, {"name": name, "namespace": namespace},
                            list(query.items()))
        return self.api_client.call_api(*request).response
