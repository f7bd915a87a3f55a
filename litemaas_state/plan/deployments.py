"""Plan rules for the Deployment phases: images (set_image, restart) and scaling.

Pure functions of (DesiredState, LiveState). Sources: kubectl set image / scale semantics (docs/design.md
§9.11, §9.13); an image change follows every container and init container running the same image
repository, so the frontend's ``copy-custom-logos`` init container is never left behind
(docs/deployment-facts.md §1.2, troubleshooting #3); ``kubectl rollout restart`` sets the pod-template annotation
``kubectl.kubernetes.io/restartedAt`` (docs/design.md §9.12).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypedDict

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState, Workload
from litemaas_state.live.rollout import RolloutPhase, rollout_status
from litemaas_state.names import Component
from litemaas_state.plan.model import (
    Replicas,
    RestartAction,
    RestartedAt,
    RunningImage,
    ScaleAction,
    SetImageAction,
    WaitRolloutAction,
)
from litemaas_state.spec.model import DesiredState, image_repository
from litemaas_state.timestamps import parse_utc, rfc3339


class _Target(TypedDict):
    """The fields naming the Deployment an action writes (its address, component and name in the layout)."""

    address: str
    component: Component
    deployment: str


def _target(desired: DesiredState, component: Component) -> _Target:
    layout = desired.layout
    return _Target(address=layout.address(component), component=component, deployment=layout.deployment(component))


def _missing(desired: DesiredState, component: Component, live: LiveState) -> Diagnostic:
    layout = desired.layout
    return Diagnostic(
        severity=Severity.ERROR,
        summary=f"deployment {layout.deployment(component)} does not exist in namespace {live.namespace}",
        detail=f"litemaas-state manages existing Deployments; it does not create them. Names follow target.layout: {layout.name.value}.",
        address=layout.address(component),
    )


def plan_images(desired: DesiredState, live: LiveState) -> tuple[list[SetImageAction], list[Diagnostic]]:
    """One set_image action per declared image that differs from any container following it.

    The containers that follow a Deployment's image are those whose image repository equals the main
    container's current repository or the declared one (init containers included; busybox waiters are
    left alone). Returns (actions, diagnostics).
    """
    actions: list[SetImageAction] = []
    diags: list[Diagnostic] = []
    for component, spec in desired.deployments.items():
        if spec.image is None:
            continue
        w = live.workloads.get(component)
        if w is None:
            diags.append(_missing(desired, component, live))
            continue
        main_name = desired.layout.main_containers[component]
        main = w.container(main_name)
        if main is None:
            diags.append(Diagnostic(
                severity=Severity.ERROR, address=desired.layout.address(component),
                summary=f"deployment {desired.layout.deployment(component)} has no container named {main_name!r}",
            ))
            continue
        repos = {image_repository(main.image), image_repository(spec.image)}
        stale = [c for c in w.containers if image_repository(c.image) in repos and c.image != spec.image]
        if not stale:
            continue
        inits = tuple(c.name for c in stale if c.init)
        mains = tuple(c.name for c in stale if not c.init)
        where = ", ".join([*mains, *(f"init {n}" for n in inits)])
        actions.append(SetImageAction(
            id=f"images/{component.value}",
            **_target(desired, component),
            image=spec.image,
            main_container=main_name,
            containers=mains,
            init_containers=inits,
            on_failure=desired.on_failure_for(component).value,
            notes=(f"containers: {where}",),
            reason="the declared image differs from the running pod template",
            preconditions=tuple(RunningImage(deployment=desired.layout.deployment(component), container=c.name, init=c.init,
                                               image=c.image) for c in stale),
        ))
    return actions, diags


#: How far in the future a ``restart_at`` may be before it is refused (the clocks of the machine that wrote
#: the state file and the one that plans may disagree a little).
RESTART_AT_SKEW = timedelta(minutes=5)


def plan_restarts(desired: DesiredState, live: LiveState) -> list[RestartAction]:
    """A rolling restart where the declared ``restart_at`` is newer than the pod template's restartedAt.

    A restart done by hand later than the declared time is not drift. A ``restart_at`` more than
    ``RESTART_AT_SKEW`` after ``live.observed_at`` gets no action (plan/checks.py makes it a plan error).
    """
    actions: list[RestartAction] = []
    for component, spec in desired.deployments.items():
        w = live.workloads.get(component)
        if spec.restart_at is None or w is None or spec.restart_at > live.observed_at + RESTART_AT_SKEW:
            continue
        have = parse_utc(w.restarted_at)
        if have is not None and have.tzinfo is not None and have >= spec.restart_at:
            continue
        stamp = rfc3339(spec.restart_at)
        actions.append(RestartAction(
            id=f"images/{component.value}/restart",
            **_target(desired, component),
            restarted_at=stamp,
            on_failure=desired.on_failure_for(component).value,
            reason="restart_at is newer than the last restart (kubectl.kubernetes.io/restartedAt)",
            preconditions=(RestartedAt(deployment=desired.layout.deployment(component), restarted_at=w.restarted_at),),
        ))
    return actions


def rollout_unfinished(desired: DesiredState, live: LiveState, component: Component) -> bool:
    """True when the Deployment runs the declared image in its template and kubectl's verdict on its rollout
    is still "waiting" (not paused): unfinished work, e.g. of an apply that was killed during the wait.

    Only meaningful when no template change is planned for it (``plan_unfinished_rollouts`` checks that).
    Source: kubectl rollout status (live/rollout.py).
    """
    spec = desired.deployments.get(component)
    w = live.workloads.get(component)
    if spec is None or spec.image is None or w is None or w.paused:
        return False
    main = w.container(desired.layout.main_containers[component])
    return main is not None and main.image == spec.image and rollout_status(w).phase == RolloutPhase.WAITING


def plan_unfinished_rollouts(desired: DesiredState, live: LiveState,
                             planned: Sequence[SetImageAction | RestartAction]) -> list[WaitRolloutAction]:
    """A wait_rollout action per Deployment whose declared template is still rolling out (``rollout_unfinished``)
    and for which no image change or restart is planned (those wait for their own rollout).

    Apply waits for it with kubectl's algorithm, checks LiteLLM's health after a LiteLLM rollout and applies
    the Deployment's ``on_failure``, as after a set_image. Returns the actions (none is an error: a failed
    rollout is the ROLLOUT_FAILED diagnostic of plan/checks.py).
    """
    changing = {a.component for a in planned}
    actions: list[WaitRolloutAction] = []
    for component, spec in desired.deployments.items():
        if component in changing or spec.image is None or not rollout_unfinished(desired, live, component):
            continue
        w = live.workloads[component]
        verdict = rollout_status(w)
        main_name = desired.layout.main_containers[component]
        actions.append(WaitRolloutAction(
            id=f"images/{component.value}/rollout",
            **_target(desired, component),
            image=spec.image,
            on_failure=desired.on_failure_for(component).value,
            rollout_message=verdict.message,
            reason="the declared image's rollout has not finished (kubectl rollout status)",
            notes=("apply waits for it as `kubectl rollout status` does"
                   + (", then checks LiteLLM's health" if component == Component.LITELLM else ""),),
            preconditions=(RunningImage(deployment=desired.layout.deployment(component), container=main_name, image=spec.image),),
        ))
    return actions


def plan_scaling(desired: DesiredState, live: LiveState) -> tuple[list[ScaleAction], list[Diagnostic]]:
    """One scale action per declared replica count that differs from spec.replicas."""
    actions: list[ScaleAction] = []
    diags: list[Diagnostic] = []
    for component, spec in desired.deployments.items():
        if spec.replicas is None:
            continue
        w = live.workloads.get(component)
        if w is None:
            if spec.image is None:
                diags.append(_missing(desired, component, live))
            continue
        if w.replicas == spec.replicas:
            continue
        actions.append(ScaleAction(
            id=f"scaling/{component.value}",
            **_target(desired, component),
            replicas=spec.replicas,
            reason="the declared replica count differs from spec.replicas",
            preconditions=(Replicas(deployment=desired.layout.deployment(component), replicas=w.replicas),),
        ))
    return actions, diags


def desired_replicas(desired: DesiredState, live: LiveState, component: Component) -> int | None:
    """Replicas after apply: declared, else live, else None (Deployment absent)."""
    spec = desired.deployments.get(component)
    if spec is not None and spec.replicas is not None:
        return spec.replicas
    w: Workload | None = live.workloads.get(component)
    return w.replicas if w else None
