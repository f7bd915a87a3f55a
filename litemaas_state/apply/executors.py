"""The executor table: action kind → the function that carries it out (style.md §6.4 #3)."""

from __future__ import annotations

from litemaas_state.apply.kube import KubeWriter
from litemaas_state.apply.model import ApplyEvent, EventKind, Reporter
from litemaas_state.apply.runner import Executor
from litemaas_state.errors import RolloutFailed
from litemaas_state.plan.model import Action, RestartAction, ScaleAction, SetImageAction


def build_executors(kube: KubeWriter) -> dict[str, Executor]:
    """Executors for the Deployment actions: set_image, restart, scale."""

    def rollout_or_rollback(action: SetImageAction | RestartAction, report: Reporter) -> None:
        try:
            kube.wait_rollout(action.deployment, action.address, action.id, report)
        except RolloutFailed as exc:
            if action.on_failure != "rollback":
                raise
            report(ApplyEvent(kind=EventKind.INFO, action_id=action.id, address=action.address,
                              message="rollout failed; rolling back (on_failure: rollback)"))
            revision = kube.rollback(action.deployment)
            kube.wait_rollout(action.deployment, action.address, action.id, report)
            raise RolloutFailed(f"{exc}; rolled back to revision {revision}") from None

    def set_image(action: Action, report: Reporter) -> str:
        assert isinstance(action, SetImageAction)
        kube.set_image(action.deployment, action.image, action.containers, action.init_containers)
        rollout_or_rollback(action, report)
        return f"rolled out {action.image}"

    def restart(action: Action, report: Reporter) -> str:
        assert isinstance(action, RestartAction)
        kube.restart(action.deployment, action.restarted_at)
        rollout_or_rollback(action, report)
        return "restarted"

    def scale(action: Action, report: Reporter) -> str:
        assert isinstance(action, ScaleAction)
        kube.scale(action.deployment, action.replicas)
        w = kube.wait_rollout(action.deployment, action.address, action.id, report)
        return f"scaled to {action.replicas} ({w.available_replicas} available)"

    return {"set_image": set_image, "restart": restart, "scale": scale}
