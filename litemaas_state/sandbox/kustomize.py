"""The seeded objects of an environment in the upstream Kustomize layout.

What `kustomize build deployment/kustomize | oc apply -f -` leaves in a namespace, read from
rh-aiservices-bu/litemaas deployment/kustomize @f6b748f (docs/deployment-facts.md §1.3):

- Deployments `backend` (app=backend, component=api; container `backend`; init container
  `wait-for-database` on postgres:16-alpine; no migrations init container: the backend migrates in its
  `onReady` hook), `frontend` (app=frontend, component=web; container `frontend`; init container
  `wait-for-backend` on the OpenShift `tools` image), `litellm` (app=litellm, component=ai-proxy;
  container `litellm`; init container `wait-for-database`), `litellm-redis` (app=litellm-redis; container
  `redis`, redis:7-alpine, no password), all with one replica;
- StatefulSet `postgres` (app=postgres, component=database; pod `postgres-0`; POSTGRES_DB `litemaas_db`,
  POSTGRES_USER/POSTGRES_PASSWORD from Secret `postgres-secret`; ConfigMap `postgres-init-script` that
  creates `litemaas_db` and `litellm_db`);
- Services `postgres` (5432), `backend` (8080), `frontend` (8080), `litellm` (4000), `litellm-redis` (6379);
- Secrets `backend-secret` (kebab-case keys: database-url, cors-origin, jwt-secret, oauth-client-id,
  oauth-client-secret, oauth-issuer, oauth-callback-url, admin-api-keys, litellm-api-key,
  litellm-master-key, litellm-database-url), `litellm-secret` (database-url, master-key, ui-username,
  ui-password) and `postgres-secret` (username, password); the containers read them through
  `secretKeyRef`, as upstream does;
- Routes `litellm` (→ Service litellm) and `litemaas` (→ Service frontend), edge TLS, with the host
  OpenShift generates (`<route>-<namespace>.<domain>`).

As upstream's `preparation.sh` substitutes `${PG_ADMIN_PASSWORD}` into the backend's wait-for-database
command, that command carries the database password in plain text here too.

Images: the LiteMaaS images at `0.4.0` (the `${LITEMAAS_VERSION}` of the templates; the
kustomization's own `images:` block would retag them `latest`), LiteLLM
`quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom`.
Not seeded: the PersistentVolumeClaim `backend-backup` (not a served kind; the backend pod still names it).

Boundary: imports no product code.
"""

from __future__ import annotations

from urllib.parse import quote

from litemaas_state.sandbox.kubeapi import Obj
from litemaas_state.sandbox.objects import (
    CLUSTER_DOMAIN,
    Env,
    WorldEndpoints,
    container,
    deployment,
    http_probe,
    namespace,
    route,
    secret,
    secret_env,
    service,
    statefulset,
)
from litemaas_state.sandbox.secrets import SandboxSecrets

VERSION = "0.4.0"
LITELLM_IMAGE = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
BACKEND_IMAGE = f"quay.io/rh-aiservices-bu/litemaas-backend:{VERSION}"
FRONTEND_IMAGE = f"quay.io/rh-aiservices-bu/litemaas-frontend:{VERSION}"
REDIS_IMAGE = "redis:7-alpine"
POSTGRES_IMAGE = "postgres:16-alpine"
TOOLS_IMAGE = "image-registry.openshift-image-registry.svc:5000/openshift/tools:latest"
DB_USER = "litemaas_admin"


def _labels(app: str, component: str | None = None) -> dict[str, str]:
    return {"app": app, **({"component": component} if component else {})}


def _resources(req_mem: str, req_cpu: str, lim_mem: str, lim_cpu: str) -> Obj:
    return {"requests": {"memory": req_mem, "cpu": req_cpu}, "limits": {"memory": lim_mem, "cpu": lim_cpu}}


def _exec_probe(command: list[str], period_s: int = 5) -> Obj:
    return {"exec": {"command": command}, "periodSeconds": period_s, "timeoutSeconds": 3}


def _host(env: Env, route_name: str) -> str:
    """The host OpenShift gives a Route without `spec.host`: `<name>-<namespace>.<domain>`."""
    return f"{route_name}-{env.namespace}.{CLUSTER_DOMAIN}"


def secrets_objects(env: Env, secrets: SandboxSecrets, endpoints: WorldEndpoints) -> list[Obj]:
    """backend-secret, litellm-secret and postgres-secret, as the upstream templates fill them."""
    frontend = f"https://{_host(env, 'litemaas')}"
    return [
        secret(
            env,
            "postgres-secret",
            {"username": DB_USER, "password": secrets.db_password},
            _labels("postgres", "database"),
        ),
        secret(
            env,
            "backend-secret",
            {
                "database-url": endpoints.litemaas_database_url,
                "cors-origin": frontend,
                "jwt-secret": secrets.jwt_secret,
                "oauth-client-id": "litemaas-oauth-client",
                "oauth-client-secret": secrets.oauth_client_secret,
                "oauth-issuer": f"https://oauth-openshift.{CLUSTER_DOMAIN}",
                "oauth-callback-url": f"{frontend}/api/auth/callback",
                "admin-api-keys": secrets.admin_api_key,
                "litellm-api-key": secrets.master_key,
                "litellm-master-key": secrets.master_key,
                "litellm-database-url": endpoints.litellm_database_url,
            },
            _labels("backend", "api"),
        ),
        secret(
            env,
            "litellm-secret",
            {
                "database-url": endpoints.litellm_database_url,
                "master-key": secrets.master_key,
                "ui-username": "admin",
                "ui-password": secrets.ui_password,
            },
            _labels("litellm", "ai-proxy"),
        ),
    ]


def deployments(env: Env, secrets: SandboxSecrets, progress_deadline_s: int) -> list[Obj]:
    """Deployments backend, frontend, litellm and litellm-redis (one replica each, as upstream)."""
    litemaas_db = env.names.databases(env.databases)[0]
    pg_url = f"postgresql://{DB_USER}:{quote(secrets.db_password, safe='')}@postgres:5432/{litemaas_db}"
    wait_backend_db = container(
        "wait-for-database",
        POSTGRES_IMAGE,
        command=["sh", "-c", f"until psql \"{pg_url}\" -c '\\q'; do sleep 2; done"],
        env=[secret_env("DATABASE_URL", "backend-secret", "database-url")],
    )
    backend = container(
        "backend",
        BACKEND_IMAGE,
        ports=[{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        env=[
            secret_env("DATABASE_URL", "backend-secret", "database-url"),
            {"name": "HOST", "value": "0.0.0.0"},  # noqa: S104 - a container's listen address, not ours
            {"name": "PORT", "value": "8080"},
            {"name": "NODE_ENV", "value": "production"},
            {"name": "LOG_LEVEL", "value": "info"},
            secret_env("CORS_ORIGIN", "backend-secret", "cors-origin"),
            secret_env("JWT_SECRET", "backend-secret", "jwt-secret"),
            {"name": "JWT_EXPIRES_IN", "value": "24h"},
            secret_env("OAUTH_CLIENT_ID", "backend-secret", "oauth-client-id"),
            secret_env("OAUTH_CLIENT_SECRET", "backend-secret", "oauth-client-secret"),
            secret_env("OAUTH_ISSUER", "backend-secret", "oauth-issuer"),
            secret_env("OAUTH_CALLBACK_URL", "backend-secret", "oauth-callback-url"),
            secret_env("ADMIN_API_KEYS", "backend-secret", "admin-api-keys"),
            {"name": "LITELLM_API_URL", "value": f"https://{_host(env, 'litellm')}"},
            secret_env("LITELLM_API_KEY", "backend-secret", "litellm-api-key"),
            secret_env("LITELLM_MASTER_KEY", "backend-secret", "litellm-master-key"),
            secret_env("LITELLM_DATABASE_URL", "backend-secret", "litellm-database-url"),
            {"name": "BACKUP_STORAGE_PATH", "value": "/data/backups"},
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
            {"name": "RATE_LIMIT_MAX", "value": "1000"},
            {"name": "RATE_LIMIT_TIME_WINDOW", "value": "5m"},
            {"name": "DEFAULT_USER_MAX_BUDGET", "value": "100"},
            {"name": "DEFAULT_USER_TPM_LIMIT", "value": "100000"},
            {"name": "DEFAULT_USER_RPM_LIMIT", "value": "120"},
        ],
        resources=_resources("256Mi", "100m", "512Mi", "500m"),
        volumeMounts=[{"name": "backup-storage", "mountPath": "/data/backups"}],
        livenessProbe=http_probe("/api/v1/health/live", 8080),
        readinessProbe=http_probe("/api/v1/health/ready", 8080, period_s=5, timeout_s=3),
    )
    wait_backend = container(
        "wait-for-backend",
        TOOLS_IMAGE,
        command=["sh", "-c"],
        args=["until nc -z backend 8080; do sleep 5; done"],
        resources=_resources("64Mi", "25m", "128Mi", "100m"),
    )
    frontend = container(
        "frontend",
        FRONTEND_IMAGE,
        ports=[{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        env=[{"name": "BACKEND_URL", "value": "http://backend:8080"}],
        resources=_resources("128Mi", "50m", "256Mi", "200m"),
        livenessProbe=http_probe("/", 8080),
        readinessProbe=http_probe("/", 8080, period_s=5, timeout_s=3),
    )
    wait_litellm_db = container(
        "wait-for-database",
        POSTGRES_IMAGE,
        command=["sh", "-c", "until psql \"$DATABASE_URL\" -c '\\q'; do sleep 2; done"],
        env=[secret_env("DATABASE_URL", "litellm-secret", "database-url")],
    )
    litellm = container(
        "litellm",
        LITELLM_IMAGE,
        ports=[{"containerPort": 4000, "name": "http", "protocol": "TCP"}],
        env=[
            secret_env("DATABASE_URL", "litellm-secret", "database-url"),
            secret_env("LITELLM_MASTER_KEY", "litellm-secret", "master-key"),
            secret_env("UI_USERNAME", "litellm-secret", "ui-username"),
            secret_env("UI_PASSWORD", "litellm-secret", "ui-password"),
            {"name": "LITELLM_MODE", "value": "PRODUCTION"},
            {"name": "STORE_MODEL_IN_DB", "value": "True"},
            {"name": "DISABLE_SCHEMA_UPDATE", "value": "false"},
            {"name": "REDIS_HOST", "value": "litellm-redis"},
            {"name": "REDIS_PORT", "value": "6379"},
        ],
        resources=_resources("512Mi", "200m", "1Gi", "1000m"),
        livenessProbe=http_probe("/health/liveness", 4000, period_s=30, timeout_s=10),
        readinessProbe=http_probe("/health/readiness", 4000),
    )
    redis = container(
        "redis",
        REDIS_IMAGE,
        ports=[{"containerPort": 6379, "name": "redis", "protocol": "TCP"}],
        resources=_resources("64Mi", "50m", "128Mi", "200m"),
        livenessProbe=_exec_probe(["redis-cli", "ping"], period_s=10),
        readinessProbe=_exec_probe(["redis-cli", "ping"]),
    )
    pds = progress_deadline_s
    backend_pod: Obj = {
        "initContainers": [wait_backend_db],
        "containers": [backend],
        "volumes": [{"name": "backup-storage", "persistentVolumeClaim": {"claimName": "backend-backup"}}],
    }
    return [
        deployment(env, "backend", _labels("backend", "api"), 1, backend_pod, pds),
        deployment(
            env,
            "frontend",
            _labels("frontend", "web"),
            1,
            {"initContainers": [wait_backend], "containers": [frontend]},
            pds,
        ),
        deployment(
            env,
            "litellm",
            _labels("litellm", "ai-proxy"),
            1,
            {"initContainers": [wait_litellm_db], "containers": [litellm]},
            pds,
        ),
        deployment(env, "litellm-redis", _labels("litellm-redis"), 1, {"containers": [redis]}, pds),
    ]


def postgres_objects(env: Env) -> list[Obj]:
    """ConfigMap postgres-init-script and StatefulSet postgres (its pod comes from `objects.statefulset_pod`)."""
    labels = _labels("postgres", "database")
    script = "\n".join(
        [
            "#!/bin/bash",
            "set -e",
            "# create the LiteMaaS and LiteLLM databases next to POSTGRES_DB",
            *(
                f"psql -v ON_ERROR_STOP=1 -U \"$POSTGRES_USER\" -d postgres -c 'CREATE DATABASE {db}' || true"
                for db in ("litemaas_db", "litellm_db")
            ),
            "",
        ]
    )
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "postgres-init-script", "namespace": env.namespace, "labels": dict(labels)},
        "data": {"init-db.sh": script},
    }
    ready = ["/bin/sh", "-c", 'pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB"']
    pg = container(
        "postgres",
        POSTGRES_IMAGE,
        ports=[{"containerPort": 5432, "name": "postgres", "protocol": "TCP"}],
        env=[
            {"name": "POSTGRES_DB", "value": "litemaas_db"},
            secret_env("POSTGRES_USER", "postgres-secret", "username"),
            secret_env("POSTGRES_PASSWORD", "postgres-secret", "password"),
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        resources=_resources("256Mi", "100m", "512Mi", "500m"),
        volumeMounts=[
            {"name": "postgres-storage", "mountPath": "/var/lib/postgresql/data"},
            {"name": "postgres-init-script", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
        ],
        livenessProbe=_exec_probe(ready, period_s=10),
        readinessProbe=_exec_probe(ready),
    )
    init_volume = {"name": "postgres-init-script", "configMap": {"name": "postgres-init-script", "defaultMode": 0o755}}
    pod = {"volumes": [init_volume], "containers": [pg]}
    sts = statefulset(env, "postgres", labels, pod, "postgres-storage", "10Gi")
    return [config, sts]


def services(env: Env) -> list[Obj]:
    return [
        service(env, "postgres", 5432, "postgres", 14, _labels("postgres", "database")),
        service(env, "litellm-redis", 6379, "redis", 15, _labels("litellm-redis")),
        service(env, "litellm", 4000, "http", 11, _labels("litellm", "ai-proxy")),
        service(env, "backend", 8080, "http", 12, _labels("backend", "api")),
        service(env, "frontend", 8080, "http", 13, _labels("frontend", "web")),
    ]


def routes(env: Env, endpoints: WorldEndpoints) -> list[Obj]:
    """Routes `litellm` and `litemaas`; with a data plane, `litellm`'s host is the local LiteLLM (plain http)."""
    if endpoints.litellm_host:
        api = route(env, "litellm", endpoints.litellm_host, "litellm", _labels("litellm", "ai-proxy"), secure=False)
    else:
        api = route(env, "litellm", _host(env, "litellm"), "litellm", _labels("litellm", "ai-proxy"))
    return [api, route(env, "litemaas", _host(env, "litemaas"), "frontend", _labels("frontend", "web"))]


def objects(env: Env, secrets: SandboxSecrets, endpoints: WorldEndpoints, progress_deadline_s: int) -> list[Obj]:
    """Every object of a Kustomize environment, in creation order (Namespace first)."""
    ns_labels = {
        "name": env.namespace,
        "app.kubernetes.io/name": "litemaas",
        "app.kubernetes.io/instance": "litemaas",
        "app.kubernetes.io/version": VERSION,
        "app.kubernetes.io/component": env.namespace,
        "app.kubernetes.io/part-of": "litemaas",
    }
    return [
        namespace(env.namespace, ns_labels),
        *secrets_objects(env, secrets, endpoints),
        *postgres_objects(env)[:1],
        *services(env),
        *routes(env, endpoints),
        *deployments(env, secrets, progress_deadline_s),
        *postgres_objects(env)[1:],
    ]
