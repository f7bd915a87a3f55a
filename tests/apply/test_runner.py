"""apply/runner.py runs an action only when every action it requires succeeded earlier in the same apply.

The executors here are the runner's injected seam (action kind → callable): they record what ran, and the
backup one fails like apply/backup.py does when a dump does not verify.
"""

from __future__ import annotations

from litemaas_state.apply.model import ActionStatus, ApplyEvent, Reporter
from litemaas_state.apply.runner import apply_plan
from litemaas_state.errors import BackupFailed
from litemaas_state.plan.model import Action, BackupAction, BackupTarget, Plan, SetImageAction
from tests.plan.factories import NOW

BACKUP = BackupAction(id="backup/e", address="backup/e", directory="b", keep=1,
                      targets=(BackupTarget(role="litellm", database="litellm", file="b/x.sql.gz"),))
IMAGE = SetImageAction(id="images/litellm", address="deployment/litellm", component="litellm", deployment="litellm",
                       image="i:2", main_container="litellm", containers=("litellm",), requires=("backup/e",))


def run(*actions: Action, backup_ok: bool = True) -> tuple[list[str], list[tuple[str, ActionStatus, str]]]:
    ran: list[str] = []

    def backup(action: Action, report: Reporter) -> str:
        ran.append(action.id)
        if not backup_ok:
            raise BackupFailed("b/x.sql.gz: pg_dump's completion trailer is missing (the dump is incomplete)")
        return "wrote 1 verified dumps"

    def set_image(action: Action, report: Reporter) -> str:
        ran.append(action.id)
        return "rolled out"

    plan = Plan(environment="e", namespace="e", created_at=NOW, state_file="s", state_digest="d", actions=actions)
    events: list[ApplyEvent] = []
    result = apply_plan(plan, {"backup": backup, "set_image": set_image}, events.append)
    started = [e.action_id for e in events if e.kind == "started"]
    assert started == ran  # an action whose requirement did not succeed is not even reported as started
    return ran, [(r.action_id, r.status, r.message) for r in result.results]


def test_the_image_change_runs_after_its_verified_backup() -> None:
    ran, results = run(BACKUP, IMAGE)
    assert ran == ["backup/e", "images/litellm"]
    assert [s for _, s, _ in results] == [ActionStatus.SUCCEEDED, ActionStatus.SUCCEEDED]


def test_an_unverified_backup_stops_its_image_change() -> None:
    ran, results = run(BACKUP, IMAGE, backup_ok=False)
    assert ran == ["backup/e"]
    assert [s for _, s, _ in results] == [ActionStatus.FAILED, ActionStatus.SKIPPED]


def test_an_image_change_whose_backup_is_not_in_the_plan_is_not_started() -> None:
    ran, results = run(IMAGE)
    assert ran == []
    assert results == [("images/litellm", ActionStatus.FAILED, "images/litellm was not started: it requires "
                        "backup/e, which has not succeeded in this apply")]


def test_an_interrupt_stops_the_run_and_is_told_apart_from_a_failure() -> None:
    def backup(action: Action, report: Reporter) -> str:
        raise KeyboardInterrupt  # SIGINT, or SIGTERM as cli.py turns it

    plan = Plan(environment="e", namespace="e", created_at=NOW, state_file="s", state_digest="d",
                actions=(BACKUP, IMAGE))
    result = apply_plan(plan, {"backup": backup}, lambda e: None)
    assert result.interrupted and result.failed_action == "backup/e"
    assert [r.status for r in result.results] == [ActionStatus.FAILED, ActionStatus.SKIPPED]
    failed = apply_plan(plan, {"backup": lambda a, r: (_ for _ in ()).throw(BackupFailed("x"))}, lambda e: None)
    assert not failed.interrupted and failed.failed_action == "backup/e"
