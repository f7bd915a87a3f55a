"""One place for each fact about the deployment's names: components, containers, labels, secrets, env.

Source: docs/deployment-facts.md §1 (rhpds HA deployment: object names, containers, init containers, labels,
secrets) and §1.2 (images shared by init containers). Nothing else in the product spells these strings.
"""

from __future__ import annotations

from enum import StrEnum


class Component(StrEnum):
    """A managed Deployment, by its name in the rhpds HA deployment (docs/deployment-facts.md §1.4)."""

    LITELLM = "litellm"
    BACKEND = "litellm-backend"
    FRONTEND = "litellm-frontend"
    REDIS = "litellm-redis"


#: Label selector per component (the Deployment's `spec.selector`; docs/deployment-facts.md §1.4, selector labels).
SELECTOR: dict[Component, str] = {c: f"app={c.value}" for c in Component}

#: Secrets (docs/deployment-facts.md §1.6).
LITELLM_SECRET = "litellm-secret"
LITELLM_MASTER_KEY_FIELD = "LITELLM_MASTER_KEY"
DB_SECRET = "litemaas-db"
BACKEND_SECRET = "backend-secret"

#: Service the LiteLLM API Route points to; the Route is found by its target, never by name (§1.5).
LITELLM_SERVICE = "litellm"
LITELLM_PORT = 4000

#: Redis: its Service and port (what LiteLLM's and the backend's REDIS_HOST/REDIS_PORT name, §1), and the
#: variable the rhel9/redis-7 image takes its password from (sclorg/redis-container README).
REDIS_SERVICE = "litellm-redis"
REDIS_PORT = 6379
ENV_REDIS_PASSWORD = "REDIS_PASSWORD"

#: Environment variable names on the Deployments (docs/deployment-facts.md §2).
ENV_DATABASE_URL = "DATABASE_URL"
ENV_DISABLE_SCHEMA_UPDATE = "DISABLE_SCHEMA_UPDATE"

#: Annotations.
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
IMAGE_TRIGGERS_ANNOTATION = "image.openshift.io/triggers"
#: On each Deployment apply wrote: the managed fields as apply left them, as JSON (live.model.ManagedFields);
#: the next plan compares the live fields with it ("Objects have changed outside litemaas-state").
LAST_APPLIED_ANNOTATION = "litemaas-state/last-applied"

#: Environment variables the tool reads for connection details (README "Connections"; `sandbox up --direct-urls` exports them).
ENV_LITEMAAS_DATABASE_URL = "LITEMAAS_DATABASE_URL"
ENV_LITELLM_DATABASE_URL = "LITELLM_DATABASE_URL"
ENV_LITELLM_URL = "LITELLM_URL"
ENV_LITELLM_MASTER_KEY = "LITELLM_MASTER_KEY"
ENV_REDIS_URL = "REDIS_URL"
#: How each data-plane source is reached: auto | direct | kubernetes (flag --connect).
ENV_CONNECT = "LITEMAAS_STATE_CONNECT"

#: The apply lock's Lease in the target namespace (one per namespace, whatever the environment's name;
#: apply/lock.py) and its API group as RBAC rules name it.
LEASE_NAME = "litemaas-state"
LEASE_GROUP = "coordination.k8s.io"

#: Services whose in-cluster host the tool dials when it runs in a pod (docs/deployment-facts.md §1.5):
#: a direct LiteLLM URL needs no Route (the manifests bundle sets LITELLM_URL to it).
SERVICE_URL_TEMPLATE = "http://{service}.{namespace}.svc:{port}"

class Role(StrEnum):
    """The LiteMaaS roles in ``users.roles`` (TEXT[]), spelled as LiteMaaS spells them
    (rh-aiservices-bu/litemaas ``backend/src/services/rbac.service.ts``; docs/deployment-facts.md §3.1)."""

    ADMIN = "admin"
    ADMIN_READONLY = "admin-readonly"
    READONLY = "readonly"
    USER = "user"


ROLE_ADMIN = Role.ADMIN
ROLE_USER = Role.USER

#: The LiteMaaS system user, never reconciled (docs/deployment-facts.md §3.1).
SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000001"
SYSTEM_USER_EMAIL = "system@litemaas.internal"

#: LiteLLM UI session keys, left out of /key/list (docs/deployment-facts.md §5).
DASHBOARD_TEAM_ID = "litellm-dashboard"


def address(component: Component | str) -> str:
    """The plan address of a managed Deployment, kubectl style: ``deployment/litellm``."""
    return f"deployment/{Component(component).value}"

#: The main container of each Deployment (docs/deployment-facts.md §1.4). Init containers are
#: discovered, never assumed (§1.2: the docs call the frontend's init container by a wrong name).
MAIN_CONTAINER: dict[Component, str] = {
    Component.LITELLM: "litellm",
    Component.BACKEND: "backend",
    Component.FRONTEND: "frontend",
    Component.REDIS: "redis",
}
