"""Checks shown in the plan: platform traps and deployment rules, as Diagnostics (findings are values).

Sources: litemaas-facts.md §1.2 (backend must stay at 1 replica: OAuth state lives in process memory;
Redis runs as a single replica), anchors.md §4.5 and §7 item 9 (HPA owns replicas; an
``image.openshift.io/triggers`` annotation overwrites images; a paused Deployment makes no progress;
``revisionHistoryLimit: 0`` makes undo impossible).
"""

from __future__ import annotations

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState
from litemaas_state.names import Component
from litemaas_state.plan.deployments import desired_replicas
from litemaas_state.spec.model import DesiredState, OnFailure


def check_deployments(desired: DesiredState, live: LiveState) -> list[Diagnostic]:
    """Warnings and errors about managed Deployments (see module docstring)."""
    out: list[Diagnostic] = []
    backend = desired_replicas(desired, live, Component.BACKEND)
    if backend is not None and backend > 1:
        out.append(Diagnostic(
            severity=Severity.WARNING, address=names.address(Component.BACKEND),
            summary=f"litellm-backend at {backend} replicas: OAuth login state is held in process memory",
            detail="LiteMaaS keeps OAuth state, PKCE verifier and nonce in an in-process Map; logins fail "
                   "when the callback reaches another replica (litemaas-facts.md §1.2). Keep it at 1.",
        ))
    redis_spec = desired.deployments.get(Component.REDIS)
    if redis_spec and redis_spec.replicas is not None and redis_spec.replicas > 1:
        out.append(Diagnostic(
            severity=Severity.ERROR, address=names.address(Component.REDIS),
            summary="litellm-redis must run 1 replica: each Redis pod would hold its own, unreplicated data",
        ))
    for component, spec in desired.deployments.items():
        w = live.workloads.get(component.value)
        if w is None:
            continue
        addr = names.address(component)
        for hpa in live.hpas:
            if hpa.target_kind == "Deployment" and hpa.target_name == component.value and spec.replicas is not None:
                out.append(Diagnostic(
                    severity=Severity.WARNING, address=addr,
                    summary=f"HorizontalPodAutoscaler {hpa.name} manages this Deployment's replicas",
                    detail="The HPA will overwrite the declared replica count; remove `replicas` from the "
                           "state file or the HPA.",
                ))
        if w.image_triggers and spec.image is not None:
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary=f"{names.IMAGE_TRIGGERS_ANNOTATION} is set: OpenShift will overwrite the image",
                detail="An image-stream trigger rewrites the container image when its tag moves; the "
                       "declared image would be fought over (anchors.md §4.5).",
            ))
        if w.paused and (spec.image is not None or spec.restart_at is not None):
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary="the Deployment is paused: a template change will not roll out until it is resumed",
            ))
        if desired.on_failure_for(component) == OnFailure.ROLLBACK and w.revision_history_limit == 0:
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary="revisionHistoryLimit is 0: on_failure: rollback has no previous ReplicaSet to return to",
            ))
    return out
