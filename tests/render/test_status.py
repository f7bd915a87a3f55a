"""The status document (render/status.py): built from a hand-made LiveState by the planner's rules,
rendered from the model, snapshot-tested (syrupy) as text and as JSON."""

from __future__ import annotations

import json
from datetime import timedelta

from syrupy.assertion import SnapshotAssertion

from litemaas_state import names
from litemaas_state.errors import Forbidden
from litemaas_state.live.model import (
    Condition,
    ConnectionPath,
    ContainerImage,
    LiteLLMHealth,
    LiteMaaSUser,
    Part,
    PartState,
    PartStatus,
    PathKind,
    RedisStatus,
    Source,
    VirtualKey,
    Workload,
)
from litemaas_state.live.observe import part_failed
from litemaas_state.render.status import StatusDocument, build_status, render_status, status_errors
from tests.plan.factories import NOW, desired, live

REGISTRY = "registry.example.com:5000/litemaas/backend"


def workload(name: str, image: str, *, inits: tuple[tuple[str, str], ...] = (), failed: bool = False,
             main: str | None = None) -> Workload:
    return Workload(
        name=name, uid=f"uid-{name}", resource_version="7", generation=3, observed_generation=3, replicas=2,
        status_replicas=2, updated_replicas=2, ready_replicas=1 if failed else 2, available_replicas=1 if failed else 2,
        revision=4, containers=(*(ContainerImage(name=n, image=i, init=True) for n, i in inits),
                                ContainerImage(name=main or name, image=image)),
        conditions=(Condition(type="Progressing", status="False", reason="ProgressDeadlineExceeded"),) if failed else (),
    )


def users() -> tuple[LiteMaaSUser, ...]:
    return (
        LiteMaaSUser(id=names.SYSTEM_USER_ID, email=names.SYSTEM_USER_EMAIL, roles=("admin",), is_active=False),
        # a copy of the system user's e-mail under another id is still the system user
        LiteMaaSUser(id="u-sys2", email="System@LiteMaaS.internal", roles=("admin",)),
        LiteMaaSUser(id="u-1", email="Dana.Whitfield@Example.com", roles=("admin", "user")),
        LiteMaaSUser(id="u-2", email="sean.o'brien@example.com", roles=("admin", "user")),
        LiteMaaSUser(id="u-3", email="gone@example.com", roles=("admin", "user"), is_active=False),
        LiteMaaSUser(id="u-4", email="reader@example.com", roles=("admin-readonly", "user")),
    )


def keys() -> tuple[VirtualKey, ...]:
    return (
        VirtualKey(token_hash="a" * 64, alias="workshop-1", user_id="u-2", created_at=NOW - timedelta(days=50),
                   expires=NOW - timedelta(days=10)),
        VirtualKey(token_hash="b" * 64, alias="kept", user_id="u-1", created_at=NOW - timedelta(days=50),
                   expires=NOW - timedelta(days=10)),  # protected below
        VirtualKey(token_hash="c" * 64, alias="forever", user_id="u-2", created_at=NOW - timedelta(days=3)),
    )


def healthy_doc() -> StatusDocument:
    state = desired(key_retention={"delete_expired": True, "protect_users": ["dana.whitfield@example.com"]})
    observed = live(
        workloads={
            "litellm": workload("litellm", "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0"),
            "backend": workload("litellm-backend", f"{REGISTRY}:0.5.0", main="backend",
                                        inits=(("run-migrations", f"{REGISTRY}:0.4.0"),
                                               ("wait-db", "registry.example.com:5000/busybox:1.36"))),
            "frontend": workload("litellm-frontend", "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0",
                                         main="frontend", failed=True),
        },
        missing=("redis",),
        users=users(), keys=keys(),
        redis=RedisStatus(pods_ready=1, pods_total=1, ping=True, detail="PONG"),
        litellm_health=LiteLLMHealth(alive=True, ready=True, detail="liveliness HTTP 200, readiness HTTP 200 db=connected"),
        active_subscriptions=12,
        connections=(ConnectionPath(source=Source.LITEMAAS_DB, kind=PathKind.KUBERNETES, host="litellm-postgres",
                                    port=5432, pod="litellm-postgres-0"),),
        parts=tuple(PartStatus(part=p) for p in Part),
    )
    return build_status(state, observed)


def test_admins_follow_the_planners_rule() -> None:
    # not the system user (by id or by e-mail), not an inactive admin, not admin-readonly
    assert healthy_doc().admins == ("Dana.Whitfield@Example.com", "sean.o'brien@example.com")


def test_an_init_container_is_matched_by_repository_with_a_registry_port() -> None:
    # split(":")[0] would give "registry.example.com" for every image of that registry, busybox included
    assert healthy_doc().deployments["litellm-backend"].lagging_init == ("run-migrations",)


def test_keys_are_counted_by_the_planners_prune_rule() -> None:
    k = healthy_doc().keys
    assert k is not None and (k.total, k.expired, k.never_expire, k.prunable) == (3, 2, 1, 1)


def test_status_text(snapshot: SnapshotAssertion) -> None:
    doc = healthy_doc()
    assert not doc.healthy and doc.failed_rollouts == ("litellm-frontend",)
    assert render_status(doc) + "\n--- stderr ---\n" + "\n".join(status_errors(doc)) == snapshot


def test_status_json(snapshot: SnapshotAssertion) -> None:
    doc = healthy_doc()
    text = doc.model_dump_json(indent=2)
    assert StatusDocument.model_validate_json(text) == doc
    assert json.loads(text)["format_version"] == "2.0"
    assert text == snapshot


def test_failed_parts_are_reported_and_world_text_escaped(snapshot: SnapshotAssertion) -> None:
    denied = Forbidden("create", "pods/portforward", "create pods/portforward is forbidden (HTTP 403): no\x1b[31m")
    from litemaas_state.errors import ConfigError, ObserveError

    observed = live(
        workloads={"litellm": workload("litellm", "quay.io/x/litellm:1\x1b]0;pwned\x07")},
        missing=("backend", "frontend", "redis"),
        parts=(PartStatus(part=Part.DEPLOYMENTS), part_failed(Part.REDIS, denied),
               part_failed(Part.USERS, ConfigError("cannot find the LiteMaaS database")),
               part_failed(Part.KEYS, ObserveError("litellm-api", "GET /key/list: HTTP 500", status=500)),
               part_failed(Part.LITELLM_HEALTH, ConfigError("the LiteLLM URL is unknown"))),
    )
    doc = build_status(desired(), observed)
    states = {p.part: (p.state, p.status) for p in doc.parts}
    assert states[Part.REDIS] == (PartState.FORBIDDEN, 403) and states[Part.KEYS] == (PartState.FAILED, 500)
    assert states[Part.USERS] == (PartState.UNCONFIGURED, None)
    text = render_status(doc)
    assert "\x1b" not in text and "\x07" not in text
    assert doc.healthy and text == snapshot
