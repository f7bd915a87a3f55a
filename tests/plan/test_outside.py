"""Objects changed outside litemaas-state: the live managed fields of a Deployment against the record the
last apply wrote in its annotation (plan/outside.py), from raw Deployments as the API server sends them."""

from __future__ import annotations

import copy
from typing import Any

from litemaas_state import names
from litemaas_state.errors import Severity
from litemaas_state.live.kube import workload_from_raw
from litemaas_state.live.model import HorizontalPodAutoscaler
from litemaas_state.plan.outside import CHANGED_OUTSIDE, SUMMARY, changed_outside
from litemaas_state.plan.planner import make_plan
from tests.plan.factories import NOW, desired, live

OLD = "ghcr.io/berriai/litellm:main-v1.81.0"
NEW = "ghcr.io/berriai/litellm:main-v1.81.3"


def raw_deployment(image: str = OLD, env: dict[str, str] | None = None, replicas: int = 2,
                   restarted_at: str | None = None) -> dict[str, Any]:
    env = {"LITELLM_LOG": "INFO"} if env is None else env
    tmpl_meta = {"annotations": {names.RESTARTED_AT_ANNOTATION: restarted_at}} if restarted_at else {}
    return {
        "metadata": {"name": "litellm", "uid": "u1", "resourceVersion": "5", "generation": 3, "annotations": {}},
        "spec": {"replicas": replicas, "template": {"metadata": tmpl_meta, "spec": {
            "initContainers": [{"name": "init-db", "image": image}],
            "containers": [{"name": "litellm", "image": image, "env": [
                *({"name": k, "value": v} for k, v in env.items()),
                {"name": "LITELLM_MASTER_KEY", "valueFrom": {"secretKeyRef": {"name": "litellm-secret",
                                                                             "key": "LITELLM_MASTER_KEY"}}},
            ]}],
        }}},
        "status": {"observedGeneration": 3},
    }


def recorded(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with the annotation apply writes: its own managed fields."""
    out = copy.deepcopy(raw)
    out["metadata"]["annotations"][names.LAST_APPLIED_ANNOTATION] = workload_from_raw(raw).managed_fields().to_annotation()
    return out


def with_template_of(record_from: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(now)
    out["metadata"]["annotations"] = recorded(record_from)["metadata"]["annotations"]
    return out


def notes(raw: dict[str, Any], **fields: Any) -> list[str]:
    diags = changed_outside(live(workloads={"litellm": workload_from_raw(raw)}, **fields))
    assert all(d.severity == Severity.NOTE and d.code == CHANGED_OUTSIDE and d.summary == SUMMARY for d in diags)
    return [line.strip() for d in diags for line in d.detail.splitlines()[1:-1]]


def test_no_note_when_the_live_fields_are_what_apply_recorded() -> None:
    assert notes(recorded(raw_deployment())) == []


def test_no_note_without_a_record() -> None:
    assert notes(raw_deployment(image=NEW)) == []


def test_set_image_set_env_scale_and_restart_are_each_listed() -> None:
    after = raw_deployment(image=NEW, env={"LITELLM_LOG": "DEBUG", "EXTRA": "1"}, replicas=4,
                           restarted_at="2026-11-30T08:00:00Z")
    assert notes(with_template_of(raw_deployment(), after)) == [
        "env EXTRA of container litellm set (values are not shown)",
        "env LITELLM_LOG of container litellm changed (values are not shown)",
        f"image of container init-db: {OLD} -> {NEW}",
        f"image of container litellm: {OLD} -> {NEW}",
        "replicas: 2 -> 4",
        "restartedAt: None -> 2026-11-30T08:00:00Z (a rollout restart)",
    ]


def test_env_values_never_appear() -> None:
    after = raw_deployment(env={"LITELLM_LOG": "s3cr3t-value"})
    [d] = changed_outside(live(workloads={"litellm": workload_from_raw(with_template_of(raw_deployment(), after))}))
    assert "s3cr3t-value" not in d.model_dump_json()
    assert "s3cr3t-value" not in recorded(after)["metadata"]["annotations"][names.LAST_APPLIED_ANNOTATION]


def test_a_sidecar_added_by_hand_and_a_removed_variable() -> None:
    after = raw_deployment(env={})
    after["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox:1.36"})
    assert notes(with_template_of(raw_deployment(), after)) == [
        "container debug added (image busybox:1.36)",
        "env LITELLM_LOG of container litellm removed (values are not shown)",
    ]


def test_replicas_an_hpa_owns_are_not_a_change_outside() -> None:
    hpa = HorizontalPodAutoscaler(name="litellm", target_kind="Deployment", target_name="litellm")
    raw = with_template_of(raw_deployment(), raw_deployment(replicas=5))
    assert notes(raw, hpas=(hpa,)) == []
    assert notes(raw) == ["replicas: 2 -> 5"]


def test_an_edited_record_is_a_note_not_a_crash() -> None:
    raw = raw_deployment()
    raw["metadata"]["annotations"][names.LAST_APPLIED_ANNOTATION] = '{"images": "not a map"'
    assert notes(raw) == [f"the annotation {names.LAST_APPLIED_ANNOTATION} was edited and cannot be read"]


def test_the_planner_reports_it() -> None:
    raw = with_template_of(raw_deployment(), raw_deployment(image=NEW))
    plan = make_plan(desired(deployments={"litellm": {"image": OLD}}), live(workloads={"litellm": workload_from_raw(raw)}),
                     now=NOW, state_file="s.yaml", state_digest="0" * 64)
    [note] = [d for d in plan.diagnostics if d.code == CHANGED_OUTSIDE]
    assert note.address == "deployment/litellm"
    assert [a.id for a in plan.actions if a.address == "deployment/litellm"]  # and sets the image back
