"""Apply order (plan/order.py), typed requirements (backup gates the LiteLLM image) and unfinished rollouts.

Expectations: the runbook upgrades the backend and frontend, then takes the backup and upgrades LiteLLM,
and restarts backend, litellm, frontend; Terraform's -target brings dependencies along and nothing else;
kubectl rollout status says whether a rollout has finished.
"""

from __future__ import annotations

from typing import Any

from litemaas_state import names
from litemaas_state.errors import Severity
from litemaas_state.live.model import Condition, ContainerImage, DatabaseInfo, Workload
from litemaas_state.plan.compare import inconsistencies, uncovered
from litemaas_state.plan.model import Plan, WaitRolloutAction
from litemaas_state.plan.order import after_failure, sort_actions
from litemaas_state.plan.planner import make_plan

from .factories import ENV, NOW, desired, live

DB = DatabaseInfo(role="litemaas", database="litemaas_db", host="pg", port=5432, server_version_num=160004)
DB2 = DB.model_copy(update={"role": "litellm", "database": "litellm"})
MAIN = {"litellm": "litellm", "litellm-backend": "backend", "litellm-frontend": "frontend"}  # Deployment → main container
BACKUP = f"backup/{ENV}"


def workload(name: str, image: str, **fields: Any) -> Workload:
    values: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "resource_version": "1", "generation": 1,
                              "observed_generation": 1, "replicas": 1, "updated_replicas": 1, "status_replicas": 1,
                              "ready_replicas": 1, "available_replicas": 1,
                              "containers": (ContainerImage(name=MAIN[name], image=image),)}
    values.update(fields)
    return Workload(**values)


def world(**workloads: Workload) -> Any:
    return live(workloads={names.layout().component(w.name): w for w in workloads.values()}, databases=(DB, DB2), pg_dump_version_num=160004)


def upgrade_all(**sections: Any) -> tuple[Any, Any]:
    state = desired(deployments={
        "litellm": {"image": "quay.io/o/litellm:2", "restart_at": "2026-11-01T00:00:00Z", "replicas": 2},
        "backend": {"image": "quay.io/o/backend:2", "restart_at": "2026-11-01T00:00:00Z"},
        "frontend": {"image": "quay.io/o/frontend:2", "restart_at": "2026-11-01T00:00:00Z"},
    }, **sections)
    return state, world(a=workload("litellm", "quay.io/o/litellm:1"),
                        b=workload("litellm-backend", "quay.io/o/backend:1"),
                        c=workload("litellm-frontend", "quay.io/o/frontend:1"))


def plan_of(state: Any, w: Any, targets: tuple[str, ...] = ()) -> Plan:
    return make_plan(state, w, now=NOW, state_file="s.yaml", state_digest="d", targets=targets)


def test_backup_first_then_images_in_the_runbook_order_backend_frontend_litellm_then_restarts() -> None:
    plan = plan_of(*upgrade_all())
    assert [a.id for a in plan.actions] == [
        BACKUP, "images/backend", "images/frontend", "images/litellm",
        "images/backend/restart", "images/litellm/restart", "images/frontend/restart",
        "scaling/litellm",
    ]
    image = next(a for a in plan.actions if a.id == "images/litellm")
    assert image.requires == (BACKUP,)
    assert all(a.requires == () for a in plan.actions if a.id != "images/litellm")
    assert sort_actions(reversed(plan.actions)) == list(plan.actions)


def test_the_backup_runs_before_the_first_image_it_guards() -> None:
    plan = plan_of(*upgrade_all(backup={"before_image_change_of": ["litellm", "backend"]}))
    assert [a.id for a in plan.actions][:4] == [BACKUP, "images/backend", "images/frontend",
                                                "images/litellm"]


def test_targeting_an_image_brings_its_backup_and_scaling_takes_none() -> None:
    state, w = upgrade_all()
    for target in ("images", "deployment/litellm", "images/litellm"):
        ids = [a.id for a in plan_of(state, w, (target,)).actions]
        assert BACKUP in ids and ids.index(BACKUP) < ids.index("images/litellm"), target
    scaling = plan_of(state, w, ("scaling",))
    assert [a.id for a in scaling.actions] == ["scaling/litellm"]
    assert [a.id for a in plan_of(state, w, ("scaling/litellm", "images/frontend")).actions] == [
        "images/frontend", "scaling/litellm"]
    assert [a.id for a in plan_of(state, w, ("backup",)).actions] == [BACKUP]


def test_a_saved_plan_without_its_backup_is_refused() -> None:
    state, w = upgrade_all()
    fresh = plan_of(state, w)
    dropped = fresh.model_copy(update={"actions": tuple(a for a in fresh.actions if a.kind != "backup")})
    assert inconsistencies(dropped) == [
        f"deployment/litellm image change requires {BACKUP} which is not in this plan"]
    # removing the requirement too does not help: a fresh plan still requires it
    unguarded = dropped.model_copy(update={"actions": tuple(
        a.model_copy(update={"requires": ()}) for a in dropped.actions)})
    assert inconsistencies(unguarded) == []
    assert uncovered(unguarded, fresh) == [
        f"images/litellm: a plan of the state file requires {BACKUP} before it; the saved action does not"]
    # the backup moved after its dependent, or LiteLLM moved before the backend: the order was edited
    moved = list(fresh.actions)
    moved.insert(3, moved.pop(0))
    assert f"deployment/litellm image change requires {BACKUP}, which comes after it in this plan" in \
        inconsistencies(fresh.model_copy(update={"actions": tuple(moved)}))
    swapped = [fresh.actions[0], fresh.actions[3], *fresh.actions[1:3], *fresh.actions[4:]]
    assert any("not in the apply order" in p for p in inconsistencies(fresh.model_copy(
        update={"actions": tuple(swapped)})))
    assert uncovered(fresh, fresh) == []


def test_after_a_failed_litellm_step_the_report_names_the_new_clients_with_the_old_litellm() -> None:
    plan = plan_of(*upgrade_all())
    done = [BACKUP, "images/backend", "images/frontend"]
    note = after_failure(plan.actions, done, "images/litellm")
    assert note is not None and note.startswith("litellm-backend and litellm-frontend now run their new images "
                                                "with the previous LiteLLM")
    assert "supports" in note
    assert after_failure(plan.actions, done[1:], "images/litellm") == note
    assert after_failure(plan.actions, [], "images/backend") is None
    assert after_failure(plan.actions, [], BACKUP) is None


def _rolling(image: str, **fields: Any) -> Workload:
    values: dict[str, Any] = {"replicas": 3, "updated_replicas": 1, "status_replicas": 4, "available_replicas": 3,
                              "generation": 2, "observed_generation": 2}
    values.update(fields)
    return workload("litellm", image, **values)


def test_an_unfinished_rollout_of_the_declared_image_is_planned_as_a_wait() -> None:
    state = desired(deployments={"litellm": {"image": "quay.io/o/litellm:2-broken"}})
    plan = plan_of(state, world(a=_rolling("quay.io/o/litellm:2-broken")))
    assert plan.applyable
    (wait,) = plan.actions
    assert isinstance(wait, WaitRolloutAction)
    assert (wait.id, wait.address, wait.image) == ("images/litellm/rollout", "deployment/litellm",
                                                   "quay.io/o/litellm:2-broken")
    assert wait.changes[0].after == "complete" and "1 out of 3 new replicas" in wait.changes[0].before
    assert not [d for d in plan.diagnostics if "in progress" in d.summary]
    assert inconsistencies(plan) == [] and uncovered(plan, plan) == []
    assert uncovered(plan, plan.model_copy(update={"actions": ()})) == []  # it finished since: nothing to refuse
    # a rollout of an image the state file does not declare stays a warning; a finished one is in sync
    other = plan_of(desired(deployments={"litellm": {"replicas": 3}}), world(a=_rolling("quay.io/o/litellm:9")))
    assert other.actions == () and [d.severity for d in other.diagnostics] == [Severity.WARNING]
    done = plan_of(state, world(a=workload("litellm", "quay.io/o/litellm:2-broken")))
    assert done.actions == ()
    # once it failed (ProgressDeadlineExceeded) the plan is an error, not a wait
    failed = _rolling("quay.io/o/litellm:2-broken", conditions=(
        Condition(type="Progressing", status="False", reason="ProgressDeadlineExceeded"),))
    refused = plan_of(state, world(a=failed))
    assert refused.errored and refused.actions == ()
    # a paused Deployment is not waited for (plan/checks.py reports it)
    assert plan_of(state, world(a=_rolling("quay.io/o/litellm:2-broken", paused=True))).actions == ()


def test_a_wait_keeps_its_deployments_place_in_the_order() -> None:
    state = desired(deployments={"litellm": {"image": "quay.io/o/litellm:2"},
                                 "frontend": {"image": "quay.io/o/frontend:2"}})
    plan = plan_of(state, world(a=_rolling("quay.io/o/litellm:2"), c=workload("litellm-frontend", "quay.io/o/frontend:1")))
    assert [a.id for a in plan.actions] == ["images/frontend", "images/litellm/rollout"]
