"""The seeded objects of the sandbox: the rhpds HA LiteMaaS deployment in namespace `litellm-rhpds`.

Role: fill a `kubeapi.Store` with what `oc get all,secrets,routes -n litellm-rhpds` shows on the
runbook's cluster (the rhpds day-2 runbook's "Current Image" table), at the runbook's current versions. The
Deployments are written without status; `DeploymentController.prime()` then rolls them out to
revision-1 ReplicaSets with Ready pods.

The names, labels, containers and init containers are declared here from docs/deployment-facts.md §1, and
deliberately not imported from the product (`names.py`), so a wrong name in the product is not
mirrored by the sandbox (docs/design.md §9.16, the kmock caveat).

Data-plane endpoints (real PostgreSQL, Redis and LiteLLM admin API on 127.0.0.1) are optional: with
them the Secrets carry the URLs that reach the local servers and the API Route's `spec.host` is the
LiteLLM `host:port` with no `tls` (so clients use http); without them, the URLs have the in-cluster
form of docs/deployment-facts.md §1.6 (`postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable`).
With the data plane and `daemon --in-cluster-urls`, `in_cluster_urls` gives that form for the data
plane's database names, and clients reach the servers through pods/portforward or pods/exec only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litemaas_state.sandbox import kubeapi
from litemaas_state.sandbox.kubeapi import Obj, Store
from litemaas_state.sandbox.secrets import SandboxSecrets

NAMESPACE = "litellm-rhpds"
CLUSTER_DOMAIN = "apps.sandbox.example.com"

LITELLM_IMAGE = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
BACKEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
FRONTEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
REDIS_IMAGE = "registry.redhat.io/rhel9/redis-7:latest"
POSTGRES_IMAGE = "docker.io/library/postgres:16-alpine"
BUSYBOX_IMAGE = "busybox:1.36"


@dataclass(frozen=True)
class WorldEndpoints:
    """Where the data plane answers (all optional pieces of the world's Secrets and Route).

    litemaas_database_url: the LiteMaaS backend DB (Secret litemaas-db DATABASE_URL).
    litellm_database_url: LiteLLM's DB (Secret litemaas-db LITELLM_DATABASE_URL).
    litellm_host: `host:port` of the LiteLLM admin API (Route `litellm` spec.host), or None.
    """

    litemaas_database_url: str
    litellm_database_url: str
    litellm_host: str | None = None


def in_cluster_endpoints(secrets: SandboxSecrets, layout: str) -> WorldEndpoints:
    """The URLs the rhpds templates put in Secret litemaas-db (docs/deployment-facts.md §1.1, §2), for a kube-only sandbox.

    layout "separate": LiteMaaS in `litemaas_db`, LiteLLM in `litellm` (rhpds f4545df);
    "shared": both in `litellm` (rhpds 3cc9770).
    """
    base = f"postgresql://litellm:{secrets.db_password}@litellm-postgres:5432"
    litemaas_db = "litemaas_db" if layout == "separate" else "litellm"
    return WorldEndpoints(
        litemaas_database_url=f"{base}/{litemaas_db}?sslmode=disable",
        litellm_database_url=f"{base}/litellm?sslmode=disable",
    )


def in_cluster_urls(secrets: SandboxSecrets, litemaas_db: str, litellm_db: str) -> WorldEndpoints:
    """Secret litemaas-db URLs in the rhpds form for the data plane's database names (no Route host: in-cluster).

    `postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable` (docs/deployment-facts.md §1.1).
    """
    base = f"postgresql://litellm:{quote(secrets.db_password, safe='')}@litellm-postgres:5432"
    return WorldEndpoints(
        litemaas_database_url=f"{base}/{litemaas_db}?sslmode=disable",
        litellm_database_url=f"{base}/{litellm_db}?sslmode=disable",
    )


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _db_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _container(name: str, image: str, **extra: Any) -> Obj:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", **extra}


def _deployment(
    name: str,
    component: str,
    replicas: int,
    containers: list[Obj],
    init_containers: list[Obj],
    progress_deadline_s: int,
) -> Obj:
    labels = {"app": name, "component": component}
    pod_spec: Obj = {"containers": containers}
    if init_containers:
        pod_spec["initContainers"] = init_containers
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": progress_deadline_s,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def _probe(path: str, port: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }


def deployments(layout: str, progress_deadline_s: int) -> list[Obj]:
    """The four Deployments of docs/deployment-facts.md §1.4, at the runbook's current images and replicas."""
    wait_pg = _container(
        "wait-for-postgres",
        BUSYBOX_IMAGE,
        command=["sh", "-c", "until nc -z litellm-postgres 5432; do sleep 2; done"],
    )
    wait_redis = _container(
        "wait-for-redis",
        BUSYBOX_IMAGE,
        command=["sh", "-c", "until nc -z litellm-redis 6379; do sleep 2; done"],
    )
    # rhpds HEAD (f4545df) feeds LiteLLM from litemaas-db/DATABASE_URL; in the "separate" sandbox layout
    # LiteLLM really has its own DB, so its env points at LITELLM_DATABASE_URL.
    litellm_db_key = "LITELLM_DATABASE_URL" if layout == "separate" else "DATABASE_URL"
    litellm = _container(
        "litellm",
        LITELLM_IMAGE,
        ports=[{"name": "http", "containerPort": 4000, "protocol": "TCP"}],
        env=[
            _secret_env("DATABASE_URL", "litemaas-db", litellm_db_key),
            _secret_env("DB_NAME", "litemaas-db", "database"),
            _secret_env("LITELLM_MASTER_KEY", "litellm-secret", "LITELLM_MASTER_KEY"),
            _secret_env("UI_USERNAME", "litellm-secret", "UI_USERNAME"),
            _secret_env("UI_PASSWORD", "litellm-secret", "UI_PASSWORD"),
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
            {"name": "STORE_MODEL_IN_DB", "value": "True"},
            {"name": "DISABLE_SCHEMA_UPDATE", "value": "false" if layout == "separate" else "true"},
        ],
        readinessProbe=_probe("/health/readiness", 4000),
        livenessProbe=_probe("/health/liveness", 4000),
        resources={"limits": {"memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
    )
    wait_db = _container(
        "wait-for-database",
        "postgres:16-alpine",
        command=["sh", "-c", "until pg_isready -h litellm-postgres; do sleep 2; done"],
    )
    migrations = _container(
        "run-migrations",
        BACKEND_IMAGE,
        command=[
            "sh",
            "-c",
            "set -e; node -e \"require('/app/backend/dist/lib/database-migrations').applyMigrations()\"",
        ],
        env=[_secret_env("DATABASE_URL", "litemaas-db", "DATABASE_URL")],
    )
    backend = _container(
        "backend",
        BACKEND_IMAGE,
        ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        env=[
            _secret_env("DATABASE_URL", "litemaas-db", "DATABASE_URL"),
            _secret_env("LITELLM_DATABASE_URL", "litemaas-db", "LITELLM_DATABASE_URL"),
            _secret_env("LITELLM_API_KEY", "litellm-secret", "LITELLM_MASTER_KEY"),
            {"name": "LITELLM_API_URL", "value": "http://litellm:4000"},
            _secret_env("JWT_SECRET", "backend-secret", "JWT_SECRET"),
            _secret_env("ADMIN_API_KEYS", "backend-secret", "ADMIN_API_KEY"),
            _secret_env("OAUTH_CLIENT_SECRET", "backend-secret", "OAUTH_CLIENT_SECRET"),
            {"name": "OAUTH_CLIENT_ID", "value": NAMESPACE},
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
            {"name": "DEFAULT_USER_MAX_BUDGET", "value": "2000"},
            {"name": "DEFAULT_USER_BUDGET_DURATION", "value": "daily"},
            {"name": "DEFAULT_USER_TPM_LIMIT", "value": "400000"},
            {"name": "DEFAULT_USER_RPM_LIMIT", "value": "500"},
        ],
        readinessProbe=_probe("/api/v1/health/ready", 8080),
        livenessProbe=_probe("/api/v1/health/live", 8080),
    )
    logos = _container(
        "copy-custom-logos",
        FRONTEND_IMAGE,
        command=["sh", "-c", "cp -r /opt/app-root/src/assets/. /branding/"],
        volumeMounts=[{"name": "branding", "mountPath": "/branding"}],
    )
    wait_backend = _container(
        "wait-for-backend",
        BUSYBOX_IMAGE,
        command=["sh", "-c", "until nc -z litellm-backend 8080; do sleep 2; done"],
    )
    frontend = _container(
        "frontend",
        FRONTEND_IMAGE,
        ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        env=[{"name": "BACKEND_URL", "value": "http://litellm-backend:8080"}],
        volumeMounts=[{"name": "branding", "mountPath": "/opt/app-root/src/assets"}],
        readinessProbe=_probe("/", 8080),
        livenessProbe=_probe("/", 8080),
    )
    redis = _container(
        "redis",
        REDIS_IMAGE,
        ports=[{"name": "redis", "containerPort": 6379, "protocol": "TCP"}],
        readinessProbe={"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10},
        livenessProbe={"tcpSocket": {"port": 6379}, "periodSeconds": 10},
    )
    front = _deployment("litellm-frontend", "web", 3, [frontend], [logos, wait_backend], progress_deadline_s)
    front["spec"]["template"]["spec"]["volumes"] = [{"name": "branding", "emptyDir": {}}]
    return [
        _deployment("litellm", "ai-proxy", 3, [litellm], [wait_pg, wait_redis], progress_deadline_s),
        _deployment("litellm-backend", "api", 1, [backend], [wait_db, migrations], progress_deadline_s),
        front,
        _deployment("litellm-redis", "cache", 1, [redis], [], progress_deadline_s),
    ]


def secrets_objects(secrets: SandboxSecrets, endpoints: WorldEndpoints) -> list[Obj]:
    """Secrets litellm-secret, backend-secret and litemaas-db, with base64 `data` as the apiserver returns them."""

    def secret(name: str, values: dict[str, str]) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "litellm"}},
            "type": "Opaque",
            "data": {k: _b64(v) for k, v in values.items()},
        }

    return [
        secret(
            "litellm-secret",
            {
                "LITELLM_MASTER_KEY": secrets.master_key,
                "UI_USERNAME": "admin",
                "UI_PASSWORD": secrets.ui_password,
            },
        ),
        secret(
            "backend-secret",
            {
                "JWT_SECRET": secrets.jwt_secret,
                "ADMIN_API_KEY": secrets.admin_api_key,
                "OAUTH_CLIENT_SECRET": secrets.oauth_client_secret,
            },
        ),
        secret(
            "litemaas-db",
            {
                "username": "litellm",
                "password": secrets.db_password,
                "database": _db_name(endpoints.litemaas_database_url),
                "DATABASE_URL": endpoints.litemaas_database_url,
                "LITELLM_DATABASE_URL": endpoints.litellm_database_url,
            },
        ),
    ]


def services() -> list[Obj]:
    """Services of docs/deployment-facts.md §1.5 (ports; backend ClientIP affinity with a 3600 s timeout)."""

    def svc(name: str, port: int, ip: str, **extra: Any) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip,
                "clusterIPs": [ip],
                "selector": {"app": name},
                "ports": [
                    {
                        "name": "http" if port in (4000, 8080) else name.split("-")[-1],
                        "port": port,
                        "targetPort": port,
                        "protocol": "TCP",
                    }
                ],
                "sessionAffinity": "None",
                **extra,
            },
            "status": {"loadBalancer": {}},
        }

    return [
        svc("litellm", 4000, "172.30.10.11"),
        svc(
            "litellm-backend",
            8080,
            "172.30.10.12",
            sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 3600}},
        ),
        svc("litellm-frontend", 8080, "172.30.10.13"),
        svc("litellm-postgres", 5432, "172.30.10.14"),
        svc("litellm-redis", 6379, "172.30.10.15"),
    ]


def routes(endpoints: WorldEndpoints) -> list[Obj]:
    """Routes `litellm` (API), `litellm-admin` (path /api → litellm-backend) and `litellm-frontend`."""
    tls = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}

    def route(name: str, host: str, service: str, *, path: str | None = None, secure: bool = True) -> Obj:
        spec: Obj = {
            "host": host,
            "to": {"kind": "Service", "name": service, "weight": 100},
            "port": {"targetPort": "http"},
            "wildcardPolicy": "None",
        }
        if path:
            spec["path"] = path
        if secure:
            spec["tls"] = dict(tls)
        return {
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"app": service},
                "annotations": {"haproxy.router.openshift.io/timeout": "600s"},
            },
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

    if endpoints.litellm_host:
        api = route("litellm", endpoints.litellm_host, "litellm", secure=False)
    else:
        api = route("litellm", f"litellm.{CLUSTER_DOMAIN}", "litellm")
    return [
        api,
        route("litellm-admin", f"litellm-admin.{CLUSTER_DOMAIN}", "litellm-backend", path="/api"),
        route("litellm-frontend", f"litellm-frontend.{CLUSTER_DOMAIN}", "litellm-frontend"),
    ]


def postgres_statefulset() -> list[Obj]:
    """StatefulSet litellm-postgres and its pod litellm-postgres-0 (static: no controller drives them)."""
    labels = {"app": "litellm-postgres", "component": "database"}
    container = _container(
        "postgres",
        POSTGRES_IMAGE,
        args=["postgres", "-c", "max_connections=200"],
        ports=[{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
        env=[
            _secret_env("POSTGRES_USER", "litemaas-db", "username"),
            _secret_env("POSTGRES_PASSWORD", "litemaas-db", "password"),
            _secret_env("POSTGRES_DB", "litemaas-db", "database"),
        ],
        volumeMounts=[{"name": "postgres-storage", "mountPath": "/var/lib/postgresql/data"}],
    )
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "litellm-postgres", "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "serviceName": "litellm-postgres",
            "selector": {"matchLabels": {"app": "litellm-postgres"}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "postgres-storage"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }
    return [sts]


def _postgres_pod(sts: Obj) -> Obj:
    now = kubeapi.now_rfc3339()
    container = sts["spec"]["template"]["spec"]["containers"][0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "litellm-postgres-0",
            "namespace": NAMESPACE,
            "labels": {
                **sts["spec"]["template"]["metadata"]["labels"],
                "statefulset.kubernetes.io/pod-name": "litellm-postgres-0",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": "litellm-postgres",
                    "uid": sts["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            **sts["spec"]["template"]["spec"],
            "nodeName": "sandbox-node-1",
            "hostname": "litellm-postgres-0",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.128.0.5",
            "hostIP": "10.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "postgres",
                    "image": container["image"],
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        },
    }


def seed(
    store: Store,
    secrets: SandboxSecrets,
    *,
    layout: str = "separate",
    endpoints: WorldEndpoints | None = None,
    progress_deadline_s: int = 10,
) -> None:
    """Create every object of the world in `store` (Deployments without status; prime the controller next).

    Args:
        store: an empty store.
        secrets: the secret values (SandboxSecrets, secrets.py).
        layout: "separate" (LiteMaaS and LiteLLM in separate DBs) or "shared".
        endpoints: data-plane URLs; None → in-cluster URLs (`in_cluster_endpoints`).
        progress_deadline_s: every Deployment's spec.progressDeadlineSeconds (the real default is 600).
    Raises:
        ValueError on an unknown layout.
    Source: docs/deployment-facts.md §1, §1.1, §2; the rhpds day-2 runbook ("Current Image" table).
    """
    if layout not in ("separate", "shared"):
        raise ValueError(f"unknown layout {layout!r} (expected 'separate' or 'shared')")
    endpoints = endpoints or in_cluster_endpoints(secrets, layout)
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"kubernetes.io/metadata.name": NAMESPACE}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    store.create(kubeapi.resource("Namespace"), ns)
    for obj in secrets_objects(secrets, endpoints):
        store.create(kubeapi.resource("Secret"), obj)
    for obj in services():
        store.create(kubeapi.resource("Service"), obj)
    for obj in routes(endpoints):
        store.create(kubeapi.resource("Route"), obj)
    for obj in deployments(layout, progress_deadline_s):
        store.create(kubeapi.resource("Deployment"), obj)
    for obj in postgres_statefulset():
        sts = store.create(kubeapi.resource("StatefulSet"), obj)
        store.mutate(
            kubeapi.resource("StatefulSet"),
            NAMESPACE,
            sts["metadata"]["name"],
            lambda o: o.__setitem__(
                "status",
                {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "readyReplicas": 1,
                    "currentReplicas": 1,
                    "updatedReplicas": 1,
                    "availableReplicas": 1,
                },
            ),
        )
        store.create(kubeapi.resource("Pod"), _postgres_pod(sts))
