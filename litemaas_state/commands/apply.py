"""`litemaas-state apply FILE`: plan, confirm (`yes`), execute in order, report.

Confirmation as Terraform's (anchors.md §1.10): only ``yes`` is accepted; ``--auto-approve`` skips it;
without a terminal and without --auto-approve, apply refuses. A failed step stops the run; the report
says what was done and what was not; exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from litemaas_state.apply.executors import build_executors
from litemaas_state.apply.kube import KubeWriter, RolloutWaiter
from litemaas_state.apply.model import ActionStatus, ApplyEvent, EventKind
from litemaas_state.apply.runner import apply_plan
from litemaas_state.commands.common import ConnectOptions, Deps, connect, observe_and_plan, read_state
from litemaas_state.errors import ExitCode
from litemaas_state.render.document import build_document
from litemaas_state.render.text import render_text


@dataclass(frozen=True)
class ApplyOptions:
    state_file: Path
    auto_approve: bool = False
    targets: tuple[str, ...] = ()
    rollout_timeout_s: float = 600.0
    poll_interval_s: float = 0.5
    connect: ConnectOptions = ConnectOptions()


def run(opts: ApplyOptions, deps: Deps, confirm: Callable[[str], str | None]) -> ExitCode:
    """Apply one state file. ``confirm(prompt)`` returns the user's answer, or None without a terminal."""
    out = deps.output
    state = read_state(opts.state_file)
    conns = connect(state, opts.connect)
    _, plan = observe_and_plan(state, conns, deps.now(), opts.targets)
    out.echo(render_text(build_document(plan), color=out.color), nl=False)
    if plan.errored:
        return ExitCode.ERROR
    if not plan.has_changes:
        return ExitCode.OK
    if not opts.auto_approve:
        answer = confirm("\nDo you want to perform these actions?\n  litemaas-state will perform the actions "
                         "described above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
        if answer is None:
            out.echo("Error: no terminal to confirm on; pass --auto-approve to apply without a prompt.",
                     err=True)
            return ExitCode.ERROR
        if answer.strip() != "yes":
            out.echo("\nApply cancelled.")
            return ExitCode.ERROR
    out.echo("")
    writer = KubeWriter(conns.kube, RolloutWaiter(timeout_s=opts.rollout_timeout_s,
                                                  poll_interval_s=opts.poll_interval_s))
    executors = build_executors(writer, conns.discovery)

    def report(ev: ApplyEvent) -> None:
        if ev.kind == EventKind.STARTED:
            out.echo(f"{ev.address}: {_verb(ev.action_id)}... [{ev.message}]")
        elif ev.kind == EventKind.PROGRESS:
            out.echo(f"{ev.address}: {ev.message} [{ev.elapsed_s:.0f}s elapsed]")
        elif ev.kind == EventKind.FINISHED:
            out.echo(f"{ev.address}: {ev.message} after {ev.elapsed_s:.0f}s")
        elif ev.kind == EventKind.INFO:
            out.echo(f"{ev.address}: {ev.message}")
        elif ev.kind == EventKind.FAILED:
            out.echo(f"{ev.address}: failed after {ev.elapsed_s:.0f}s", err=True)

    result = apply_plan(plan, executors, report)
    done = [r for r in result.results if r.status == ActionStatus.SUCCEEDED]
    skipped = [r for r in result.results if r.status == ActionStatus.SKIPPED]
    if result.ok:
        out.echo(f"\nApply complete! Actions: {len(done)} done.")
        return ExitCode.OK
    out.echo(f"\nError: {result.error}", err=True)
    out.echo("\nApply stopped at " + str(result.failed_action) + ".", err=True)
    out.echo("  Done:     " + (", ".join(r.action_id for r in done) or "nothing"), err=True)
    out.echo("  Failed:   " + str(result.failed_action), err=True)
    out.echo("  Not done: " + (", ".join(r.action_id for r in skipped) or "nothing"), err=True)
    return ExitCode.ERROR


def _verb(action_id: str) -> str:
    phase = action_id.split("/", 1)[0]
    return {"backup": "Backing up", "images": "Modifying", "scaling": "Scaling", "admins": "Updating roles",
            "keys": "Pruning"}.get(phase, "Applying")
