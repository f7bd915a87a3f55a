"""make_plan(): the single entry point of the planner, and the single ordering of actions.

Order: phase (backup → images → scaling → admins → keys), then address, then id (gitops-engine
``syncTasks.Less``; style.md §6.4 #3). JSON, text and apply all follow this order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import datetime

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState
from litemaas_state.plan import admins, backup, checks, deployments, keys
from litemaas_state.plan.model import PHASE_ORDER, Action, Phase, Plan
from litemaas_state.spec.model import DesiredState


def _order(action: Action) -> tuple[int, str, str]:
    return PHASE_ORDER.index(action.phase), action.address, action.id


def _matches(action: Action, target: str) -> bool:
    return (target == action.phase.value or target == action.address or target == action.id
            or fnmatch.fnmatchcase(action.address, target))


def known_addresses(desired: DesiredState) -> set[str]:
    """Every phase and address the state file manages (a --target outside it is a typo)."""
    known = {p.value for p in Phase} | {f"backup/{desired.metadata.name}"}
    known |= {f"deployment/{c.value}" for c, _ in desired.deployments.items()}
    if desired.admins is not None:
        known |= {"admin"} | {f"admin/{e.casefold()}" for e in desired.admins.emails}
    if desired.key_retention is not None:
        known |= {"keys/expired", "keys/max_age", "keys/orphans", "litemaas/api_keys"}
    return known


def select_targets(actions: Sequence[Action], targets: Sequence[str]) -> list[Action]:
    """Keep actions whose phase, address or id matches a ``--target`` (glob on addresses)."""
    if not targets:
        return list(actions)
    return [a for a in actions if any(_matches(a, t) for t in targets)]


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
    actions += images
    diags += d
    actions += deployments.plan_restarts(desired, live)
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
    diags += checks.check_deployments(desired, live)
    diags += checks.check_data_plane(desired, live)

    actions.sort(key=_order)
    if targets:
        chosen = select_targets(actions, targets)
        # A targeted image change keeps the backup that protects it (facts §2: never upgrade unprotected).
        chosen_addresses = {a.address for a in chosen}
        chosen += [b for b in backups if b not in chosen and chosen_addresses.intersection(b.before)]
        chosen.sort(key=_order)
        known = known_addresses(desired)
        unknown = [t for t in targets
                   if not any(_matches(a, t) for a in actions)
                   and not any(k == t or fnmatch.fnmatchcase(k, t) for k in known)]
        for t in unknown:
            diags.append(Diagnostic(
                severity=Severity.ERROR, summary=f"--target {t!r} matches no phase, address or action",
                detail="Phases: backup, images, scaling, admins, keys; addresses look like deployment/litellm, "
                       "admin/<email>, keys/expired.",
            ))
        actions = chosen
    diags = _dedupe(diags)
    return Plan(
        environment=desired.metadata.name,
        namespace=desired.target.namespace,
        context=desired.target.context,
        created_at=now,
        state_file=state_file,
        state_digest=state_digest,
        actions=tuple(actions),
        diagnostics=tuple(diags),
        targets=tuple(targets),
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
