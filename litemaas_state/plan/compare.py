"""Is a saved plan still what the state file asks for? A pure comparison of a saved plan with a fresh one.

``apply --plan`` re-plans the state file embedded in the saved plan against live state and requires
every saved action to be *covered* by the fresh plan: the same id and kind, and the same target values
(image and containers, replica count, roles, restart time); for key deletions and row revocations the
saved tokens/rows must be a subset of what the rules pick now. So a saved plan can only ever do less
than a fresh plan would — never new actions, never keys the retention rules no longer select, never a
replica count the checks would refuse — and a live change that no saved action depends on does not
block it (anchors.md §1.3, §7 items 7–8); a saved wait for a rollout that has finished since needs no
fresh counterpart (waiting changes nothing; its precondition still pins the image). Also checks each action's internal consistency (what is shown
is what is executed), rejects duplicate ids, and refuses a plan that lost a requirement: every id an
action ``requires`` must be in the plan, before it, and the saved action must require at least what the
fresh one requires (so deleting the backup, or an image change's ``requires``, is refused). The actions
must be in the apply order of plan/order.py.
"""

from __future__ import annotations

from litemaas_state.live.model import LiveState
from litemaas_state.plan import order
from litemaas_state.plan.model import (
    Action,
    AdminAction,
    BackupAction,
    DeleteKeysAction,
    Plan,
    RestartAction,
    RevokeRowsAction,
    ScaleAction,
    SetImageAction,
    WaitRolloutAction,
)

_WHAT = {"set_image": "image change", "wait_rollout": "rollout", "restart": "restart", "scale": "scaling",
         "backup": "backup"}


def unmet_requirements(actions: tuple[Action, ...] | list[Action]) -> list[str]:
    """Each requirement of an action that is not in ``actions`` before it, as a sentence.

    E.g. ``deployment/litellm image change requires backup/litellm-rhpds which is not in this plan``.
    """
    problems: list[str] = []
    position = {a.id: i for i, a in enumerate(actions)}
    for i, a in enumerate(actions):
        what = f"{a.address} {_WHAT.get(a.kind, a.kind)}"
        for rid in a.requires:
            if rid not in position:
                problems.append(f"{what} requires {rid} which is not in this plan")
            elif position[rid] > i:
                problems.append(f"{what} requires {rid}, which comes after it in this plan")
    return problems


def inconsistencies(plan: Plan) -> list[str]:
    """Problems inside a plan: duplicate ids, and changes that do not describe what would be executed."""
    problems: list[str] = []
    seen: set[str] = set()
    for a in plan.actions:
        if a.id in seen:
            problems.append(f"{a.id}: the action id appears twice")
        seen.add(a.id)
        shown = {c.field: c.after for c in a.changes}
        if isinstance(a, ScaleAction) and shown.get("replicas") != a.replicas:
            problems.append(f"{a.id}: shows replicas {shown.get('replicas')!r} but would set {a.replicas}")
        if isinstance(a, SetImageAction) and shown.get("image") != a.image:
            problems.append(f"{a.id}: shows image {shown.get('image')!r} but would set {a.image}")
        if isinstance(a, AdminAction) and list(shown.get("roles") or []) != list(a.roles_after):
            problems.append(f"{a.id}: shows roles {shown.get('roles')!r} but would set {list(a.roles_after)}")
        if isinstance(a, WaitRolloutAction):
            expected_image = next((p.expected for p in a.preconditions if p.field.endswith(".image")), None)
            if expected_image != a.image:
                problems.append(f"{a.id}: waits for image {a.image} but its precondition says {expected_image!r}")
        if isinstance(a, DeleteKeysAction):
            expected = next((p.expected for p in a.preconditions if p.field == f"keys[{a.rule}]"), None)
            if expected is None or sorted(expected) != sorted(k.token_hash for k in a.keys):
                problems.append(f"{a.id}: its key list does not match its precondition")
    problems += unmet_requirements(plan.actions)
    if [a.id for a in order.sort_actions(plan.actions)] != [a.id for a in plan.actions]:
        problems.append("the actions are not in the apply order (plan/order.py): the plan file was edited")
    return problems


def _gone(saved: Action, live: LiveState | None) -> set[str]:
    """What of a saved key/row action someone else already did: its tokens no longer in LiteLLM, its rows no
    longer active (empty when the live values were not observed)."""
    if live is None:
        return set()
    if isinstance(saved, DeleteKeysAction) and live.keys is not None:
        alive = {k.token_hash for k in live.keys}
        return {k.token_hash for k in saved.keys if k.token_hash not in alive}
    if isinstance(saved, RevokeRowsAction) and live.api_key_rows is not None:
        active = {r.id for r in live.api_key_rows if r.is_active}
        return {r.id for r in saved.rows if r.id not in active}
    return set()


def _same_target(saved: Action, fresh: Action | None, done: set[str] | None = None) -> str | None:
    """None when ``fresh`` covers ``saved``; else what differs. ``done``: tokens/row ids of ``saved`` that
    are already gone (the goal reached), which need no cover."""
    done = done or set()
    if fresh is None:
        if isinstance(saved, DeleteKeysAction) and {k.token_hash for k in saved.keys} <= done:
            return None
        if isinstance(saved, RevokeRowsAction) and {r.id for r in saved.rows} <= done:
            return None
        return "a plan of the state file no longer contains this action"
    if saved.kind != fresh.kind:
        return f"is now a {fresh.kind} action"
    if isinstance(saved, SetImageAction) and isinstance(fresh, SetImageAction):
        a = (saved.deployment, saved.image, set(saved.containers), set(saved.init_containers), saved.on_failure)
        b = (fresh.deployment, fresh.image, set(fresh.containers), set(fresh.init_containers), fresh.on_failure)
        return None if a == b else f"would now set {fresh.image} on {sorted(b[2] | b[3])}"
    if isinstance(saved, WaitRolloutAction) and isinstance(fresh, WaitRolloutAction):
        return None if (saved.deployment, saved.image, saved.on_failure) == (
            fresh.deployment, fresh.image, fresh.on_failure) else f"would now wait for {fresh.image}"
    if isinstance(saved, RestartAction) and isinstance(fresh, RestartAction):
        return None if (saved.deployment, saved.restarted_at) == (fresh.deployment, fresh.restarted_at) \
            else f"would now restart at {fresh.restarted_at}"
    if isinstance(saved, ScaleAction) and isinstance(fresh, ScaleAction):
        return None if (saved.deployment, saved.replicas) == (fresh.deployment, fresh.replicas) \
            else f"would now scale to {fresh.replicas}"
    if isinstance(saved, AdminAction) and isinstance(fresh, AdminAction):
        return None if (saved.user_id, saved.roles_after) == (fresh.user_id, fresh.roles_after) \
            else f"would now set roles {list(fresh.roles_after)}"
    if isinstance(saved, BackupAction) and isinstance(fresh, BackupAction):
        a2 = {(t.role, t.database) for t in saved.targets}
        b2 = {(t.role, t.database) for t in fresh.targets}
        return None if a2 == b2 else "would now dump other databases"
    if isinstance(saved, DeleteKeysAction) and isinstance(fresh, DeleteKeysAction):
        extra = {k.token_hash for k in saved.keys} - {k.token_hash for k in fresh.keys} - done
        return None if not extra else (f"{len(extra)} of its keys are no longer selected by rule {saved.rule} "
                                       f"(e.g. token {sorted(extra)[0][:10]}…)")
    if isinstance(saved, RevokeRowsAction) and isinstance(fresh, RevokeRowsAction):
        extra_rows = {r.id for r in saved.rows} - {r.id for r in fresh.rows} - done
        return None if not extra_rows else f"{len(extra_rows)} of its rows are no longer orphans"
    return "cannot be compared"


def uncovered(saved: Plan, fresh: Plan, live: LiveState | None = None) -> list[str]:
    """Saved actions a fresh plan of the same state file would not take (each as a sentence).

    ``live``: what the fresh plan was made from. A saved key that LiteLLM no longer has, or a saved row
    that is no longer active, is the goal reached by someone else (apply counts it as "already gone"), not
    a change to refuse; a key still there but no longer selected (e.g. its expiry was extended) is refused.
    Also fails when the fresh plan has errors (the state file's checks refuse the current world).
    """
    problems = inconsistencies(saved)
    if fresh.errored:
        problems += [f"the state file's checks now fail: {d.summary}" for d in fresh.diagnostics
                     if d.severity == "error"]
    by_id = {a.id: a for a in fresh.actions}
    for a in saved.actions:
        f = by_id.get(a.id)
        if f is None and isinstance(a, WaitRolloutAction):
            continue  # the rollout finished (or failed: then the fresh plan is an error) since the plan was made
        why = _same_target(a, f, _gone(a, live))
        if why:
            problems.append(f"{a.id}: {why}")
        lost = [r for r in f.requires if r not in a.requires] if f is not None else []
        if lost:
            problems.append(f"{a.id}: a plan of the state file requires {', '.join(lost)} before it; the saved "
                            "action does not")
    return problems
