"""Deployment rules: image changes follow same-repository init containers, scaling, restarts, and the
platform traps shown in the plan (docs/design.md §9.14, §9.18 item 9)."""

from __future__ import annotations

from typing import Any

import pytest

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import Condition, ContainerImage, HorizontalPodAutoscaler, LiveState, Workload
from litemaas_state.plan.checks import ROLLOUT_FAILED, check_deployments
from litemaas_state.plan.deployments import plan_images, plan_restarts, plan_scaling, plan_unfinished_rollouts
from litemaas_state.plan.model import RunningImage, SetImageAction
from litemaas_state.spec.model import DesiredState
from tests.plan.factories import desired, live

FRONTEND_OLD = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
FRONTEND_NEW = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"


def frontend(**kw: Any) -> Workload:
    base: dict[str, Any] = dict(
        name="litellm-frontend", uid="u1", resource_version="7", generation=1, observed_generation=1, replicas=3,
        status_replicas=3, updated_replicas=3, ready_replicas=3, available_replicas=3,
        containers=(ContainerImage(name="copy-custom-logos", image=FRONTEND_OLD, init=True),
                    ContainerImage(name="wait-for-backend", image="busybox:1.36", init=True),
                    ContainerImage(name="frontend", image=FRONTEND_OLD)),
    )
    base.update(kw)
    return Workload.model_validate(base)


def state(**spec: Any) -> Any:
    return desired(deployments={"frontend": spec})


def test_image_change_follows_the_init_container_with_the_same_repository() -> None:
    actions, diags = plan_images(state(image=FRONTEND_NEW), live(workloads={"frontend": frontend()}))
    assert diags == []
    [a] = actions
    assert isinstance(a, SetImageAction)
    assert a.containers == ("frontend",) and a.init_containers == ("copy-custom-logos",)
    assert {(p.container, p.init) for p in a.preconditions if isinstance(p, RunningImage)} == {
        ("frontend", False), ("copy-custom-logos", True)}


def test_a_stale_init_container_alone_is_still_fixed() -> None:
    w = frontend(containers=(ContainerImage(name="copy-custom-logos", image=FRONTEND_OLD, init=True),
                             ContainerImage(name="frontend", image=FRONTEND_NEW)))
    [a], _ = plan_images(state(image=FRONTEND_NEW), live(workloads={"frontend": w}))
    assert a.init_containers == ("copy-custom-logos",) and a.containers == ()


def test_no_change_no_action_and_missing_deployment_is_an_error() -> None:
    w = frontend(containers=(ContainerImage(name="frontend", image=FRONTEND_NEW),))
    assert plan_images(state(image=FRONTEND_NEW), live(workloads={"frontend": w})) == ([], [])
    actions, [d] = plan_images(state(image=FRONTEND_NEW), live())
    assert actions == [] and d.severity == Severity.ERROR and "does not exist" in d.summary


def test_scaling() -> None:
    [a], _ = plan_scaling(state(replicas=5), live(workloads={"frontend": frontend()}))
    assert (a.changes[0].before, a.changes[0].after, a.replicas) == (3, 5, 5)
    assert plan_scaling(state(replicas=3), live(workloads={"frontend": frontend()})) == ([], [])


@pytest.mark.parametrize(
    ("live_annotation", "declared", "planned"),
    [
        (None, "2026-11-29T10:00:00Z", True),
        ("2026-11-29T09:00:00Z", "2026-11-29T10:00:00Z", True),
        ("2026-11-29T10:00:00Z", "2026-11-29T10:00:00Z", False),
        ("2026-11-29T11:30:00Z", "2026-11-29T10:00:00Z", False),  # a later restart by hand is not drift
        (None, "2026-11-29T10:04:00Z", True),  # within the clock-skew allowance
        (None, "2099-01-01T00:00:00Z", False),  # in the future: a plan error (checks.py), never an action
        (None, "9999-12-31T23:59:59Z", False),
    ],
)
def test_restart_at(live_annotation: str | None, declared: str, planned: bool) -> None:
    w = frontend(restarted_at=live_annotation)
    actions = plan_restarts(state(restart_at=declared), live(workloads={"frontend": w}))
    assert bool(actions) == planned


def checks_of(d: DesiredState, state: LiveState) -> list[Diagnostic]:
    """check_deployments with the actions the planner's Deployment rules take (it consumes them)."""
    images, _ = plan_images(d, state)
    restarts = plan_restarts(d, state)
    planned = [*images, *restarts, *plan_unfinished_rollouts(d, state, [*images, *restarts])]
    return check_deployments(d, state, planned=planned)


def _summaries(diags: list[Any]) -> list[tuple[str, str]]:
    return [(d.severity.value, d.summary) for d in diags]


def test_platform_traps_are_warnings() -> None:
    w = frontend(image_triggers=True, paused=True, revision_history_limit=0)
    hpa = HorizontalPodAutoscaler(name="frontend-hpa", target_kind="Deployment", target_name="litellm-frontend")
    d = desired(on_failure="rollback", deployments={"frontend": {"image": FRONTEND_NEW, "replicas": 4}})
    found = _summaries(checks_of(d, live(workloads={"frontend": w}, hpas=(hpa,))))
    texts = " | ".join(s for _, s in found)
    assert [s for sev, s in found if sev == "error"] == [
        "the Deployment is paused: this plan's template change would never roll out"]
    assert "HorizontalPodAutoscaler frontend-hpa" in texts
    assert "image.openshift.io/triggers" in texts
    assert "revisionHistoryLimit is 0" in texts
    # paused with nothing to roll out is only a warning
    same = desired(deployments={"frontend": {"image": FRONTEND_OLD}})
    assert _summaries(checks_of(same, live(workloads={"frontend": frontend(paused=True)}))) == [
        ("warning", "the Deployment is paused")]


def test_backend_above_one_replica_warns() -> None:
    d = desired(deployments={"backend": {"replicas": 2}})
    [(sev, summary)] = _summaries(checks_of(d, live()))
    assert sev == "warning" and "OAuth" in summary


def test_failed_rollout_is_an_error_unless_this_plan_replaces_the_image() -> None:
    failed = frontend(generation=2, observed_generation=2, updated_replicas=1,
                      containers=(ContainerImage(name="frontend", image=FRONTEND_NEW + "-broken"),),
                      conditions=(Condition(type="Progressing", status="False", reason="ProgressDeadlineExceeded"),))
    [d] = checks_of(state(image=FRONTEND_NEW + "-broken"), live(workloads={"frontend": failed}))
    assert d.severity == Severity.ERROR and d.code == ROLLOUT_FAILED and "kubectl rollout undo" in d.detail
    [d] = checks_of(state(image=FRONTEND_NEW), live(workloads={"frontend": failed}))
    assert d.severity == Severity.WARNING and "replaces its image" in d.summary


def test_restart_at_with_fractional_seconds_settles() -> None:
    d = state(restart_at="2026-11-29T10:00:00.5Z")
    [a] = plan_restarts(d, live(workloads={"frontend": frontend()}))
    assert a.restarted_at == "2026-11-29T10:00:00Z"
    applied = frontend(restarted_at=a.restarted_at)
    assert plan_restarts(d, live(workloads={"frontend": applied})) == []


def test_checks_read_the_planned_actions_instead_of_deciding_again() -> None:
    """Whether an image changes is the planner's decision: with no action planned, a paused Deployment
    whose declared image differs is only "paused" (checks do not compare images a second time)."""
    d = desired(deployments={"frontend": {"image": FRONTEND_NEW}})
    state = live(workloads={"frontend": frontend(paused=True)})
    assert _summaries(check_deployments(d, state, planned=[])) == [("warning", "the Deployment is paused")]
    assert [s for sev, s in _summaries(checks_of(d, state)) if sev == "error"] == [
        "the Deployment is paused: this plan's template change would never roll out"]

