"""The status document: a frozen, versioned summary of one observation (``observe(everything=True,
tolerant=True)``), built by the planner's rules, and its text rendering. ``--json`` prints the model.

Rules shared with the planner: who counts as an admin (plan/admins.py ``counts_as_admin``: holds
``admin``, active, not the system user), which keys are prunable (plan/keys.py ``prune_rule`` under the
state file's ``key_retention``, its ``protect_users`` resolved by ``protected_user_ids``), an image's
repository (spec/model.py ``image_repository``, so ``registry:5000/repo:tag`` keeps its port) and a
rollout's verdict (live/rollout.py ``rollout_status``, kubectl's).

Format versions: 2.0 typed (``parts`` replaces ``keys_error`` and ``litemaas_db_error``; ``rollout`` is
``paused`` when the Deployment is paused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import click
from pydantic import BaseModel, ConfigDict

from litemaas_state import names
from litemaas_state.live.model import ConnectionPath, LiveState, Part, PartState, PartStatus
from litemaas_state.live.rollout import RolloutPhase, rollout_status
from litemaas_state.names import Component
from litemaas_state.plan.admins import counts_as_admin
from litemaas_state.plan.keys import protected_user_ids, prune_rule
from litemaas_state.render.escape import terminal
from litemaas_state.render.text import connection_line
from litemaas_state.spec.model import DesiredState, KeyRetention, image_repository

STATUS_FORMAT_VERSION: Final = "2.0"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeploymentStatus(_Frozen):
    """One managed Deployment: its main container's image, replica counts, revision and rollout verdict.

    ``init_images``: every init container's image; ``lagging_init``: those init containers that run the
    main container's repository at another tag (an image change left them behind)."""

    image: str | None
    replicas: int
    ready: int
    available: int
    revision: int
    rollout: RolloutPhase
    rollout_message: str
    paused: bool
    init_images: dict[str, str]
    lagging_init: tuple[str, ...] = ()


class RedisReport(_Frozen):
    pods_ready: int
    pods_total: int
    ping: bool | None
    detail: str | None
    ready: bool


class LiteLLMReport(_Frozen):
    """``alive``/``ready`` None when the API could not be asked (its part failed)."""

    alive: bool | None
    ready: bool | None
    detail: str


class KeyCounts(_Frozen):
    total: int
    expired: int
    never_expire: int
    prunable: int


class StatusDocument(_Frozen):
    """Everything ``status`` shows. A field is None when its part could not be read; ``parts`` says why."""

    format_version: Literal["2.0"] = STATUS_FORMAT_VERSION
    environment: str
    namespace: str
    observed_at: datetime
    connections: tuple[ConnectionPath, ...] = ()
    connection_lines: tuple[str, ...] = ()
    deployments: dict[str, DeploymentStatus]
    missing_deployments: tuple[str, ...] = ()
    failed_rollouts: tuple[str, ...] = ()
    redis: RedisReport
    litellm: LiteLLMReport
    keys: KeyCounts | None = None
    admins: tuple[str, ...] | None = None
    active_subscriptions: int | None = None
    parts: tuple[PartStatus, ...] = ()

    def why(self, part: Part, default: str = "not read") -> str:
        """The error of ``part`` when it failed, else ``default``."""
        got = next((p for p in self.parts if p.part == part), None)
        return got.error if got is not None and got.state != PartState.OK else default

    @property
    def healthy(self) -> bool:
        """At least one managed Deployment exists and no rollout failed (status exits 1 otherwise)."""
        return bool(self.deployments) and not self.failed_rollouts


def build_status(desired: DesiredState, live: LiveState) -> StatusDocument:
    """The status document of ``live`` (observed for ``desired``). Pure: the clock is ``live.observed_at``."""
    layout = names.layout(live.layout)
    deployments: dict[str, DeploymentStatus] = {}
    for component in Component:
        w = live.workloads.get(component)
        if w is None:
            continue
        main = w.container(layout.main_containers[component])
        verdict = rollout_status(w)
        repo = image_repository(main.image) if main else None
        inits = {c.name: c.image for c in w.containers if c.init}
        deployments[layout.deployment(component)] = DeploymentStatus(
            image=main.image if main else None, replicas=w.replicas, ready=w.ready_replicas,
            available=w.available_replicas, revision=w.revision, rollout=verdict.phase,
            rollout_message=verdict.message, paused=w.paused, init_images=inits,
            lagging_init=tuple(n for n, image in inits.items()
                               if main is not None and image != main.image and image_repository(image) == repo),
        )
    r = live.redis
    redis = RedisReport(pods_ready=r.pods_ready, pods_total=r.pods_total, ping=r.ping, detail=r.detail or None,
                        ready=r.ready) if r else RedisReport(pods_ready=0, pods_total=0, ping=None, ready=False,
                                                             detail=_why(live, Part.REDIS))
    h = live.litellm_health
    litellm = LiteLLMReport(alive=h.alive, ready=h.ready, detail=h.detail) if h else \
        LiteLLMReport(alive=None, ready=None, detail=_why(live, Part.LITELLM_HEALTH))
    policy = desired.key_retention or KeyRetention()
    keys = None
    if live.keys is not None:
        protected, _ = protected_user_ids(policy, live)
        now = live.observed_at
        keys = KeyCounts(
            total=len(live.keys),
            expired=sum(1 for k in live.keys if k.expires is not None and k.expires < now),
            never_expire=sum(1 for k in live.keys if k.expires is None),
            prunable=sum(1 for k in live.keys if prune_rule(k, policy, now, protected) is not None),
        )
    return StatusDocument(
        environment=desired.metadata.name, namespace=live.namespace, observed_at=live.observed_at,
        connections=live.connections, connection_lines=tuple(connection_line(c) for c in live.connections),
        deployments=deployments, missing_deployments=tuple(layout.deployment(c) for c in live.missing),
        failed_rollouts=tuple(sorted(n for n, d in deployments.items() if d.rollout == RolloutPhase.FAILED)),
        redis=redis, litellm=litellm, keys=keys,
        admins=tuple(sorted(u.email for u in live.users if counts_as_admin(u))) if live.users is not None else None,
        active_subscriptions=live.active_subscriptions, parts=live.parts,
    )


def _why(live: LiveState, part: Part) -> str:
    got = live.part(part)
    return got.error if got is not None and got.state != PartState.OK else "not read"


def render_status(doc: StatusDocument, color: bool = False) -> str:
    """The text report (stdout). Every world value (images, messages, e-mails, error text) goes through
    render/escape.py ``terminal``; with ``color`` what is not healthy is red."""
    t = terminal

    def bad(text: str) -> str:
        return click.style(text, fg="red", bold=True) if color else text

    lines = [f"Environment {t(doc.environment)} (namespace {t(doc.namespace)})", ""]
    if doc.connection_lines:
        lines += ["Connections:", *(f"  {t(line)}" for line in doc.connection_lines), ""]
    lines.append(f"{'DEPLOYMENT':<18} {'READY':>7} {'REV':>4}  {'ROLLOUT':<9} IMAGE")
    for name, d in doc.deployments.items():
        rollout = "paused" if d.paused else d.rollout.value
        shown = f"{rollout:<9}" if rollout == RolloutPhase.COMPLETE else bad(f"{rollout:<9}")
        lines.append(f"{name:<18} {d.available:>3}/{d.replicas:<3} {d.revision:>4}  {shown} {t(d.image or '')}")
        lines += [f"{'':<18} init {t(init)} runs {t(d.init_images[init])}" for init in d.lagging_init]
        if d.rollout != RolloutPhase.COMPLETE:
            lines.append(f"{'':<18} {t(d.rollout_message)}")
    lines += [f"{name:<18} {bad('missing')}" for name in doc.missing_deployments]
    r = doc.redis
    ping = "n/a" if r.ping is None else "ok" if r.ping else "failed"
    lines.append(f"\nRedis:    {'ready' if r.ready else bad('NOT READY')} (pods ready {r.pods_ready}/{r.pods_total}, "
                 f"ping {ping}{': ' + t(r.detail) if r.detail and not r.ping else ''})")
    h = doc.litellm
    state = "unknown" if h.alive is None else (
        f"{'alive' if h.alive else bad('NOT ALIVE')}, {'ready' if h.ready else bad('NOT READY')}")
    lines.append(f"LiteLLM:  {state} ({t(h.detail)})")
    k = doc.keys
    if k is None:
        lines.append(f"Keys:     unknown ({t(doc.why(Part.KEYS))})")
    else:
        lines.append(f"Keys:     {k.total} total, {k.expired} expired, {k.never_expire} never expire, "
                     f"{k.prunable} prunable under the state file's key_retention")
    if doc.admins is None:
        lines.append(f"Admins:   unknown ({t(doc.why(Part.USERS))})")
    else:
        lines.append(f"Admins:   {len(doc.admins)}: {', '.join(t(a) for a in doc.admins)}")
    subs = doc.active_subscriptions
    lines.append(f"Active subscriptions: {subs if subs is not None else 'unknown'}")
    return "\n".join(lines)


def status_errors(doc: StatusDocument) -> list[str]:
    """The error lines (stderr) behind a non-zero exit: each failed rollout, and no managed Deployment."""
    out = [f"Error: deployment/{terminal(name)}: the last rollout failed: "
           f"{terminal(doc.deployments[name].rollout_message)}" for name in doc.failed_rollouts]
    if not doc.deployments:
        out.append(f"Error: no managed Deployment exists in namespace {terminal(doc.namespace)} (wrong namespace, "
                   "context or cluster?)")
    return out
