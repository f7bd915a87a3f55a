"""Shared wiring for the verbs: reading state files, output, connecting, observing and planning."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from litemaas_state.errors import Diagnostic, Severity, SourceLocation, StateFileError
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.live.model import LiveState
from litemaas_state.live.observe import observe
from litemaas_state.plan.model import Plan
from litemaas_state.plan.planner import make_plan
from litemaas_state.redact import scrub
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import DesiredState


@dataclass
class Output:
    """Where commands write. Every write is scrubbed of secrets (redact.py)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False

    def echo(self, text: str = "", *, err: bool = False, nl: bool = True) -> None:
        click.echo(scrub(text), file=self.err if err else self.out, nl=nl, color=self.color)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Dependencies of a command run: the clock and the output (tests pass their own)."""

    output: Output = field(default_factory=Output)
    now: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class StateFile:
    path: Path
    text: str
    digest: str
    desired: DesiredState


def read_state(path: Path) -> StateFile:
    """Read and validate a state file.

    Raises:
        StateFileError: unreadable file, or every validation problem with file:line and field path.
    """
    if path.is_dir():
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary="is a directory, not a state file", location=SourceLocation(file=str(path)),
        )])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"cannot read the state file: {exc.strerror or exc}",
            location=SourceLocation(file=str(path)),
        )]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"the state file is not UTF-8 text ({exc.reason})",
            location=SourceLocation(file=str(path), line=line, column=column),
        )]) from None
    return state_from_text(text, path)


def state_from_text(text: str, path: Path) -> StateFile:
    """Validate state-file text (e.g. the copy embedded in a saved plan). Raises StateFileError."""
    desired = parse_state(text, str(path))
    return StateFile(path=path, text=text, digest=hashlib.sha256(text.encode()).hexdigest(), desired=desired)


@dataclass(frozen=True)
class ConnectOptions:
    """Connection flags; ``None`` means "from the environment, else discovered"."""

    kubeconfig: str | None = None
    context: str | None = None
    data_plane: DataPlaneFlags = DataPlaneFlags()


@dataclass(frozen=True)
class Connections:
    """The Kubernetes connection and the data-plane discovery for one environment. A context manager:
    leaving it closes every port-forward the run opened."""

    kube: KubeConnection
    discovery: Discovery

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discovery.close()


def connect_namespace(namespace: str, context: str | None, opts: ConnectOptions) -> Connections:
    """Connect to ``namespace`` (context: the flag, else the given one, else current-context)."""
    kube = connect_kube(namespace, context=opts.context or context, kubeconfig=opts.kubeconfig or None)
    return Connections(kube=kube, discovery=Discovery(opts.data_plane, KubeReader(kube)))


def connect(state: StateFile, opts: ConnectOptions) -> Connections:
    return connect_namespace(state.desired.target.namespace, state.desired.target.context, opts)


def observe_and_plan(state: StateFile, conns: Connections, now: datetime,
                     targets: tuple[str, ...] = ()) -> tuple[LiveState, Plan]:
    live = observe(state.desired, KubeReader(conns.kube), conns.discovery, now=now)
    plan = make_plan(state.desired, live, now=now, state_file=str(state.path), state_digest=state.digest,
                     targets=targets)
    return live, plan.model_copy(update={"context": conns.kube.context, "server": conns.kube.server,
                                         "connections": conns.discovery.paths()})


def use_color(flag: bool | None, stream: TextIO) -> bool:
    """Colour when asked, else when writing to a terminal and NO_COLOR is unset."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())
