"""kubectl's rollout-status verdict, pinned message by message (docs/design.md §9.10)."""

from __future__ import annotations

import pytest

from litemaas_state.live.model import Condition, Workload
from litemaas_state.live.rollout import RolloutPhase, rollout_status


def w(**kw: object) -> Workload:
    base: dict[str, object] = dict(name="litellm", uid="u", resource_version="1", generation=2, observed_generation=2,
                                   replicas=3, status_replicas=3, updated_replicas=3, available_replicas=3)
    base.update(kw)
    return Workload.model_validate(base)


@pytest.mark.parametrize(
    ("kw", "phase", "message"),
    [
        (dict(observed_generation=1), RolloutPhase.WAITING, "Waiting for deployment spec update to be observed..."),
        (dict(updated_replicas=1, status_replicas=4), RolloutPhase.WAITING,
         'Waiting for deployment "litellm" rollout to finish: 1 out of 3 new replicas have been updated...'),
        (dict(status_replicas=4), RolloutPhase.WAITING,
         'Waiting for deployment "litellm" rollout to finish: 1 old replicas are pending termination...'),
        (dict(available_replicas=2), RolloutPhase.WAITING,
         'Waiting for deployment "litellm" rollout to finish: 2 of 3 updated replicas are available...'),
        ({}, RolloutPhase.COMPLETE, 'deployment "litellm" successfully rolled out'),
        (dict(updated_replicas=1, conditions=(Condition(type="Progressing", status="False",
                                                        reason="ProgressDeadlineExceeded"),)),
         RolloutPhase.FAILED, 'deployment "litellm" exceeded its progress deadline'),
        # the deadline is only believed once the spec is observed
        (dict(observed_generation=1, conditions=(Condition(type="Progressing", status="False",
                                                           reason="ProgressDeadlineExceeded"),)),
         RolloutPhase.WAITING, "Waiting for deployment spec update to be observed..."),
    ],
)
def test_rollout_status(kw: dict[str, object], phase: RolloutPhase, message: str) -> None:
    assert rollout_status(w(**kw)) == (phase, message)
