"""The state file `init --from-live` writes (render/init.py), from hand-made LiveStates: snapshots of the
YAML (syrupy), and the properties that matter more than its wording — it validates, it declares exactly
what was read, the planner finds nothing to do against the same observation, hostile world values stay
values, and the commented-out key_retention, uncommented, is the rhpds cleanup rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion

from litemaas_state import names
from litemaas_state.commands.init import _check, detect_layout, minimal_desired, own_deployments
from litemaas_state.errors import ConfigError, Forbidden, LitemaasStateError
from litemaas_state.live.model import (
    Condition,
    ConnectionPath,
    ContainerImage,
    DatabaseInfo,
    HorizontalPodAutoscaler,
    KeySource,
    LiteMaaSUser,
    LiveState,
    Part,
    PartStatus,
    PathKind,
    Source,
    VirtualKey,
    Workload,
)
from litemaas_state.live.observe import part_failed
from litemaas_state.names import Component, LayoutName
from litemaas_state.plan.keys import RULES, prune_rule
from litemaas_state.plan.planner import make_plan
from litemaas_state.render.init import RHPDS_CLEANUP, InitDocument, build_init, comment_text, render_init
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import KeyRetention
from tests.plan.factories import NOW

LITELLM = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
BACKEND = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
FRONTEND = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
REDIS = "registry.redhat.io/rhel9/redis-7:latest"


def workload(name: str, container: str, image: str, replicas: int = 1, *,
             inits: tuple[tuple[str, str], ...] = (), triggers: bool = False, waiting: bool = False) -> Workload:
    return Workload(
        name=name, uid=f"uid-{name}", resource_version="7", generation=4 if waiting else 3, observed_generation=3,
        replicas=replicas, status_replicas=replicas, updated_replicas=replicas, ready_replicas=replicas,
        available_replicas=replicas, revision=2, image_triggers=triggers,
        containers=(*(ContainerImage(name=n, image=i, init=True) for n, i in inits),
                    ContainerImage(name=container, image=image)),
        conditions=(Condition(type="Available", status="True"),),
    )


def rhpds_workloads() -> dict[Component, Workload]:
    return {
        Component.LITELLM: workload("litellm", "litellm", LITELLM, 3),
        Component.BACKEND: workload("litellm-backend", "backend", BACKEND, inits=(("run-migrations", BACKEND),)),
        Component.FRONTEND: workload("litellm-frontend", "frontend", FRONTEND, 3,
                                     inits=(("copy-custom-logos", FRONTEND),)),
        Component.REDIS: workload("litellm-redis", "redis", REDIS),
    }


def users() -> tuple[LiteMaaSUser, ...]:
    return (
        LiteMaaSUser(id=names.SYSTEM_USER_ID, email=names.SYSTEM_USER_EMAIL, roles=("admin",), is_active=False),
        LiteMaaSUser(id="u-1", email="Dana.Whitfield@Example.com", roles=("admin", "user")),
        LiteMaaSUser(id="u-2", email="sean.o'brien@example.com", roles=("user", "admin")),
        LiteMaaSUser(id="u-3", email="gone@example.com", roles=("admin", "user"), is_active=False),
        LiteMaaSUser(id="u-4", email="reader@example.com", roles=("admin-readonly", "user")),
        LiteMaaSUser(id="u-5", email="new.hire@example.com", roles=("user",)),
    )


def keys() -> tuple[VirtualKey, ...]:
    day = timedelta(days=1)
    return (
        VirtualKey(token_hash="1" * 64, alias="expired", user_id="u-2", created_at=NOW - 5 * day, expires=NOW - day),
        VirtualKey(token_hash="2" * 64, alias="workshop-old", user_id="u-5", created_at=NOW - 40 * day,
                   expires=NOW + day, duration="41d"),
        VirtualKey(token_hash="3" * 64, alias="workshop-new", user_id="u-5", created_at=NOW - 3 * day,
                   expires=NOW + day, duration="4d"),
        VirtualKey(token_hash="4" * 64, alias="forever", user_id="u-1", created_at=NOW - 400 * day),
        VirtualKey(token_hash="5" * 64, alias="ui", team_id=names.DASHBOARD_TEAM_ID, expires=NOW - day),
    )


def connections(db_pod: str = "litellm-postgres-0") -> tuple[ConnectionPath, ...]:
    return (
        ConnectionPath(source=Source.LITEMAAS_DB, kind=PathKind.KUBERNETES, host="litellm-postgres", port=5432,
                       pod=db_pod),
        ConnectionPath(source=Source.LITELLM_DB, kind=PathKind.KUBERNETES, host="litellm-postgres", port=5432,
                       pod=db_pod),
    )


def rhpds_live(**fields: object) -> LiveState:
    base: dict[str, object] = dict(
        observed_at=NOW, namespace="litellm-rhpds", layout=LayoutName.RHPDS, workloads=rhpds_workloads(),
        users=users(), keys=keys(), key_source=KeySource(origin="litellm-db", count=5),
        databases=(DatabaseInfo(role="litemaas", database="litemaas_db", host="litellm-postgres", port=5432),
                   DatabaseInfo(role="litellm", database="litellm_db", host="litellm-postgres", port=5432)),
        connections=connections(),
    )
    return LiveState(**{**base, **fields})  # type: ignore[arg-type]


def troubled_live() -> LiveState:
    """Kustomize; every reason to leave a value out, and users and keys unreadable."""
    return LiveState(
        observed_at=NOW, namespace="litemaas", layout=LayoutName.KUSTOMIZE,
        workloads={
            Component.LITELLM: workload("litellm", "litellm", LITELLM, 4, waiting=True),
            Component.BACKEND: workload("backend", "backend", "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0",
                                        inits=(("run-migrations", BACKEND),)),
            Component.REDIS: workload("litellm-redis", "redis", "redis", 2),  # no tag, and 2 replicas
        },
        missing=(Component.FRONTEND,),
        hpas=(HorizontalPodAutoscaler(name="litellm-hpa", target_kind="Deployment", target_name="litellm"),),
        parts=(part_failed(Part.USERS, Forbidden("create", "pods/portforward", "pods \"postgres-0\" is forbidden")),
               PartStatus(part=Part.KEYS, state="unconfigured", error="the LiteLLM master key is unknown")),
    )


def rendered(live: LiveState, **kw: object) -> tuple[InitDocument, str]:
    doc = build_init(live, layout_reason=str(kw.pop("layout_reason", "auto-detected")), **kw)  # type: ignore[arg-type]
    return doc, render_init(doc)


def assert_no_changes(text: str, live: LiveState) -> None:
    """The written file validates, and the planner (the real one) finds nothing to do or refuse against
    the observation it was written from."""
    desired = parse_state(text, "written.yaml")
    plan = make_plan(desired, live, now=live.observed_at, state_file="written.yaml", state_digest="0" * 64)
    assert plan.actions == (), plan.actions
    assert not plan.errored, [d.summary for d in plan.diagnostics]


def test_a_healthy_rhpds_deployment(snapshot: SnapshotAssertion) -> None:
    live = rhpds_live()
    doc, text = rendered(live, layout_reason="auto-detected: deployment/litellm-backend, deployment/litellm-frontend exist")
    assert text == snapshot
    assert doc.warnings == ()
    assert_no_changes(text, live)
    desired = parse_state(text, "x.yaml")
    assert {c: s.image for c, s in desired.deployments.items()} == {
        Component.LITELLM: LITELLM, Component.BACKEND: BACKEND, Component.FRONTEND: FRONTEND, Component.REDIS: REDIS}
    assert {c: s.replicas for c, s in desired.deployments.items()} == {
        Component.LITELLM: 3, Component.BACKEND: 1, Component.FRONTEND: 3, Component.REDIS: 1}
    # the planner's admins: active, not the system user, case-folded, sorted; not admin-readonly, not inactive
    assert desired.admins is not None and desired.admins.emails == ("dana.whitfield@example.com", "sean.o'brien@example.com")
    assert desired.admins.exclusive is False
    assert desired.target.layout == LayoutName.RHPDS and desired.key_retention is None
    assert desired.backup.enabled and desired.backup.before_image_change_of == (Component.LITELLM,)
    _check(text, doc)  # the command's own round-trip check agrees


def test_the_commented_out_key_retention_is_the_rhpds_rules_with_todays_counts() -> None:
    live = rhpds_live()
    doc, text = rendered(live)
    counts = {rule: sum(1 for k in keys() if prune_rule(k, RHPDS_CLEANUP, NOW) == rule) for rule in RULES}
    assert counts == {"expired": 1, "max_age": 1}  # the dashboard key is protected, the new workshop key kept
    assert doc.keys is not None and doc.keys.by_rule == counts and doc.keys.total == 5
    assert "expired keys: 1 today" in text and "created over 30 days ago: 1 today" in text
    assert "of its 5 virtual keys, 2 would be pruned today" in text
    block = [ln[2:] for ln in text.splitlines() if ln.startswith("# key_retention:") or ln.startswith("#   ")]
    uncommented = text + "\n".join(block) + "\n"
    desired = parse_state(uncommented, "x.yaml")
    assert desired.key_retention == RHPDS_CLEANUP
    assert RHPDS_CLEANUP == KeyRetention(delete_expired=True, expired_grace_days=0, max_age_days=30,
                                         max_age_applies_to="workshop")


def test_values_that_would_change_or_fail_the_first_plan_are_left_out(snapshot: SnapshotAssertion) -> None:
    live = troubled_live()
    doc, text = rendered(live, layout_reason="given with --layout", context="prod/api-example-com:6443/admin")
    assert text == snapshot
    assert "\n".join(doc.warnings) == snapshot
    desired = parse_state(text, "x.yaml")
    litellm, backend, redis = (desired.deployments.get(c) for c in (Component.LITELLM, Component.BACKEND,
                                                                      Component.REDIS))
    assert litellm is not None and litellm.image == LITELLM and litellm.replicas is None  # the HPA owns them
    assert backend is not None and backend.image is None and backend.replicas == 1  # init container lags
    assert redis is None  # neither its untagged image nor its 2 replicas
    assert desired.deployments.get(Component.FRONTEND) is None
    assert desired.admins is None and desired.target.context == "prod/api-example-com:6443/admin"
    assert desired.target.layout == LayoutName.KUSTOMIZE
    plan = make_plan(desired, live, now=NOW, state_file="x.yaml", state_digest="0" * 64)
    # the rollout in progress is real unfinished work; nothing else is planned
    assert [a.id for a in plan.actions] == ["images/litellm/rollout"]


def test_an_image_trigger_and_no_admin_leave_the_image_and_the_admins_out() -> None:
    wl = rhpds_workloads()
    wl[Component.FRONTEND] = workload("litellm-frontend", "frontend", FRONTEND, 3, triggers=True)
    live = rhpds_live(workloads=wl, users=(users()[0], users()[4]))
    doc, text = rendered(live)
    assert "image.openshift.io/triggers is set" in text
    assert "# admins:\n#   emails: []\n#   exclusive: false" in text
    assert any("no active user holds admin" in w for w in doc.warnings)
    assert_no_changes(text, live)
    assert parse_state(text, "x.yaml").admins is None


HOSTILE_EMAILS = (
    'quote"d@example.com',                      # a double quote
    "hash#not-a-comment@example.com",           # '#' would start a comment in a plain scalar
    "colon:@example.com",
    "back\\slash@example.com",
    "josé.ñandú@example.com",                   # printable non-ASCII stays readable
    "inject@example.com\nexclusive: true",      # a newline: the state file refuses it
    "bidi\u202eevil@example.com",               # a bidi override: refused
    "zero\u200bwidth@example.com",              # invisible: refused
    "nel\x85line@example.com",
    "ls\u2028x@example.com",
)


def test_hostile_world_values_stay_values() -> None:
    wl = rhpds_workloads()
    wl[Component.BACKEND] = workload("litellm-backend", "backend", "quay.io/a/b:1\n    replicas: 999  # x")
    wl[Component.FRONTEND] = workload("litellm-frontend", "frontend", "quay.io/a/b:1\u202e", 3)
    people = (*users(), *(LiteMaaSUser(id=f"h-{i}", email=e, roles=("admin",)) for i, e in enumerate(HOSTILE_EMAILS)))
    live = rhpds_live(workloads=wl, users=people,
                      databases=(DatabaseInfo(role="litemaas", database="db\nadmins: {emails: [x@y.z]}",
                                              host="h", port=5432),),
                      connections=connections(db_pod="pod\u2028# injected\r\x1b[2J\ufffe"))
    doc, text = rendered(live)
    # no character YAML or the state file refuses, anywhere in the text (comments included)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe]", text)
    assert "\r" not in text
    desired = parse_state(text, "x.yaml")  # valid, as `validate` reads it
    assert desired.admins is not None
    printable = sorted(e.casefold() for e in HOSTILE_EMAILS[:5])
    assert desired.admins.emails == tuple(sorted(["dana.whitfield@example.com", "sean.o'brien@example.com", *printable]))
    assert desired.admins.exclusive is False
    assert desired.deployments.get(Component.BACKEND) is not None
    assert desired.deployments.get(Component.BACKEND).image is None  # type: ignore[union-attr]
    assert desired.deployments.get(Component.BACKEND).replicas == 1  # type: ignore[union-attr]
    # nothing injected: the structure is exactly the expected keys
    data = yaml.safe_load(text)
    assert set(data) == {"apiVersion", "kind", "metadata", "target", "on_failure", "deployments", "backup", "admins"}
    assert set(data["admins"]) == {"emails", "exclusive"}
    # the refused ones are named, escaped, in comments and warnings
    assert "# left out: inject@example.com\\nexclusive: true: " in text
    assert any("bidi\\u202eevil@example.com" in comment_text(w) for w in doc.warnings)
    assert "josé.ñandú@example.com" in text
    assert_no_changes(text, live)


def test_comment_text_is_one_readable_line() -> None:
    assert comment_text("a\nb\r\u2028\x85\ufffe\ud800") == "a\\nb\\r\\u2028\\u0085\\ufffe\\ud800"
    assert len(comment_text("x" * 5000)) < 400


def test_two_admins_sharing_an_email_case_insensitively_are_left_out() -> None:
    people = (*users(), LiteMaaSUser(id="u-9", email="DANA.WHITFIELD@example.com", roles=("user",)))
    live = rhpds_live(users=people)
    doc, text = rendered(live)
    assert doc.admins is not None and doc.admins.emails == ("sean.o'brien@example.com",)
    assert "2 LiteMaaS users have this e-mail" in text
    assert_no_changes(text, live)


def test_the_round_trip_check_refuses_a_text_that_declares_something_else() -> None:
    live = rhpds_live()
    doc, text = rendered(live)
    with pytest.raises(LitemaasStateError, match="would not declare what was read"):
        _check(text.replace("replicas: 3", "replicas: 4", 1), doc)
    with pytest.raises(LitemaasStateError, match="would not validate"):
        _check(text.replace("kind: Environment", "kind: Environmnet"), doc)


@pytest.mark.parametrize(("present", "expected"), [
    ({"litellm", "litellm-backend", "litellm-frontend", "litellm-redis"}, LayoutName.RHPDS),
    ({"litellm", "backend", "frontend", "litellm-redis"}, LayoutName.KUSTOMIZE),
    ({"backend"}, LayoutName.KUSTOMIZE),
    ({"litellm-frontend"}, LayoutName.RHPDS),
])
def test_the_layout_is_the_one_whose_own_deployments_exist(present: set[str], expected: LayoutName) -> None:
    layout, reason = detect_layout(present.__contains__, "ns")
    assert layout == expected
    assert reason.startswith("auto-detected: deployment/")


def test_no_layout_or_both_layouts_name_what_was_looked_for() -> None:
    layout, looked_for = detect_layout({"litellm", "litellm-redis"}.__contains__, "ns")
    assert layout is None
    assert looked_for == ("rhpds (deployment/litellm-backend, deployment/litellm-frontend) or "
                          "kustomize (deployment/backend, deployment/frontend)")
    with pytest.raises(ConfigError) as err:
        detect_layout({"litellm-backend", "backend"}.__contains__, "ns")
    assert str(err.value) == ("namespace ns holds Deployments of two layouts, rhpds (deployment/litellm-backend) "
                              "and kustomize (deployment/backend): choose one with --layout rhpds|kustomize")
    assert own_deployments(LayoutName.RHPDS) == ("litellm-backend", "litellm-frontend")


def test_the_in_memory_state_reads_users_and_keys_and_refuses_a_bad_namespace() -> None:
    d = minimal_desired("litemaas", None, LayoutName.KUSTOMIZE)
    assert d.admins is not None and d.key_retention is not None and not d.key_retention.sync_litemaas
    assert d.deployments.items() == [] and not d.backup_may_be_needed()
    with pytest.raises(ConfigError, match=r"^--namespace 'Bad_NS': must be a DNS label"):
        minimal_desired("Bad_NS", None, LayoutName.RHPDS)


def test_a_value_holding_a_secret_in_any_case_is_left_out_unnamed() -> None:
    from litemaas_state import redact

    secret = "Ryxmuu3oLwemwfaje8vtos1J"
    with redact.scope():
        redact.register(secret, what="a database password")
        people = (*users(), LiteMaaSUser(id="u-9", email=f"{secret}@example.com", roles=("admin", "user")))
        work = rhpds_workloads()
        work[Component.FRONTEND] = workload("litellm-frontend", "frontend", f"quay.io/x/y:{secret.lower()}", 3)
        live = rhpds_live(users=people, workloads=work)
        _doc, text = rendered(live)
    assert secret.casefold() not in text.casefold()
    assert "(a value holding a secret)" in text and "it contains a secret value" in text
    assert "quay.io/x/y" not in text
    assert_no_changes(text, live)
