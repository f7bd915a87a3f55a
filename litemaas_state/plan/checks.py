"""Checks shown in the plan: platform traps and deployment rules, as Diagnostics (findings are values).

Sources: docs/deployment-facts.md §1.2 (backend must stay at 1 replica: OAuth state lives in process memory;
Redis runs as a single replica), docs/design.md §9.14 and §9.18 item 9 (HPA owns replicas; an
``image.openshift.io/triggers`` annotation overwrites images; a paused Deployment makes no progress;
``revisionHistoryLimit: 0`` makes undo impossible).
"""

from __future__ import annotations

from collections.abc import Sequence

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState
from litemaas_state.live.rollout import RolloutPhase, rollout_status
from litemaas_state.names import Component
from litemaas_state.plan.deployments import RESTART_AT_SKEW, desired_replicas
from litemaas_state.plan.model import Action, RestartAction, SetImageAction, WaitRolloutAction
from litemaas_state.spec.model import DesiredState, OnFailure
from litemaas_state.timestamps import rfc3339

#: Diagnostic code of a Deployment whose declared template never became available (drift, not config).
ROLLOUT_FAILED = "rollout_failed"




def _future_restarts(desired: DesiredState, live: LiveState) -> list[Diagnostic]:
    """A plan error for each ``restart_at`` later than now (+ RESTART_AT_SKEW): apply does not schedule
    restarts, it would restart at once, and the next plans would keep restarting until the time passed."""
    out = []
    for component, spec in desired.deployments.items():
        if spec.restart_at is not None and spec.restart_at > live.observed_at + RESTART_AT_SKEW:
            out.append(Diagnostic(
                severity=Severity.ERROR, address=desired.layout.address(component),
                summary=f"restart_at {rfc3339(spec.restart_at)} is in the future (now "
                        f"{rfc3339(live.observed_at)})",
                detail="litemaas-state does not schedule restarts: a changed restart_at restarts at the next "
                       "apply. Set it to the current time (date -u +%Y-%m-%dT%H:%M:%SZ).",
            ))
    return out


def check_deployments(desired: DesiredState, live: LiveState, *, planned: Sequence[Action]) -> list[Diagnostic]:
    """Warnings and errors about managed Deployments (see module docstring).

    ``planned``: the actions planned for ``desired`` (before ``--target``). Whether an image changes, a
    restart is due or an unfinished rollout is awaited is the planner's decision (plan/deployments.py),
    read here from its actions, never decided a second time.
    """
    changed = {a.component for a in planned if isinstance(a, SetImageAction)}
    restarted = {a.component for a in planned if isinstance(a, RestartAction)}
    awaited = {a.component for a in planned if isinstance(a, WaitRolloutAction)}
    out: list[Diagnostic] = []
    backend = desired_replicas(desired, live, Component.BACKEND)
    if backend is not None and backend > 1:
        out.append(Diagnostic(
            severity=Severity.WARNING, address=desired.layout.address(Component.BACKEND),
            summary=f"{desired.layout.deployment(Component.BACKEND)} at {backend} replicas: OAuth login state is "
                    "held in process memory",
            detail="LiteMaaS keeps OAuth state, PKCE verifier and nonce in an in-process Map; logins fail "
                   "when the callback reaches another replica. Keep it at 1.",
        ))
    redis_spec = desired.deployments.get(Component.REDIS)
    if redis_spec and redis_spec.replicas is not None and redis_spec.replicas > 1:
        out.append(Diagnostic(
            severity=Severity.ERROR, address=desired.layout.address(Component.REDIS),
            summary=f"{desired.layout.deployment(Component.REDIS)} must run 1 replica: each Redis pod would hold "
                    "its own, unreplicated data",
        ))
    out += _future_restarts(desired, live)
    for component, spec in desired.deployments.items():
        w = live.workloads.get(component)
        if w is None:
            continue
        addr = desired.layout.address(component)
        verdict = rollout_status(w)
        replaced = component in changed
        if verdict.phase == RolloutPhase.FAILED and replaced:
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary=f"the last rollout failed ({verdict.message}); this plan replaces its image",
            ))
        elif verdict.phase == RolloutPhase.FAILED:
            out.append(Diagnostic(
                severity=Severity.ERROR, address=addr, code=ROLLOUT_FAILED,
                summary=f"the last rollout failed: {verdict.message}",
                detail="The pod template holds the new spec, but its pods never became available; the "
                       "previous ReplicaSet is still serving. Declare a working image (the next apply rolls "
                       f"it out) or undo the change: kubectl rollout undo {addr} -n {live.namespace}.",
            ))
        elif verdict.phase == RolloutPhase.WAITING and not w.paused and component not in awaited:
            # (an unfinished rollout of the declared image is an action, wait_rollout, not a warning)
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary=f"a rollout is in progress: {verdict.message}",
            ))
        for hpa in live.hpas:
            if hpa.target_kind == "Deployment" and hpa.target_name == desired.layout.deployment(component) and spec.replicas is not None:
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
                       "declared image would be fought over.",
            ))
        if w.paused and (replaced or component in restarted):
            out.append(Diagnostic(
                severity=Severity.ERROR, address=addr,
                summary="the Deployment is paused: this plan's template change would never roll out",
                detail=f"Resume it first (kubectl rollout resume {addr} -n {live.namespace}), or leave its "
                       "image unchanged in the state file until it is resumed.",
            ))
        elif w.paused:
            out.append(Diagnostic(severity=Severity.WARNING, address=addr, summary="the Deployment is paused"))
        if desired.on_failure_for(component) == OnFailure.ROLLBACK and w.revision_history_limit == 0:
            out.append(Diagnostic(
                severity=Severity.WARNING, address=addr,
                summary="revisionHistoryLimit is 0: on_failure: rollback has no previous ReplicaSet to return to",
            ))
    return out


def check_data_plane(desired: DesiredState, live: LiveState) -> list[Diagnostic]:
    """Errors and warnings about the data plane LiteLLM depends on: Redis readiness and the shared database.

    Args:
        desired: the state file (LiteLLM's declared replicas).
        live: ``live.redis`` (None when not observed), ``live.databases`` (``live.shared_database``) and the
            litellm Workload's plain ``env``.
    Returns:
        ERROR when LiteLLM will run more than one replica while litellm-redis is observed and not ready;
        WARNING when LiteLLM and LiteMaaS share a database and the litellm Deployment does not set
        ``DISABLE_SCHEMA_UPDATE=true`` (case-insensitive).
    Raises:
        Nothing.
    Source: the runbook (multi-replica LiteLLM needs Redis); docs/deployment-facts.md §1.2 (Redis), §2 (LiteLLM's
    start-up migration drops tables not in its Prisma schema; BerriAI/litellm#9558).
    """
    out: list[Diagnostic] = []
    litellm = desired_replicas(desired, live, Component.LITELLM)
    redis = live.redis
    redis_name = desired.layout.deployment(Component.REDIS)
    if litellm is not None and litellm > 1 and redis is not None and not redis.ready:
        ping = "" if redis.ping is None else (", PING ok" if redis.ping else ", PING failed")
        out.append(Diagnostic(
            severity=Severity.ERROR, address=desired.layout.address(Component.LITELLM),
            summary=f"litellm at {litellm} replicas needs Redis, but {redis_name} is not ready "
                    f"({redis.pods_ready}/{redis.pods_total} pods ready{ping})",
            detail="Without Redis each LiteLLM pod keeps its own in-memory cache and key validation is "
                   f"inconsistent across replicas (runbook, scaling). Fix {redis_name} first or keep "
                   "litellm at 1 replica.",
        ))
    w = live.workloads.get(Component.LITELLM)
    if live.shared_database and w is not None:
        value = w.env.get(names.ENV_DISABLE_SCHEMA_UPDATE)
        if (value or "").strip().lower() != "true":
            shown = "unset" if value is None else repr(value)
            out.append(Diagnostic(
                severity=Severity.WARNING, address=desired.layout.address(Component.LITELLM),
                summary=f"LiteLLM and LiteMaaS share one database and {names.ENV_DISABLE_SCHEMA_UPDATE} is "
                        f"{shown}: LiteLLM's start-up migration can drop LiteMaaS tables",
                detail="LiteLLM applies a `prisma migrate diff` at start that drops tables not in its schema "
                       "(BerriAI/litellm#9558). Give LiteLLM its own database or set "
                       f"{names.ENV_DISABLE_SCHEMA_UPDATE}=true.",
            ))
    return out
