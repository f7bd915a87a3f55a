"""Reads of the Kubernetes API through the official ``kubernetes`` client. The only code that reads the
cluster; ``apply/kube.py`` is the only code that writes it.

Raw objects are read with ``_preload_content=False`` and parsed as the JSON the API server sent (camelCase,
as kubectl sees it), then reduced to ``live.model`` values. Client exceptions are caught here and
re-raised as ``ObserveError`` without response bodies (style.md §6.4 #6).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from litemaas_state import names
from litemaas_state.errors import ConfigError, ObserveError
from litemaas_state.live.model import Condition, ContainerImage, HorizontalPodAutoscaler, Workload

T = TypeVar("T")
RawObject = dict[str, Any]


@dataclass(frozen=True)
class KubeConnection:
    """A configured API client for one namespace. ``server`` is the API server URL (not secret);
    ``context`` the kubeconfig context actually used (None in-cluster)."""

    api: k8s.ApiClient
    namespace: str
    server: str
    context: str | None


def connect_kube(namespace: str, context: str | None = None, kubeconfig: str | None = None) -> KubeConnection:
    """Build a client the way kubectl picks its configuration.

    Order: an explicit ``kubeconfig`` path, else ``$KUBECONFIG`` (colon-separated list) or
    ``~/.kube/config``; if none exists, the in-cluster service account. ``context`` selects a kubeconfig
    context (default: current-context).

    Raises:
        ConfigError: no usable configuration, or the named context does not exist.
    """
    cfg = k8s.Configuration()
    try:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    except (ConfigException, FileNotFoundError, OSError) as exc:
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)
        except ConfigException:
            raise ConfigError(
                f"no Kubernetes configuration: {str(exc).rstrip('.')}. Set KUBECONFIG (e.g. eval \"$(litemaas-state sandbox up)\") "
                "or run inside a cluster."
            ) from None
    cfg.retries = 1
    effective = context
    if effective is None:
        try:
            _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
            effective = (active or {}).get("name")
        except (ConfigException, FileNotFoundError, OSError, TypeError):
            effective = None  # in-cluster
    return KubeConnection(api=k8s.ApiClient(cfg), namespace=namespace, server=str(cfg.host), context=effective)


@contextmanager
def kube_errors(what: str, address: str | None = None) -> Iterator[None]:
    """Translate client exceptions into ObserveError naming ``what`` (no response bodies)."""
    try:
        yield
    except ApiException as exc:
        reason = _status_message(exc)
        raise ObserveError("kubernetes", f"{what}: HTTP {exc.status} {reason}", address) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ObserveError("kubernetes", f"{what}: cannot reach the API server ({type(exc).__name__})",
                           address) from None


def _status_message(exc: ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, truncated; nothing else from the body."""
    try:
        body = json.loads(exc.body or "{}")
        if isinstance(body, dict) and body.get("kind") == "Status":
            return str(body.get("message", ""))[:256]
    except (ValueError, TypeError):
        pass
    return str(exc.reason or "")[:256]


def read_json(call: Callable[..., Any], *args: Any, **kwargs: Any) -> RawObject:
    """Call a client method with ``_preload_content=False`` and parse the raw JSON body."""
    resp = call(*args, _preload_content=False, **kwargs)
    data: RawObject = json.loads(resp.data)
    return data


class KubeReader:
    """Read-only access to one namespace. Every method raises ObserveError on failure."""

    def __init__(self, conn: KubeConnection) -> None:
        self.conn = conn
        self.apps = k8s.AppsV1Api(conn.api)
        self.core = k8s.CoreV1Api(conn.api)
        self.custom = k8s.CustomObjectsApi(conn.api)
        self.autoscaling = k8s.AutoscalingV2Api(conn.api)

    def deployment(self, name: str) -> Workload | None:
        """The Deployment ``name`` as a Workload, or None when it does not exist (404)."""
        raw = self.raw_deployment(name)
        return workload_from_raw(raw) if raw is not None else None

    def hpas(self) -> tuple[HorizontalPodAutoscaler, ...]:
        """HorizontalPodAutoscalers in the namespace (an HPA owns replicas; anchors.md §7 item 9)."""
        with kube_errors("list horizontalpodautoscalers"):
            try:
                raw = read_json(self.autoscaling.list_namespaced_horizontal_pod_autoscaler, self.conn.namespace)
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
                raw = read_json(self.core.read_namespaced_secret, name, self.conn.namespace)
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
                raw = read_json(self.custom.list_namespaced_custom_object, "route.openshift.io", "v1",
                            self.conn.namespace, "routes")
            except ApiException as exc:
                if exc.status == 404:
                    return []
                raise
        items: list[RawObject] = raw.get("items", [])
        return items

    def pods_ready(self, selector: str) -> tuple[int, int]:
        """(ready, total) pods matching a label selector, by the pods' Ready condition."""
        with kube_errors(f"list pods -l {selector}"):
            raw = read_json(self.core.list_namespaced_pod, self.conn.namespace, label_selector=selector)
        items = raw.get("items", [])
        ready = sum(
            1 for p in items
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (p.get("status") or {}).get("conditions", []))
        )
        return ready, len(items)

    def raw_deployment(self, name: str) -> RawObject | None:
        """The Deployment as raw JSON (camelCase), or None on 404."""
        with kube_errors(f"get deployment/{name}"):
            try:
                return read_json(self.apps.read_namespaced_deployment, name, self.conn.namespace)
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
    for c in pod.get("containers", []) or []:
        for e in c.get("env", []) or []:
            if e.get("name") == names.ENV_DISABLE_SCHEMA_UPDATE and "value" in e:
                env[names.ENV_DISABLE_SCHEMA_UPDATE] = str(e["value"])
    annotations = meta.get("annotations") or {}
    tmpl_annotations = (tmpl.get("metadata") or {}).get("annotations") or {}
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
    )
