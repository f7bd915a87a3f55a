"""`litemaas-state status FILE`: a live summary replacing the runbook's ad-hoc commands (`oc get
deployments -o wide`, `oc get pods -l app=litellm-redis`, `curl …/health/…`, `psql … count(*) FROM
subscriptions`, the admin SELECT): versions, rollout state, replicas ready/desired, Redis and LiteLLM
health, key counts (total, expired, prunable), admins, active subscriptions. Read-only; ``--json``.

Each source is read on its own: one that cannot be reached is reported as such and the rest is still
shown (a health summary must work while something is down). Exit 1 when the Kubernetes API cannot be
reached, when no managed Deployment exists, or when a Deployment's last rollout failed (kubectl's
ProgressDeadlineExceeded verdict, live/rollout.py): a failed rollout is not a healthy deployment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from litemaas_state import names
from litemaas_state.commands.common import Connections, ConnectOptions, Deps, StateFile, connect, read_state
from litemaas_state.errors import ExitCode, LitemaasStateError
from litemaas_state.live import litellm_api, litemaas_db, tokens
from litemaas_state.live import redis as redis_reader
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import LiveState
from litemaas_state.live.rollout import RolloutPhase, rollout_status
from litemaas_state.plan.keys import protected_user_ids, prune_rule
from litemaas_state.render.escape import terminal
from litemaas_state.render.text import connection_line
from litemaas_state.spec.model import KeyRetention

STATUS_FORMAT_VERSION = "1.2"  # 1.1: failed_rollouts; 1.2: connection_lines
T = TypeVar("T")


@dataclass(frozen=True)
class StatusOptions:
    state_file: Path
    as_json: bool = False
    connect: ConnectOptions = ConnectOptions()


def _try(fn: Callable[[], T]) -> tuple[T | None, str | None]:
    try:
        return fn(), None
    except LitemaasStateError as exc:
        return None, str(exc)


def collect(opts: StatusOptions, deps: Deps) -> dict[str, Any]:
    """The status report as a JSON-able dict (format_version 1.1: ``connections`` added)."""
    state = read_state(opts.state_file)
    with connect(state, opts.connect) as conns:
        report = _collect(state, conns, deps)
        report["connections"] = [c.model_dump(mode="json") for c in conns.discovery.paths()]
        report["connection_lines"] = [connection_line(c) for c in conns.discovery.paths()]
    return report


def _collect(state: StateFile, conns: Connections, deps: Deps) -> dict[str, Any]:
    kube = KubeReader(conns.kube)
    now = deps.now()
    report: dict[str, Any] = {"format_version": STATUS_FORMAT_VERSION, "environment": state.desired.metadata.name,
                              "namespace": conns.kube.namespace, "observed_at": now.isoformat()}
    deployments: dict[str, Any] = {}
    missing = []
    for component in names.Component:
        w = kube.deployment(component.value)
        if w is None:
            missing.append(component.value)
            continue
        main = w.container(names.MAIN_CONTAINER[component])
        verdict = rollout_status(w)
        deployments[component.value] = {
            "image": main.image if main else None, "replicas": w.replicas, "ready": w.ready_replicas,
            "available": w.available_replicas, "revision": w.revision, "rollout": verdict.phase.value,
            "rollout_message": verdict.message, "paused": w.paused,
            "init_images": {c.name: c.image for c in w.containers if c.init},
        }
    report["deployments"] = deployments
    report["missing_deployments"] = missing
    report["failed_rollouts"] = sorted(n for n, d in deployments.items() if d["rollout"] == RolloutPhase.FAILED.value)

    ready, total = kube.pods_ready(names.SELECTOR[names.Component.REDIS])
    redis_url, redis_error = _try(conns.discovery.redis_url)
    ping: tuple[bool | None, str] | None = None
    ping_error: str | None = redis_error
    if redis_url:
        ping, ping_error = _try(lambda: redis_reader.ping(redis_url, discovered=conns.discovery.redis_discovered))
    elif not redis_error:
        ping = (None, "no REDIS_URL")
    report["redis"] = {"pods_ready": ready, "pods_total": total,
                       "ping": ping[0] if ping else None, "detail": ping_error or (ping[1] if ping else None)}
    report["redis"]["ready"] = ready > 0 and report["redis"]["ping"] is not False

    policy = state.desired.key_retention or KeyRetention()
    url, url_error = _try(conns.discovery.litellm_url)
    key = conns.discovery.master_key()
    if url:
        def health() -> tuple[bool, bool, str]:
            with litellm_api.make_client(url, key or "") as client:  # health needs no key
                return litellm_api.health(client)

        got_health, err = _try(health)
        alive, ready_, detail = got_health if got_health else (False, False, err or "")
        report["litellm"] = {"alive": alive, "ready": ready_, "detail": detail}
    else:
        report["litellm"] = {"alive": None, "ready": None, "detail": url_error or "LiteLLM URL unknown"}
    report["keys"] = None
    report["keys_error"] = None
    db, db_error = _try(lambda: conns.discovery.database("litemaas"))
    users, users_error = _try(lambda: litemaas_db.read_users(db)) if db is not None else (None, db_error or "unknown")
    protected, _ = protected_user_ids(policy, LiveState(observed_at=now, namespace=conns.kube.namespace,
                                                        users=users))
    if url and key:
        def list_keys() -> Any:  # LiteLLM's database when trusted (live/tokens.py), else /key/list
            with litellm_api.make_client(url, key) as client:
                return tokens.read_keys(client, conns.discovery.database("litellm"))[0]

        keys, report["keys_error"] = _try(list_keys)
        if keys is not None:
            report["keys"] = {
                "total": len(keys),
                "expired": sum(1 for k in keys if k.expires is not None and k.expires < now),
                "never_expire": sum(1 for k in keys if k.expires is None),
                "prunable": sum(1 for k in keys if prune_rule(k, policy, now, protected) is not None),
            }
    else:
        report["keys_error"] = "LiteLLM URL or master key unknown"

    if db is not None:
        err = users_error
        report["admins"] = sorted(u.email for u in users or ()
                                  if names.ROLE_ADMIN in u.roles and u.id != names.SYSTEM_USER_ID) if users else None
        subs, err2 = _try(lambda: litemaas_db.count_active_subscriptions(db))
        report["active_subscriptions"] = subs
        report["litemaas_db_error"] = err or err2
    else:
        report["admins"] = None
        report["active_subscriptions"] = None
        report["litemaas_db_error"] = db_error or "LiteMaaS database unknown"
    return report


def run(opts: StatusOptions, deps: Deps) -> ExitCode:
    """Print the report; exit 1 when no managed Deployment exists (wrong namespace or cluster) or a
    Deployment's last rollout failed.

    Every value read from the world (images, messages, e-mails, error text) is shown through
    render/escape.py ``terminal``; ``deps.output.color`` colours what is not healthy.
    """
    report = collect(opts, deps)
    out = deps.output
    code = ExitCode.OK if report["deployments"] and not report["failed_rollouts"] else ExitCode.ERROR
    if opts.as_json:
        out.echo(json.dumps(report, indent=2, default=str))
        return code
    t = terminal

    def bad(text: str) -> str:
        return click.style(text, fg="red", bold=True) if out.color else text

    out.echo(f"Environment {t(report['environment'])} (namespace {t(report['namespace'])})\n")
    if report["connection_lines"]:
        out.echo("Connections:\n" + "".join(f"  {t(line)}\n" for line in report["connection_lines"]))
    out.echo(f"{'DEPLOYMENT':<18} {'READY':>7} {'REV':>4}  {'ROLLOUT':<9} IMAGE")
    for name, d in report["deployments"].items():
        rollout = "paused" if d.get("paused") else d["rollout"]
        shown = f"{rollout:<9}" if rollout == "complete" else bad(f"{rollout:<9}")
        out.echo(f"{name:<18} {d['available']:>3}/{d['replicas']:<3} {d['revision']:>4}  {shown} {t(d['image'])}")
        for init, image in d.get("init_images", {}).items():
            if image != d["image"] and image.split(":")[0] == (d["image"] or "").split(":")[0]:
                out.echo(f"{'':<18} init {t(init)} runs {t(image)}")
        if d["rollout"] != "complete":
            out.echo(f"{'':<18} {t(d['rollout_message'])}")
    for name in report["missing_deployments"]:
        out.echo(f"{name:<18} {bad('missing')}")
    r = report["redis"]
    ping = "n/a" if r["ping"] is None else "ok" if r["ping"] else "failed"
    out.echo(f"\nRedis:    {'ready' if r['ready'] else bad('NOT READY')} (pods ready {r['pods_ready']}/{r['pods_total']}, "
             f"ping {ping}{': ' + t(r['detail']) if r['detail'] and not r['ping'] else ''})")
    h = report["litellm"]
    state = "unknown" if h["alive"] is None else (
        f"{'alive' if h['alive'] else bad('NOT ALIVE')}, {'ready' if h['ready'] else bad('NOT READY')}")
    out.echo(f"LiteLLM:  {state} ({t(h['detail'])})")
    k = report["keys"]
    if k is None:
        out.echo(f"Keys:     unknown ({t(report['keys_error'])})")
    else:
        out.echo(f"Keys:     {k['total']} total, {k['expired']} expired, {k['never_expire']} never expire, "
                 f"{k['prunable']} prunable under the state file's key_retention")
    if report["admins"] is None:
        out.echo(f"Admins:   unknown ({t(report['litemaas_db_error'])})")
    else:
        out.echo(f"Admins:   {len(report['admins'])}: {', '.join(t(a) for a in report['admins'])}")
    out.echo(f"Active subscriptions: {report['active_subscriptions'] if report['active_subscriptions'] is not None else 'unknown'}")
    for name in report["failed_rollouts"]:
        out.echo(f"\nError: deployment/{t(name)}: the last rollout failed: "
                 f"{t(report['deployments'][name]['rollout_message'])}", err=True)
    if not report["deployments"]:
        out.echo(f"\nError: no managed Deployment exists in namespace {t(report['namespace'])} (wrong namespace, "
                 "context or cluster?)", err=True)
    return code
