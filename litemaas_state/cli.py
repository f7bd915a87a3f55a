"""The command line: click flags → Options → commands.*.run(). The ONLY place that turns errors into
exit codes and the only place that calls sys.exit (docs/design.md §10.6; kubectl's CheckErr is the
counter-example)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from litemaas_state import __version__
from litemaas_state.redact import scrub
from litemaas_state.render.escape import visible_controls

if TYPE_CHECKING:
    from litemaas_state.commands.base import Deps, Output
    from litemaas_state.commands.common import ConnectOptions

# Each command imports what it needs when it runs: `--help`, `validate` and `schema` load no client
# (kubernetes, psycopg, httpx) and no sandbox (tests/cli/test_startup.py).
ERROR_EXIT = 1  # errors.ExitCode.ERROR, without importing pydantic for --help
INTERRUPTED_EXIT = 130  # errors.ExitCode.INTERRUPTED (tests/cli/test_exit_codes.py holds them equal)

_existing_file = click.Path(path_type=Path, dir_okay=False)
_FLEET_HELP = ("With several state files or a directory (every *.yaml/*.yml in it), each environment runs in "
               "parallel and gets its own section; the exit code is the worst of theirs.")


def _fleet_options(required: bool = True) -> Any:
    """The state files (several, or directories of them) and ``--parallelism`` (commands/fleet.py)."""
    def wrap(f: Any) -> Any:
        f = click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
                         help="Environments run at once, with several state files or a directory.")(f)
        return click.argument("paths", nargs=-1, required=required, metavar="STATE_FILE|DIR...",
                              type=click.Path(path_type=Path, exists=True))(f)
    return wrap


def _layouts() -> tuple[Any, ...]:
    """The layout names, for ``--layout`` (names.py imports nothing heavy)."""
    from litemaas_state.names import LayoutName

    return tuple(LayoutName)


def _single(paths: tuple[Path, ...]) -> Path:
    """The one state file of a run that is not a fleet run (commands/fleet.py ``is_fleet``)."""
    return paths[0]


def _say(text: str) -> None:
    """One error line on stderr: scrubbed of secrets, control characters visible."""
    click.echo(visible_controls(scrub(text)), err=True)


def _one_line(message: str) -> str:
    from litemaas_state.commands.base import error_text

    return error_text(message)


def _deps(color: bool | None) -> Deps:
    from litemaas_state.commands.base import Deps, Output, use_color

    return Deps(output=Output(color=use_color(color, sys.stdout)))


def _outcome(fn: Callable[[], int], say: Callable[[str], None]) -> int:
    """Run ``fn`` and return its exit code; an error becomes its message (each line through ``say``) and
    exit 1, an interrupt exit 130, never a traceback. The one mapping of errors to exit codes: ``_run``
    uses it for a command, a fleet run (commands/fleet.py) for each environment."""
    from litemaas_state.commands.base import diagnostic_text, error_text
    from litemaas_state.errors import ExitCode, LitemaasStateError, StateFileError, cause_chain

    debug = bool(os.environ.get("LITEMAAS_STATE_DEBUG"))
    try:
        code = fn()
    except StateFileError as exc:
        for d in exc.diagnostics:
            say(diagnostic_text(d))
        return ExitCode.ERROR
    except LitemaasStateError as exc:
        say(f"Error: {error_text(exc)}")
        for cause in cause_chain(exc) if debug else ():  # the library errors behind it, scrubbed as above
            say(f"  caused by {cause}")
        return ExitCode.ERROR
    except KeyboardInterrupt:
        say("Interrupted.")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # unexpected: say so, scrubbed; the traceback only on request
        say(f"Error: unexpected internal error: {type(exc).__name__}: {error_text(exc)}")
        say(traceback.format_exc() if debug else "(set LITEMAAS_STATE_DEBUG=1 for a traceback)")
        return ExitCode.ERROR
    return int(code)


def _run(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Run a command function and exit with its code; errors become a message and exit 1, never a traceback."""
    sys.exit(_outcome(lambda: fn(*args, **kwargs), _say))


def _guard(fn: Callable[[], int], out: Output) -> tuple[int, tuple[str, ...]]:
    """``_outcome`` for one environment of a fleet run: the error lines go to that environment's
    ``out`` (stderr) and are returned too (scrubbed and made visible), for the fleet's JSON."""
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(out.clean(text))
        out.echo(text, err=True)

    return _outcome(fn, say), tuple(lines)


def _connect_options(f: Any) -> Any:
    opts = [
        click.option("--kubeconfig", default=None,
                     help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in-cluster if none)."),
        click.option("--context", default=None, help="kubeconfig context (default: target.context, "
                     "else current-context)."),
        click.option("--litemaas-database-url", default=None, help="LiteMaaS database URL (default: "
                     "$LITEMAAS_DATABASE_URL, else the backend Deployment's DATABASE_URL)."),
        click.option("--litellm-database-url", default=None, help="LiteLLM database URL (default: "
                     "$LITELLM_DATABASE_URL, else the litellm Deployment's DATABASE_URL)."),
        click.option("--litellm-url", default=None, help="LiteLLM API base URL (default: $LITELLM_URL, else "
                     "the Route to service litellm)."),
        click.option("--litellm-master-key", default=None, help="LiteLLM master key (default: "
                     "$LITELLM_MASTER_KEY, else the litellm Deployment's, via litellm-secret). Prefer the variable: "
                     "flags show in ps."),
        click.option("--redis-url", default=None, help="Redis URL for a PING (default: $REDIS_URL, else "
                     "service litellm-redis)."),
        click.option("--connect", "connect_mode", type=click.Choice(["auto", "direct", "kubernetes"]), default=None,
                     help="How to reach the databases, LiteLLM API and Redis: direct, or kubernetes (a port-forward "
                     "through the API server). auto (default; $LITEMAAS_STATE_CONNECT): direct in-cluster or when "
                     "the host answers within 1 s, else kubernetes."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _connect(kw: dict[str, Any]) -> ConnectOptions:
    """Pop the connection flags out of a command's keyword arguments."""
    from litemaas_state.commands.common import ConnectOptions
    from litemaas_state.live.connect import DataPlaneFlags

    return ConnectOptions(
        kubeconfig=kw.pop("kubeconfig"), context=kw.pop("context"),
        data_plane=DataPlaneFlags(
            litemaas_database_url=kw.pop("litemaas_database_url"), litellm_database_url=kw.pop("litellm_database_url"),
            litellm_url=kw.pop("litellm_url"), litellm_master_key=kw.pop("litellm_master_key"),
            redis_url=kw.pop("redis_url"), connect=kw.pop("connect_mode"),
        ),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="litemaas-state")
def cli() -> None:
    """Run a LiteMaaS deployment from git: plan and apply a declarative state file."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
def validate(files: tuple[Path, ...]) -> None:
    """Validate state files, or every *.yaml / *.yml in a directory (no cluster access)."""
    from litemaas_state.commands import validate as validate_cmd

    _run(validate_cmd.run_validate, files, _deps(None))


@cli.command()
def schema() -> None:
    """Print the state file's JSON Schema."""
    from litemaas_state.commands import validate as validate_cmd

    _run(validate_cmd.run_schema, _deps(False))


@cli.command(epilog=_FLEET_HELP)
@_fleet_options()
@click.option("--json", "as_json", is_flag=True, help="Print the versioned JSON plan document (several state "
              "files: one envelope of them).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default=None,
              help="Output format (markdown: one PR comment per environment, each under 65,536 characters).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@click.option("--target", "targets", multiple=True, help="Plan only this phase or address, and what it requires (repeatable).")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Save the plan (with its preconditions) for `apply --plan` (one state file only).")
@click.option("--color/--no-color", default=None, help="Colour output (default: when on a terminal).")
@_connect_options
def plan(paths: tuple[Path, ...], parallelism: int, as_json: bool, fmt: str | None, detailed_exitcode: bool,
         targets: tuple[str, ...], out: Path | None, color: bool | None, **kw: Any) -> None:
    """Show what apply would change."""
    from litemaas_state.commands import fleet
    from litemaas_state.commands import plan as plan_cmd

    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json and --format markdown/text contradict each other; give one")
    opts = plan_cmd.PlanOptions(
        state_file=_single(paths), format="json" if as_json else (fmt or "text"),  # type: ignore[arg-type]
        detailed_exitcode=detailed_exitcode, targets=targets, out=out, connect=_connect(kw),
    )
    if fleet.is_fleet(paths):
        _run(fleet.run_plan, paths, opts, _deps(color), _guard, parallelism)
    _run(plan_cmd.run, opts, _deps(color))


def _confirm(prompt: str) -> str | None:
    """Ask on the terminal; without one, read one line from stdin as Terraform does (``echo yes | apply``),
    None at end of input. Ctrl-C / Ctrl-D count as "no"."""
    if not sys.stdin.isatty():
        click.echo(prompt, nl=False)
        line = sys.stdin.readline()
        click.echo("")
        return line.rstrip("\r\n") if line else None
    try:
        answer: str = click.prompt(prompt, default="", show_default=False, prompt_suffix="")
    except (click.exceptions.Abort, EOFError, KeyboardInterrupt):
        click.echo("")
        return ""
    return answer


@cli.command(epilog=_FLEET_HELP + " Without --auto-approve, every environment is planned, then one 'yes' "
             "applies them all.")
@_fleet_options(required=False)
@click.option("--plan", "plan_file", type=_existing_file, default=None,
              help="Apply exactly this saved plan (from `plan --out`); no prompt.")
@click.option("--auto-approve", is_flag=True, help="Skip the interactive 'yes' confirmation.")
@click.option("--target", "targets", multiple=True, help="Apply only this phase or address, and what it requires (repeatable).")
@click.option("--rollout-timeout", type=float, default=600.0, show_default=True, help="Seconds per rollout.")
@click.option("--color/--no-color", default=None, help="Colour output (default: when on a terminal).")
@_connect_options
def apply(paths: tuple[Path, ...], parallelism: int, plan_file: Path | None, auto_approve: bool,
          targets: tuple[str, ...], rollout_timeout: float, color: bool | None, **kw: Any) -> None:
    """Apply the state file (or a saved plan): backup, images (backend, frontend, litellm), scaling, admins, keys."""
    from litemaas_state.commands import apply as apply_cmd
    from litemaas_state.commands import fleet

    opts = apply_cmd.ApplyOptions(
        state_file=_single(paths) if paths else None, plan_file=plan_file, auto_approve=auto_approve, targets=targets,
        rollout_timeout_s=rollout_timeout, connect=_connect(kw),
    )
    if fleet.is_fleet(paths):
        _run(fleet.run_apply, paths, opts, _deps(color), _guard, _confirm, parallelism)
    _run(apply_cmd.run, opts, _deps(color), _confirm)


@cli.command(epilog=_FLEET_HELP)
@_fleet_options()
@click.option("--json", "as_json", is_flag=True, help="Versioned JSON report.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default=None)
@click.option("--color/--no-color", default=None, help="Colour output (default: when on a terminal).")
@_connect_options
def drift(paths: tuple[Path, ...], parallelism: int, as_json: bool, fmt: str | None, color: bool | None,
          **kw: Any) -> None:
    """Compare live state with state files, or every state file in a directory (read-only).

    Exit 0 in sync, 2 drift, 1 error.
    """
    from litemaas_state.commands import drift as drift_cmd
    from litemaas_state.commands import fleet

    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json and --format markdown/text contradict each other; give one")
    opts = drift_cmd.DriftOptions(path=_single(paths), format="json" if as_json else (fmt or "text"),  # type: ignore[arg-type]
                                  connect=_connect(kw))
    if fleet.is_fleet(paths):
        _run(fleet.run_drift, paths, opts, _deps(color), _guard, parallelism)
    _run(drift_cmd.run, opts, _deps(color))


@cli.command(epilog=_FLEET_HELP)
@_fleet_options()
@click.option("--json", "as_json", is_flag=True, help="Versioned JSON (several state files: one envelope of them).")
@click.option("--color/--no-color", default=None, help="Colour output (default: when on a terminal).")
@_connect_options
def status(paths: tuple[Path, ...], parallelism: int, as_json: bool, color: bool | None, **kw: Any) -> None:
    """Live summary: versions, replicas, Redis and LiteLLM health, keys, admins, subscriptions."""
    from litemaas_state.commands import fleet
    from litemaas_state.commands import status as status_cmd

    opts = status_cmd.StatusOptions(state_file=_single(paths), as_json=as_json, connect=_connect(kw))
    if fleet.is_fleet(paths):
        _run(fleet.run_status, paths, opts, _deps(color), _guard, parallelism)
    _run(status_cmd.run, opts, _deps(color))


@cli.command("init")
@click.option("--from-live", "from_live", is_flag=True, help="Write the state file from what runs in the namespace "
              "now (required: the only source).")
@click.option("--namespace", required=True, help="The namespace of the deployment (also metadata.name).")
@click.option("--layout", type=click.Choice([lay.value for lay in _layouts()]), default=None,
              help="How the deployment names its objects (default: the layout whose Deployments exist).")
@_connect_options
def init(from_live: bool, namespace: str, layout: str | None, **kw: Any) -> None:
    """Print a state file of a running deployment (> state/NS.yaml): images, replicas, admins; its first plan
    says No changes."""
    from litemaas_state.commands import init as init_cmd
    from litemaas_state.names import LayoutName

    if not from_live:
        raise click.UsageError("init needs --from-live: the state file is written from the live deployment")
    opts = init_cmd.InitOptions(namespace=namespace, layout=LayoutName(layout) if layout else None,
                                connect=_connect(kw))
    _run(init_cmd.run, opts, _deps(False))


@cli.command()
@click.argument("state_files", nargs=-1, required=True, type=_existing_file)
@click.option("--image", required=True, help="Container image holding litemaas-state (see the Containerfile).")
@click.option("--name", default=None, help="Object-name prefix (default: litemaas-state-ENVIRONMENT; one file only).")
@click.option("--drift-schedule", default="17 * * * *", show_default=True, help="Cron schedule (UTC) of drift.")
@click.option("--prune-schedule", default=None, metavar="CRON",
              help="Also prune keys on this cron schedule (UTC): apply --target keys --auto-approve.")
@click.option("--backup-size", default="10Gi", show_default=True, help="Size of the claim the apply Job's dumps go to.")
def manifests(state_files: tuple[Path, ...], image: str, name: str | None, drift_schedule: str,
              prune_schedule: str | None, backup_size: str) -> None:
    """Print the in-cluster bundle (ServiceAccount, exact Role, CronJobs) for `oc apply -f -`."""
    from litemaas_state.commands import manifests as manifests_cmd

    opts = manifests_cmd.ManifestsOptions(state_files=state_files, image=image, name=name,
                                          drift_schedule=drift_schedule, prune_schedule=prune_schedule,
                                          backup_size=backup_size)
    _run(manifests_cmd.run, opts, _deps(False))


@cli.group()
def sandbox() -> None:
    """A local stand-in LiteMaaS deployment: eval "$(litemaas-state sandbox up)"."""


@sandbox.command("up")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="LITEMAAS_SANDBOX_DIR", help="Where the sandbox keeps its files.")
@click.option("--fast", is_flag=True, help="Short rollout timings (tests).")
@click.option("--env", "environments", multiple=True, metavar="NS[=LAYOUT]",
              help="An environment: namespace NS holding a complete LiteMaaS in layout rhpds (default) or "
              "kustomize. Repeatable; default: litellm-rhpds=rhpds.")
@click.option("--databases", type=click.Choice(["separate", "shared"]), default="separate", show_default=True,
              help="LiteMaaS and LiteLLM in two databases, or sharing one (every environment).")
@click.option("--secrets-file", type=_existing_file, default=None, help="JSON with known secret values.")
@click.option("--direct-urls", is_flag=True, help="Hand out 127.0.0.1 data-plane URLs (default: in-cluster "
              "hosts only, as a real cluster; the tool then uses port-forwards and exec).")
def sandbox_up(directory: Path | None, fast: bool, environments: tuple[str, ...], databases: str,
               secrets_file: Path | None, direct_urls: bool) -> None:
    """Start the sandbox in the background; print export lines for eval."""
    from litemaas_state.commands import sandbox as sandbox_cmd

    _run(sandbox_cmd.run_up, directory, fast, databases, secrets_file, _deps(False), direct_urls, environments)


@sandbox.command("down")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="LITEMAAS_SANDBOX_DIR", help="The sandbox's directory.")
def sandbox_down(directory: Path | None) -> None:
    """Stop the sandbox and remove its files."""
    from litemaas_state.commands import sandbox as sandbox_cmd

    _run(sandbox_cmd.run_down, directory, _deps(False))


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """A background thread (a port-forward's proxy in ``kubernetes.stream``) that dies prints one scrubbed
    line, never a traceback; its connection's client then sees the closed socket and reports it."""
    name = args.thread.name if args.thread is not None else "a background thread"
    _say(f"Warning: {name} failed: {args.exc_type.__name__}: {str(args.exc_value)[:200]}")


def main() -> None:
    """Entry point. Usage errors (bad flag, missing file) exit 1, not click's 2: with
    --detailed-exitcode and drift, 2 means "changes"/"drift" (docs/design.md §9.2, §9.19 item 3)."""
    def _terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the cleanup short
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        raise KeyboardInterrupt  # a cancelled CI job: unwind, release the lock, remove partial dumps, report

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)  # the terminal went away: the same orderly stop
    threading.excepthook = _thread_failed
    try:
        code = cli.main(prog_name="litemaas-state", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `litemaas-state` alone: its help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        sys.exit(0)
    except click.exceptions.UsageError as exc:
        if exc.ctx is not None:
            _say(exc.ctx.get_usage())
            click.echo(f"Try '{exc.ctx.command_path} --help' for help.", err=True)
        _say(f"\nError: {_one_line(exc.format_message())}")
        sys.exit(ERROR_EXIT)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(INTERRUPTED_EXIT)
    except click.exceptions.ClickException as exc:
        _say(f"Error: {_one_line(exc.format_message())}")
        sys.exit(ERROR_EXIT)
    sys.exit(code if isinstance(code, int) else 0)
