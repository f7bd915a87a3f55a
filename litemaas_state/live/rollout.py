"""The rollout verdict of one Deployment: a pure function, exactly kubectl's algorithm.

Source: kubectl ``pkg/polymorphichelpers/rollout_status.go`` (DeploymentStatusViewer.Status) @dee3483,
transcribed in docs/design.md §9.10; gitops-engine's Deployment health borrows the same algorithm.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from litemaas_state.live.model import Workload


class RolloutPhase(StrEnum):
    WAITING = "waiting"
    COMPLETE = "complete"
    FAILED = "failed"


class RolloutStatus(NamedTuple):
    phase: RolloutPhase
    message: str


def rollout_status(w: Workload) -> RolloutStatus:
    """Judge one Deployment's rollout exactly as ``kubectl rollout status`` does.

    Args:
        w: the Deployment as observed (generation, observedGeneration, spec/status replica counts,
            conditions).
    Returns:
        RolloutStatus(phase, message): phase is waiting, complete or failed (ProgressDeadlineExceeded);
        message is kubectl's wording without the trailing newline.
    Raises:
        Nothing: failure is a value; apply turns "failed" into RolloutFailed.
    Source: kubectl rollout_status.go @dee3483; docs/design.md §9.10.
    """
    if w.generation <= w.observed_generation:
        for cond in w.conditions:
            if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                return RolloutStatus(RolloutPhase.FAILED, f'deployment "{w.name}" exceeded its progress deadline')
        if w.updated_replicas < w.replicas:
            return RolloutStatus(
                RolloutPhase.WAITING,
                f'Waiting for deployment "{w.name}" rollout to finish: {w.updated_replicas} out of '
                f"{w.replicas} new replicas have been updated...",
            )
        if w.status_replicas > w.updated_replicas:
            return RolloutStatus(
                RolloutPhase.WAITING,
                f'Waiting for deployment "{w.name}" rollout to finish: '
                f"{w.status_replicas - w.updated_replicas} old replicas are pending termination...",
            )
        if w.available_replicas < w.updated_replicas:
            return RolloutStatus(
                RolloutPhase.WAITING,
                f'Waiting for deployment "{w.name}" rollout to finish: {w.available_replicas} of '
                f"{w.updated_replicas} updated replicas are available...",
            )
        return RolloutStatus(RolloutPhase.COMPLETE, f'deployment "{w.name}" successfully rolled out')
    return RolloutStatus(RolloutPhase.WAITING, "Waiting for deployment spec update to be observed...")
