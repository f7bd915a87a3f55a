"""Live state: what the observers saw, as frozen pure data. Never holds a secret value.

Importable by the planner without pulling in any client (``live/__init__.py`` stays empty).
Shapes follow the Kubernetes API (apps/v1 Deployment) and litemaas-facts.md §3–§5.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContainerImage(_Frozen):
    """One container of a pod template: name, image, and whether it is an init container."""

    name: str
    image: str
    init: bool = False


class Condition(_Frozen):
    type: str
    status: str
    reason: str = ""
    message: str = ""


class Workload(_Frozen):
    """One live Deployment, reduced to the fields the planner, rollout verdict and preconditions read.

    ``replicas`` is ``spec.replicas``; the ``status_*`` fields mirror ``status`` (absent → 0).
    ``restarted_at`` is the pod-template annotation ``kubectl.kubernetes.io/restartedAt``, if any.
    ``env`` holds only non-secret plain env values the checks need (e.g. DISABLE_SCHEMA_UPDATE).
    """

    name: str
    uid: str
    resource_version: str
    generation: int
    observed_generation: int = 0
    replicas: int = 1
    status_replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    containers: tuple[ContainerImage, ...] = ()
    conditions: tuple[Condition, ...] = ()
    paused: bool = False
    revision: int = 0
    revision_history_limit: int | None = 10
    progress_deadline_s: int | None = 600
    restarted_at: str | None = None
    image_triggers: bool = False
    env: dict[str, str] = Field(default_factory=dict)

    def container(self, name: str) -> ContainerImage | None:
        return next((c for c in self.containers if c.name == name and not c.init), None)


class HorizontalPodAutoscaler(_Frozen):
    name: str
    target_kind: str
    target_name: str


class LiveState(_Frozen):
    """Everything observed for one environment at ``observed_at`` (UTC).

    ``workloads`` maps Deployment name → Workload for the managed Deployments that exist;
    ``missing`` names managed Deployments that returned 404.
    """

    observed_at: datetime
    namespace: str
    workloads: dict[str, Workload] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()
    hpas: tuple[HorizontalPodAutoscaler, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)
