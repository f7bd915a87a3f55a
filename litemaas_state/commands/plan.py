"""`litemaas-state plan FILE`: observe, plan, render. Exit codes: Terraform's -detailed-exitcode
(docs/design.md §9.2): 0 no changes, 2 changes (only with --detailed-exitcode), 1 error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from litemaas_state.commands.common import (
    ConnectOptions,
    Deps,
    check_targets,
    connect,
    observe_and_plan,
    read_state,
)
from litemaas_state.commands.planfile import write_plan
from litemaas_state.errors import ExitCode, Severity
from litemaas_state.plan.model import Plan
from litemaas_state.render.document import PlanDocument, build_document
from litemaas_state.render.markdown import render_markdown
from litemaas_state.render.text import iter_json, render_errors, render_text

Format = Literal["text", "json", "markdown"]


@dataclass(frozen=True)
class PlanOptions:
    state_file: Path
    format: Format = "text"
    detailed_exitcode: bool = False
    targets: tuple[str, ...] = ()
    out: Path | None = None
    connect: ConnectOptions = ConnectOptions()


def make(opts: PlanOptions, deps: Deps) -> tuple[Plan, PlanDocument]:
    """Read the state file, observe, plan; save the plan with ``--out`` (unless it errored).

    Returns the plan and its document. Raises LitemaasStateError subclasses (StateFileError, ConfigError,
    ObserveError) on failure; a plan with errors is returned, not raised (``Plan.errored``).
    """
    state = read_state(opts.state_file)
    check_targets(state, opts.targets)
    with connect(state, opts.connect) as conns:
        live, plan = observe_and_plan(state, conns, deps.now(), opts.targets)
        del live  # the key population is not needed once planned: free it before rendering (peak memory)
    doc = build_document(plan)
    if opts.out is not None and not plan.errored:
        write_plan(plan, opts.out, state.text)
    return plan, doc


def show(plan: Plan, doc: PlanDocument, opts: PlanOptions, deps: Deps, *, document: bool = True) -> None:
    """Print the plan in ``opts.format`` (``document=False``: leave out the JSON or markdown document, which
    a fleet run prints itself; the text format and the error line on stderr are always printed)."""
    if opts.format == "json":
        if document:
            deps.output.stream(iter_json(doc))
    elif opts.format == "markdown":
        if document:
            deps.output.echo(render_markdown(doc), nl=False)
    else:  # errors go to stderr, the plan to stdout
        deps.output.echo(render_text(doc, color=deps.output.color, errors=False), nl=False)
        if plan.errored:
            deps.output.echo("\n" + render_errors(doc, color=deps.output.color), nl=False, err=True)
        if opts.out is not None and not plan.errored:
            deps.output.echo(f"\nSaved the plan to {opts.out}. To perform exactly these actions, run:\n"
                             f"  litemaas-state apply --plan {opts.out}")
        elif plan.has_changes and not plan.errored:
            deps.output.echo("\nNote: you didn't use --out to save this plan, so litemaas-state can't guarantee "
                             "to take exactly these actions if you run apply now.")
    if plan.errored and opts.format != "text":
        n = sum(d.severity == Severity.ERROR for d in plan.diagnostics)
        deps.output.echo(f"Error: planning failed with {n} error{'s' if n != 1 else ''} (listed in the "
                         f"{opts.format} output)", err=True)


def exit_code(plan: Plan, opts: PlanOptions) -> ExitCode:
    """1 when the plan has errors; 2 when it has changes and ``--detailed-exitcode`` was given; else 0."""
    if plan.errored:
        return ExitCode.ERROR
    if opts.detailed_exitcode and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def run(opts: PlanOptions, deps: Deps) -> ExitCode:
    """Plan one state file and print it. Raises LitemaasStateError subclasses on failure (cli maps them)."""
    plan, doc = make(opts, deps)
    show(plan, doc, opts, deps)
    return exit_code(plan, opts)
