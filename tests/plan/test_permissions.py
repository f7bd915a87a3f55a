"""The Role a state file needs in the cluster (plan/permissions.py), feature by feature: each feature adds
exactly its own permissions; the e2e test (tests/e2e/test_incluster.py) holds them to the requests the
tool really makes."""

from __future__ import annotations

from typing import Any

import pytest

from litemaas_state.plan.permissions import Grant, PolicyRule, grants, role_rules, rules
from tests.plan.factories import desired

ALWAYS = {
    ("apps", "deployments", "get", ("litellm", "litellm-backend", "litellm-frontend", "litellm-redis")),
    ("autoscaling", "horizontalpodautoscalers", "list", ()),
    ("", "pods", "list", ()),
    ("", "secrets", "get", ("litemaas-db",)),
}
MASTER_KEY = ("", "secrets", "get", ("litellm-secret",))
LEASE = {
    ("coordination.k8s.io", "leases", "create", ()),
    ("coordination.k8s.io", "leases", "get", ("litemaas-state",)),
    ("coordination.k8s.io", "leases", "update", ("litemaas-state",)),
    ("coordination.k8s.io", "leases", "delete", ("litemaas-state",)),
}
IMAGE = "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0"
LITELLM = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"


def granted(**sections: Any) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(g.api_group, g.resource, g.verb, g.resource_names) for g in grants(desired(**sections))}


def patch(*names: str) -> tuple[str, str, str, tuple[str, ...]]:
    return ("apps", "deployments", "patch", names)


@pytest.mark.parametrize(("sections", "extra"), [
    ({}, set()),
    ({"admins": {"emails": ["a@example.com"]}}, set()),
    ({"key_retention": {"delete_expired": True}}, {MASTER_KEY}),
    ({"deployments": {"backend": {"image": IMAGE}}}, {patch("litellm-backend")}),
    ({"deployments": {"frontend": {"replicas": 2}}}, {patch("litellm-frontend")}),
    ({"deployments": {"redis": {"restart_at": "2026-01-01T00:00:00Z"}}}, {patch("litellm-redis")}),
    ({"deployments": {"backend": {"on_failure": "rollback"}}}, set()),  # nothing to roll out
    ({"deployments": {"litellm": {"image": LITELLM}}}, {patch("litellm"), MASTER_KEY}),  # health after rollout
    ({"deployments": {"litellm": {"replicas": 3}}}, {patch("litellm")}),  # scaling checks no health
    ({"on_failure": "rollback", "deployments": {"backend": {"image": IMAGE}}},
     {patch("litellm-backend"), ("apps", "replicasets", "list", ())}),
    ({"on_failure": "rollback", "deployments": {"backend": {"replicas": 1}}}, {patch("litellm-backend")}),
    ({"deployments": {"backend": {"image": IMAGE, "on_failure": "rollback"}}},
     {patch("litellm-backend"), ("apps", "replicasets", "list", ())}),
])
def test_each_feature_adds_exactly_its_permissions(sections: dict[str, Any], extra: set[Any]) -> None:
    assert granted(**sections) == ALWAYS | LEASE | extra


def test_plan_and_drift_alone_need_no_write() -> None:
    read_only = {(g.verb, g.resource) for g in grants(desired(key_retention={}), apply=False)}
    assert read_only == {("get", "deployments"), ("list", "horizontalpodautoscalers"), ("list", "pods"),
                         ("get", "secrets")}


def test_no_exec_portforward_routes_or_services_in_the_cluster() -> None:
    everything = desired(on_failure="rollback", deployments={"litellm": {"image": LITELLM, "replicas": 3}},
                         admins={"emails": ["a@example.com"]}, key_retention={})
    resources = {g.resource for g in grants(everything)}
    assert resources.isdisjoint({"pods/exec", "pods/portforward", "routes", "services", "endpointslices",
                                 "deployments/scale", "*"})
    assert all(g.why for g in grants(everything))


def test_rules_merge_verbs_and_names_and_keep_unrestricted_create_apart() -> None:
    found = rules(grants(desired(key_retention={}, deployments={"backend": {"image": IMAGE}})))
    secrets = [r for r in found if r.resource == "secrets"]
    assert secrets == [PolicyRule(api_group="", resource="secrets", verbs=("get",),
                                  resource_names=("litellm-secret", "litemaas-db"))]
    leases = [r.to_k8s() for r in found if r.resource == "leases"]
    assert leases == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "update", "delete"],
         "resourceNames": ["litemaas-state"]},
    ]
    assert role_rules(desired()) == rules(grants(desired()))


def test_a_named_and_an_unnamed_grant_of_one_verb_stay_two_rules() -> None:
    both = (Grant(api_group="", resource="pods", verb="get", why="a"),
            Grant(api_group="", resource="pods", verb="get", resource_names=("x",), why="b"))
    assert [r.resource_names for r in rules(both)] == [(), ("x",)]


def test_the_kustomize_layout_names_its_own_objects() -> None:
    state = desired(target={"namespace": "litemaas", "layout": "kustomize"}, key_retention={},
                    deployments={"backend": {"image": IMAGE}})
    found = {(g.api_group, g.resource, g.verb, g.resource_names) for g in grants(state)}
    assert ("apps", "deployments", "get", ("litellm", "backend", "frontend", "litellm-redis")) in found
    assert ("", "secrets", "get", ("backend-secret", "litellm-secret")) in found
    assert patch("backend") in found
    assert not any("litemaas-db" in g[3] or "litellm-backend" in g[3] for g in found)
