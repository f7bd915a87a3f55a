"""Is a saved plan still what the state file asks for? A pure comparison of a saved plan with a fresh one.

``apply --plan`` re-plans the state file embedded in the saved plan against live state and requires
every saved action to be *covered* by the fresh plan: the same id and kind, and the same target values
(image and containers, replica count, roles, restart time); for key deletions and row revocations the
saved tokens/rows must be a subset of what the rules pick now. So a saved plan can only ever do less
than a fresh plan would — never new actions, never keys the retention rules no longer select, never a
replica count the checks would refuse — and a live change that no saved action depends on does not
block it (docs/design.md §9.3, §9.18 items 7–8); a saved wait for a rollout that has finished since needs no
fresh counterpart (waiting changes nothing; its precondition still pins the image). Per kind, "covered"
is the kind's ``covers`` in plan/kinds.py. Also runs each kind's integrity checks, rejects duplicate ids, and refuses a plan that lost a requirement: every id an
action ``requires`` must be in the plan, before it, and the saved action must require at least what the
fresh one requires (so deleting the backup, or an image change's ``requires``, is refused). The actions
must be in the apply order of plan/order.py.
"""

from __future__ import annotations

from litemaas_state.live.model import LiveState
from litemaas_state.plan import order
from litemaas_state.plan.kinds import spec
from litemaas_state.plan.model import Action, Plan


def unmet_requirements(actions: tuple[Action, ...] | list[Action]) -> list[str]:
    """Each requirement of an action that is not in ``actions`` before it, as a sentence.

    E.g. ``deployment/litellm image change requires backup/litellm-rhpds which is not in this plan``.
    """
    problems: list[str] = []
    position = {a.id: i for i, a in enumerate(actions)}
    for i, a in enumerate(actions):
        what = f"{a.address} {spec(a).what}"
        for rid in a.requires:
            if rid not in position:
                problems.append(f"{what} requires {rid} which is not in this plan")
            elif position[rid] > i:
                problems.append(f"{what} requires {rid}, which comes after it in this plan")
    return problems


def inconsistencies(plan: Plan) -> list[str]:
    """Problems inside a plan: duplicate ids, a kind's own integrity checks (plan/kinds.py), requirements
    and the apply order. (What is shown is derived from what is executed, so the two cannot disagree.)"""
    problems: list[str] = []
    seen: set[str] = set()
    for a in plan.actions:
        if a.id in seen:
            problems.append(f"{a.id}: the action id appears twice")
        seen.add(a.id)
        problems += spec(a).integrity(a)
    problems += unmet_requirements(plan.actions)
    if [a.id for a in order.sort_actions(plan.actions)] != [a.id for a in plan.actions]:
        problems.append("the actions are not in the apply order (plan/order.py): the plan file was edited")
    return problems


def _same_target(saved: Action, fresh: Action | None, live: LiveState | None) -> str | None:
    """None when ``fresh`` covers ``saved``; else what differs. What of ``saved`` is already gone in ``live``
    (the goal reached by someone else) needs no cover."""
    kind = spec(saved)
    done = kind.gone(saved, live) if live is not None else set()
    if fresh is None:
        return kind.when_absent(saved, done)
    if saved.kind != fresh.kind:
        return f"is now a {fresh.kind} action"
    return kind.covers(saved, fresh, done)


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
        why = _same_target(a, f, live)
        if why:
            problems.append(f"{a.id}: {why}")
        lost = [r for r in f.requires if r not in a.requires] if f is not None else []
        if lost:
            problems.append(f"{a.id}: a plan of the state file requires {', '.join(lost)} before it; the saved "
                            "action does not")
    return problems
