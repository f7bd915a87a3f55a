"""The registry of action kinds: for each kind, the one place that holds what depends only on the kind.

An ``ActionKindSpec`` holds a kind's phase, its verbs (create/update/delete, Terraform's legend), the
header phrase the plan shows, the verb apply prints, how its shown ``changes`` derive from its typed
fields (so what is shown cannot differ from what is executed), how a saved action is covered by a fresh
one (plan/compare.py), how it counts in the summary, and which keys/rows/files it lists. The executor of
each kind is registered next to it in apply/executors.py (``EXECUTORS``), keyed by the same kinds; a test
holds the two key sets equal.

Adding a kind: its action model in plan/model.py (and the ``Action`` union), its planning rule, one
``ActionKindSpec`` here, one executor in apply/executors.py (docs/design.md §11).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from litemaas_state.live.model import LiveState
from litemaas_state.plan.model import (
    Action,
    AdminAction,
    BackupAction,
    Change,
    DeleteKeysAction,
    KeyRef,
    Phase,
    Replicas,
    RestartAction,
    RestartedAt,
    RevokeRowsAction,
    RowRef,
    RunningImage,
    ScaleAction,
    ScaleToOneUpgradeAction,
    SetImageAction,
    UserRoles,
    WaitRolloutAction,
)

Verb = Literal["create", "update", "delete"]
A = TypeVar("A")

#: The sentence of a saved action that a fresh plan no longer contains.
NOT_IN_FRESH = "a plan of the state file no longer contains this action"


def _nothing(_action: Any, _live: LiveState) -> set[str]:
    return set()


def _absent(_saved: Any, _done: set[str]) -> str | None:
    return NOT_IN_FRESH


def _no_refs(_action: Any) -> tuple[Any, ...]:
    return ()


def _zero(_action: Any) -> int:
    return 0


def _one_change(_action: Any) -> tuple[int, int, int]:
    return 0, 1, 0


def _no_problems(_action: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class ActionKindSpec(Generic[A]):
    """Everything about one action kind except its planning rule and its executor.

    ``changes``: the shown before → after, from the typed fields and preconditions. ``covers(saved,
    fresh, done)``: None when ``fresh`` (same kind and id) covers ``saved``, else what differs; ``done``
    holds what of ``saved`` is already reached (``gone``). ``when_absent(saved, done)``: None when a saved
    action with no fresh counterpart needs none. ``weight``: (add, change, destroy) for the summary.
    ``integrity``: problems inside one action beyond its field types (a saved plan edited by hand).
    ``started``: what apply's "started" line adds to the changes. ``keys``/``rows``/``files``: what the
    plan document lists (each key with its rule filled in).
    """

    kind: str
    phase: Phase
    verbs: tuple[Verb, ...]
    header: str
    apply_verb: str
    what: str
    changes: Callable[[A], tuple[Change, ...]]
    covers: Callable[[A, A, set[str]], str | None]
    gone: Callable[[A, LiveState], set[str]] = _nothing
    when_absent: Callable[[A, set[str]], str | None] = _absent
    weight: Callable[[A], tuple[int, int, int]] = _one_change
    rows_revoked: Callable[[A], int] = _zero
    files: Callable[[A], tuple[str, ...]] = _no_refs
    keys: Callable[[A], tuple[KeyRef, ...]] = _no_refs
    rows: Callable[[A], tuple[RowRef, ...]] = _no_refs
    integrity: Callable[[A], list[str]] = field(default=_no_problems)
    started: Callable[[A], tuple[str, ...]] = _no_refs


# --- Deployments -------------------------------------------------------------------------------------------

def _image_changes(a: SetImageAction | ScaleToOneUpgradeAction) -> tuple[Change, ...]:
    seen = [p for p in a.preconditions if isinstance(p, RunningImage)]
    main = next((p.image for p in seen if p.container == a.main_container and not p.init), None)
    before = main if main is not None and main != a.image else (seen[0].image if seen else None)
    return (Change(field="image", before=before, after=a.image),)


def _image_covers(s: SetImageAction, f: SetImageAction, _done: set[str]) -> str | None:
    a = (s.component, s.deployment, s.image, set(s.containers), set(s.init_containers), s.on_failure)
    b = (f.component, f.deployment, f.image, set(f.containers), set(f.init_containers), f.on_failure)
    return None if a == b else f"would now set {f.image} on {sorted(b[3] | b[4])}"


def live_replicas(a: ScaleToOneUpgradeAction) -> int | None:
    """The ``spec.replicas`` the plan saw (its Replicas precondition), or None when the plan file lost it."""
    return next((p.replicas for p in a.preconditions if isinstance(p, Replicas) and p.deployment == a.deployment),
                None)


def _upgrade_changes(a: ScaleToOneUpgradeAction) -> tuple[Change, ...]:
    before = live_replicas(a)
    return (Change(field="replicas_during_rollout", before=before, after=1), *_image_changes(a),
            Change(field="replicas", before=before, after=a.replicas_after))


def _upgrade_covers(s: ScaleToOneUpgradeAction, f: ScaleToOneUpgradeAction, _done: set[str]) -> str | None:
    a = (s.deployment, s.image, set(s.containers), set(s.init_containers), s.on_failure, s.replicas_after)
    b = (f.deployment, f.image, set(f.containers), set(f.init_containers), f.on_failure, f.replicas_after)
    return None if a == b else (f"would now set {f.image} on {sorted(b[2] | b[3])} at one replica and scale back "
                                f"to {f.replicas_after}")


def _upgrade_integrity(a: ScaleToOneUpgradeAction) -> list[str]:
    before = live_replicas(a)
    problems = [] if before is not None and before > 1 else [
        f"{a.id}: a scale-to-one upgrade needs a replicas precondition above 1, not {before!r}"]
    if not any(isinstance(p, RunningImage) for p in a.preconditions):
        problems.append(f"{a.id}: its image change has no image precondition")
    return problems


def _rollout_covers(s: WaitRolloutAction, f: WaitRolloutAction, _done: set[str]) -> str | None:
    same = (s.deployment, s.image, s.on_failure) == (f.deployment, f.image, f.on_failure)
    return None if same else f"would now wait for {f.image}"


def _rollout_integrity(a: WaitRolloutAction) -> list[str]:
    images = [p.image for p in a.preconditions if isinstance(p, RunningImage)]
    if images != [a.image]:
        return [f"{a.id}: waits for image {a.image} but its precondition says {images or None!r}"]
    return []


def _restart_changes(a: RestartAction) -> tuple[Change, ...]:
    before = next((p.restarted_at for p in a.preconditions if isinstance(p, RestartedAt)), None)
    return (Change(field="restarted_at", before=before, after=a.restarted_at),)


def _restart_covers(s: RestartAction, f: RestartAction, _done: set[str]) -> str | None:
    same = (s.deployment, s.restarted_at) == (f.deployment, f.restarted_at)
    return None if same else f"would now restart at {f.restarted_at}"


def _scale_changes(a: ScaleAction) -> tuple[Change, ...]:
    before = next((p.replicas for p in a.preconditions if isinstance(p, Replicas)), None)
    return (Change(field="replicas", before=before, after=a.replicas),)


def _scale_covers(s: ScaleAction, f: ScaleAction, _done: set[str]) -> str | None:
    return None if (s.deployment, s.replicas) == (f.deployment, f.replicas) else f"would now scale to {f.replicas}"


# --- Backup ------------------------------------------------------------------------------------------------

def _backup_files(a: BackupAction) -> tuple[str, ...]:
    return tuple(t.file for t in a.targets)


def _backup_covers(s: BackupAction, f: BackupAction, _done: set[str]) -> str | None:
    same = {(t.role, t.database) for t in s.targets} == {(t.role, t.database) for t in f.targets}
    return None if same else "would now dump other databases"


# --- Admins ------------------------------------------------------------------------------------------------

def roles_before(a: AdminAction) -> tuple[str, ...] | None:
    """The roles the plan saw (its UserRoles precondition), or None when the plan file lost it."""
    return next((p.roles for p in a.preconditions if isinstance(p, UserRoles)), None)


def _admin_changes(a: AdminAction) -> tuple[Change, ...]:
    before = roles_before(a)
    return (Change(field="roles", before=None if before is None else list(before), after=list(a.roles_after)),)


def _admin_covers(s: AdminAction, f: AdminAction, _done: set[str]) -> str | None:
    same = (s.user_id, s.roles_after) == (f.user_id, f.roles_after)
    return None if same else f"would now set roles {list(f.roles_after)}"


# --- Keys --------------------------------------------------------------------------------------------------

def _keys_gone(a: DeleteKeysAction, live: LiveState) -> set[str]:
    if live.keys is None:
        return set()
    alive = {k.token_hash for k in live.keys}
    return {k.token_hash for k in a.keys if k.token_hash not in alive}


def _keys_absent(a: DeleteKeysAction, done: set[str]) -> str | None:
    return None if {k.token_hash for k in a.keys} <= done else NOT_IN_FRESH


def _keys_covers(s: DeleteKeysAction, f: DeleteKeysAction, done: set[str]) -> str | None:
    extra = {k.token_hash for k in s.keys} - {k.token_hash for k in f.keys} - done
    return None if not extra else (f"{len(extra)} of its keys are no longer selected by rule {s.rule} "
                                   f"(e.g. token {sorted(extra)[0][:10]}…)")


def _keys_refs(a: DeleteKeysAction) -> tuple[KeyRef, ...]:
    return tuple(k if k.rule else k.model_copy(update={"rule": a.rule}) for k in a.keys)


def _keys_rows(a: DeleteKeysAction) -> int:
    return a.litemaas_rows if a.sync_litemaas else 0


def _keys_integrity(a: DeleteKeysAction) -> list[str]:
    if not any(p.kind == "key_expiries" and p.rule == a.rule for p in a.preconditions):
        return [f"{a.id}: its key list has no key_expiries precondition"]
    return []


def _rows_gone(a: RevokeRowsAction, live: LiveState) -> set[str]:
    if live.api_key_rows is None:
        return set()
    active = {r.id for r in live.api_key_rows if r.is_active}
    return {r.id for r in a.rows if r.id not in active}


def _rows_absent(a: RevokeRowsAction, done: set[str]) -> str | None:
    return None if {r.id for r in a.rows} <= done else NOT_IN_FRESH


def _rows_covers(s: RevokeRowsAction, f: RevokeRowsAction, done: set[str]) -> str | None:
    extra = {r.id for r in s.rows} - {r.id for r in f.rows} - done
    return None if not extra else f"{len(extra)} of its rows are no longer orphans"


_ADMIN_COMMON: dict[str, Any] = {
    "phase": Phase.ADMINS, "verbs": ("update",), "apply_verb": "Updating roles",
    "changes": _admin_changes, "covers": _admin_covers,
}

#: kind → its spec. Every member of plan/model.py's ``Action`` union has one (tests/plan/test_kinds.py).
SPECS: dict[str, ActionKindSpec[Any]] = {s.kind: s for s in (
    ActionKindSpec[BackupAction](
        kind="backup", phase=Phase.BACKUP, verbs=("create",), what="backup", apply_verb="Backing up",
        header="will be written (database backup before the image change)",
        changes=lambda a: (Change(field="files", before=None, after=list(_backup_files(a))),),
        covers=_backup_covers, weight=lambda a: (len(a.targets), 0, 0), files=_backup_files,
        started=lambda a: (f"{len(a.targets)} verified dump(s) to {a.directory}",)),
    ActionKindSpec[SetImageAction](
        kind="set_image", phase=Phase.IMAGES, verbs=("update",), what="image change", apply_verb="Modifying",
        header="will be updated in-place (new image; rollout awaited)", changes=_image_changes, covers=_image_covers),
    ActionKindSpec[ScaleToOneUpgradeAction](
        kind="scale_to_one_upgrade", phase=Phase.IMAGES, verbs=("update",), what="image change",
        apply_verb="Upgrading at one replica",
        header="will be updated in-place at one replica (scale to 1, new image, health check, scale back)",
        changes=_upgrade_changes, covers=_upgrade_covers, integrity=_upgrade_integrity),
    ActionKindSpec[WaitRolloutAction](
        kind="wait_rollout", phase=Phase.IMAGES, verbs=("update",), what="rollout",
        apply_verb="Waiting for the unfinished rollout", header="rollout in progress: will wait for it",
        changes=lambda a: (Change(field="rollout", before=a.rollout_message, after="complete"),),
        covers=_rollout_covers, when_absent=lambda _a, _d: None,  # the rollout finished since: nothing to do
        integrity=_rollout_integrity),
    ActionKindSpec[RestartAction](
        kind="restart", phase=Phase.IMAGES, verbs=("update",), what="restart", apply_verb="Modifying",
        header="will be restarted (rolling restart)", changes=_restart_changes, covers=_restart_covers),
    ActionKindSpec[ScaleAction](
        kind="scale", phase=Phase.SCALING, verbs=("update",), what="scaling", apply_verb="Scaling",
        header="will be scaled", changes=_scale_changes, covers=_scale_covers),
    ActionKindSpec[AdminAction](kind="promote_admin", what="promote_admin", header="will be promoted to admin", **_ADMIN_COMMON),
    ActionKindSpec[AdminAction](kind="demote_admin", what="demote_admin", header="will lose the admin role", **_ADMIN_COMMON),
    ActionKindSpec[DeleteKeysAction](
        kind="delete_keys", phase=Phase.KEYS, verbs=("delete",), what="delete_keys", apply_verb="Pruning",
        header="will be deleted", changes=lambda a: (Change(field="keys", before=len(a.keys), after=0),),
        covers=_keys_covers, gone=_keys_gone, when_absent=_keys_absent,
        weight=lambda a: (0, _keys_rows(a), len(a.keys)), rows_revoked=_keys_rows, keys=_keys_refs,
        integrity=_keys_integrity),
    ActionKindSpec[RevokeRowsAction](
        kind="revoke_rows", phase=Phase.KEYS, verbs=("update",), what="revoke_rows", apply_verb="Pruning",
        header="will be marked revoked in LiteMaaS",
        changes=lambda _a: (Change(field="is_active", before=True, after=False),),
        covers=_rows_covers, gone=_rows_gone, when_absent=_rows_absent,
        weight=lambda a: (0, len(a.rows), 0), rows_revoked=lambda a: len(a.rows), rows=lambda a: a.rows),
)}


def spec_of(kind: str) -> ActionKindSpec[Any]:
    """The spec of ``kind``.

    Raises:
        KeyError: ``kind`` is not registered (cannot happen for a validated ``Action``).
    """
    return SPECS[kind]


def spec(action: Action) -> ActionKindSpec[Any]:
    """The spec of ``action``'s kind."""
    return SPECS[action.kind]
