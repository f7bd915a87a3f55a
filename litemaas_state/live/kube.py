"""Reads of the Kubernetes API through the official ``kubernetes`` client. The only code that reads the
cluster; ``apply/kube.py`` is the only code that writes it.

Raw objects are read with ``_preload_content=False`` and parsed as the JSON the API server sent (camelCase,
as kubectl sees it), then reduced to ``live.model`` values. Client exceptions are caught here and
re-raised by ``api_error`` — the one translation of an ``ApiException``, which keeps its HTTP status
(``Forbidden`` for 403, ``KubeApiError`` otherwise) — without response bodies, the client exception
chained as the ``__cause__``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from litemaas_state import names
from litemaas_state.errors import ConfigError, Forbidden, KubeApiError, ObserveError
from litemaas_state.live import endpoints as ep
from litemaas_state.live.endpoints import RawObject
from litemaas_state.live.model import (
    Condition,
    ContainerImage,
    HorizontalPodAutoscaler,
    ManagedFields,
    Workload,
    env_digest,
)

T = TypeVar("T")


@dataclass(frozen=True)
class KubeConnection:
    """A configured API client for one namespace. ``server`` is the API server URL (not secret);
    ``context`` the kubeconfig context actually used (None in-cluster)."""

    api: k8s.ApiClient
    namespace: str
    server: str
    context: str | None
    in_cluster: bool = False


#: Where the kubelet mounts a pod's ServiceAccount token and the cluster CA (the projected
#: ``kube-api-access-*`` volume; kubernetes-client/python ``kubernetes/config/incluster_config.py``).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def load_in_cluster(cfg: k8s.Configuration, service_account_dir: str | None = None,
                    environ: dict[str, str] | None = None) -> None:
    """Configure ``cfg`` from the pod's ServiceAccount, as client-go's ``rest.InClusterConfig`` does: the
    API server ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, the bearer token in
    ``<dir>/token`` (re-read when it expires: bound tokens rotate about hourly) and the CA ``<dir>/ca.crt``.

    Args:
        service_account_dir: default ``SERVICE_ACCOUNT_DIR`` (read at call time); environ: default
            ``os.environ``.
    Raises:
        ConfigException: not in a pod (the variables are unset) or the token or CA file is missing.
    Source: kubernetes-client/python ``kubernetes/config/incluster_config.py`` (``InClusterConfigLoader``,
        whose file names and environment this passes explicitly).
    """
    from kubernetes.config.incluster_config import InClusterConfigLoader

    directory = service_account_dir or SERVICE_ACCOUNT_DIR
    InClusterConfigLoader(token_filename=os.path.join(directory, "token"),
                          cert_filename=os.path.join(directory, "ca.crt"), try_refresh_token=True,
                          environ=os.environ if environ is None else environ).load_and_set(cfg)


def connect_kube(namespace: str, context: str | None = None, kubeconfig: str | None = None) -> KubeConnection:
    """Build a client the way kubectl picks its configuration.

    Order: an explicit ``kubeconfig`` path, else ``$KUBECONFIG`` (colon-separated list) or
    ``~/.kube/config``; if none exists, the in-cluster service account (``load_in_cluster``: in a pod
    with ``KUBERNETES_SERVICE_HOST`` and the mounted token, ``in_cluster`` is then True and every
    data-plane source defaults to the direct path). ``context`` selects a kubeconfig context (default:
    current-context).

    Raises:
        ConfigError: no usable configuration, or the named context does not exist.
    """
    cfg = k8s.Configuration()
    in_cluster = False
    files = _kubeconfig_files(kubeconfig)
    try:
        k8s_config.load_kube_config(config_file=files, context=context, client_configuration=cfg)
    except (ConfigException, FileNotFoundError, OSError) as exc:
        try:
            load_in_cluster(cfg)
            in_cluster = True
        except ConfigException as incluster_exc:
            raise ConfigError(
                f"no Kubernetes configuration: {str(exc).rstrip('.')} (tried {_kubeconfig_paths(kubeconfig)}, "
                "and no in-cluster service account). Set KUBECONFIG (e.g. eval \"$(litemaas-state sandbox up)\") "
                "or run inside a cluster."
            ) from incluster_exc
    cfg.retries = 1
    effective = context
    if effective is None:
        try:
            _, active = k8s_config.list_kube_config_contexts(config_file=files)
            effective = (active or {}).get("name")
        except (ConfigException, FileNotFoundError, OSError, TypeError):
            effective = None  # in-cluster
    return KubeConnection(api=k8s.ApiClient(cfg), namespace=namespace, server=str(cfg.host), context=effective,
                          in_cluster=in_cluster)


def _kubeconfig_files(kubeconfig: str | None) -> str:
    """The kubeconfig file(s) to load, read now: ``kubeconfig``, else ``$KUBECONFIG`` (a colon-separated
    list, which the client's ``KubeConfigMerger`` merges; empty counts as unset, as for kubectl), else
    ``~/.kube/config``. Passed explicitly because the client's own default, ``KUBE_CONFIG_DEFAULT_LOCATION``
    (kubernetes-client/python ``kubernetes/config/kube_config.py``), is read once, when it is imported."""
    return kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _kubeconfig_paths(kubeconfig: str | None) -> str:
    """The kubeconfig path(s) the client tried, as kubectl reads them: ``kubeconfig``, else each entry of
    ``$KUBECONFIG``, else ``~/.kube/config``."""
    if kubeconfig:
        return kubeconfig
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return "KUBECONFIG=" + os.pathsep.join(listed)
    return os.path.expanduser("~/.kube/config")


def forbidden(verb: str, resource: str, message: str, alternative: str | None = None,
              group: str | None = None) -> Forbidden:
    """The one-line error for an HTTP 403: the verb and resource (in API ``group``, when not the core or
    apps group) the token lacks, the API server's own reason (``User "…" cannot create resource
    "pods/portforward" …``) and how to do without."""
    in_group = f" in API group \"{group}\"" if group else ""
    text = f"{verb} {resource} is forbidden (HTTP 403): {message.strip() or 'no reason given'}. The token " \
           f"needs \"{verb}\" on \"{resource}\"{in_group} (README: RBAC)"
    if alternative:
        text += f"; or {alternative}"
    return Forbidden(verb, resource, text)


def api_error(exc: ApiException, what: str, address: str | None = None, *, verb: str | None = None,
              resource: str | None = None, alternative: str | None = None) -> ObserveError:
    """The one translation of a Kubernetes client ``ApiException`` into our error, keeping its status.

    Args:
        exc: from a REST call (``status`` the HTTP status) or from ``kubernetes.stream`` (``status`` 0 and
            the WebSocket handshake's answer in ``reason``; see ``handshake_status``).
        what: the request as kubectl would say it (``get deployment/litellm``, ``list pods -l app=x``).
        verb, resource: for a 403 (default: the first two words of ``what``); alternative: how to do
            without (e.g. ``set LITEMAAS_DATABASE_URL``), named in a 403 and a missing-Service message.
    Returns:
        ``Forbidden`` for 403; ``KubeApiError`` for any other HTTP answer (``status``: 404, 409, 422,
        5xx …; ``reason``: the Status reason such as ``Conflict``); a plain ``ObserveError`` (``status``
        None) when there was no HTTP answer (a WebSocket that could not connect). The message holds the
        Status ``message`` (at most 256 characters) and never the rest of the response body.
    Source: kubernetes-client/python ``kubernetes/client/exceptions.py`` (``ApiException``: status,
        reason, body) and ``kubernetes/stream/ws_client.py`` (``websocket_call``: ``ApiException(status=0,
        reason=str(error))``).
    """
    status, reason, message = int(exc.status or 0), str(exc.reason or ""), _status_message(exc)
    if status == 0:
        status, message = handshake_status(exc)
        if not status:
            return ObserveError("kubernetes", f"{what}: cannot reach the API server ({reason[:120]})", address)
        reason = _REASON_PHRASE.get(status, "")
    else:
        reason = _status_reason(exc) or reason
    if status == 403:
        words = what.split()
        return forbidden(verb or words[0], resource or (words[1].split("/")[0] if len(words) > 1 else "?"),
                         message, alternative)
    shown = f"HTTP {status} {reason[:64]}".rstrip()
    if message and message != reason:
        shown += f": {message}"
    return KubeApiError(f"{what}: {shown}", status=status, reason=reason[:64], address=address)


@contextmanager
def kube_errors(what: str, address: str | None = None, *, verb: str | None = None, resource: str | None = None,
                alternative: str | None = None) -> Iterator[None]:
    """Translate client exceptions raised inside the block: ``ApiException`` by ``api_error``; a
    connection failure (urllib3, OSError) into ObserveError "cannot reach the API server". The client
    exception is the ``__cause__``.
    """
    try:
        yield
    except ApiException as exc:
        raise api_error(exc, what, address, verb=verb, resource=resource, alternative=alternative) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ObserveError("kubernetes", f"{what}: cannot reach the API server ({type(exc).__name__})",
                           address) from exc


def _status_body(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def forbidden_from(exc: ApiException, verb: str, resource: str, group: str | None = None) -> Forbidden:
    """``forbidden`` for a 403 ``ApiException``, with the Status message as the reason."""
    return forbidden(verb, resource, _status_message(exc), group=group)


def _status_message(exc: ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, truncated; nothing else from the body."""
    body = _status_body(exc)
    if body:
        return str(body.get("message", ""))[:256]
    return str(exc.reason or "")[:256]


def _status_reason(exc: ApiException) -> str:
    """The ``reason`` of a Kubernetes Status body (``NotFound``, ``Conflict``, ``Invalid`` …), or ""."""
    return str(_status_body(exc).get("reason", ""))[:64]


#: HTTP reason phrases for a refused WebSocket upgrade (whose ApiException has only the status line).
_REASON_PHRASE = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
                  422: "Unprocessable Entity", 500: "Internal Server Error", 503: "Service Unavailable"}


_HANDSHAKE = re.compile(r"Handshake status (\d+)")


def handshake_status(exc: ApiException) -> tuple[int, str]:
    """(HTTP status, Status message) of a refused WebSocket upgrade (``kubernetes.stream`` wraps the
    websocket-client error as ``ApiException(status=0, reason="Handshake status 403 Forbidden -+-+- headers
    -+-+- body")``); (0, "") when the failure was not an HTTP answer (e.g. connection refused)."""
    text = str(exc.reason or "")
    m = _HANDSHAKE.search(text)
    if not m:
        return 0, ""
    body = text.rsplit(" -+-+- ", 1)[-1] if " -+-+- " in text else ""
    try:
        data = json.loads(body)
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
    except ValueError:
        message = ""
    return int(m.group(1)), message[:256]


@dataclass(frozen=True)
class PodPort:
    """A Ready pod behind a Service and the pod port a Service port maps to (its ``targetPort``).

    ``container``: the container exposing that port (exec runs there)."""

    name: str
    container: str
    port: int


def _ready(pod: RawObject) -> bool:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _not_ready_reason(pod: RawObject) -> str:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "it is terminating"
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") != "True":
            why = c.get("reason") or c.get("message") or ""
            return f"Ready={c.get('status')}" + (f" ({str(why)[:120]})" if why else "")
    return f"phase {status.get('phase') or 'unknown'}"


def _container_for_port(pod: RawObject, target: Any) -> tuple[str, int] | None:
    """(container, port number) in ``pod`` for a Service ``targetPort`` (a number or a port name)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    for c in containers:
        for p in c.get("ports") or []:
            if target in (p.get("name"), p.get("containerPort")) or str(target) == str(p.get("containerPort")):
                return c.get("name", ""), int(p["containerPort"])
    if isinstance(target, int) or str(target).isdigit():
        return (containers[0].get("name", "") if containers else ""), int(target)
    return None


class KubeReader:
    """Read-only access to one namespace. Every method raises ObserveError on failure."""

    def __init__(self, conn: KubeConnection) -> None:
        self.conn = conn

    def _get(self, endpoint: ep.Endpoint, name: str | None = None, **query: Any) -> RawObject:
        path = {"namespace": self.conn.namespace, **({"name": name} if name is not None else {})}
        return ep.call_json(self.conn.api, endpoint, path, list(query.items()))

    def deployment(self, name: str) -> Workload | None:
        """The Deployment ``name`` as a Workload, or None when it does not exist (404)."""
        raw = self.raw_deployment(name)
        return workload_from_raw(raw) if raw is not None else None

    def hpas(self) -> tuple[HorizontalPodAutoscaler, ...]:
        """HorizontalPodAutoscalers in the namespace (an HPA owns replicas; docs/design.md §9.18 item 9)."""
        with kube_errors("list horizontalpodautoscalers"):
            try:
                raw = self._get(ep.LIST_HPAS)
            except ApiException as exc:
                if exc.status == 404:
                    return ()
                raise
        out = []
        for item in raw.get("items", []):
            ref = item.get("spec", {}).get("scaleTargetRef", {})
            out.append(HorizontalPodAutoscaler(name=item["metadata"]["name"], target_kind=ref.get("kind", ""),
                                               target_name=ref.get("name", "")))
        return tuple(out)

    def secret_value(self, name: str, key: str) -> str | None:
        """One decoded value of a Secret, or None when the Secret or key is absent. The value is secret."""
        with kube_errors(f"get secret/{name}"):
            try:
                raw = self._get(ep.READ_SECRET, name)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
        value = (raw.get("data") or {}).get(key)
        if value is None:
            return (raw.get("stringData") or {}).get(key)
        return base64.b64decode(value).decode()

    def routes(self) -> list[RawObject]:
        """OpenShift Routes (route.openshift.io/v1) in the namespace; [] when the API is absent."""
        with kube_errors("list routes"):
            try:
                raw = self._get(ep.LIST_ROUTES)
            except ApiException as exc:
                if exc.status == 404:
                    return []
                raise
        items: list[RawObject] = raw.get("items", [])
        return items

    def pods_ready(self, selector: str) -> tuple[int, int]:
        """(ready, total) pods matching a label selector, by the pods' Ready condition."""
        with kube_errors(f"list pods -l {selector}"):
            raw = self._get(ep.LIST_PODS, labelSelector=selector)
        items = raw.get("items", [])
        ready = sum(
            1 for p in items
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (p.get("status") or {}).get("conditions", []))
        )
        return ready, len(items)

    def ready_pod(self, service: str, port: int, alternative: str) -> PodPort:
        """A Ready pod behind Service ``service`` and the pod port its port ``port`` maps to, as
        ``kubectl port-forward service/NAME`` picks one: the Service's selector, else its EndpointSlices.
        The first Ready pod by name is chosen, so every run picks the same one.

        Raises:
            ObserveError: the Service does not exist, has no port ``port``, has no endpoints (no pod
                behind it), or no pod behind it is Ready — each naming ``alternative``.
            Forbidden: a needed read is refused (get services, list pods, list endpointslices).
        Source: kubectl ``port-forward`` (``k8s.io/kubectl/pkg/cmd/portforward``: AttachablePodForObject,
            translateServicePortToTargetPort).
        """
        with kube_errors(f"get services/{service}", alternative=alternative):
            try:
                svc = self._get(ep.READ_SERVICE, service)
            except ApiException as exc:
                if exc.status == 404:
                    raise ObserveError("kubernetes", f"service/{service} does not exist in namespace "
                                       f"{self.conn.namespace}; {alternative}") from exc
                raise
        spec = svc.get("spec") or {}
        sport = next((p for p in spec.get("ports") or [] if int(p.get("port", 0)) == port), None)
        if sport is None:
            raise ObserveError("kubernetes", f"service/{service} has no port {port}; {alternative}")
        target = sport.get("targetPort", port)
        selector = spec.get("selector") or {}
        if selector:
            label = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            with kube_errors(f"list pods -l {label}", verb="list", resource="pods", alternative=alternative):
                pods = self._get(ep.LIST_PODS, labelSelector=label)
            items = sorted(pods.get("items", []), key=lambda p: p["metadata"]["name"])
            where = f"its selector {label}"
        else:
            with kube_errors(f"list endpointslices -l kubernetes.io/service-name={service}", verb="list",
                             resource="endpointslices.discovery.k8s.io", alternative=alternative):
                slices = self._get(ep.LIST_ENDPOINTSLICES, labelSelector=f"kubernetes.io/service-name={service}")
            pod_names = sorted({str((e.get("targetRef") or {}).get("name")) for s in slices.get("items", [])
                                for e in s.get("endpoints") or []
                                if (e.get("targetRef") or {}).get("kind") == "Pod"
                                and (e.get("targetRef") or {}).get("name")})
            items = []
            for name in pod_names:
                with kube_errors(f"get pods/{name}", alternative=alternative):
                    try:
                        items.append(self._get(ep.READ_POD, name))
                    except ApiException as exc:
                        if exc.status != 404:
                            raise
            where = "its EndpointSlices"
        if not items:
            raise ObserveError("kubernetes", f"service/{service} has no endpoints: no pod matches {where}; "
                               f"{alternative}")
        ready = [p for p in items if _ready(p)]
        if not ready:
            first = items[0]
            raise ObserveError("kubernetes", f"pod/{first['metadata']['name']} behind service/{service} is not "
                               f"Ready ({_not_ready_reason(first)}); {alternative}")
        pod = ready[0]
        found = _container_for_port(pod, target)
        if found is None:
            raise ObserveError("kubernetes", f"pod/{pod['metadata']['name']} has no port named {target!r} "
                               f"(service/{service} targetPort); {alternative}")
        return PodPort(name=pod["metadata"]["name"], container=found[0], port=found[1])

    def namespace_exists(self) -> bool | None:
        """Whether the connection's namespace exists: True, False (404), or None when the token may not
        ``get`` it (403; a namespaced RoleBinding of the admin, edit or view ClusterRole allows it, since a
        request for a Namespace object is authorised in that namespace).

        Raises:
            ObserveError: any other failure (unreachable API server, 5xx).
        Source: kubernetes/kubernetes ``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``
        (a namespace's own name is its request namespace for authorisation).
        """
        with kube_errors(f"get namespace/{self.conn.namespace}"):
            try:
                ep.call_json(self.conn.api, ep.READ_NAMESPACE, {"name": self.conn.namespace})
            except ApiException as exc:
                if exc.status == 404:
                    return False
                if exc.status == 403:
                    return None
                raise
        return True

    def raw_deployment(self, name: str) -> RawObject | None:
        """The Deployment as raw JSON (camelCase), or None on 404."""
        with kube_errors(f"get deployment/{name}"):
            try:
                return self._get(ep.READ_DEPLOYMENT, name)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise


def env_value_source(raw: RawObject, container: str, env_name: str) -> tuple[str | None, tuple[str, str] | None]:
    """How a container gets env ``env_name``: (plain value, None) or (None, (secret name, key)).

    The plain value may be secret (a DATABASE_URL with a password); callers decide what to keep.
    """
    for c in raw.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        if c.get("name") != container:
            continue
        for e in c.get("env", []) or []:
            if e.get("name") != env_name:
                continue
            if "value" in e:
                return str(e["value"]), None
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                return None, (ref.get("name", ""), ref.get("key", ""))
    return None, None


def workload_from_raw(raw: RawObject) -> Workload:
    """Reduce a raw apps/v1 Deployment to a Workload (keeps no secret: env only for known-safe names)."""
    meta = raw.get("metadata", {})
    spec = raw.get("spec", {})
    status = raw.get("status", {}) or {}
    tmpl = spec.get("template", {})
    pod = tmpl.get("spec", {})
    containers = [ContainerImage(name=c["name"], image=c.get("image", ""), init=True)
                  for c in pod.get("initContainers", []) or []]
    containers += [ContainerImage(name=c["name"], image=c.get("image", ""), init=False)
                   for c in pod.get("containers", []) or []]
    env: dict[str, str] = {}
    env_digests = {c["name"]: {e.get("name", ""): env_digest(e) for e in c.get("env", []) or []}
                   for c in [*(pod.get("initContainers", []) or []), *(pod.get("containers", []) or [])]}
    for c in pod.get("containers", []) or []:
        for e in c.get("env", []) or []:
            if e.get("name") == names.ENV_DISABLE_SCHEMA_UPDATE and "value" in e:
                env[names.ENV_DISABLE_SCHEMA_UPDATE] = str(e["value"])
    annotations = meta.get("annotations") or {}
    tmpl_annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
    last_applied, last_applied_invalid = None, False
    if names.LAST_APPLIED_ANNOTATION in annotations:
        try:
            last_applied = ManagedFields.from_annotation(str(annotations[names.LAST_APPLIED_ANNOTATION]))
        except ValueError:
            last_applied_invalid = True
    try:
        revision = int(annotations.get(names.REVISION_ANNOTATION, "0"))
    except ValueError:
        revision = 0
    return Workload(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1),
        status_replicas=int(status.get("replicas", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        available_replicas=int(status.get("availableReplicas", 0)),
        containers=tuple(containers),
        conditions=tuple(
            Condition(type=c.get("type", ""), status=c.get("status", ""), reason=c.get("reason", "") or "",
                      message=c.get("message", "") or "")
            for c in status.get("conditions", []) or []
        ),
        paused=bool(spec.get("paused", False)),
        revision=revision,
        revision_history_limit=spec.get("revisionHistoryLimit", 10),
        progress_deadline_s=spec.get("progressDeadlineSeconds", 600),
        restarted_at=tmpl_annotations.get(names.RESTARTED_AT_ANNOTATION),
        image_triggers=names.IMAGE_TRIGGERS_ANNOTATION in annotations,
        env=env,
        env_digests=env_digests,
        last_applied=last_applied,
        last_applied_invalid=last_applied_invalid,
    )
