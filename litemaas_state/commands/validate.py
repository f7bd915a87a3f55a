"""`litemaas-state validate FILE...` and `litemaas-state schema`: no cluster access."""

from __future__ import annotations

import json
from pathlib import Path

from litemaas_state.commands.base import Deps, diagnostic_text, read_state, state_files
from litemaas_state.errors import ExitCode, StateFileError
from litemaas_state.spec.model import json_schema


def run_validate(paths: tuple[Path, ...], deps: Deps) -> ExitCode:
    """Validate each file, and every state file in each directory (as ``drift DIR`` finds them); print
    every problem with file:line:column and field path."""
    code = ExitCode.OK
    files: list[Path] = []
    by_name: dict[str, list[Path]] = {}
    for p in paths:
        found = state_files(p)
        if not found:
            deps.output.echo(f"Error: no state files (*.yaml, *.yml) in {p}", err=True)
            code = ExitCode.ERROR
        files += found
    for f in files:
        try:
            state = read_state(f)
        except StateFileError as exc:
            for d in exc.diagnostics:
                deps.output.echo(diagnostic_text(d), err=True)
            code = ExitCode.ERROR
            continue
        deps.output.echo(f"{f}: valid (environment {state.desired.metadata.name}, "
                         f"namespace {state.desired.target.namespace})")
        by_name.setdefault(state.desired.metadata.name, []).append(f)
    for name, named in by_name.items():  # a fleet run refuses these (commands/fleet.py): say so before it
        if len(named) > 1:
            deps.output.echo(f"Error: environment {name} is named by {len(named)} state files "
                             f"({', '.join(str(f) for f in named)}): each state file of a fleet must name its own "
                             "environment (metadata.name names its backups, lock holder and comment)", err=True)
            code = ExitCode.ERROR
    return code


def schema_text() -> str:
    """The state file's JSON Schema, as committed in schemas/state.schema.json."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def run_schema(deps: Deps) -> ExitCode:
    deps.output.echo(schema_text(), nl=False)
    return ExitCode.OK
