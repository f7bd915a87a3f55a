"""Rules whose removal the rest of the fast suite did not notice (each test here was checked by hand: it fails
when the rule it names is deleted from the planner).

* an unknown ``--target`` is an error, a known address with nothing to do is not (plan/planner.py);
* a saved restart or backup is covered only by a fresh one doing the same (plan/compare.py, through
  ``uncovered`` on two real plans of the planner);
* an inactive admin does not keep LiteMaaS administrable (plan/admins.py);
* a rollout in progress is a warning when the state file does not declare its image, and a wait when it
  does (plan/checks.py, plan/deployments.py).
"""

from __future__ import annotations

from typing import Any

from litemaas_state.errors import Severity
from litemaas_state.live.model import ContainerImage, DatabaseInfo, LiteMaaSUser, LiveState, Workload
from litemaas_state.plan.admins import plan_admins
from litemaas_state.plan.checks import check_deployments
from litemaas_state.plan.compare import uncovered
from litemaas_state.plan.model import Plan
from litemaas_state.plan.planner import make_plan
from litemaas_state.spec.model import DesiredState

from .factories import DAY, ENV, NOW, desired, live

OLD = "quay.io/org/litellm:1.81.0"
NEW = "quay.io/org/litellm:1.82.0"
LITEMAAS_DB = DatabaseInfo(role="litemaas", database="litemaas_db", host="litellm-postgres", port=5432,
                           server_version_num=160004)
LITELLM_DB = DatabaseInfo(role="litellm", database="litellm_db", host="litellm-postgres", port=5432,
                          server_version_num=160004)


def workload(name: str = "litellm", image: str = OLD, **kw: Any) -> Workload:
    base: dict[str, Any] = dict(
        name=name, uid=f"uid-{name}", resource_version="1", generation=1, observed_generation=1, replicas=3,
        status_replicas=3, updated_replicas=3, ready_replicas=3, available_replicas=3,
        containers=(ContainerImage(name=name, image=image),),
    )
    base.update(kw)
    return Workload.model_validate(base)


def rolling(name: str = "litellm", image: str = NEW) -> Workload:
    """Mid-rollout: the template holds ``image``, one of three pods updated (kubectl: "1 out of 3 new
    replicas have been updated")."""
    return workload(name, image, generation=2, observed_generation=2, updated_replicas=1, status_replicas=4)


def make(state: DesiredState, world: LiveState, *targets: str, now: Any = NOW) -> Plan:
    return make_plan(state, world, now=now, state_file="s.yaml", state_digest="d", targets=targets)


def errors(plan: Plan) -> list[str]:
    return [d.summary for d in plan.diagnostics if d.severity == Severity.ERROR]


# --- --target (plan/planner.py) ------------------------------------------------------------------


def test_an_unknown_target_is_an_error_naming_it() -> None:
    state = desired(deployments={"litellm": {"replicas": 5}})
    world = live(workloads={"litellm": workload()})
    plan = make(state, world, "nonsense")
    assert plan.errored and plan.actions == ()
    assert errors(plan) == ["--target 'nonsense' matches no phase, address or action"]


def test_a_target_the_state_file_manages_is_not_an_error_even_with_nothing_to_do() -> None:
    state = desired(deployments={"litellm": {"replicas": 3}, "frontend": {"replicas": 2}})
    world = live(workloads={"litellm": workload(), "frontend": workload("litellm-frontend", replicas=3,
                                                                                 status_replicas=3)})
    for target in ("deployment/litellm", "deployment/litellm-*", "scaling"):
        plan = make(state, world, target)
        assert errors(plan) == [], target
    assert [a.address for a in make(state, world, "deployment/litellm-frontend").actions] == [
        "deployment/litellm-frontend"]
    assert errors(make(state, world, "deployment/litellm-backend")) == [
        "--target 'deployment/litellm-backend' matches no phase, address or action"]


# --- saved restart and backup coverage (plan/compare.py) -----------------------------------------


def test_a_saved_restart_is_covered_only_by_the_same_restart() -> None:
    world = live(workloads={"frontend": workload("litellm-frontend")})
    saved = make(desired(deployments={"frontend": {"restart_at": "2026-11-01T00:00:00Z"}}), world)
    assert [a.kind for a in saved.actions] == ["restart"]
    assert uncovered(saved, make(desired(deployments={"frontend": {"restart_at": "2026-11-01T00:00:00Z"}}),
                                 world)) == []
    later = make(desired(deployments={"frontend": {"restart_at": "2026-11-02T00:00:00Z"}}), world)
    assert uncovered(saved, later) == [
        "images/frontend/restart: would now restart at 2026-11-02T00:00:00Z"]


def test_a_saved_backup_is_covered_only_by_a_backup_of_the_same_databases() -> None:
    state = desired(deployments={"litellm": {"image": NEW}})
    separate = live(workloads={"litellm": workload()}, databases=(LITEMAAS_DB, LITELLM_DB),
                    pg_dump_version_num=160004)
    saved = make(state, separate)
    assert [a.kind for a in saved.actions] == ["backup", "set_image"]
    # a day later the file names differ (they carry the time) but the same databases are dumped: covered
    assert uncovered(saved, make(state, separate, now=NOW + DAY)) == []
    # the world now shares one database: the saved plan's two dumps are not what a fresh plan would take
    shared = separate.model_copy(update={"databases": (LITEMAAS_DB, LITELLM_DB.model_copy(
        update={"database": "litemaas_db"}))})
    assert uncovered(saved, make(state, shared)) == [f"backup/{ENV}: would now dump other databases"]


# --- inactive admins (plan/admins.py) --------------------------------------------------------------


def user(uid: str, email: str, *roles: str, active: bool = True) -> LiteMaaSUser:
    return LiteMaaSUser(id=uid, email=email, username=email.split("@")[0], roles=roles, is_active=active)


def test_an_inactive_admin_does_not_keep_litemaas_administrable() -> None:
    # exclusive: bob (active, not listed) loses admin; alice keeps it but cannot log in
    users = (user("u-alice", "alice@example.com", "admin", "user", active=False),
             user("u-bob", "bob@example.com", "admin", "user"))
    actions, diags = plan_admins(desired(admins={"emails": ["alice@example.com"], "exclusive": True}),
                                 live(users=users))
    assert [(a.kind, a.user_id) for a in actions] == [("demote_admin", "u-bob")]
    assert [(d.severity, d.summary) for d in diags if d.severity == Severity.ERROR] == [
        (Severity.ERROR, "this plan would leave LiteMaaS with no admin")]


def test_an_inactive_admin_alone_is_warned_about() -> None:
    users = (user("u-alice", "alice@example.com", "admin", "user", active=False),)
    _, diags = plan_admins(desired(admins={"emails": ["alice@example.com"]}), live(users=users))
    assert (Severity.WARNING, "LiteMaaS has no admin, before or after this plan") in [
        (d.severity, d.summary) for d in diags]
    # the same user, active: no warning at all
    _, diags = plan_admins(desired(admins={"emails": ["alice@example.com"]}),
                           live(users=(user("u-alice", "alice@example.com", "admin", "user"),)))
    assert diags == []


# --- a rollout in progress (plan/checks.py, plan/deployments.py) -----------------------------------


def test_a_rollout_in_progress_of_an_undeclared_image_is_a_warning() -> None:
    state = desired(deployments={"litellm": {"replicas": 3}})
    diags = check_deployments(state, live(workloads={"litellm": rolling()}), planned=())
    assert [(d.severity, d.address, d.summary) for d in diags] == [
        (Severity.WARNING, "deployment/litellm",
         "a rollout is in progress: Waiting for deployment \"litellm\" rollout to finish: 1 out of 3 new "
         "replicas have been updated...")]
    # finished: nothing to say
    assert check_deployments(state, live(workloads={"litellm": workload(image=NEW)}), planned=()) == []


def test_a_rollout_in_progress_of_the_declared_image_is_waited_for_not_warned_about() -> None:
    state = desired(deployments={"litellm": {"image": NEW}})
    world = live(workloads={"litellm": rolling()})
    plan = make(state, world)
    assert check_deployments(state, world, planned=plan.actions) == []
    assert [(a.kind, a.id) for a in plan.actions] == [("wait_rollout", "images/litellm/rollout")]
    assert not plan.errored
    # a paused one makes no progress: not an action to wait for
    paused = live(workloads={"litellm": rolling().model_copy(update={"paused": True})})
    assert [a.kind for a in make(state, paused).actions] == []
