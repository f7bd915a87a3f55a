"""Builders of the Kubernetes objects both seeded layouts share (world.py for rhpds, kustomize.py upstream).

Each builder returns a plain dict in the shape the apiserver stores (base64 Secret `data`, Services with
`clusterIP`, Routes with an admitted `status.ingress`, a StatefulSet's pod `<name>-0`, Running and Ready).
`Env` says where the objects go and which addresses are theirs, so that several environments (one per
namespace) can live in one store without two objects sharing a ClusterIP or a pod IP.

Boundary: imports no product code.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from litemaas_state.sandbox import kubeapi, layouts
from litemaas_state.sandbox.kubeapi import Obj

CLUSTER_DOMAIN = "apps.sandbox.example.com"
NODE = "sandbox-node-1"


@dataclass(frozen=True)
class Env:
    """One environment of the sandbox: a namespace holding one complete LiteMaaS.

    namespace: where every object goes.
    layout: "rhpds" or "kustomize" (layouts.py). databases: "separate" or "shared".
    index: position among the sandbox's environments (0 = the first); picks the ClusterIP block
        `172.30.<10+index>.0/24` and the pod IP block `10.128.<index>.0/24`.
    """

    namespace: str = "litellm-rhpds"
    layout: str = layouts.RHPDS
    databases: str = "separate"
    index: int = 0

    @property
    def names(self) -> layouts.Layout:
        return layouts.layout(self.layout)

    def cluster_ip(self, host: int) -> str:
        return f"172.30.{10 + self.index}.{host}"

    def pod_ip(self, host: int) -> str:
        return f"10.128.{self.index}.{host}"


@dataclass(frozen=True)
class WorldEndpoints:
    """Where the data plane answers (all optional pieces of the world's Secrets and Route).

    litemaas_database_url: the LiteMaaS backend DB (rhpds: Secret litemaas-db DATABASE_URL; Kustomize:
        backend-secret database-url).
    litellm_database_url: LiteLLM's DB (rhpds: litemaas-db LITELLM_DATABASE_URL; Kustomize:
        litellm-secret database-url and backend-secret litellm-database-url).
    litellm_host: `host:port` of the LiteLLM admin API (Route `litellm` spec.host), or None.
    """

    litemaas_database_url: str
    litellm_database_url: str
    litellm_host: str | None = None


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def db_name(url: str) -> str:
    """The database name of a `postgresql://…/<db>[?…]` URL."""
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def container(name: str, image: str, **extra: Any) -> Obj:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", **extra}


def http_probe(path: str, port: int, period_s: int = 10, timeout_s: int = 5) -> Obj:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def secret(env: Env, name: str, values: dict[str, str], labels: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": env.namespace, "labels": dict(labels)},
        "type": "Opaque",
        "data": {k: b64(v) for k, v in values.items()},
    }


def service(
    env: Env, name: str, port: int, port_name: str, ip_host: int, labels: dict[str, str], **extra: Any
) -> Obj:
    ip = env.cluster_ip(ip_host)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": env.namespace, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "selector": {"app": labels["app"]},
            "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}],
            "sessionAffinity": "None",
            **extra,
        },
        "status": {"loadBalancer": {}},
    }


def route(
    env: Env,
    name: str,
    host: str,
    service_name: str,
    labels: dict[str, str],
    *,
    path: str | None = None,
    secure: bool = True,
    annotations: dict[str, str] | None = None,
) -> Obj:
    """A Route admitted by the default router (`secure`: edge TLS, plain HTTP redirected)."""
    spec: Obj = {
        "host": host,
        "to": {"kind": "Service", "name": service_name, "weight": 100},
        "port": {"targetPort": "http"},
        "wildcardPolicy": "None",
    }
    if path:
        spec["path"] = path
    if secure:
        spec["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    meta: Obj = {"name": name, "namespace": env.namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": meta,
        "spec": spec,
        "status": {
            "ingress": [
                {
                    "host": host,
                    "routerName": "default",
                    "wildcardPolicy": "None",
                    "conditions": [{"type": "Admitted", "status": "True"}],
                }
            ]
        },
    }


def deployment(
    env: Env,
    name: str,
    labels: dict[str, str],
    replicas: int,
    pod_spec: Obj,
    progress_deadline_s: int,
) -> Obj:
    """A Deployment without status (the controller's `prime` rolls it out), selector `app=<labels[app]>`."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": env.namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": progress_deadline_s,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def statefulset(env: Env, name: str, labels: dict[str, str], pod_spec: Obj, claim: str, storage: str) -> Obj:
    """A one-replica StatefulSet (serviceName `name`, selector `app=<labels[app]>`) with one ReadWriteOnce
    volumeClaimTemplate `claim` of `storage` (e.g. "10Gi"); written without status (`seed` sets it)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": env.namespace, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": {"app": labels["app"]}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": claim},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}},
                }
            ],
        },
    }


STATEFULSET_STATUS: Obj = {
    "observedGeneration": 1,
    "replicas": 1,
    "readyReplicas": 1,
    "currentReplicas": 1,
    "updatedReplicas": 1,
    "availableReplicas": 1,
}


def statefulset_pod(env: Env, sts: Obj, pod_ip_host: int = 5) -> Obj:
    """Pod `<sts>-0` of a one-replica StatefulSet, Running and Ready (no controller drives StatefulSets)."""
    now = kubeapi.now_rfc3339()
    name = f"{sts['metadata']['name']}-0"
    template = sts["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": env.namespace,
            "labels": {**template["metadata"]["labels"], "statefulset.kubernetes.io/pod-name": name},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": sts["metadata"]["name"],
                    "uid": sts["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {**template["spec"], "nodeName": NODE, "hostname": name},
        "status": {
            "phase": "Running",
            "podIP": env.pod_ip(pod_ip_host),
            "hostIP": "10.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
                for c in template["spec"]["containers"]
            ],
        },
    }
