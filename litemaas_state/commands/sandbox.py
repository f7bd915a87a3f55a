"""`litemaas-state sandbox up|down`: start or stop the local stand-in deployment (litemaas_state.sandbox).

``up`` prints shell lines for ``eval``: ``export KUBECONFIG=…`` and a line that sources the sandbox's env
file (0600; with ``--direct-urls`` it holds the connection variables, secrets included), so no secret
value is ever printed.
"""

from __future__ import annotations

from pathlib import Path

from litemaas_state.commands.common import Deps
from litemaas_state.errors import ConfigError, ExitCode


def run_up(directory: Path | None, fast: bool, layout: str, secrets_file: Path | None, deps: Deps,
           direct_urls: bool = False) -> ExitCode:
    """Start the sandbox. By default it is as a real cluster: Secrets name in-cluster hosts only and the env
    file exports only KUBECONFIG, so the tool reaches the data plane through port-forwards and exec;
    ``direct_urls`` hands out 127.0.0.1 URLs (and the master key) instead."""
    from litemaas_state.sandbox import manage

    timing = {"pod_ready_s": 0.15, "progress_deadline_s": 3} if fast else {}
    options = manage.SandboxOptions(layout="shared" if layout == "shared" else "separate",
                                    secrets_file=secrets_file, direct_urls=direct_urls,
                                    **timing)  # type: ignore[arg-type]
    try:
        lines = manage.up(directory, options)
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ConfigError(f"sandbox did not start: {exc}") from None
    for line in lines:
        deps.output.echo(line)
    return ExitCode.OK


def run_down(directory: Path | None, deps: Deps) -> ExitCode:
    from litemaas_state.sandbox import manage

    target = (directory or manage.default_dir()).absolute()
    if not target.exists():
        deps.output.echo(f"no sandbox in {target}: nothing to stop", err=True)
        return ExitCode.OK
    try:
        manage.down(directory)
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot stop the sandbox in {target}: {exc}") from None
    deps.output.echo(f"sandbox in {target} stopped and removed", err=True)
    return ExitCode.OK
