"""`litemaas-state apply FILE` / `apply --plan PLANFILE`: lock, plan (or load), confirm, check, execute.

* Confirmation as Terraform's (docs/design.md §9.5): only ``yes`` is accepted; ``--auto-approve`` skips it;
  without a terminal, one line is read from stdin (``echo yes | apply``); at end of input apply refuses. A saved plan is its own approval (§9.3).
* One apply at a time: the environment's Lease (apply/lock.py), taken before anything is read.
* Preconditions: with a saved plan, every action's preconditions are checked before the first action (a
  stale plan changes nothing) and each again just before its action; a fresh plan re-checks each action
  just before it runs.
* A failed step stops the run; the report says what was done and what was not; exit 1.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from litemaas_state.apply.executors import ApplyContext, build_executors
from litemaas_state.apply.kube import KubeWriter, RolloutWaiter
from litemaas_state.apply.lock import ApplyLock
from litemaas_state.apply.model import ActionStatus, ApplyEvent, EventKind
from litemaas_state.apply.preconditions import PreconditionChecker
from litemaas_state.apply.runner import apply_plan
from litemaas_state.commands.common import (
    Connections,
    ConnectOptions,
    Deps,
    Output,
    check_targets,
    connect,
    connect_namespace,
    error_text,
    observe_and_plan,
    read_state,
    state_from_text,
)
from litemaas_state.commands.planfile import read_plan
from litemaas_state.errors import ConfigError, ExitCode, LitemaasStateError
from litemaas_state.live.kube import KubeReader
from litemaas_state.plan import order
from litemaas_state.plan.compare import inconsistencies, uncovered
from litemaas_state.plan.kinds import spec
from litemaas_state.plan.model import Action, Plan
from litemaas_state.redact import scrub
from litemaas_state.render.document import build_document, resource_counts
from litemaas_state.render.escape import terminal
from litemaas_state.render.text import change_text, connection_lines, render_errors, render_text


@dataclass(frozen=True)
class ApplyOptions:
    state_file: Path | None
    plan_file: Path | None = None
    auto_approve: bool = False
    targets: tuple[str, ...] = ()
    rollout_timeout_s: float = 600.0
    poll_interval_s: float = 0.5
    connect: ConnectOptions = ConnectOptions()


def validate(opts: ApplyOptions) -> list[str]:
    """Every problem with the option combination (kubectl's Validate)."""
    problems = []
    if opts.state_file is None and opts.plan_file is None:
        problems.append("give a state file, or --plan PLANFILE (from `plan --out`)")
    if opts.state_file is not None and opts.plan_file is not None:
        problems.append("give either a state file or --plan PLANFILE, not both")
    if opts.plan_file is not None and opts.targets:
        problems.append("--target cannot be combined with --plan (the saved plan is applied exactly)")
    return problems


def run(opts: ApplyOptions, deps: Deps, confirm: Callable[[str], str | None]) -> ExitCode:
    """Apply. ``confirm(prompt)`` returns the user's answer, or None without a terminal."""
    problems = validate(opts)
    if problems:
        raise ConfigError("; ".join(problems))
    out = deps.output
    if opts.plan_file is not None:
        saved = read_plan(opts.plan_file)
        with connect_namespace(saved.namespace, saved.context, opts.connect, saved.layout) as conns:
            if saved.server and conns.kube.server.rstrip("/") != saved.server.rstrip("/"):
                raise ConfigError(f"the saved plan was made against {saved.server} (context {saved.context}); "
                                  f"this apply would talk to {conns.kube.server} (context {conns.kube.context}). "
                                  "Nothing was changed.")
            with ApplyLock(conns.kube, saved.environment) as lock:
                return _apply_saved(saved, conns, opts, out, deps.now(), lock)
    assert opts.state_file is not None
    state = read_state(opts.state_file)
    check_targets(state, opts.targets)
    with connect(state, opts.connect) as conns, ApplyLock(conns.kube, state.desired.metadata.name) as lock:
        _, plan = observe_and_plan(state, conns, deps.now(), opts.targets)
        doc = build_document(plan)
        out.echo(render_text(doc, color=out.color, errors=False), nl=False)
        if plan.errored:
            out.echo("\n" + render_errors(doc, color=out.color), nl=False, err=True)
            return ExitCode.ERROR
        if not plan.has_changes:
            return ExitCode.OK
        if not opts.auto_approve:
            answer = confirm("\nDo you want to perform these actions?\n  litemaas-state will perform the "
                             "actions described above.\n  Only 'yes' will be accepted to approve.\n\n"
                             "  Enter a value: ")
            if answer is None:
                out.echo("Error: no terminal to confirm on and no answer on stdin; pass --auto-approve to apply "
                         "without a prompt.", err=True)
                return ExitCode.ERROR
            if answer.strip() != "yes":
                out.echo("\nApply cancelled. Only 'yes' approves; pass --auto-approve to apply without a prompt.")
                return ExitCode.ERROR
        out.echo("")
        return _execute(plan, conns, opts, out, lock)


def _apply_saved(plan: Plan, conns: Connections, opts: ApplyOptions, out: Output, now: datetime,
                 lock: ApplyLock) -> ExitCode:
    if plan.errored:
        out.echo("Error: the saved plan has errors and cannot be applied.", err=True)
        return ExitCode.ERROR
    if not plan.has_changes:
        out.echo("No changes in the saved plan. Nothing to apply.")
        return ExitCode.OK
    broken = inconsistencies(plan)
    if broken:
        for s in broken:
            out.echo(f"Error: {s}", err=True)
        out.echo("\nThe saved plan is inconsistent (was it edited?): nothing was changed.", err=True)
        return ExitCode.ERROR
    out.echo(f"Applying saved plan for {plan.environment} (made {plan.created_at:%Y-%m-%d %H:%M:%S} UTC, "
             f"{len(plan.actions)} actions). Checking every precondition first...")
    checker = PreconditionChecker(KubeReader(conns.kube), conns.discovery)
    stale = []
    for action in plan.actions:
        try:
            checker.check(action)
        except LitemaasStateError as exc:
            stale.append(error_text(exc))
    if stale:
        for s in stale:
            out.echo(f"Error: {s}", err=True)
        out.echo("\nThe saved plan is stale: nothing was changed.", err=True)
        return ExitCode.ERROR
    problems = _still_asked_for(plan, conns, now)
    for line in connection_lines(conns.discovery.paths()):
        out.echo(line)
    if problems:
        for s in problems:
            out.echo(f"Error: {error_text(s)}", err=True)
        out.echo("\nThe saved plan is not what its state file asks for now: nothing was changed.", err=True)
        return ExitCode.ERROR
    out.echo("All preconditions hold, and a fresh plan of the embedded state file covers every action.\n")
    return _execute(plan, conns, opts, out, lock)


def _still_asked_for(saved: Plan, conns: Connections, now: datetime) -> list[str]:
    """Re-plan the state file embedded in the saved plan and list saved actions it does not cover."""
    if not saved.state_text:
        return ["the saved plan carries no state file (was it written by `plan --out`?)"]
    state = state_from_text(saved.state_text, Path(saved.state_file))
    if state.digest != saved.state_digest:
        return ["the embedded state file does not match the plan's state_digest (the plan file was edited)"]
    on_disk = _digest_on_disk(Path(saved.state_file))
    if on_disk is not None and on_disk != saved.state_digest:
        return [f"the state file {saved.state_file} differs from the copy this plan was made from (the state "
                "file changed since, or the plan's copy was edited): make a new plan"]
    if (state.desired.metadata.name, state.desired.target.namespace) != (saved.environment, saved.namespace):
        return ["the embedded state file names another environment or namespace than the plan"]
    live, fresh = observe_and_plan(state, conns, now, saved.targets)
    return uncovered(saved, fresh, live)


def _digest_on_disk(path: Path) -> str | None:
    """sha256 of the state file the plan names, as ``plan`` computed it; None when it is not readable from
    here (another working directory, another machine): the embedded copy is then all there is to check."""
    try:
        return hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()
    except (OSError, UnicodeDecodeError):
        return None


def _execute(plan: Plan, conns: Connections, opts: ApplyOptions, out: Output, lock: ApplyLock) -> ExitCode:
    writer = KubeWriter(conns.kube, RolloutWaiter(timeout_s=opts.rollout_timeout_s,
                                                  poll_interval_s=opts.poll_interval_s))
    ctx = ApplyContext()
    executors = build_executors(writer, conns.discovery, ctx)
    checker = PreconditionChecker(KubeReader(conns.kube), conns.discovery)
    by_id = {a.id: a for a in plan.actions}

    counted = CountedProgress(out)

    def report(ev: ApplyEvent) -> None:
        address, message = terminal(ev.address), error_text(ev.message)  # messages can quote the world
        if ev.kind in (EventKind.FINISHED, EventKind.FAILED):
            counted.stop()
        if ev.kind == EventKind.STARTED:
            out.echo(f"{address}: {_verb(by_id[ev.action_id])}... [{_started(by_id[ev.action_id], message)}]")
        elif ev.kind == EventKind.PROGRESS and ev.total is not None:
            counted.update(ev)  # keys pruned, or a rollout's replicas
        elif ev.kind == EventKind.PROGRESS:
            counted.stop()  # a line (a read failed, retrying) would tear a live bar
            out.echo(f"{address}: {message} [{ev.elapsed_s:.0f}s elapsed]")
        elif ev.kind == EventKind.FINISHED:
            out.echo(f"{address}: {message} after {ev.elapsed_s:.0f}s")
        elif ev.kind == EventKind.INFO:
            out.echo(f"{address}: {message}")
        elif ev.kind == EventKind.FAILED:
            out.echo(f"{address}: failed after {ev.elapsed_s:.0f}s", err=True)

    def check(action: Action) -> None:
        lock.ensure_held()
        checker.check(action)

    try:
        result = apply_plan(plan, executors, report, check=check)
    finally:
        counted.stop()
    done = [r for r in result.results if r.status == ActionStatus.SUCCEEDED]
    skipped = [r for r in result.results if r.status == ActionStatus.SKIPPED]
    if plan.targets:
        out.echo(f"\nWarning: applied with --target {', '.join(plan.targets)}: the rest of the state file was "
                 "NOT applied. Run plan without --target to see what is still pending.", err=True)
    counted_ids = [r.action_id for r in done] + [a for a in ctx.partial if a == result.failed_action]
    resources = _resources_done(by_id, counted_ids, ctx.counts)
    if result.ok:
        out.echo(f"\nApply complete! {resources} ({len(done)} action{'s' if len(done) != 1 else ''}).")
        return ExitCode.OK
    out.echo(f"\nError: {error_text(result.error or '')}", err=True)
    out.echo(f"\nApply stopped at {result.failed_action}. {resources} before it stopped.", err=True)
    out.echo("  Done:     " + (", ".join(r.action_id for r in done) or "nothing"), err=True)
    partial = ctx.partial.get(result.failed_action or "")
    if partial:
        out.echo(f"  Partly:   {result.failed_action} ({error_text(partial)})", err=True)
    out.echo("  Failed:   " + str(result.failed_action), err=True)
    out.echo("  Not done: " + (", ".join(r.action_id for r in skipped) or "nothing"), err=True)
    note = order.after_failure(plan.actions, [r.action_id for r in done], result.failed_action)
    if note:
        out.echo(f"\nNote: {note}", err=True)
    return ExitCode.INTERRUPTED if result.interrupted else ExitCode.ERROR


def live_display(stream: Any) -> bool:
    """Whether ``stream`` can show a live progress bar: a terminal that rich's ``Console`` calls interactive
    (rich/console.py ``is_interactive``: not ``TERM=dumb``; ``TTY_INTERACTIVE=0`` turns it off). FORCE_COLOR
    alone does not make one: a CI log gets plain lines, never redrawn bars."""
    if not getattr(stream, "isatty", lambda: False)():
        return False
    from rich.console import Console

    return Console(file=stream).is_interactive
def _resources_done(by_id: dict[str, Action], action_ids: list[str], counts: dict[str, tuple[int, int, int]]) -> str:
    """``Resources: 2 added, 33 changed, 111 destroyed``, counted as the plan's summary counts them
    (render/document.py ``resource_counts``), with what a counted action really did (keys deleted, rows
    revoked) in place of what was planned."""
    add = change = destroy = 0
    for action_id in action_ids:
        a, c, d = counts.get(action_id) or resource_counts(by_id[action_id])
        add, change, destroy = add + a, change + c, destroy + d
    return f"Resources: {add} added, {change} changed, {destroy} destroyed"


class CountedProgress:
    """Progress of a counted action on a terminal: a rich progress bar with done/total, a detail and the
    time elapsed; for keys pruned the detail is the rate, for a rollout (``ApplyEvent.rollout``) the bar
    counts new replicas available of those desired and the detail is kubectl's status message.
    Elsewhere (CI logs, pipes, ``TERM=dumb``): keys pruned give one plain line at most every ``EVERY_S``
    seconds, and the last one; a rollout gives each new status message with the seconds elapsed (the
    writer repeats it every 30 s while nothing changes, apply/kube.py)."""

    EVERY_S = 3.0

    def __init__(self, out: Output) -> None:
        self.out = out
        self.tty = live_display(out.out)
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def update(self, ev: ApplyEvent) -> None:
        assert ev.total is not None
        done = ev.done or 0
        if ev.rollout and not self.tty:
            self.out.echo(f"{terminal(ev.address)}: {error_text(ev.message)} [{ev.elapsed_s:.0f}s elapsed]")
            return
        if self.tty:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
                from rich.table import Column

                detail_column = Column(ratio=1, no_wrap=True, overflow="ellipsis")  # the detail gives way, not the bar
                self._bar = Progress(TextColumn("{task.description}", markup=False,
                                                table_column=Column(no_wrap=True)),
                                     BarColumn(bar_width=24), MofNCompleteColumn(),
                                     TextColumn("{task.fields[detail]}", markup=False, table_column=detail_column),
                                     TimeElapsedColumn(), console=Console(file=self.out.out), transient=True,
                                     expand=True)
                self._bar.start()
                self._task = self._bar.add_task(terminal(scrub(ev.address)), total=ev.total, detail="")
            if ev.rollout:
                detail = terminal(scrub(ev.message), 200)
            else:
                detail = ev.message.rsplit("(", 1)[-1].rstrip(")") if "(" in ev.message else ""
            self._bar.update(self._task, completed=done, total=ev.total, detail=detail)
            return
        now = time.monotonic()
        if done < ev.total and now - self._last < self.EVERY_S:
            return
        self._last = now
        self.out.echo(f"{terminal(ev.address)}: {error_text(ev.message)}")

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _started(action: Action, described: str) -> str:
    """What a starting action changes, formatted as the plan shows its changes (render/text.py); a backup
    keeps the runner's description (its files are listed as dumps)."""
    parts = [change_text(c.field, c.before, c.after) for c in action.changes if c.field != "files"]
    return "; ".join(parts) if parts and action.kind != "backup" else described


def _verb(action: Action) -> str:
    """The verb of the STARTED line, from the kind's registry entry (plan/kinds.py)."""
    return spec(action).apply_verb
