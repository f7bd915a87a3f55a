"""The order apply runs a plan in: a domain decision, declared here and nowhere else.

Phases run in ``PHASE_ORDER`` (plan/model.py): backup → images → scaling → admins → keys, the fixed order
the state file's users asked for. The pre-upgrade ``pg_dump`` therefore runs before any image changes, so
a backup that fails stops apply with every Deployment untouched. Inside the images phase, the runbook's
upgrade order (the rhpds day-2 runbook, "Upgrading": backend and frontend images, then LiteLLM;
rhpds/rhpds.litemaas's former ``scripts/upgrade-litemaas-v0.2.1.sh`` did the same):

1. the images of ``litellm-backend`` then ``litellm-frontend``. The LiteMaaS backend is LiteLLM's client
   and carries the compatibility code for LiteLLM API changes (rh-aiservices-bu/litemaas PR #90, "LiteLLM
   v1.81.0 upgrade with backward-compatible API handling"), so the new backend works with the old and
   the new LiteLLM.
2. the image of ``litellm`` (it migrates its database at start; the backup guards it), then
   ``litellm-redis`` (not in the runbook; last). A rollout of the declared template left unfinished
   (``wait_rollout``, e.g. after a killed apply) takes its Deployment's place in this order, as does an
   image change made at one replica (``scale_to_one_upgrade``, plan/upgrade.py).
3. rolling restarts in the runbook's "Restart all LiteMaaS components (in order)": backend, litellm,
   frontend (redis last).

Scaling, admins and keys follow by address, then id (gitops-engine ``syncTasks.Less``): nothing inside
them depends on order. Consequence of 1–2: when apply stops at LiteLLM's rollout, the new backend runs with
the previous LiteLLM, a combination it supports; ``after_failure`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from litemaas_state.names import Component
from litemaas_state.plan.model import (
    PHASE_ORDER,
    Action,
    ActionId,
    RestartAction,
    ScaleToOneUpgradeAction,
    SetImageAction,
    WaitRolloutAction,
)

#: The kinds that take a Deployment's place in ``IMAGE_ORDER`` (an image change, made at one replica or
#: not, or an unfinished rollout).
IMAGE_KINDS = (SetImageAction, ScaleToOneUpgradeAction, WaitRolloutAction)

#: Image changes (and unfinished rollouts) inside the images phase, in this order.
IMAGE_ORDER: tuple[Component, ...] = (Component.BACKEND, Component.FRONTEND, Component.LITELLM, Component.REDIS)
#: Rolling restarts, after every image change, in this order (the runbook's restart order).
RESTART_ORDER: tuple[Component, ...] = (Component.BACKEND, Component.LITELLM, Component.FRONTEND, Component.REDIS)
#: Deployments whose new image works with the previous LiteLLM (LiteLLM's clients; PR #90 above).
LITELLM_CLIENTS: tuple[Component, ...] = (Component.BACKEND, Component.FRONTEND)


def _index(order: Sequence[Component], component: Component) -> int:
    return order.index(component) if component in order else len(order)


def _rank(action: Action) -> tuple[int, int, int, str, str]:
    phase = PHASE_ORDER.index(action.phase)
    if isinstance(action, IMAGE_KINDS):
        return phase, 0, _index(IMAGE_ORDER, action.component), action.address, action.id
    if isinstance(action, RestartAction):
        return phase, 1, _index(RESTART_ORDER, action.component), action.address, action.id
    return phase, 2, 0, action.address, action.id


def sort_actions(actions: Iterable[Action]) -> list[Action]:
    """The actions in apply order (module docstring): by phase, then (images phase) image changes in
    ``IMAGE_ORDER`` and restarts in ``RESTART_ORDER``, then by address and id. Deterministic."""
    return sorted(actions, key=_rank)


def describe_order() -> str:
    """One sentence for the plan: the images phase's order and why (built from the tuples above)."""
    clients = ", ".join(c.value for c in LITELLM_CLIENTS)
    rest = ", ".join(c.value for c in IMAGE_ORDER if c not in LITELLM_CLIENTS)
    restarts = ", ".join(c.value for c in RESTART_ORDER)
    return (f"order (the runbook's): images of {clients} first (LiteLLM's clients, which support the old and "
            f"the new LiteLLM API, rh-aiservices-bu/litemaas#90), then {rest}; restarts {restarts}")


def after_failure(actions: Sequence[Action], succeeded: Iterable[ActionId], failed: ActionId | None) -> str | None:
    """The sentence an apply report adds when it stopped after LiteLLM's clients were upgraded.

    Args:
        actions: the plan's actions; succeeded: ids that succeeded in this apply; failed: the id that
            stopped it.
    Returns:
        None unless the failed action is LiteLLM's image change / rollout and an image of
        ``LITELLM_CLIENTS`` was changed in this apply; else which Deployments now run their new image with
        the previous LiteLLM, and that this is supported.
    """
    by_id = {a.id: a for a in actions}
    stopped = by_id.get(failed or "")
    if not (isinstance(stopped, IMAGE_KINDS) and stopped.component == Component.LITELLM):
        return None
    done = set(succeeded)
    clients = [a.deployment for a in actions if a.id in done and isinstance(a, IMAGE_KINDS)
               and a.component in LITELLM_CLIENTS]
    if not clients:
        return None
    one = len(clients) == 1
    return (f"{' and '.join(clients)} now run{'s its new image' if one else ' their new images'} with the previous "
            "LiteLLM, whose old ReplicaSet keeps serving: a combination the LiteMaaS backend supports (it "
            "carries the compatibility code for LiteLLM API changes, rh-aiservices-bu/litemaas#90). Fix "
            "the LiteLLM step and apply again; the backend and frontend need not be rolled back.")
