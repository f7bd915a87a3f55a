"""apply(): run a plan's actions in order; stop at the first failure and report what was and was not done.

One straight pass over the ordered actions (gitops-engine's sync, without the controller shape; docs/design.md
§5). An action runs only when every action it ``requires`` has succeeded earlier in this apply (a backup
succeeds only when every dump was verified: apply/backup.py raises otherwise); else it fails without
being started. Before each action its preconditions are re-checked when a checker is given (saved plans; docs/design.md
§10.5). A failure stops later phases; Terraform never rolls back a failed apply and neither do we,
except the per-Deployment ``on_failure: rollback`` of a failed rollout (apply/kube.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from litemaas_state.apply.model import (
    ActionResult,
    ActionStatus,
    ApplyEvent,
    ApplyResult,
    EventKind,
    Reporter,
)
from litemaas_state.errors import LitemaasStateError
from litemaas_state.plan.kinds import spec
from litemaas_state.plan.model import Action, Plan


class Executor(Protocol):
    def __call__(self, action: Action, report: Reporter) -> str: ...


PreconditionCheck = Callable[[Action], None]


def apply_plan(
    plan: Plan,
    executors: Mapping[str, Executor],
    report: Reporter,
    *,
    check: PreconditionCheck | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    """Execute ``plan.actions`` in order.

    Args:
        plan: an applyable plan (``plan.applyable``).
        executors: action kind → callable(action, report) returning a one-line outcome message.
        report: receives ApplyEvents (started/progress/finished/failed).
        check: re-checks one action's preconditions just before it runs; raises PreconditionFailed.
        clock: monotonic seconds (injected for tests).
    Returns:
        ApplyResult with one ActionResult per action (later ones ``skipped`` after a failure).
    Raises:
        Nothing for failures of our own (they are in the result); programming errors propagate.
    """
    results: list[ActionResult] = []
    succeeded: set[str] = set()
    failed: str | None = None
    error: str | None = None
    interrupted = False
    for action in plan.actions:
        if failed is not None:
            results.append(ActionResult(action_id=action.id, address=action.address, status=ActionStatus.SKIPPED,
                                        message="not run: an earlier action failed"))
            continue
        unmet = [r for r in action.requires if r not in succeeded]
        if unmet:  # a saved plan missing a requirement is refused before apply; never start one anyway
            failed = action.id
            error = (f"{action.id} was not started: it requires {', '.join(unmet)}, which has not succeeded in "
                     "this apply")
            report(ApplyEvent(kind=EventKind.FAILED, action_id=action.id, address=action.address, message=error))
            results.append(ActionResult(action_id=action.id, address=action.address, status=ActionStatus.FAILED,
                                        message=error))
            continue
        start = clock()
        report(ApplyEvent(kind=EventKind.STARTED, action_id=action.id, address=action.address,
                          message=_describe(action)))
        try:
            if check is not None:
                check(action)
            executor = executors.get(action.kind)
            if executor is None:
                raise LitemaasStateError(f"no executor for action kind {action.kind!r}")
            message = executor(action, report)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM (cli.py turns it into this): stop, and say what was done
            failed, error = action.id, "interrupted (SIGINT/SIGTERM) while this action ran; it may be half done"
            interrupted = True
            _ended(report, results, action, ActionStatus.FAILED, error, clock() - start)
            continue
        except Exception as exc:  # noqa: BLE001 - ours or not, stop here and report what was done
            message = str(exc) if isinstance(exc, LitemaasStateError) else \
                f"unexpected error: {type(exc).__name__}: {exc}"
            failed, error = action.id, message
            _ended(report, results, action, ActionStatus.FAILED, message, clock() - start)
            continue
        succeeded.add(action.id)
        _ended(report, results, action, ActionStatus.SUCCEEDED, message, clock() - start)
    return ApplyResult(results=tuple(results), failed_action=failed, error=error, interrupted=interrupted)


def _ended(report: Reporter, results: list[ActionResult], action: Action, status: ActionStatus, message: str,
           took: float) -> None:
    """Report a started action's FINISHED (succeeded) or FAILED event and record its result (``took``: seconds)."""
    kind = EventKind.FINISHED if status == ActionStatus.SUCCEEDED else EventKind.FAILED
    report(ApplyEvent(kind=kind, action_id=action.id, address=action.address, message=message, elapsed_s=took))
    results.append(ActionResult(action_id=action.id, address=action.address, status=status, message=message,
                                duration_s=took))


def _show(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value)


def _describe(action: Action) -> str:
    """The STARTED line: each change (files are summed up by the kind's ``started``, plan/kinds.py)."""
    parts = [f"{c.field}: {_show(c.before)} -> {_show(c.after)}" for c in action.changes if c.field != "files"]
    parts += spec(action).started(action)
    return "; ".join(parts) if parts else action.kind
