"""One place for each fact about the deployment's names: components, containers, labels, secrets, env.

Source: docs/deployment-facts.md §1 (rhpds HA deployment: object names, containers, init containers, labels,
secrets), §1.2 (images shared by init containers) and §1.3 (the upstream Kustomize names). Object names
live in one ``Layout`` per layout, keyed by the logical ``Component``; nothing else in the product spells
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Component(StrEnum):
    """A managed workload, by its logical name: the state file's ``deployments`` keys and the plan's ids.

    The object names, selectors and containers behind a component depend on the layout (``Layout``).
    """

    LITELLM = "litellm"
    BACKEND = "backend"
    FRONTEND = "frontend"
    REDIS = "redis"


class LayoutName(StrEnum):
    """How a LiteMaaS deployment names its objects (state file ``target.layout``; docs/deployment-facts.md §1.3)."""

    RHPDS = "rhpds"
    KUSTOMIZE = "kustomize"


@dataclass(frozen=True)
class SecretKey:
    """One key of one Secret (a ``secretKeyRef``)."""

    secret: str
    key: str


@dataclass(frozen=True)
class Layout:
    """The name map of one LiteMaaS layout: every object name the tool uses, keyed by ``Component``.

    ``deployments``: Deployment name per component; ``selectors``: its ``spec.selector`` as a label selector;
    ``main_containers``: the container whose image the state file declares (init containers are discovered,
    never assumed: docs/deployment-facts.md §1.2); ``litellm_service``/``litellm_port``: the Service the
    LiteLLM API Route targets (the Route is found by its target, never by name, §1.5); ``database_secrets``:
    the Secrets the backend's and LiteLLM's ``DATABASE_URL`` come from (read through the Deployments'
    ``secretKeyRef``s; named here only for the in-cluster Role, plan/permissions.py);
    ``redis_service``/``redis_port``: what REDIS_HOST/REDIS_PORT name; ``master_key``: where the LiteLLM
    master key is stored, read only when LiteLLM's Deployment does not say (§1.6).
    """

    name: LayoutName
    deployments: Mapping[Component, str]
    selectors: Mapping[Component, str]
    main_containers: Mapping[Component, str]
    master_key: SecretKey
    database_secrets: tuple[str, ...]
    litellm_service: str = "litellm"
    litellm_port: int = 4000
    redis_service: str = "litellm-redis"
    redis_port: int = 6379

    def deployment(self, component: Component) -> str:
        """The Deployment name of ``component``."""
        return self.deployments[component]

    def address(self, component: Component) -> str:
        """The plan address of a managed Deployment, kubectl style: ``deployment/litellm-backend``."""
        return f"deployment/{self.deployments[component]}"

    def component(self, deployment: str) -> Component | None:
        """The component whose Deployment is named ``deployment``, or None."""
        return next((c for c, n in self.deployments.items() if n == deployment), None)


def _app_layout(name: LayoutName, deployments: Mapping[Component, str], master_key: SecretKey,
                database_secrets: tuple[str, ...]) -> Layout:
    """A layout whose Deployments select ``app=<Deployment name>`` and whose main containers are named as
    the rhpds and Kustomize manifests name them (both layouts)."""
    return Layout(name=name, deployments=deployments, selectors={c: f"app={n}" for c, n in deployments.items()},
                  main_containers={Component.LITELLM: "litellm", Component.BACKEND: "backend",
                                   Component.FRONTEND: "frontend", Component.REDIS: "redis"},
                  master_key=master_key, database_secrets=database_secrets)


#: The layouts (docs/deployment-facts.md §1.3-§1.6): rhpds (rhpds/rhpds.litemaas roles/ocp4_workload_litemaas
#: templates) and the upstream Kustomize manifests (rh-aiservices-bu/litemaas deployment/kustomize @f6b748f).
LAYOUTS: dict[LayoutName, Layout] = {
    LayoutName.RHPDS: _app_layout(
        LayoutName.RHPDS,
        {Component.LITELLM: "litellm", Component.BACKEND: "litellm-backend",
         Component.FRONTEND: "litellm-frontend", Component.REDIS: "litellm-redis"},
        SecretKey("litellm-secret", "LITELLM_MASTER_KEY"), ("litemaas-db",)),
    LayoutName.KUSTOMIZE: _app_layout(
        LayoutName.KUSTOMIZE,
        {Component.LITELLM: "litellm", Component.BACKEND: "backend",
         Component.FRONTEND: "frontend", Component.REDIS: "litellm-redis"},
        SecretKey("litellm-secret", "master-key"), ("backend-secret", "litellm-secret")),
}


def layout(name: LayoutName | str = LayoutName.RHPDS) -> Layout:
    """The ``Layout`` called ``name`` (``KeyError`` for an unknown name; the state file's enum prevents it)."""
    return LAYOUTS[LayoutName(name)]


#: The variable the rhel9/redis-7 image takes its password from (sclorg/redis-container README).
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
#: Also the variable LiteLLM's own Deployment takes its master key from (docs/deployment-facts.md §1.6).
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
