"""The seeded objects of the sandbox: one complete LiteMaaS per environment (namespace), in the rhpds HA
layout (this module) or the upstream Kustomize layout (`kustomize.py`).

Role: fill a `kubeapi.Store` with what `oc get all,secrets,routes -n <namespace>` shows. The default
environment is the runbook's cluster: namespace `litellm-rhpds`, rhpds layout (the rhpds day-2 runbook's
"Current Image" table), at the runbook's current versions. The Deployments are written without status;
`DeploymentController.prime()` then rolls them out to revision-1 ReplicaSets with Ready pods.

The names, labels, containers and init containers are declared here from docs/deployment-facts.md §1
(and `layouts.py`), and deliberately not imported from the product (`names.py`), so a wrong name in the
product is not mirrored by the sandbox (docs/design.md §9.16, the kmock caveat).

Data-plane endpoints (real PostgreSQL, Redis and LiteLLM admin API on 127.0.0.1) are optional: with
them the Secrets carry the URLs that reach the local servers and the API Route's `spec.host` is the
LiteLLM `host:port` with no `tls` (so clients use http); without them, the URLs have the in-cluster
form of docs/deployment-facts.md §1.6 (rhpds: `postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable`;
Kustomize: `postgresql://litemaas_admin:<pw>@postgres:5432/<db>…`, `in_cluster_urls`). With the data
plane and `daemon --in-cluster-urls`, `in_cluster_urls` gives that form for the data plane's database
names, and clients reach the servers through pods/portforward or pods/exec only.

Several environments share one store: each gets its own ClusterIP and pod IP block (`objects.Env`).
"""

from __future__ import annotations

from urllib.parse import quote

from litemaas_state.sandbox import kubeapi, kustomize, layouts
from litemaas_state.sandbox.kubeapi import Obj, Store
from litemaas_state.sandbox.objects import (
    CLUSTER_DOMAIN,
    STATEFULSET_STATUS,
    Env,
    WorldEndpoints,
    container,
    db_name,
    deployment,
    http_probe,
    namespace,
    route,
    secret,
    secret_env,
    service,
    statefulset,
    statefulset_pod,
)
from litemaas_state.sandbox.secrets import SandboxSecrets

NAMESPACE = "litellm-rhpds"

LITELLM_IMAGE = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
BACKEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
FRONTEND_IMAGE = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
REDIS_IMAGE = "registry.redhat.io/rhel9/redis-7:latest"
POSTGRES_IMAGE = "docker.io/library/postgres:16-alpine"
BUSYBOX_IMAGE = "busybox:1.36"

__all__ = ["CLUSTER_DOMAIN", "NAMESPACE", "Env", "WorldEndpoints", "in_cluster_endpoints", "in_cluster_urls", "seed"]


def in_cluster_urls(
    secrets: SandboxSecrets, litemaas_db: str, litellm_db: str, *, layout: str = layouts.RHPDS
) -> WorldEndpoints:
    """The database URLs a layout's templates write, for the given database names (no Route host: in-cluster).

    rhpds: `postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable` for both
    (docs/deployment-facts.md §1.1, §1.6). Kustomize: `postgresql://litemaas_admin:<pw>@postgres:5432/<db>`,
    with `?sslmode=disable` on the LiteMaaS URL only, as upstream's backend-secret and litellm-secret
    templates write them (rh-aiservices-bu/litemaas deployment/kustomize @f6b748f).
    """
    names = layouts.layout(layout)
    base = f"postgresql://{names.db_user}:{quote(secrets.db_password, safe='')}@{names.postgres}:5432"
    litellm_tail = "?sslmode=disable" if layout == layouts.RHPDS else ""
    return WorldEndpoints(
        litemaas_database_url=f"{base}/{litemaas_db}?sslmode=disable",
        litellm_database_url=f"{base}/{litellm_db}{litellm_tail}",
    )


def in_cluster_endpoints(
    secrets: SandboxSecrets, databases: str = "separate", *, layout: str = layouts.RHPDS
) -> WorldEndpoints:
    """The in-cluster URLs of a kube-only environment: `in_cluster_urls` for the layout's database names
    (layouts.py; docs/deployment-facts.md §2). Raises ValueError on an unknown layout or databases."""
    return in_cluster_urls(secrets, *layouts.layout(layout).databases(databases), layout=layout)


def _rhpds_route_host(env: Env, prefix: str) -> str:
    """rhpds sets `<prefix>.<domain>`; a second rhpds environment on one cluster needs its own prefix."""
    return f"{prefix}.{CLUSTER_DOMAIN}" if env.index == 0 else f"{prefix}-{env.namespace}.{CLUSTER_DOMAIN}"


def _wait_for_port(name: str, host: str, port: int) -> Obj:
    """An rhpds init container that waits with busybox `nc -z` until `host:port` accepts connections."""
    return container(name, BUSYBOX_IMAGE, command=["sh", "-c", f"until nc -z {host} {port}; do sleep 2; done"])


def deployments(env: Env, progress_deadline_s: int) -> list[Obj]:
    """The four Deployments of docs/deployment-facts.md §1.4, at the runbook's current images and replicas."""
    wait_pg = _wait_for_port("wait-for-postgres", "litellm-postgres", 5432)
    wait_redis = _wait_for_port("wait-for-redis", "litellm-redis", 6379)
    # rhpds HEAD (f4545df) feeds LiteLLM from litemaas-db/DATABASE_URL; with separate databases
    # LiteLLM really has its own DB, so its env points at LITELLM_DATABASE_URL.
    separate = env.databases == "separate"
    litellm_db_key = "LITELLM_DATABASE_URL" if separate else "DATABASE_URL"
    litellm = container(
        "litellm",
        LITELLM_IMAGE,
        ports=[{"name": "http", "containerPort": 4000, "protocol": "TCP"}],
        env=[
            secret_env("DATABASE_URL", "litemaas-db", litellm_db_key),
            secret_env("DB_NAME", "litemaas-db", "database"),
            secret_env("LITELLM_MASTER_KEY", "litellm-secret", "LITELLM_MASTER_KEY"),
            secret_env("UI_USERNAME", "litellm-secret", "UI_USERNAME"),
            secret_env("UI_PASSWORD", "litellm-secret", "UI_PASSWORD"),
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
            {"name": "STORE_MODEL_IN_DB", "value": "True"},
            {"name": "DISABLE_SCHEMA_UPDATE", "value": "false" if separate else "true"},
        ],
        readinessProbe=http_probe("/health/readiness", 4000),
        livenessProbe=http_probe("/health/liveness", 4000),
        resources={"limits": {"memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
    )
    wait_db = container(
        "wait-for-database",
        "postgres:16-alpine",
        command=["sh", "-c", "until pg_isready -h litellm-postgres; do sleep 2; done"],
    )
    migrations = container(
        "run-migrations",
        BACKEND_IMAGE,
        command=[
            "sh",
            "-c",
            "set -e; node -e \"require('/app/backend/dist/lib/database-migrations').applyMigrations()\"",
        ],
        env=[secret_env("DATABASE_URL", "litemaas-db", "DATABASE_URL")],
    )
    backend = container(
        "backend",
        BACKEND_IMAGE,
        ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        env=[
            secret_env("DATABASE_URL", "litemaas-db", "DATABASE_URL"),
            secret_env("LITELLM_DATABASE_URL", "litemaas-db", "LITELLM_DATABASE_URL"),
            secret_env("LITELLM_API_KEY", "litellm-secret", "LITELLM_MASTER_KEY"),
            {"name": "LITELLM_API_URL", "value": "http://litellm:4000"},
            secret_env("JWT_SECRET", "backend-secret", "JWT_SECRET"),
            secret_env("ADMIN_API_KEYS", "backend-secret", "ADMIN_API_KEY"),
            secret_env("OAUTH_CLIENT_SECRET", "backend-secret", "OAUTH_CLIENT_SECRET"),
            {"name": "OAUTH_CLIENT_ID", "value": env.namespace},
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
            {"name": "DEFAULT_USER_MAX_BUDGET", "value": "2000"},
            {"name": "DEFAULT_USER_BUDGET_DURATION", "value": "daily"},
            {"name": "DEFAULT_USER_TPM_LIMIT", "value": "400000"},
            {"name": "DEFAULT_USER_RPM_LIMIT", "value": "500"},
        ],
        readinessProbe=http_probe("/api/v1/health/ready", 8080),
        livenessProbe=http_probe("/api/v1/health/live", 8080),
    )
    logos = container(
        "copy-custom-logos",
        FRONTEND_IMAGE,
        command=["sh", "-c", "cp -r /opt/app-root/src/assets/. /branding/"],
        volumeMounts=[{"name": "branding", "mountPath": "/branding"}],
    )
    wait_backend = _wait_for_port("wait-for-backend", "litellm-backend", 8080)
    frontend = container(
        "frontend",
        FRONTEND_IMAGE,
        ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        env=[{"name": "BACKEND_URL", "value": "http://litellm-backend:8080"}],
        volumeMounts=[{"name": "branding", "mountPath": "/opt/app-root/src/assets"}],
        readinessProbe=http_probe("/", 8080),
        livenessProbe=http_probe("/", 8080),
    )
    redis = container(
        "redis",
        REDIS_IMAGE,
        ports=[{"name": "redis", "containerPort": 6379, "protocol": "TCP"}],
        readinessProbe={"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 10},
        livenessProbe={"tcpSocket": {"port": 6379}, "periodSeconds": 10},
    )

    def labels(app: str, component: str) -> dict[str, str]:
        return {"app": app, "component": component}

    def pod(containers: list[Obj], init: list[Obj], **extra: object) -> Obj:
        spec: Obj = {"containers": containers}
        if init:
            spec["initContainers"] = init
        return {**spec, **extra}

    pds = progress_deadline_s
    return [
        deployment(env, "litellm", labels("litellm", "ai-proxy"), 3, pod([litellm], [wait_pg, wait_redis]), pds),
        deployment(env, "litellm-backend", labels("litellm-backend", "api"), 1, pod([backend], [wait_db, migrations]), pds),
        deployment(
            env,
            "litellm-frontend",
            labels("litellm-frontend", "web"),
            3,
            pod([frontend], [logos, wait_backend], volumes=[{"name": "branding", "emptyDir": {}}]),
            pds,
        ),
        deployment(env, "litellm-redis", labels("litellm-redis", "cache"), 1, pod([redis], []), pds),
    ]


def secrets_objects(env: Env, secrets: SandboxSecrets, endpoints: WorldEndpoints) -> list[Obj]:
    """Secrets litellm-secret, backend-secret and litemaas-db, with base64 `data` as the apiserver returns them."""
    app = {"app": "litellm"}
    return [
        secret(
            env,
            "litellm-secret",
            {
                "LITELLM_MASTER_KEY": secrets.master_key,
                "UI_USERNAME": "admin",
                "UI_PASSWORD": secrets.ui_password,
            },
            app,
        ),
        secret(
            env,
            "backend-secret",
            {
                "JWT_SECRET": secrets.jwt_secret,
                "ADMIN_API_KEY": secrets.admin_api_key,
                "OAUTH_CLIENT_SECRET": secrets.oauth_client_secret,
            },
            app,
        ),
        secret(
            env,
            "litemaas-db",
            {
                "username": "litellm",
                "password": secrets.db_password,
                "database": db_name(endpoints.litemaas_database_url),
                "DATABASE_URL": endpoints.litemaas_database_url,
                "LITELLM_DATABASE_URL": endpoints.litellm_database_url,
            },
            app,
        ),
    ]


def services(env: Env) -> list[Obj]:
    """Services of docs/deployment-facts.md §1.5 (ports; backend ClientIP affinity with a 3600 s timeout)."""
    return [
        service(env, "litellm", 4000, "http", 11, {"app": "litellm"}),
        service(
            env,
            "litellm-backend",
            8080,
            "http",
            12,
            {"app": "litellm-backend"},
            sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 3600}},
        ),
        service(env, "litellm-frontend", 8080, "http", 13, {"app": "litellm-frontend"}),
        service(env, "litellm-postgres", 5432, "postgres", 14, {"app": "litellm-postgres"}),
        service(env, "litellm-redis", 6379, "redis", 15, {"app": "litellm-redis"}),
    ]


def routes(env: Env, endpoints: WorldEndpoints) -> list[Obj]:
    """Routes `litellm` (API), `litellm-admin` (path /api → litellm-backend) and `litellm-frontend`."""
    timeout = {"haproxy.router.openshift.io/timeout": "600s"}

    def r(name: str, host: str, svc: str, **kw: object) -> Obj:
        return route(env, name, host, svc, {"app": svc}, annotations=timeout, **kw)  # type: ignore[arg-type]

    if endpoints.litellm_host:
        api = r("litellm", endpoints.litellm_host, "litellm", secure=False)
    else:
        api = r("litellm", _rhpds_route_host(env, "litellm"), "litellm")
    return [
        api,
        r("litellm-admin", _rhpds_route_host(env, "litellm-admin"), "litellm-backend", path="/api"),
        r("litellm-frontend", _rhpds_route_host(env, "litellm-frontend"), "litellm-frontend"),
    ]


def postgres_statefulset(env: Env) -> Obj:
    """StatefulSet litellm-postgres (its pod litellm-postgres-0 comes from `objects.statefulset_pod`)."""
    labels = {"app": "litellm-postgres", "component": "database"}
    pg = container(
        "postgres",
        POSTGRES_IMAGE,
        args=["postgres", "-c", "max_connections=200"],
        ports=[{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
        env=[
            secret_env("POSTGRES_USER", "litemaas-db", "username"),
            secret_env("POSTGRES_PASSWORD", "litemaas-db", "password"),
            secret_env("POSTGRES_DB", "litemaas-db", "database"),
        ],
        volumeMounts=[{"name": "postgres-storage", "mountPath": "/var/lib/postgresql/data"}],
    )
    return statefulset(env, "litellm-postgres", labels, {"containers": [pg]}, "postgres-storage", "10Gi")


def rhpds_objects(
    env: Env, secrets: SandboxSecrets, endpoints: WorldEndpoints, progress_deadline_s: int
) -> list[Obj]:
    """Every object of an rhpds environment, in creation order (Namespace first)."""
    return [
        namespace(env.namespace),
        *secrets_objects(env, secrets, endpoints),
        *services(env),
        *routes(env, endpoints),
        *deployments(env, progress_deadline_s),
        postgres_statefulset(env),
    ]


def seed(
    store: Store,
    secrets: SandboxSecrets,
    *,
    env: Env | None = None,
    endpoints: WorldEndpoints | None = None,
    progress_deadline_s: int = 10,
) -> None:
    """Create every object of one environment in `store` (Deployments without status; prime the controller next).

    Args:
        store: a store (other environments' namespaces may already be in it).
        secrets: this environment's secret values (SandboxSecrets, secrets.py).
        env: namespace, layout ("rhpds" | "kustomize"), databases ("separate" | "shared") and index
            (objects.Env); None → the default environment (litellm-rhpds, rhpds, separate).
        endpoints: data-plane URLs; None → in-cluster URLs (`in_cluster_endpoints`).
        progress_deadline_s: every Deployment's spec.progressDeadlineSeconds (the real default is 600).
    Raises:
        ValueError on an unknown layout or databases; kubeapi.ApiError if the namespace already exists.
    Source: docs/deployment-facts.md §1, §1.1, §1.3, §2; the rhpds day-2 runbook ("Current Image" table);
        rh-aiservices-bu/litemaas deployment/kustomize @f6b748f (kustomize.py).
    """
    env = env or Env()
    env.names.databases(env.databases)  # validates both
    endpoints = endpoints or in_cluster_endpoints(secrets, env.databases, layout=env.layout)
    if env.layout == layouts.KUSTOMIZE:
        objs = kustomize.objects(env, secrets, endpoints, progress_deadline_s)
    else:
        objs = rhpds_objects(env, secrets, endpoints, progress_deadline_s)
    for obj in objs:
        created = store.create(kubeapi.resource(obj["kind"]), obj)
        if obj["kind"] == "StatefulSet":
            name = created["metadata"]["name"]
            store.mutate(
                kubeapi.resource("StatefulSet"),
                env.namespace,
                name,
                lambda o: o.__setitem__("status", dict(STATEFULSET_STATUS)),
            )
            store.create(kubeapi.resource("Pod"), statefulset_pod(env, created))
