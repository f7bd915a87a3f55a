"""`litemaas-state status FILE`: a live summary replacing the runbook's ad-hoc commands (`oc get
deployments -o wide`, `oc get pods -l app=litellm-redis`, `curl …/health/…`, `psql … count(*) FROM
subscriptions`, the admin SELECT): versions, rollout state, replicas ready/desired, Redis and LiteLLM
health, key counts (total, expired, prunable), admins, active subscriptions. Read-only; ``--json``.

The world is read by ``observe(everything=True, tolerant=True)`` (live/observe.py): a part that cannot
be read is reported as such and the rest is still shown (a health summary must work while something is
down). The report is a ``StatusDocument`` (render/status.py), built by the planner's rules. Exit 1 when
the Kubernetes API cannot be reached, when no managed Deployment exists, or when a Deployment's last
rollout failed (kubectl's ProgressDeadlineExceeded verdict, live/rollout.py): a failed rollout is not a
healthy deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litemaas_state.commands.common import ConnectOptions, Deps, connect, read_state
from litemaas_state.errors import ExitCode
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.observe import observe
from litemaas_state.render.status import StatusDocument, build_status, render_status, status_errors


@dataclass(frozen=True)
class StatusOptions:
    state_file: Path
    as_json: bool = False
    connect: ConnectOptions = ConnectOptions()


def collect(opts: StatusOptions, deps: Deps) -> StatusDocument:
    """Observe (tolerantly) and build the status document.

    Raises:
        StateFileError: the state file is invalid. ConfigError / ObserveError: the Kubernetes API cannot
        be used (no configuration, unreachable, the Deployments cannot be read).
    """
    state = read_state(opts.state_file)
    with connect(state, opts.connect) as conns:
        live = observe(state.desired, KubeReader(conns.kube), conns.discovery, now=deps.now(), everything=True,
                       tolerant=True)
    return build_status(state.desired, live)


def run(opts: StatusOptions, deps: Deps) -> ExitCode:
    """Print the report (text, or the JSON of the model); exit 1 when no managed Deployment exists (wrong
    namespace or cluster) or a Deployment's last rollout failed."""
    doc = collect(opts, deps)
    out = deps.output
    if opts.as_json:
        out.echo(doc.model_dump_json(indent=2))
    else:
        out.echo(render_status(doc, color=out.color))
        for line in status_errors(doc):
            out.echo(f"\n{line}", err=True)
    return ExitCode.OK if doc.healthy else ExitCode.ERROR
