"""`litemaas-state sandbox up|down`: start or stop the local stand-in deployment (litemaas_state.sandbox).

``up`` prints shell lines for ``eval``: ``export KUBECONFIG=…`` and a line that sources the sandbox's env
file (0600; with ``--direct-urls`` it holds the connection variables, secrets included), so no secret
value is ever printed. ``up`` needs the optional extra ``litemaas-state[sandbox]`` (fastapi, uvicorn,
jsonpatch, wsproto) and says so in one line when it is missing; ``down`` needs only the standard library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litemaas_state.commands.common import Deps
from litemaas_state.errors import ConfigError, ExitCode

SANDBOX_EXTRA_MISSING = "the sandbox needs the optional extra: pip install 'litemaas-state[sandbox]'"


def require_sandbox_extra() -> None:
    """Import what the sandbox daemon runs on, so that a missing optional extra is one line, not a traceback.

    `litemaas_state.sandbox.daemon` imports fastapi, starlette, uvicorn and jsonpatch; uvicorn loads
    wsproto by name only when a server starts (`ws="wsproto"`), so it is imported here too. The extra
    itself is `[project.optional-dependencies] sandbox` in pyproject.toml.
    Raises ConfigError(SANDBOX_EXTRA_MISSING) when one of those libraries cannot be imported; an
    ImportError naming a module of our own is a bug and propagates.
    """
    try:
        import wsproto  # noqa: F401

        from litemaas_state.sandbox import daemon  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] == "litemaas_state":
            raise
        raise ConfigError(SANDBOX_EXTRA_MISSING) from exc


def run_up(directory: Path | None, fast: bool, databases: str, secrets_file: Path | None, deps: Deps,
           direct_urls: bool = False, environments: tuple[str, ...] = ()) -> ExitCode:
    """Start the sandbox. By default it is as a real cluster: Secrets name in-cluster hosts only and the env
    file exports only KUBECONFIG, so the tool reaches the data plane through port-forwards and exec;
    ``direct_urls`` hands out 127.0.0.1 URLs (and the master key) instead.

    ``environments``: ``NS[=LAYOUT]`` values (LAYOUT ``rhpds``, the default, or ``kustomize``), one namespace
    each, all with ``databases``; empty → one environment, ``litellm-rhpds`` in the rhpds layout.
    Raises ConfigError on a bad value (naming it) or when the sandbox does not start.
    """
    require_sandbox_extra()
    from litemaas_state.sandbox import manage

    timing = {"pod_ready_s": 0.15, "progress_deadline_s": 3} if fast else {}
    try:
        envs = tuple(_environment(manage, text, databases) for text in environments)
        options = manage.SandboxOptions(databases="shared" if databases == "shared" else "separate",
                                        environments=envs, secrets_file=secrets_file, direct_urls=direct_urls,
                                        **timing)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"--env: {exc}") from exc
    try:
        lines = manage.up(directory, options)
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ConfigError(f"sandbox did not start: {exc}") from exc
    for line in lines:
        deps.output.echo(line)
    return ExitCode.OK


def _environment(manage: Any, text: str, databases: str) -> Any:
    """``NS[=LAYOUT]`` → manage.SandboxEnvironment. Raises ValueError naming the value."""
    namespace, _, layout = text.partition("=")
    try:
        return manage.SandboxEnvironment(namespace=namespace, layout=layout or "rhpds", databases=databases)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from exc


def run_down(directory: Path | None, deps: Deps) -> ExitCode:
    from litemaas_state.sandbox import manage

    target = (directory or manage.default_dir()).absolute()
    if not target.exists():
        deps.output.echo(f"no sandbox in {target}: nothing to stop", err=True)
        return ExitCode.OK
    try:
        manage.down(directory)
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot stop the sandbox in {target}: {exc}") from exc
    deps.output.echo(f"sandbox in {target} stopped and removed", err=True)
    return ExitCode.OK
