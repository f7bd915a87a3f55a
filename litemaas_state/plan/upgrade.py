"""Plan rule for ``upgrade_strategy: scale-to-one``: make LiteLLM's image change at one replica.

LiteLLM runs its database migrations at start, in every new pod (``prisma migrate deploy``,
docs/deployment-facts.md §1.2 and §2), so a rolling update of several replicas starts several migrations
at once. The rhpds troubleshooting guide advises scaling LiteLLM to 1 before a migration-heavy upgrade.
With the strategy declared, the planner replaces the Deployment's set_image by one
``scale_to_one_upgrade`` action (same id, address, ``requires`` — so the backup gate, ``--target`` and saved
plans hold for the whole sequence) that scales to 1, rolls out the new image and waits, checks LiteLLM's
health, then scales back to the declared count, or the live count when ``replicas`` is not declared. The
Deployment's scale action, if any, is absorbed: the upgrade scales back to the declared count itself.

Only when the image changes and the live ``spec.replicas`` is above 1; at 1 (or 0) the set_image is kept
(one pod migrates anyway). So a rerun after a failure that left LiteLLM at 1 replica converges with the
plain actions: a set_image at 1 replica and a scale to the declared count, or a scale alone when the new
image is already rolled out.

Pure: no I/O, no clock (docs/design.md §10.1).
"""

from __future__ import annotations

from collections.abc import Sequence

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState
from litemaas_state.plan.model import Action, Replicas, ScaleAction, ScaleToOneUpgradeAction, SetImageAction
from litemaas_state.spec.model import DesiredState, UpgradeStrategy


def steps(action: ScaleToOneUpgradeAction, before: int) -> tuple[str, ...]:
    """The notes the plan shows for ``action``: the strategy's reason, its four steps, and what a failure
    leaves behind. ``before``: the live spec.replicas. Raises nothing."""
    where = ", ".join([*action.containers, *(f"init {n}" for n in action.init_containers)])
    back = (f"{action.replicas_after} (declared)" if action.replicas_declared
            else f"{action.replicas_after} (the live count; replicas is not declared)")
    health = ("3. check LiteLLM's /health/liveliness and /health/readiness"
              if action.component == names.Component.LITELLM else "3. (no health check for this Deployment)")
    return (
        "upgrade_strategy scale-to-one: every new pod runs the database migrations at start, so the new "
        "image is rolled out at one replica and one pod migrates",
        f"1. scale from {before} to 1 replica and wait",
        f"2. set the image on {where} and wait for the rollout (on_failure: {action.on_failure})",
        health,
        f"4. scale back to {back} and wait" if action.replicas_after != 1 else "4. stay at 1 replica (declared)",
        "if step 2, 3 or 4 fails, the Deployment is left at 1 replica: fix the cause and apply again",
    )


def apply_strategies(desired: DesiredState, live: LiveState,
                     actions: Sequence[Action]) -> tuple[list[Action], list[Diagnostic]]:
    """The plan's actions with each set_image of a ``scale-to-one`` Deployment running more than one replica
    replaced by a ``scale_to_one_upgrade`` and that Deployment's scale action removed.

    Args:
        desired: the state file (``upgrade_strategy``, ``replicas``, ``on_failure`` per Deployment).
        live: ``live.workloads`` (spec.replicas) and ``live.hpas``.
        actions: the planned actions (set_image already guarded by the backup, plan/backup.py ``guard``).
    Returns:
        (actions, diagnostics): a WARNING when an HPA targets the Deployment (it may scale it up again
        during the rollout, so the migrations could still race).
    Raises:
        Nothing.
    """
    out = list(actions)
    diags: list[Diagnostic] = []
    for component, spec in desired.deployments.items():
        if desired.upgrade_strategy_for(component) != UpgradeStrategy.SCALE_TO_ONE:
            continue
        name = desired.layout.deployment(component)
        image = next((a for a in out if isinstance(a, SetImageAction) and a.component == component), None)
        w = live.workloads.get(component)
        if image is None or w is None or w.replicas <= 1:
            continue
        scale = next((a for a in out if isinstance(a, ScaleAction) and a.component == component), None)
        upgrade = ScaleToOneUpgradeAction(
            id=image.id, address=image.address, component=component, deployment=name, image=image.image,
            main_container=image.main_container, containers=image.containers,
            init_containers=image.init_containers, on_failure=image.on_failure,
            replicas_after=spec.replicas if spec.replicas is not None else w.replicas,
            replicas_declared=spec.replicas is not None,
            reason=f"{image.reason}; upgrade_strategy scale-to-one and {w.replicas} replicas",
            requires=image.requires,
            preconditions=(*image.preconditions, Replicas(deployment=name, replicas=w.replicas)),
        )
        upgrade = upgrade.model_copy(update={"notes": steps(upgrade, w.replicas)})  # step 2 names the containers
        out = [upgrade if a is image else a for a in out if a is not scale]
        for hpa in live.hpas:
            if hpa.target_kind == "Deployment" and hpa.target_name == name:
                diags.append(Diagnostic(
                    severity=Severity.WARNING, address=image.address,
                    summary=f"horizontalpodautoscaler/{hpa.name} targets {image.address}: it may scale it up "
                            "again during the scale-to-one upgrade, and the migrations would race",
                    detail="Set its minReplicas and maxReplicas to 1 for the upgrade, or use upgrade_strategy: "
                           "rolling.",
                ))
    return out, diags
