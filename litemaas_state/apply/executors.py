"""The executor registry: action kind → the module-level function that carries it out.

Each executor is ``execute_<kind>(action, deps, report) -> str`` (a one-line outcome), taking its
dependencies explicitly in ``ExecutorDeps``, so each can be run on its own (tests/apply/test_executors.py).
``EXECUTORS`` maps every kind of plan/kinds.py to its action class and executor; ``build_executors``
binds them to one apply's dependencies. Executors act on typed action fields only; ``reason`` and
``notes`` are for humans (Terraform's ActionReason rule, hashicorp/terraform ``internal/plans``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litemaas_state import names
from litemaas_state.apply import admins as admin_writes
from litemaas_state.apply import backup as backup_writes
from litemaas_state.apply import keys as key_writes
from litemaas_state.apply.kube import KubeWriter
from litemaas_state.apply.model import ApplyEvent, EventKind, Reporter
from litemaas_state.apply.runner import Executor
from litemaas_state.errors import (
    ApplyError,
    BackupFailed,
    ConfigError,
    Forbidden,
    LitemaasStateError,
    RolloutFailed,
)
from litemaas_state.live import litellm_api
from litemaas_state.live.connect import DatabaseTarget, Discovery
from litemaas_state.plan.backup import prefix_of
from litemaas_state.plan.kinds import live_replicas, roles_before
from litemaas_state.plan.model import (
    Action,
    AdminAction,
    BackupAction,
    DeleteKeysAction,
    RestartAction,
    RevokeRowsAction,
    ScaleAction,
    ScaleToOneUpgradeAction,
    SetImageAction,
    WaitRolloutAction,
)

HEALTH_WAIT_S = 60.0


@dataclass
class ApplyContext:
    """What the executors share during one apply: the backups written so far (for rollback reports), and
    what counted actions really did: ``counts[action_id]`` = (added, changed, destroyed) resources as the
    plan counts them, ``partial[action_id]`` = what a failed action did before it stopped."""

    backups: list[str] = field(default_factory=list)
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    partial: dict[str, str] = field(default_factory=dict)


def _info(report: Reporter, action: Action, message: str) -> None:
    report(ApplyEvent(kind=EventKind.INFO, action_id=action.id, address=action.address, message=message))


@dataclass
class ExecutorDeps:
    """What executors need: the Kubernetes writer, the data-plane discovery (databases, LiteLLM API), the
    shared apply context, and the clock and sleep used while waiting for LiteLLM's health."""

    kube: KubeWriter
    discovery: Discovery
    ctx: ApplyContext = field(default_factory=ApplyContext)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def _database(deps: ExecutorDeps, role: str) -> DatabaseTarget:
    db = deps.discovery.database(role)
    if db is None:
        raise ConfigError(f"the {role} database is unknown")
    return db


def check_litellm_health(action: Action, deps: ExecutorDeps, report: Reporter) -> None:
    """Wait up to HEALTH_WAIT_S for LiteLLM's liveliness and readiness endpoints (live/litellm_api.py).

    Raises:
        ApplyError: not healthy by the deadline.
    """
    url, key = deps.discovery.litellm_url(), deps.discovery.master_key()
    if not url or not key:
        _info(report, action, "LiteLLM health not checked: the API URL or master key is unknown")
        return
    deadline = deps.clock() + HEALTH_WAIT_S
    with litellm_api.make_client(url, key) as client:
        while True:
            alive, ready, detail = litellm_api.health(client)
            if alive and ready:
                _info(report, action, f"LiteLLM is alive and ready ({detail})")
                return
            if deps.clock() > deadline:
                raise ApplyError(f"{action.address}: LiteLLM is not healthy after the rollout: {detail}")
            deps.sleep(1.0)


def _rollout_or_rollback(action: SetImageAction | ScaleToOneUpgradeAction | RestartAction | WaitRolloutAction,
                         deps: ExecutorDeps,
                         report: Reporter) -> None:
    kube = deps.kube
    try:
        kube.wait_rollout(action.deployment, action.address, action.id, report)
    except RolloutFailed as exc:
        if action.on_failure != "rollback":
            raise
        _info(report, action, "rollout failed; rolling back as `kubectl rollout undo` does (on_failure: rollback)")
        revision = kube.rollback(action.deployment)
        kube.wait_rollout(action.deployment, action.address, action.id, report)
        note = ""
        if deps.ctx.backups:
            note = ("; the image is rolled back but LiteLLM's schema migration is not: the database backup "
                    "taken before the change is " + ", ".join(deps.ctx.backups))
        raise RolloutFailed(f"{exc}; rolled back to revision {revision}{note}") from exc


def execute_set_image(action: SetImageAction, deps: ExecutorDeps, report: Reporter) -> str:
    """``kubectl set image`` on the planned containers, wait for the rollout (``on_failure``), then LiteLLM's
    health after a LiteLLM change."""
    deps.kube.set_image(action.deployment, action.image, action.containers, action.init_containers)
    _rollout_or_rollback(action, deps, report)
    if action.component == names.Component.LITELLM:
        check_litellm_health(action, deps, report)
    return f"rolled out {action.image}"


def left_at_one(action: ScaleToOneUpgradeAction, before: int) -> str:
    """The sentence a failed scale-to-one upgrade adds once the Deployment was scaled to 1: where it is left,
    and how to recover (apply again; the next plan sees the image and the replica count, plan/upgrade.py)."""
    back = (f"scales it back to {action.replicas_after}" if action.replicas_declared else
            f"does not scale it back, because replicas is not declared: declare replicas: {before} or run "
            f"`kubectl scale {action.address} --replicas={before}`")
    return (f"{action.address} is left at 1 replica (it ran {before}): fix the cause and run apply again; the "
            f"next plan rolls out the declared image at 1 replica if it is not yet, then {back}")


def _with_note(exc: LitemaasStateError, note: str) -> LitemaasStateError:
    """``exc`` (same class where it is an ApplyError, else an ApplyError) with ``note`` appended."""
    message = f"{exc}; {note}"
    return type(exc)(message, status=exc.status) if isinstance(exc, ApplyError) else ApplyError(message)


def execute_scale_to_one_upgrade(action: ScaleToOneUpgradeAction, deps: ExecutorDeps, report: Reporter) -> str:
    """``upgrade_strategy: scale-to-one`` (plan/upgrade.py): scale to 1 and wait; set the image and wait for the
    rollout (``on_failure`` as for a set_image); check LiteLLM's health; scale back to ``replicas_after`` and
    wait. A failure after the scale to 1 stops with the error plus ``left_at_one`` (and ``ctx.partial``
    says so too, also when the apply is interrupted).

    Raises:
        ApplyError: the plan file lost the recorded replicas; any step's ApplyError (RolloutFailed, …), with
        where the Deployment is left.
    """
    before = live_replicas(action)
    if before is None:
        raise ApplyError(f"{action.id}: no recorded replica count to scale back from (plan file edited?)")
    kube, name = deps.kube, action.deployment
    _info(report, action, f"step 1/4: scaling from {before} to 1 replica, so that one pod runs the migrations")
    kube.scale(name, 1)
    deps.ctx.partial[action.id] = f"scaled from {before} to 1 replica, where it is left until an apply scales it back"
    try:
        kube.wait_rollout(name, action.address, action.id, report)
        _info(report, action, f"step 2/4: setting {action.image} at 1 replica")
        kube.set_image(name, action.image, action.containers, action.init_containers)
        _rollout_or_rollback(action, deps, report)
        if action.component == names.Component.LITELLM:
            _info(report, action, "step 3/4: checking LiteLLM's health")
            check_litellm_health(action, deps, report)
        if action.replicas_after != 1:
            _info(report, action, f"step 4/4: scaling back to {action.replicas_after} replicas")
            kube.scale(name, action.replicas_after)
    except LitemaasStateError as exc:
        raise _with_note(exc, left_at_one(action, before)) from exc
    deps.ctx.partial[action.id] = f"rolled out {action.image} at 1 replica and set replicas to {action.replicas_after}"
    w = kube.wait_rollout(name, action.address, action.id, report)
    deps.ctx.partial.pop(action.id, None)
    return (f"rolled out {action.image} at 1 replica, then scaled back to {action.replicas_after} "
            f"({w.available_replicas} available)")


def execute_wait_rollout(action: WaitRolloutAction, deps: ExecutorDeps, report: Reporter) -> str:
    """Wait for an unfinished rollout (no write), then as after a set_image."""
    _rollout_or_rollback(action, deps, report)
    if action.component == names.Component.LITELLM:
        check_litellm_health(action, deps, report)
    return f"the rollout of {action.image} finished"


def execute_restart(action: RestartAction, deps: ExecutorDeps, report: Reporter) -> str:
    """``kubectl rollout restart`` with the planned timestamp, then wait for the rollout."""
    deps.kube.restart(action.deployment, action.restarted_at)
    _rollout_or_rollback(action, deps, report)
    return "restarted"


def execute_scale(action: ScaleAction, deps: ExecutorDeps, report: Reporter) -> str:
    """``kubectl scale``, then wait until the replicas are available."""
    deps.kube.scale(action.deployment, action.replicas)
    w = deps.kube.wait_rollout(action.deployment, action.address, action.id, report)
    return f"scaled to {action.replicas} ({w.available_replicas} available)"


def execute_backup(action: BackupAction, deps: ExecutorDeps, report: Reporter) -> str:
    """pg_dump every target (by exec in the database pod, else locally), verify each, prune old dumps.

    Raises:
        ApplyError: a database is not the one planned. BackupFailed: a dump was not written and verified.
    """
    written = []
    for target in action.targets:
        role = "litemaas" if target.role in ("litemaas", "shared") else "litellm"
        db = _database(deps, role)
        if db.info.database != target.database:
            raise ApplyError(f"{action.address}: the {role} database is now {db.info.database}, the plan "
                             f"said {target.database}")
        dest = Path(target.file)
        prefix = prefix_of(dest.name)
        backup_writes.check_destination(dest)
        for stale in backup_writes.remove_stale_partials(dest.parent, prefix):
            _info(report, action, f"removed {stale}, an unfinished dump of an interrupted backup")
        if db.pod is not None:
            _info(report, action, f"pg_dump {target.database} by exec in pod/{db.pod.name} → {dest}")
            try:
                size = backup_writes.dump_database_exec(deps.kube.conn, db, dest)
            except Forbidden as exc:
                _info(report, action, f"exec is forbidden ({exc.verb} {exc.resource}); falling back to a "
                                      f"local pg_dump over the port-forward to pod/{db.pod.name} → {dest}")
                size = backup_writes.dump_database(db, dest)
        else:
            _info(report, action, f"pg_dump {target.database} (local pg_dump, direct) → {dest}")
            size = backup_writes.dump_database(db, dest)
        written.append(str(dest))
        deps.ctx.backups.append(str(dest))
        _info(report, action, f"verified {dest} ({size} bytes uncompressed, completion trailer present)")
        try:
            for old in backup_writes.prune_old(dest.parent, prefix, action.keep, written=dest):
                _info(report, action, f"removed old backup {old}")
        except OSError as exc:
            _info(report, action, f"could not remove old backups in {dest.parent}: {exc.strerror or exc}")
    if len(written) != len(action.targets):  # a dependent runs only after every dump is verified
        raise BackupFailed(f"{action.address}: {len(written)} of {len(action.targets)} dumps written")
    return f"wrote {len(written)} verified dumps"


def execute_admin(action: AdminAction, deps: ExecutorDeps, report: Reporter) -> str:
    """Compare-and-set the user's roles from the roles the plan saw (its UserRoles precondition).

    Raises:
        ApplyError: the plan file lost the recorded roles. PreconditionFailed: the roles changed since.
    """
    recorded = roles_before(action)
    if recorded is None:
        raise ApplyError(f"{action.id}: no recorded roles to compare with (plan file edited?)")
    before = list(recorded)
    admin_writes.set_roles(_database(deps, "litemaas"), action.user_id, before, list(action.roles_after),
                           reason=action.kind)
    return f"roles {json.dumps(before)} -> {json.dumps(list(action.roles_after))}"  # as the plan shows them


def execute_delete_keys(action: DeleteKeysAction, deps: ExecutorDeps, report: Reporter) -> str:
    """Delete the planned tokens through LiteLLM's API (apply/keys.py ``KeyPruner``), revoking the LiteMaaS
    rows of each key once it is gone (``sync_litemaas``); reports progress after every batch."""
    url, key = deps.discovery.require_litellm()
    litemaas = _database(deps, "litemaas") if action.sync_litemaas else None
    rows = key_writes.ThreadConnections(litemaas) if litemaas is not None else None
    sync_error = f"Key deleted by litemaas-state (rule: {action.rule})"
    revoked = 0
    lock = threading.Lock()
    started = deps.clock()

    def on_gone(tokens: list[str]) -> None:  # in a worker thread: its own connection, one UPDATE
        nonlocal revoked
        if litemaas is not None and rows is not None:
            n = key_writes.revoke_rows_by_hash(litemaas, tokens, sync_error, rows.get())
            with lock:
                revoked += n

    def progress(done: int, total: int) -> None:  # after every batch; the command layer throttles
        rate = done / max(deps.clock() - started, 1e-6)
        report(ApplyEvent(kind=EventKind.PROGRESS, action_id=action.id, address=action.address,
                          message=f"{done} of {total} keys done ({rate:.0f} keys/s)", done=done, total=total))

    try:
        with litellm_api.make_client(url, key, pool=key_writes.WORKERS) as client:
            pruner = key_writes.KeyPruner(client, deps.discovery.database("litellm"))
            try:
                deleted, already = pruner.prune([k.token_hash for k in action.keys], on_gone, progress)
            except key_writes.PruneFailed as exc:
                deps.ctx.counts[action.id] = (0, revoked, exc.deleted)
                rows_note = f", {revoked} LiteMaaS api_keys rows revoked" if litemaas is not None else ""
                deps.ctx.partial[action.id] = f"{exc.deleted} of {len(action.keys)} keys deleted{rows_note}"
                raise
            source = "LiteLLM's database" if pruner.reader.db_trusted else "/key/list?key_hash="
    finally:
        if rows is not None:
            rows.close()
    deps.ctx.counts[action.id] = (0, revoked, deleted)
    note = f" ({already} were already gone)" if already else ""
    suffix = f"; {revoked} LiteMaaS api_keys rows revoked" if litemaas is not None else ""
    return f"deleted {deleted} keys{note}{suffix} (read back through {source})"


def execute_revoke_rows(action: RevokeRowsAction, deps: ExecutorDeps, report: Reporter) -> str:
    """Mark the planned orphan rows revoked, by (id, key_hash), skipping rows whose key is back in LiteLLM."""
    url, key = deps.discovery.require_litellm()
    with litellm_api.make_client(url, key) as client:
        pruner = key_writes.KeyPruner(client, deps.discovery.database("litellm"))
        back = pruner.remaining([r.key_hash for r in action.rows])
    if back:
        _info(report, action, f"{len(back)} rows skipped: their key exists in LiteLLM again")
    n = key_writes.revoke_rows_by_id(_database(deps, "litemaas"), [(r.id, r.key_hash) for r in action.rows],
                                     action.sync_error, back)
    deps.ctx.counts[action.id] = (0, n, 0)
    return f"{n} orphaned api_keys rows revoked"


#: kind → (its action class, its executor). The keys equal plan/kinds.py ``SPECS`` (a test holds them equal).
EXECUTORS: dict[str, tuple[type[Any], Callable[[Any, ExecutorDeps, Reporter], str]]] = {
    "backup": (BackupAction, execute_backup),
    "set_image": (SetImageAction, execute_set_image),
    "scale_to_one_upgrade": (ScaleToOneUpgradeAction, execute_scale_to_one_upgrade),
    "wait_rollout": (WaitRolloutAction, execute_wait_rollout),
    "restart": (RestartAction, execute_restart),
    "scale": (ScaleAction, execute_scale),
    "promote_admin": (AdminAction, execute_admin),
    "demote_admin": (AdminAction, execute_admin),
    "delete_keys": (DeleteKeysAction, execute_delete_keys),
    "revoke_rows": (RevokeRowsAction, execute_revoke_rows),
}


@dataclass(frozen=True)
class _Bound:
    """One registered executor bound to an apply's dependencies (runner.Executor)."""

    cls: type[Any]
    run: Callable[[Any, ExecutorDeps, Reporter], str]
    deps: ExecutorDeps

    def __call__(self, action: Action, report: Reporter) -> str:
        if not isinstance(action, self.cls):
            raise LitemaasStateError(f"{action.id}: a {action.kind} action is not a {self.cls.__name__}")
        return self.run(action, self.deps, report)


def build_executors(kube: KubeWriter, discovery: Discovery, ctx: ApplyContext | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Executor]:
    """Every registered executor, bound to one apply's dependencies (runner.apply_plan's table)."""
    deps = ExecutorDeps(kube=kube, discovery=discovery, ctx=ctx or ApplyContext(), sleep=sleep)
    return {kind: _Bound(cls, run, deps) for kind, (cls, run) in EXECUTORS.items()}
