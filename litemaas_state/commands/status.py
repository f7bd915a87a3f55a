"""`litemaas-state status FILE`: a live summary replacing the runbook's ad-hoc commands (`oc get
deployments -o wide`, `oc get pods -l app=litellm-redis`, `curl …/health/…`, `psql … count(*) FROM
subscriptions`, the admin SELECT): versions, replicas ready/desired, Redis and LiteLLM health, key counts
(total, expired, prunable), admins, active subscriptions. Read-only; ``--json`` for machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litemaas_state import names
from litemaas_state.commands.common import ConnectOptions, Deps, connect, read_state
from litemaas_state.errors import ExitCode, LitemaasStateError
from litemaas_state.live import litellm_api, litemaas_db
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.observe import observe
from litemaas_state.plan.keys import prune_rule
from litemaas_state.spec.model import KeyRetention

STATUS_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class StatusOptions:
    state_file: Path
    as_json: bool = False
    connect: ConnectOptions = ConnectOptions()


def run(opts: StatusOptions, deps: Deps) -> ExitCode:
    state = read_state(opts.state_file)
    conns = connect(state, opts.connect)
    now = deps.now()
    live = observe(state.desired, KubeReader(conns.kube), conns.discovery, now=now, everything=True)
    report: dict[str, Any] = {"format_version": STATUS_FORMAT_VERSION, "environment": state.desired.metadata.name,
                              "namespace": live.namespace, "observed_at": now.isoformat()}
    report["deployments"] = {
        name: {"image": next((c.image for c in w.containers if c.name == names.MAIN_CONTAINER[names.Component(name)]),
                             None),
               "replicas": w.replicas, "ready": w.ready_replicas, "available": w.available_replicas,
               "revision": w.revision}
        for name, w in live.workloads.items()
    }
    report["missing_deployments"] = list(live.missing)
    report["redis"] = {"ready": live.redis.ready if live.redis else None,
                       "pods_ready": live.redis.pods_ready if live.redis else 0,
                       "ping": live.redis.ping if live.redis else None}
    url, key = conns.discovery.litellm_url(), conns.discovery.master_key()
    if url and key:
        with litellm_api.make_client(url, key) as client:
            alive, ready, detail = litellm_api.health(client)
        report["litellm"] = {"alive": alive, "ready": ready, "detail": detail}
    policy = state.desired.key_retention or KeyRetention()
    keys = live.keys or ()
    report["keys"] = {
        "total": len(keys),
        "expired": sum(1 for k in keys if k.expires is not None and k.expires < now),
        "never_expire": sum(1 for k in keys if k.expires is None),
        "prunable": sum(1 for k in keys if prune_rule(k, policy, now, frozenset()) is not None),
    }
    report["admins"] = sorted(u.email for u in (live.users or ())
                              if names.ROLE_ADMIN in u.roles and u.id != names.SYSTEM_USER_ID)
    db = conns.discovery.database("litemaas")
    try:
        report["active_subscriptions"] = litemaas_db.count_active_subscriptions(db) if db else None
    except LitemaasStateError:
        report["active_subscriptions"] = None
    out = deps.output
    if opts.as_json:
        out.echo(json.dumps(report, indent=2, default=str))
        return ExitCode.OK
    out.echo(f"Environment {report['environment']} (namespace {report['namespace']})\n")
    out.echo(f"{'DEPLOYMENT':<18} {'READY':>7} {'REV':>4}  IMAGE")
    for name, d in report["deployments"].items():
        out.echo(f"{name:<18} {d['available']:>3}/{d['replicas']:<3} {d['revision']:>4}  {d['image']}")
    for name in report["missing_deployments"]:
        out.echo(f"{name:<18} missing")
    r = report["redis"]
    out.echo(f"\nRedis:    {'ready' if r['ready'] else 'NOT READY'} (pods ready {r['pods_ready']}, "
             f"ping {'n/a' if r['ping'] is None else 'ok' if r['ping'] else 'failed'})")
    if "litellm" in report:
        h = report["litellm"]
        out.echo(f"LiteLLM:  {'alive' if h['alive'] else 'NOT ALIVE'}, {'ready' if h['ready'] else 'NOT READY'} "
                 f"({h['detail']})")
    k = report["keys"]
    out.echo(f"Keys:     {k['total']} total, {k['expired']} expired, {k['never_expire']} never expire, "
             f"{k['prunable']} prunable under the state file's key_retention")
    out.echo(f"Admins:   {len(report['admins'])}: {', '.join(report['admins'])}")
    out.echo(f"Active subscriptions: {report['active_subscriptions']}")
    return ExitCode.OK
