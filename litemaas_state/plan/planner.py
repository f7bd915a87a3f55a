"""make_plan(): the single entry point of the planner.

The order of the actions is plan/order.py's (the runbook's upgrade order); JSON, text and apply all
follow it. ``--target`` keeps the matching actions and, as Terraform does with dependencies, every action
they ``require`` (a targeted LiteLLM image change brings its backup); nothing else is brought along, so
``--target scaling`` takes no backup.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import datetime

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState
from litemaas_state.plan import admins, backup, checks, compare, deployments, keys, order, outside, upgrade
from litemaas_state.plan.model import Action, BackupAction, Phase, Plan
from litemaas_state.spec.model import DesiredState

#: ``--target backup`` selects the backup phase (plan/order.py).
BACKUP_TARGET = "backup"


TARGET_HINT = ("Phases: backup, images, scaling, admins, keys; addresses look like deployment/litellm, "
               "admin/<email>, keys/expired.")


def _matches(action: Action, target: str) -> bool:
    return (target == action.phase.value or target == action.address or target == action.id
            or (target == BACKUP_TARGET and isinstance(action, BackupAction))
            or fnmatch.fnmatchcase(action.address, target))


def known_addresses(desired: DesiredState) -> set[str]:
    """Every phase and address the state file manages (a --target outside it is a typo)."""
    known = {p.value for p in Phase} | {BACKUP_TARGET, backup.backup_id(desired)}
    known |= {desired.layout.address(c) for c, _ in desired.deployments.items()}
    if desired.admins is not None:
        known |= {"admin"} | {f"admin/{e.casefold()}" for e in desired.admins.emails}
    if desired.key_retention is not None:
        known |= {"keys/expired", "keys/max_age", "keys/orphans", "litemaas/api_keys"}
    return known


def unknown_targets(desired: DesiredState, targets: Sequence[str]) -> list[str]:
    """The ``--target`` values that can match nothing the state file manages, known before any cluster
    read: not a phase, address or action id of ``known_addresses``, nor a glob matching one. With admins
    managed, any ``admin/…`` or ``admins/…`` passes (exclusive demotion acts on users the file does not list).
    """
    known = known_addresses(desired)
    for component, _ in desired.deployments.items():
        known |= {f"images/{component.value}", f"images/{component.value}/restart",
                  f"images/{component.value}/rollout", f"scaling/{component.value}"}
    open_prefixes = ("admin/", "admins/") if desired.admins is not None else ()
    return [t for t in targets
            if not any(k == t or fnmatch.fnmatchcase(k, t) for k in known)
            and not (open_prefixes and t.startswith(open_prefixes))]


def select_targets(actions: Sequence[Action], targets: Sequence[str]) -> list[Action]:
    """Keep actions whose phase, address or id matches a ``--target`` (glob on addresses), and every action
    they require, transitively (Terraform's targeting brings dependencies along)."""
    if not targets:
        return list(actions)
    by_id = {a.id: a for a in actions}
    chosen = {a.id for a in actions if any(_matches(a, t) for t in targets)}
    todo = list(chosen)
    while todo:
        for rid in by_id[todo.pop()].requires:
            if rid in by_id and rid not in chosen:
                chosen.add(rid)
                todo.append(rid)
    return [a for a in actions if a.id in chosen]


def make_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    now: datetime,
    state_file: str,
    state_digest: str,
    targets: Sequence[str] = (),
) -> Plan:
    """Compute the ordered actions that take ``live`` to ``desired``.

    Args:
        desired: the validated state file.
        live: what the observers saw.
        now: the clock reading for the whole run (UTC-aware).
        state_file, state_digest: recorded in the plan (digest: sha256 of the file's text).
        targets: ``--target`` filters (phase name, address or glob); empty = all.
    Returns:
        A Plan; errors found are ``Diagnostic``s in it (``plan.errored``), not exceptions.
    Raises:
        Nothing.
    """
    actions: list[Action] = []
    diags: list[Diagnostic] = []
    images, d = deployments.plan_images(desired, live)
    images = backup.guard(desired, images)
    actions += images
    diags += d
    restarts = deployments.plan_restarts(desired, live)
    actions += restarts
    actions += deployments.plan_unfinished_rollouts(desired, live, [*images, *restarts])
    scaling, d = deployments.plan_scaling(desired, live)
    actions += scaling
    diags += d
    backups, d = backup.plan_backup(desired, live, images, now)
    actions += backups
    diags += d
    if desired.admins is not None:
        admin_actions, d = admins.plan_admins(desired, live)
        actions += admin_actions
        diags += d
    if desired.key_retention is not None:
        key_actions, d = keys.plan_keys(desired, live, now)
        actions += key_actions
        diags += d
    diags += checks.check_deployments(desired, live, planned=actions)
    diags += checks.check_data_plane(desired, live)
    diags += outside.changed_outside(live)
    actions, d = upgrade.apply_strategies(desired, live, actions)  # scale-to-one: after the backup gate is set
    diags += d

    actions = order.sort_actions(actions)
    if targets:
        chosen = select_targets(actions, targets)
        known = known_addresses(desired)
        unknown = [t for t in targets
                   if not any(_matches(a, t) for a in actions)
                   and not any(k == t or fnmatch.fnmatchcase(k, t) for k in known)]
        for t in unknown:
            diags.append(Diagnostic(
                severity=Severity.ERROR, summary=f"--target {t!r} matches no phase, address or action",
                detail=TARGET_HINT,
            ))
        actions = chosen
    for problem in compare.unmet_requirements(actions):  # cannot happen by construction; never apply one
        diags.append(Diagnostic(severity=Severity.ERROR, summary=problem))
    diags = _dedupe(diags)
    return Plan(
        environment=desired.metadata.name,
        namespace=desired.target.namespace,
        context=desired.target.context,
        layout=desired.target.layout,
        created_at=now,
        state_file=state_file,
        state_digest=state_digest,
        actions=tuple(actions),
        diagnostics=tuple(diags),
        targets=tuple(targets),
        key_source=live.key_source if desired.key_retention is not None else None,
        connections=live.connections,
    )


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[str] = set()
    out = []
    for d in diags:
        key = d.model_dump_json()
        if key not in seen:
            seen.add(key)
            out.append(d)
    severity_rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}
    out.sort(key=lambda d: severity_rank[d.severity])
    return out
