"""`litemaas-state drift FILE|DIR`: read-only comparison of live state with state files.

Exit codes a CI can branch on: 0 every environment in sync, 2 drift in at least one, 1 an error (which
wins over drift). It never writes anything and takes no lock. The result is a ``DriftDocument``
(render/drift.py); formats: text, the model's JSON, and markdown for an issue body (one per environment).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from litemaas_state.commands.common import (
    ConnectOptions,
    Deps,
    connect,
    diagnostic_text,
    error_text,
    observe_and_plan,
    read_state,
    state_files,
)
from litemaas_state.errors import ExitCode, LitemaasStateError, StateFileError
from litemaas_state.plan.checks import ROLLOUT_FAILED
from litemaas_state.render.document import build_document
from litemaas_state.render.drift import (
    DriftDocument,
    EnvironmentDrift,
    Verdict,
    render_drift_markdown,
    render_drift_text,
)


@dataclass(frozen=True)
class DriftOptions:
    path: Path
    format: Literal["text", "json", "markdown"] = "text"
    connect: ConnectOptions = ConnectOptions()


def check(path: Path, opts: DriftOptions, deps: Deps) -> EnvironmentDrift:
    """One state file's drift verdict; never raises for the tool's own errors (they are the verdict)."""
    try:
        state = read_state(path)
    except StateFileError as exc:
        return EnvironmentDrift(state_file=str(path), environment=None, verdict=Verdict.ERROR,
                                error="\n".join(diagnostic_text(d) for d in exc.diagnostics))
    env = state.desired.metadata.name
    try:
        with connect(state, opts.connect) as conns:
            _, plan = observe_and_plan(state, conns, deps.now())
    except LitemaasStateError as exc:
        return EnvironmentDrift(state_file=str(path), environment=env, verdict=Verdict.ERROR, error=error_text(exc))
    doc = build_document(plan)
    errors = [d for d in plan.diagnostics if d.severity == "error"]
    if errors and all(d.code == ROLLOUT_FAILED for d in errors):
        return EnvironmentDrift(state_file=str(path), environment=env, verdict=Verdict.DRIFT, plan=doc)
    if plan.errored:
        return EnvironmentDrift(
            state_file=str(path), environment=env, verdict=Verdict.ERROR, plan=doc,
            error=error_text("; ".join(d.summary for d in plan.diagnostics if d.severity == "error")))
    return EnvironmentDrift(state_file=str(path), environment=env,
                            verdict=Verdict.DRIFT if plan.has_changes else Verdict.IN_SYNC, plan=doc)


def run(opts: DriftOptions, deps: Deps) -> ExitCode:
    files = state_files(opts.path)
    if not files:
        deps.output.echo(f"Error: no state files (*.yaml) in {opts.path}", err=True)
        return ExitCode.ERROR
    doc = DriftDocument(environments=tuple(check(f, opts, deps) for f in files))
    show(doc, opts, deps)
    return exit_code(doc)


def show(doc: DriftDocument, opts: DriftOptions, deps: Deps) -> None:
    """Print the drift document in ``opts.format`` (text: verdict lines, errors on stderr)."""
    out = deps.output
    if opts.format == "json":
        out.echo(doc.model_dump_json(indent=2))
    elif opts.format == "markdown":
        for section in render_drift_markdown(doc):
            out.echo(section)
    else:
        for text, err in render_drift_text(doc, color=out.color):
            out.echo(text, err=err)


def exit_code(doc: DriftDocument) -> ExitCode:
    """0 every environment in sync, 2 drift in one at least, 1 an error (which wins over drift)."""
    return VERDICT_EXIT[doc.verdict]


#: The exit code of each verdict.
VERDICT_EXIT = {Verdict.ERROR: ExitCode.ERROR, Verdict.DRIFT: ExitCode.CHANGES, Verdict.IN_SYNC: ExitCode.OK}
