"""upgrade_strategy: scale-to-one (plan/upgrade.py): LiteLLM's image change made at one replica, behind the
backup gate, under --target and in saved plans; plain actions when LiteLLM already runs one replica."""

from __future__ import annotations

from typing import Any

import pytest

from litemaas_state.errors import Severity
from litemaas_state.live.model import ContainerImage, HorizontalPodAutoscaler, LiveState, Workload
from litemaas_state.plan.compare import inconsistencies, uncovered
from litemaas_state.plan.model import Plan, Replicas, RunningImage, ScaleToOneUpgradeAction
from litemaas_state.plan.planner import make_plan
from tests.plan.factories import ENV, NOW, desired, live
from tests.plan.test_backup import LITELLM_OWN, LITEMAAS, PG_DUMP_16

OLD = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"
BACKUP = f"backup/{ENV}"


def litellm(replicas: int = 3, image: str = OLD) -> Workload:
    return Workload(name="litellm", uid="u", resource_version="1", generation=1, observed_generation=1,
                    replicas=replicas, status_replicas=replicas, updated_replicas=replicas,
                    ready_replicas=replicas, available_replicas=replicas,
                    containers=(ContainerImage(name="litellm", image=image),))


def world(w: Workload, **kw: Any) -> LiveState:
    return live(workloads={"litellm": w}, databases=(LITEMAAS, LITELLM_OWN), pg_dump_version_num=PG_DUMP_16, **kw)


def state(**spec: Any) -> Any:
    return desired(deployments={"litellm": {"image": NEW, "upgrade_strategy": "scale-to-one", **spec}})


def plan(desired_state: Any, live_state: LiveState, targets: tuple[str, ...] = ()) -> Plan:
    return make_plan(desired_state, live_state, now=NOW, state_file="s.yaml", state_digest="d", targets=targets)


def kinds(p: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.id) for a in p.actions]


def test_more_than_one_replica_makes_one_upgrade_action_that_absorbs_the_scale() -> None:
    p = plan(state(replicas=5), world(litellm(3)))
    assert kinds(p) == [("backup", BACKUP), ("scale_to_one_upgrade", "images/litellm")]
    [_, up] = p.actions
    assert isinstance(up, ScaleToOneUpgradeAction)
    assert (up.replicas_after, up.replicas_declared, up.requires) == (5, True, (BACKUP,))
    assert set(up.preconditions) == {RunningImage(deployment="litellm", container="litellm", image=OLD),
                                     Replicas(deployment="litellm", replicas=3)}
    assert [(c.field, c.before, c.after) for c in up.changes] == [
        ("replicas_during_rollout", 3, 1), ("image", OLD, NEW), ("replicas", 3, 5)]
    assert "1. scale from 3 to 1 replica and wait" in up.notes
    assert "4. scale back to 5 (declared) and wait" in up.notes
    assert not p.errored and inconsistencies(p) == []


def test_undeclared_replicas_scale_back_to_the_live_count() -> None:
    [_, up] = plan(state(), world(litellm(4))).actions
    assert isinstance(up, ScaleToOneUpgradeAction)
    assert (up.replicas_after, up.replicas_declared) == (4, False)
    assert "4. scale back to 4 (the live count; replicas is not declared) and wait" in up.notes


def test_declared_one_replica_scales_down_first_and_stays() -> None:
    [_, up] = plan(state(replicas=1), world(litellm(3))).actions
    assert isinstance(up, ScaleToOneUpgradeAction) and up.replicas_after == 1
    assert "4. stay at 1 replica (declared)" in up.notes


@pytest.mark.parametrize("replicas", [0, 1])
def test_at_one_replica_or_none_it_is_just_the_image_change(replicas: int) -> None:
    assert kinds(plan(state(replicas=5), world(litellm(replicas)))) == [
        ("backup", BACKUP), ("set_image", "images/litellm"), ("scale", "scaling/litellm")]


def test_rolling_is_the_default_and_keeps_set_image_and_scale() -> None:
    p = plan(desired(deployments={"litellm": {"image": NEW, "replicas": 5}}), world(litellm(3)))
    assert kinds(p) == [("backup", BACKUP), ("set_image", "images/litellm"), ("scale", "scaling/litellm")]


def test_no_image_change_is_a_plain_scale() -> None:
    """A rerun after a failure that left LiteLLM at 1 replica with the new image rolled out: a scale."""
    assert kinds(plan(state(replicas=5), world(litellm(1, image=NEW)))) == [("scale", "scaling/litellm")]
    assert kinds(plan(state(replicas=5), world(litellm(5, image=NEW)))) == []


@pytest.mark.parametrize("target", ["images", "deployment/litellm", "images/litellm"])
def test_target_brings_the_backup_along(target: str) -> None:
    p = plan(state(replicas=5), world(litellm(3)), targets=(target,))
    assert kinds(p) == [("backup", BACKUP), ("scale_to_one_upgrade", "images/litellm")] and not p.errored


def test_target_scaling_does_not_take_the_absorbed_scale() -> None:
    assert kinds(plan(state(replicas=5), world(litellm(3)), targets=("scaling",))) == []


def test_a_saved_upgrade_is_covered_by_a_fresh_one_and_cannot_lose_its_gate() -> None:
    saved = plan(state(replicas=5), world(litellm(3)))
    assert uncovered(saved, saved) == []
    no_backup = saved.model_copy(update={"actions": saved.actions[1:]})
    assert any("requires backup/litellm-rhpds which is not in this plan" in m for m in uncovered(no_backup, saved))
    other = plan(state(replicas=4), world(litellm(3)))
    assert "images/litellm: would now set" in " ".join(uncovered(saved, other))
    rolling = plan(desired(deployments={"litellm": {"image": NEW, "replicas": 5}}), world(litellm(3)))
    assert "images/litellm: is now a set_image action" in uncovered(saved, rolling)


def test_a_saved_upgrade_without_its_replicas_precondition_is_inconsistent() -> None:
    saved = plan(state(replicas=5), world(litellm(3)))
    up = saved.actions[1]
    edited = up.model_copy(update={"preconditions": tuple(p for p in up.preconditions if not isinstance(p, Replicas))})
    problems = inconsistencies(saved.model_copy(update={"actions": (saved.actions[0], edited)}))
    assert problems == ["images/litellm: a scale-to-one upgrade needs a replicas precondition above 1, not None"]


def test_the_saved_plan_round_trips() -> None:
    saved = plan(state(replicas=5), world(litellm(3)))
    assert Plan.model_validate_json(saved.model_dump_json()) == saved


def test_an_hpa_on_litellm_is_a_warning() -> None:
    hpa = HorizontalPodAutoscaler(name="litellm", target_kind="Deployment", target_name="litellm")
    p = plan(state(), world(litellm(3), hpas=(hpa,)))
    assert any(d.severity == Severity.WARNING and "may scale it up again during the scale-to-one upgrade"
               in d.summary for d in p.diagnostics)
