"""The executor table: action kind → the function that carries it out (style.md §6.4 #3).

Executors act on typed action fields only; ``reason`` and ``notes`` are for humans (Terraform's
ActionReason rule, style.md §1).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from litemaas_state import names
from litemaas_state.apply import admins as admin_writes
from litemaas_state.apply import backup as backup_writes
from litemaas_state.apply import keys as key_writes
from litemaas_state.apply.kube import KubeWriter
from litemaas_state.apply.model import ApplyEvent, EventKind, Reporter
from litemaas_state.apply.runner import Executor
from litemaas_state.errors import ApplyError, BackupFailed, ConfigError, Forbidden, RolloutFailed
from litemaas_state.live import litellm_api
from litemaas_state.live.connect import DatabaseTarget, Discovery
from litemaas_state.plan.backup import prefix_of
from litemaas_state.plan.model import (
    Action,
    AdminAction,
    BackupAction,
    DeleteKeysAction,
    RestartAction,
    RevokeRowsAction,
    ScaleAction,
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


def build_executors(kube: KubeWriter, discovery: Discovery, ctx: ApplyContext | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Executor]:
    """Executors for every action kind."""
    ctx = ctx or ApplyContext()

    def database(role: str) -> DatabaseTarget:
        db = discovery.database(role)
        if db is None:
            raise ConfigError(f"the {role} database is unknown")
        return db

    def check_litellm_health(action: Action, report: Reporter) -> None:
        url, key = discovery.litellm_url(), discovery.master_key()
        if not url or not key:
            _info(report, action, "LiteLLM health not checked: the API URL or master key is unknown")
            return
        deadline = time.monotonic() + HEALTH_WAIT_S
        with litellm_api.make_client(url, key) as client:
            while True:
                alive, ready, detail = litellm_api.health(client)
                if alive and ready:
                    _info(report, action, f"LiteLLM is alive and ready ({detail})")
                    return
                if time.monotonic() > deadline:
                    raise ApplyError(f"{action.address}: LiteLLM is not healthy after the rollout: {detail}")
                sleep(1.0)

    def rollout_or_rollback(action: SetImageAction | RestartAction | WaitRolloutAction, report: Reporter) -> None:
        try:
            kube.wait_rollout(action.deployment, action.address, action.id, report)
        except RolloutFailed as exc:
            if action.on_failure != "rollback":
                raise
            _info(report, action, "rollout failed; rolling back as `kubectl rollout undo` does (on_failure: rollback)")
            revision = kube.rollback(action.deployment)
            kube.wait_rollout(action.deployment, action.address, action.id, report)
            note = ""
            if ctx.backups:
                note = ("; the image is rolled back but LiteLLM's schema migration is not: the database backup "
                        "taken before the change is " + ", ".join(ctx.backups))
            raise RolloutFailed(f"{exc}; rolled back to revision {revision}{note}") from None

    def set_image(action: Action, report: Reporter) -> str:
        assert isinstance(action, SetImageAction)
        kube.set_image(action.deployment, action.image, action.containers, action.init_containers)
        rollout_or_rollback(action, report)
        if action.deployment == names.Component.LITELLM.value:
            check_litellm_health(action, report)
        return f"rolled out {action.image}"

    def wait_rollout(action: Action, report: Reporter) -> str:
        assert isinstance(action, WaitRolloutAction)
        rollout_or_rollback(action, report)
        if action.deployment == names.Component.LITELLM.value:
            check_litellm_health(action, report)
        return f"the rollout of {action.image} finished"

    def restart(action: Action, report: Reporter) -> str:
        assert isinstance(action, RestartAction)
        kube.restart(action.deployment, action.restarted_at)
        rollout_or_rollback(action, report)
        return "restarted"

    def scale(action: Action, report: Reporter) -> str:
        assert isinstance(action, ScaleAction)
        kube.scale(action.deployment, action.replicas)
        w = kube.wait_rollout(action.deployment, action.address, action.id, report)
        return f"scaled to {action.replicas} ({w.available_replicas} available)"

    def backup(action: Action, report: Reporter) -> str:
        assert isinstance(action, BackupAction)
        written = []
        for target in action.targets:
            role = "litemaas" if target.role in ("litemaas", "shared") else "litellm"
            db = database(role)
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
                    size = backup_writes.dump_database_exec(kube.conn, db, dest)
                except Forbidden as exc:
                    _info(report, action, f"exec is forbidden ({exc.verb} {exc.resource}); falling back to a "
                                          f"local pg_dump over the port-forward to pod/{db.pod.name} → {dest}")
                    size = backup_writes.dump_database(db, dest)
            else:
                _info(report, action, f"pg_dump {target.database} (local pg_dump, direct) → {dest}")
                size = backup_writes.dump_database(db, dest)
            written.append(str(dest))
            ctx.backups.append(str(dest))
            _info(report, action, f"verified {dest} ({size} bytes uncompressed, completion trailer present)")
            try:
                for old in backup_writes.prune_old(dest.parent, prefix, action.keep, written=dest):
                    _info(report, action, f"removed old backup {old}")
            except OSError as exc:
                _info(report, action, f"could not remove old backups in {dest.parent}: {exc.strerror or exc}")
        if len(written) != len(action.targets):  # a dependent runs only after every dump is verified
            raise BackupFailed(f"{action.address}: {len(written)} of {len(action.targets)} dumps written")
        return f"wrote {len(written)} verified dumps"

    def admin(action: Action, report: Reporter) -> str:
        assert isinstance(action, AdminAction)
        recorded = next((p.expected for p in action.preconditions if p.field.endswith(".roles")), None)
        if recorded is None:
            raise ApplyError(f"{action.id}: no recorded roles to compare with (plan file edited?)")
        before = list(recorded)
        admin_writes.set_roles(database("litemaas"), action.user_id, before, list(action.roles_after),
                               reason=action.kind)
        return f"roles {json.dumps(before)} -> {json.dumps(list(action.roles_after))}"  # as the plan shows them

    def delete_keys(action: Action, report: Reporter) -> str:
        assert isinstance(action, DeleteKeysAction)
        url, key = discovery.require_litellm()
        litemaas = database("litemaas") if action.sync_litemaas else None
        rows = key_writes.ThreadConnections(litemaas) if litemaas is not None else None
        sync_error = f"Key deleted by litemaas-state (rule: {action.rule})"
        revoked = 0
        lock = threading.Lock()
        started = time.monotonic()

        def on_gone(tokens: list[str]) -> None:  # in a worker thread: its own connection, one UPDATE
            nonlocal revoked
            if litemaas is not None and rows is not None:
                n = key_writes.revoke_rows_by_hash(litemaas, tokens, sync_error, rows.get())
                with lock:
                    revoked += n

        def progress(done: int, total: int) -> None:  # after every batch; the command layer throttles
            rate = done / max(time.monotonic() - started, 1e-6)
            report(ApplyEvent(kind=EventKind.PROGRESS, action_id=action.id, address=action.address,
                              message=f"{done} of {total} keys done ({rate:.0f} keys/s)", done=done, total=total))

        try:
            with litellm_api.make_client(url, key, pool=key_writes.WORKERS) as client:
                pruner = key_writes.KeyPruner(client, discovery.database("litellm"))
                try:
                    deleted, already = pruner.prune([k.token_hash for k in action.keys], on_gone, progress)
                except key_writes.PruneFailed as exc:
                    ctx.counts[action.id] = (0, revoked, exc.deleted)
                    rows_note = f", {revoked} LiteMaaS api_keys rows revoked" if litemaas is not None else ""
                    ctx.partial[action.id] = f"{exc.deleted} of {len(action.keys)} keys deleted{rows_note}"
                    raise
                source = "LiteLLM's database" if pruner.reader.db_trusted else "/key/list?key_hash="
        finally:
            if rows is not None:
                rows.close()
        ctx.counts[action.id] = (0, revoked, deleted)
        note = f" ({already} were already gone)" if already else ""
        suffix = f"; {revoked} LiteMaaS api_keys rows revoked" if litemaas is not None else ""
        return f"deleted {deleted} keys{note}{suffix} (read back through {source})"

    def revoke_rows(action: Action, report: Reporter) -> str:
        assert isinstance(action, RevokeRowsAction)
        url, key = discovery.require_litellm()
        with litellm_api.make_client(url, key) as client:
            pruner = key_writes.KeyPruner(client, discovery.database("litellm"))
            back = pruner.remaining([r.key_hash for r in action.rows])
        if back:
            _info(report, action, f"{len(back)} rows skipped: their key exists in LiteLLM again")
        n = key_writes.revoke_rows_by_id(database("litemaas"), [(r.id, r.key_hash) for r in action.rows],
                                         action.sync_error, back)
        ctx.counts[action.id] = (0, n, 0)
        return f"{n} orphaned api_keys rows revoked"

    return {
        "backup": backup, "set_image": set_image, "wait_rollout": wait_rollout, "restart": restart, "scale": scale,
        "promote_admin": admin, "demote_admin": admin, "delete_keys": delete_keys, "revoke_rows": revoke_rows,
    }
