"""Shared wiring for the verbs: connecting, observing and planning (output and state files: base.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litemaas_state import names
from litemaas_state.commands.base import (  # noqa: F401 - re-exported for the verbs
    Deps,
    Output,
    StateFile,
    diagnostic_text,
    error_text,
    read_state,
    state_files,
    state_from_text,
    use_color,
    utc_now,
)
from litemaas_state.errors import ConfigError, Diagnostic, Severity
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.live.model import LiveState
from litemaas_state.live.observe import observe
from litemaas_state.names import LayoutName
from litemaas_state.plan.model import Plan
from litemaas_state.plan.planner import TARGET_HINT, make_plan, unknown_targets
from litemaas_state.redact import weak_secrets


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


def connect_namespace(namespace: str, context: str | None, opts: ConnectOptions,
                      layout: LayoutName = LayoutName.RHPDS) -> Connections:
    """Connect to ``namespace`` (context: the flag, else the given one, else current-context), naming objects
    as ``layout`` does."""
    kube = connect_kube(namespace, context=opts.context or context, kubeconfig=opts.kubeconfig or None)
    return Connections(kube=kube, discovery=Discovery(opts.data_plane, KubeReader(kube), layout=names.layout(layout)))


def connect(state: StateFile, opts: ConnectOptions) -> Connections:
    target = state.desired.target
    return connect_namespace(target.namespace, target.context, opts, target.layout)


def check_targets(state: StateFile, targets: tuple[str, ...]) -> None:
    """Refuse ``--target`` values that match nothing in the state file, before any cluster read.

    Raises:
        ConfigError: naming each such target and the state file.
    """
    unknown = unknown_targets(state.desired, targets)
    if unknown:
        raise ConfigError(f"--target {', '.join(repr(t) for t in unknown)} matches no phase, address or action "
                          f"of {state.path}. {TARGET_HINT}")


def observe_and_plan(state: StateFile, conns: Connections, now: datetime,
                     targets: tuple[str, ...] = ()) -> tuple[LiveState, Plan]:
    live = observe(state.desired, KubeReader(conns.kube), conns.discovery, now=now)
    plan = make_plan(state.desired, live, now=now, state_file=str(state.path), state_digest=state.digest,
                     targets=targets)
    return live, plan.model_copy(update={"context": conns.kube.context, "server": conns.kube.server,
                                         "diagnostics": plan.diagnostics + weak_secret_warnings(),
                                         "connections": conns.discovery.paths()})


def weak_secret_warnings() -> tuple[Diagnostic, ...]:
    """One warning per secret too weak to be masked by value (redact.py ``is_strong``)."""
    return tuple(Diagnostic(
        severity=Severity.WARNING, code="weak_secret",
        summary=f"{what} is weak (short or a common word): output masks it only where it appears as a "
                "secret (in URLs, password fields and headers), not inside names",
        detail="Rotate it to a long random value (at least 12 characters of three kinds, or 20 of any).",
    ) for what in weak_secrets())

