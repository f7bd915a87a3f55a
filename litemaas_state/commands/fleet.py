"""One verb over a fleet of environments: ``plan``, ``apply``, ``drift`` and ``status`` given several state
files or a directory of them (``*.yaml``/``*.yml``).

Each environment runs as it would alone (the verb's own ``run``, ``make`` or ``check``), in a thread of its
own, at most ``parallelism`` at once (the work is waiting on API servers, databases and port-forwards). One
environment's failure never stops the others; the exit code is the worst of theirs (errors.py ``worst``:
interrupted > error > changes/drift > ok).

Output: each environment writes into a buffer of its own (an ``Output`` on a ``_Tape``, which keeps the
order of its stdout and stderr lines); when it finishes, its section is printed whole under
``== env NAME (FILE) ==`` (render/fleet.py), sections in the order the environments finish, so no two
environments' lines interleave. The buffer is no terminal, so progress is plain lines (apply's
``CountedProgress``). ``--json`` prints one ``FleetDocument`` (render/fleet.py) at the end, environments in
the order given; ``--format markdown`` one comment per environment, each starting with its hidden marker
line (render/markdown.py ``marker``), which is how a consumer splits them.

Approval (apply without ``--auto-approve``): every environment plans (holding its lock, as a single apply
does while it asks), every plan is printed, then ONE question names the environments with changes and one
``yes`` applies them all in parallel (``terragrunt run-all apply`` asks once for the stack; a prompt per
environment would ask eight times in a row). Anything else applies none.

Process-wide state, and why it is safe per environment:

* Kubernetes client: each environment's ``connect_kube`` builds its own ``Configuration`` and ``ApiClient``
  (live/kube.py); port-forwards and exec dial on a client of their own (live/tunnel.py, live/podexec.py).
* Secrets: ``redact``'s registry is process-wide, so every output is masked of every environment's secrets;
  each environment runs in ``redact.scope()``, so its plan warns only about its own weak secrets.
* The apply lock is a Lease per namespace (apply/lock.py): two state files of one fleet that manage the
  same namespace do not apply at once (the second fails with LockHeld, naming the first). Two state files
  naming the same environment (``metadata.name``: backup names, lock holder, comment marker) are refused.
* Signals reach only the main thread (cli.py turns SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt). The
  fan-out then raises KeyboardInterrupt in each running environment's thread (CPython's
  ``PyThreadState_SetAsyncExc``, Include/cpython/pystate.h), so each unwinds as a single run does: it
  releases its lease, removes a partial dump and reports what was done; environments not yet started are
  not started. The exception lands when the thread next runs Python code (a blocking read ends at its
  timeout). A second interrupt exits at once (Terraform's "Two interrupts received"); a lease left so
  expires by itself.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from litemaas_state import interrupts, redact
from litemaas_state.commands.base import Deps, Output, read_state, state_files
from litemaas_state.errors import ConfigError, ExitCode, Severity, StateFileError, worst
from litemaas_state.render.fleet import (
    Command,
    FleetDocument,
    FleetEntry,
    approval_prompt,
    error_comment,
    section_header,
    summary_lines,
)

if TYPE_CHECKING:
    from litemaas_state.commands.apply import ApplyOptions
    from litemaas_state.commands.drift import DriftOptions
    from litemaas_state.commands.plan import PlanOptions
    from litemaas_state.commands.status import StatusOptions

Confirm = Callable[[str], str | None]
DEFAULT_PARALLELISM = 4
MAX_PARALLELISM = 64


class Guard(Protocol):
    """Runs one environment's command and maps its errors to an exit code (cli.py ``_guard``): the error
    lines go to ``out``'s stderr and are returned."""

    def __call__(self, fn: Callable[[], int], out: Output) -> tuple[int, tuple[str, ...]]: ...


def is_fleet(paths: Sequence[Path]) -> bool:
    """Several paths, or a directory: a fleet run (even of one file), whose output is the fleet's shape.
    One file alone runs and prints exactly as before."""
    return len(paths) > 1 or any(p.is_dir() for p in paths)


def expand(paths: Sequence[Path]) -> list[Path]:
    """Each path, or a directory's ``*.yaml``/``*.yml`` files (sorted, base.py ``state_files``), in the order
    given; a file named twice (also through a directory) once."""
    seen: set[Path] = set()
    out: list[Path] = []
    for p in paths:
        for f in state_files(p):
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


class _Tape:
    """One environment's output in the order it was written: ``(text, to stderr)`` pieces."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: list[tuple[str, bool]] = []
        self.out = _TapeStream(self, err=False)
        self.err = _TapeStream(self, err=True)

    def write(self, text: str, err: bool) -> None:
        with self._lock:
            if self._pieces and self._pieces[-1][1] == err:
                self._pieces[-1] = (self._pieces[-1][0] + text, err)
            else:
                self._pieces.append((text, err))

    def take(self) -> list[tuple[str, bool]]:
        with self._lock:
            pieces, self._pieces = self._pieces, []
        return pieces


class _TapeStream(io.StringIO):
    """stdout or stderr of one environment: writes go to its tape (none stays here). Not a terminal."""

    def __init__(self, tape: _Tape, *, err: bool) -> None:
        super().__init__()
        self._tape, self._err = tape, err

    def write(self, s: str) -> int:
        self._tape.write(s, self._err)
        return len(s)

    def isatty(self) -> bool:
        return False


class _State(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING = "awaiting approval"
    DONE = "done"


@dataclass(eq=False)
class EnvRun:
    """One environment of a fleet run, as it goes (mutable; internal to the fan-out)."""

    index: int
    state_file: Path
    tape: _Tape
    output: Output
    environment: str | None = None
    state: _State = _State.QUEUED
    code: int = ExitCode.ERROR
    errors: tuple[str, ...] = ()
    document: Any = None
    """What the work function made for the envelope (a PlanDocument, StatusDocument, EnvironmentDrift)."""
    problem: str | None = None
    """Why the environment failed without an exception (a plan with errors, an unhealthy status)."""
    thread_id: int | None = None
    closing: bool = False
    interrupt_sent: bool = False

    @property
    def error(self) -> str | None:
        if self.errors:
            return "\n".join(self.errors)
        return self.problem


Work = Callable[[EnvRun, Deps, Confirm], int]
_UNDECIDED = object()


@dataclass
class Fleet:
    """The fan-out. ``show``: ``text`` prints each environment's section (header on stdout), ``stderr``
    prints only what environments wrote to stderr under a header on stderr (stdout carries a document),
    ``none`` prints nothing (the caller renders everything)."""

    paths: list[Path]
    deps: Deps
    guard: Guard
    parallelism: int = DEFAULT_PARALLELISM
    show: str = "text"
    confirm: Confirm | None = None
    interrupted: bool = False
    envs: list[EnvRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[EnvRun] = deque()
        self._ready: list[tuple[EnvRun, list[tuple[str, bool]]]] = []
        self._decision: Any = _UNDECIDED
        self._stopping = False

    # -- main thread -------------------------------------------------------------------------------------

    def run(self, work: Work) -> list[EnvRun]:
        """Run ``work`` for every state file; return the runs in the order given. Raises KeyboardInterrupt
        only on a second interrupt (the first stops every environment and is recorded in ``interrupted``)."""
        color = self.deps.output.color
        for i, path in enumerate(self.paths):
            tape = _Tape()
            self.envs.append(EnvRun(index=i, state_file=path, tape=tape,
                                    output=Output(out=tape.out, err=tape.err, color=color)))
        self._name_environments()
        self._queue.extend(e for e in self.envs if e.state is _State.QUEUED)
        try:  # an interrupt while the workers start is handled as one while they run
            for n in range(min(self.parallelism, len(self._queue))):
                threading.Thread(target=self._worker, args=(work,), name=f"fleet-{n}", daemon=True).start()
            self._loop()
        except KeyboardInterrupt:
            self._stop()
            try:
                self._loop()
            except KeyboardInterrupt:
                self.deps.output.echo("\nTwo interrupts received: exiting at once. A lease left behind expires "
                                      "by itself (README: One apply at a time).", err=True)
                raise
        return self.envs

    def _name_environments(self) -> None:
        """Read each state file's ``metadata.name`` (the verb reads it again and reports its errors), and
        refuse state files that name an environment another one names."""
        by_name: dict[str, list[EnvRun]] = {}
        for env in self.envs:
            try:
                env.environment = read_state(env.state_file).desired.metadata.name
            except StateFileError:
                continue
            by_name.setdefault(env.environment, []).append(env)
        for name, same in by_name.items():
            if len(same) < 2:
                continue
            files = ", ".join(str(e.state_file) for e in same)
            for env in same:
                line = (f"Error: environment {name} is named by {len(same)} state files ({files}): each state file "
                        "of a fleet must name its own environment (metadata.name names its backups, lock holder "
                        "and comment)")
                env.output.echo(line, err=True)
                env.errors, env.code, env.state = (env.output.clean(line),), ExitCode.ERROR, _State.DONE
                self._ready.append((env, env.tape.take()))

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._finished() and not self._must_ask():
                    self._cond.wait(1.0)
                ready, self._ready = self._ready, []
                finished, ask = self._finished(), self._must_ask()
                awaiting = [e.environment or str(e.state_file) for e in self.envs if e.state is _State.AWAITING]
            for env, pieces in ready:
                self._print(env, pieces)
            if ask:
                assert self.confirm is not None
                answer = self.confirm(approval_prompt(awaiting))
                with self._cond:
                    if self._decision is _UNDECIDED:
                        self._decision = answer
                    self._cond.notify_all()
            elif finished:
                return

    def _finished(self) -> bool:
        return all(e.state is _State.DONE for e in self.envs) and not self._ready

    def _must_ask(self) -> bool:
        states = {e.state for e in self.envs}
        return (self._decision is _UNDECIDED and not self._ready and _State.AWAITING in states
                and not states & {_State.QUEUED, _State.RUNNING})

    def _stop(self) -> None:
        """The first interrupt: start nothing more, approve nothing, interrupt every running environment."""
        self.interrupted = True
        self.deps.output.echo("\nInterrupt received: stopping every environment (each reports what it did). "
                              "Interrupt again to exit at once.", err=True)
        with self._cond:
            self._stopping = True
            if self._decision is _UNDECIDED:
                self._decision = ""
            for env in self.envs:
                if env.state is _State.RUNNING and env.thread_id is not None and not env.closing \
                        and not env.interrupt_sent:
                    env.interrupt_sent = True
                    interrupts.interrupt_thread(env.thread_id)
            self._cond.notify_all()

    def _print(self, env: EnvRun, pieces: list[tuple[str, bool]]) -> None:
        """The section: header, the pieces in the order written (each stream's last line ended), a blank line."""
        if self.show == "none" or (self.show == "stderr" and not pieces):
            return
        out, to_err = self.deps.output, self.show == "stderr"
        out.echo(section_header(env.environment, str(env.state_file)), err=to_err)
        for text, err in pieces:
            out.echo(text, nl=not text.endswith("\n"), err=err)
        out.echo("", err=to_err)

    # -- worker threads ----------------------------------------------------------------------------------

    def _worker(self, work: Work) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    return
                env = self._queue.popleft()
                if self._stopping:
                    line = "Not started: the fleet run was interrupted."
                    env.output.echo(line, err=True)
                    env.errors, env.code, env.state = (line,), ExitCode.INTERRUPTED, _State.DONE
                    self._ready.append((env, env.tape.take()))
                    self._cond.notify_all()
                    continue
                env.state, env.thread_id = _State.RUNNING, threading.get_ident()
            self._run_one(env, work)

    def _run_one(self, env: EnvRun, work: Work) -> None:
        deps = Deps(output=env.output, now=self.deps.now)
        result: tuple[int, tuple[str, ...]] = (ExitCode.INTERRUPTED, ("Interrupted.",))
        try:
            try:
                with redact.scope():
                    result = self.guard(lambda: work(env, deps, lambda prompt: self._await(env)), env.output)
            finally:
                with self._cond:
                    env.closing = True  # no interrupt is sent from here on
                interrupts.raise_in(threading.get_ident(), None)  # and one sent just before is withdrawn, if not raised yet
        except KeyboardInterrupt:  # the one interrupt sent landed after the command had returned
            with self._cond:
                env.closing = True
        with self._cond:
            env.code, env.errors = result
            env.state = _State.DONE
            self._ready.append((env, env.tape.take()))
            self._cond.notify_all()

    def _await(self, env: EnvRun) -> str | None:
        """The ``confirm`` an environment's apply calls: show its plan, wait for the fleet's one answer."""
        with self._cond:
            env.state = _State.AWAITING
            self._ready.append((env, env.tape.take()))
            self._cond.notify_all()
            while self._decision is _UNDECIDED:
                self._cond.wait()
            env.state = _State.RUNNING
            answer: str | None = self._decision
            return answer

    # -- results -------------------------------------------------------------------------------------------

    def document(self, command: Command) -> FleetDocument:
        """The envelope of the run, environments in the order given."""
        return FleetDocument(command=command, interrupted=self.interrupted, environments=tuple(
            FleetEntry(environment=e.environment, state_file=str(e.state_file), exit_code=int(e.code),
                       error=e.error, document=e.document) for e in self.envs))


def _fleet(paths: Sequence[Path], deps: Deps, guard: Guard, parallelism: int, show: str,
           confirm: Confirm | None = None) -> Fleet:
    files = expand(paths)
    if not files:
        raise ConfigError(f"no state files (*.yaml, *.yml) in {', '.join(str(p) for p in paths)}")
    if not 1 <= parallelism <= MAX_PARALLELISM:
        raise ConfigError(f"--parallelism must be between 1 and {MAX_PARALLELISM}, not {parallelism}")
    return Fleet(paths=files, deps=deps, guard=guard, parallelism=parallelism, show=show, confirm=confirm)


def _finish(fleet: Fleet, command: Command, how: str, changes: str = "changes") -> ExitCode:
    """Print the summary table (``how == "text"``) or the envelope (``"json"``); return the fleet's exit code."""
    doc = fleet.document(command)
    out = fleet.deps.output
    if how == "json":
        out.echo(doc.model_dump_json(indent=2))
    elif how == "text":
        for line in summary_lines(doc, parallelism=fleet.parallelism, changes=changes):
            out.echo(line)
    return ExitCode(doc.exit_code)


def run_plan(paths: Sequence[Path], opts: PlanOptions, deps: Deps, guard: Guard,
             parallelism: int = DEFAULT_PARALLELISM) -> ExitCode:
    """``plan`` over a fleet (``opts``: a PlanOptions, its ``state_file`` replaced per environment).

    Raises:
        ConfigError: ``--out`` (it saves one plan), no state file found, a bad ``parallelism``.
    """
    from litemaas_state.commands import plan as plan_cmd

    if opts.out is not None:
        raise ConfigError("--out saves the plan of one state file: with several, run plan --out per state file")
    fleet = _fleet(paths, deps, guard, parallelism, "text" if opts.format == "text" else "stderr")

    def work(env: EnvRun, d: Deps, confirm: Confirm) -> int:
        one = replace(opts, state_file=env.state_file)
        plan, doc = plan_cmd.make(one, d)
        env.document = doc
        plan_cmd.show(plan, doc, one, d, document=False)
        if plan.errored:
            env.problem = "planning failed: " + "; ".join(x.summary for x in plan.diagnostics
                                                           if x.severity == Severity.ERROR)
        return plan_cmd.exit_code(plan, one)

    fleet.run(work)
    if opts.format == "markdown":
        from litemaas_state.render.document import PlanDocument
        from litemaas_state.render.markdown import render_markdown

        for e in fleet.document("plan").environments:
            body = render_markdown(e.document) if isinstance(e.document, PlanDocument) else \
                error_comment(e.environment, e.state_file, e.error or "failed")
            deps.output.echo(body, nl=False)
    return _finish(fleet, "plan", opts.format)


def run_status(paths: Sequence[Path], opts: StatusOptions, deps: Deps, guard: Guard,
               parallelism: int = DEFAULT_PARALLELISM) -> ExitCode:
    """``status`` over a fleet (``opts``: a StatusOptions). Raises ConfigError (no state file, parallelism)."""
    from litemaas_state.commands import status as status_cmd
    from litemaas_state.render.status import status_errors

    fleet = _fleet(paths, deps, guard, parallelism, "stderr" if opts.as_json else "text")

    def work(env: EnvRun, d: Deps, confirm: Confirm) -> int:
        one = replace(opts, state_file=env.state_file)
        if not opts.as_json:
            return status_cmd.run(one, d)
        doc = status_cmd.collect(one, d)
        env.document = doc
        if not doc.healthy:
            env.problem = "; ".join(line.removeprefix("Error: ") for line in status_errors(doc))
        return ExitCode.OK if doc.healthy else ExitCode.ERROR

    fleet.run(work)
    return _finish(fleet, "status", "json" if opts.as_json else "text")


def run_apply(paths: Sequence[Path], opts: ApplyOptions, deps: Deps, guard: Guard, confirm: Confirm,
              parallelism: int = DEFAULT_PARALLELISM) -> ExitCode:
    """``apply`` over a fleet (``opts``: an ApplyOptions). Without ``--auto-approve``: every plan, then one
    question for all (module docstring). Raises ConfigError (``--plan``, no state file, parallelism)."""
    from litemaas_state.commands import apply as apply_cmd

    if opts.plan_file is not None:
        raise ConfigError("give either state files or --plan PLANFILE, not both")
    fleet = _fleet(paths, deps, guard, parallelism, "text", confirm=confirm)

    def work(env: EnvRun, d: Deps, confirm_env: Confirm) -> int:
        return apply_cmd.run(replace(opts, state_file=env.state_file), d, confirm_env)

    fleet.run(work)
    return _finish(fleet, "apply", "text")


def run_drift(paths: Sequence[Path], opts: DriftOptions, deps: Deps, guard: Guard,
              parallelism: int = DEFAULT_PARALLELISM) -> ExitCode:
    """``drift`` over a fleet (``opts``: a DriftOptions): the environments checked in parallel, then the
    one ``DriftDocument`` of them all printed as ``drift DIR`` always has (render/drift.py), in the order
    given. Raises ConfigError (no state file, parallelism)."""
    from litemaas_state.commands import drift as drift_cmd
    from litemaas_state.render.drift import DriftDocument, EnvironmentDrift, Verdict

    fleet = _fleet(paths, deps, guard, parallelism, "none")

    def work(env: EnvRun, d: Deps, confirm: Confirm) -> int:
        result = drift_cmd.check(env.state_file, opts, d)
        env.document = result
        return drift_cmd.VERDICT_EXIT[result.verdict]

    fleet.run(work)
    doc = DriftDocument(environments=tuple(
        e.document if e.document is not None else
        EnvironmentDrift(state_file=str(e.state_file), environment=e.environment, verdict=Verdict.ERROR,
                         error=e.error or "failed")
        for e in fleet.envs))
    drift_cmd.show(doc, opts, deps)
    return worst([drift_cmd.exit_code(doc), *([ExitCode.INTERRUPTED] if fleet.interrupted else [])])
