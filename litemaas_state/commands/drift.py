"""`litemaas-state drift FILE|DIR`: read-only comparison of live state with state files.

Exit codes a CI can branch on (anchors.md §1.2, §8 item 3): 0 every environment in sync, 2 drift in at
least one, 1 an error (which wins over drift). It never writes anything and takes no lock. Formats:
text, versioned JSON, and markdown for an issue body (anchors.md §3.2: one issue per environment).
"""

from __future__ import annotations

import json
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
from litemaas_state.render.document import PlanDocument, build_document
from litemaas_state.render.text import DRIFT_INTRO, render_diagnostic, render_text

DRIFT_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class DriftOptions:
    path: Path
    format: Literal["text", "json", "markdown"] = "text"
    connect: ConnectOptions = ConnectOptions()


@dataclass(frozen=True)
class EnvResult:
    state_file: str
    environment: str | None
    verdict: Literal["in_sync", "drift", "error"]
    document: PlanDocument | None = None
    error: str | None = None


def check(path: Path, opts: DriftOptions, deps: Deps) -> EnvResult:
    try:
        state = read_state(path)
    except StateFileError as exc:
        return EnvResult(state_file=str(path), environment=None, verdict="error",
                         error="\n".join(diagnostic_text(d) for d in exc.diagnostics))
    env = state.desired.metadata.name
    try:
        with connect(state, opts.connect) as conns:
            _, plan = observe_and_plan(state, conns, deps.now())
    except LitemaasStateError as exc:
        return EnvResult(state_file=str(path), environment=env, verdict="error", error=error_text(exc))
    doc = build_document(plan)
    errors = [d for d in plan.diagnostics if d.severity == "error"]
    if errors and all(d.code == ROLLOUT_FAILED for d in errors):
        return EnvResult(state_file=str(path), environment=env, verdict="drift", document=doc)
    if plan.errored:
        return EnvResult(state_file=str(path), environment=env, verdict="error", document=doc,
                         error=error_text("; ".join(d.summary for d in plan.diagnostics if d.severity == "error")))
    return EnvResult(state_file=str(path), environment=env, verdict="drift" if plan.has_changes else "in_sync",
                     document=doc)


def run(opts: DriftOptions, deps: Deps) -> ExitCode:
    files = state_files(opts.path)
    if not files:
        deps.output.echo(f"Error: no state files (*.yaml) in {opts.path}", err=True)
        return ExitCode.ERROR
    results = [check(f, opts, deps) for f in files]
    out = deps.output
    if opts.format == "json":
        out.echo(json.dumps({
            "format_version": DRIFT_FORMAT_VERSION,
            "environments": [
                {"state_file": r.state_file, "environment": r.environment, "verdict": r.verdict,
                 "error": r.error, "plan": json.loads(r.document.model_dump_json()) if r.document else None}
                for r in results
            ],
        }, indent=2))
    else:
        for r in results:
            name = r.environment or r.state_file
            if opts.format == "markdown":
                from litemaas_state.render.markdown import render_markdown

                if r.document is not None:
                    title = {"in_sync": f"No drift in {name}", "drift": f"Drift detected in {name}",
                             "error": f"Drift check failed for {name}"}[r.verdict]
                    out.echo(render_markdown(r.document, title=title))
                else:
                    from litemaas_state.render.escape import markdown

                    lines = "\n".join(f"- {markdown(line, 2000)}" for line in str(r.error).split("\n"))
                    out.echo(f"### ❌ Drift check failed for {markdown(name)}\n\n{lines}\n")
                continue
            if r.verdict == "in_sync":
                out.echo(f"{name}: in sync with {r.state_file}.")
                for d in (r.document.diagnostics if r.document else ()):
                    if d.severity != "note":
                        out.echo("\n".join("  " + line for line in render_diagnostic(d, out.color)))
            elif r.verdict == "drift":
                assert r.document is not None
                out.echo(f"{name}: DRIFT — live state differs from {r.state_file}:\n")
                out.echo(render_text(r.document, color=out.color, intro=DRIFT_INTRO))
            else:
                out.echo(f"{name}: {r.error}" if r.environment else str(r.error), err=True)
    if any(r.verdict == "error" for r in results):
        return ExitCode.ERROR
    if any(r.verdict == "drift" for r in results):
        return ExitCode.CHANGES
    return ExitCode.OK
