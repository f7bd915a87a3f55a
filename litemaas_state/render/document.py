"""build_document(): the public, versioned plan document, and the ONLY place that redacts.

Every display (text, markdown, ``--json``) is derived from ``PlanDocument``, so none can show what the
document lacks (Terraform's jsonplan → jsonformat split; docs/design.md §9.6). Virtual keys appear only
as alias + token-hash prefix (docs/design.md §9.18 item 6 "secret-safe artifacts"); no field carries a key, a password
or a URL with credentials.

``format_version`` is MAJOR.MINOR: MINOR for new optional fields, MAJOR for breaking changes. 2.0: actions
carry ``requires`` and ``required_by``, ``order`` states the apply order and why, and ``wait_rollout``
actions exist. 2.1: ``key_source`` (where the virtual keys were read), ``rows_revoked`` counts and
``connections`` (the path each data-plane source took; never a credential).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ConnectionPath
from litemaas_state.plan.kinds import spec
from litemaas_state.plan.model import PHASE_ORDER, Action, DeleteKeysAction, Plan, RevokeRowsAction
from litemaas_state.plan.order import describe_order

DOCUMENT_FORMAT_VERSION = "2.1"
TOKEN_PREFIX_LEN = 10


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def token_prefix(token_hash: str) -> str:
    """The displayable prefix of a sha256 token hash (never the whole hash, never a key)."""
    return token_hash[:TOKEN_PREFIX_LEN]


class ChangeDoc(_Doc):
    field: str
    before: Any = None
    after: Any = None


class KeyDoc(_Doc):
    alias: str | None
    token_prefix: str
    owner: str | None
    created_at: datetime | None
    expires: datetime | None
    rule: str


class RowDoc(_Doc):
    id: str
    key_hash_prefix: str
    alias: str | None
    owner: str | None


class ActionDoc(_Doc):
    id: str
    kind: str
    phase: str
    address: str
    actions: tuple[Literal["create", "update", "delete"], ...]
    destructive: bool
    changes: tuple[ChangeDoc, ...]
    notes: tuple[str, ...] = ()
    reason: str = ""
    files: tuple[str, ...] = ()
    keys: tuple[KeyDoc, ...] = ()
    rows: tuple[RowDoc, ...] = ()
    requires: tuple[str, ...] = ()
    required_by: tuple[str, ...] = ()
    rows_revoked: int = 0


class KeySourceDoc(_Doc):
    """Where the virtual keys were read: ``litellm-db`` or ``key-list``, why, and how many."""

    origin: str
    detail: str
    count: int


class PhaseDoc(_Doc):
    phase: str
    actions: tuple[ActionDoc, ...]


class Summary(_Doc):
    add: int
    change: int
    destroy: int
    actions: int
    by_phase: dict[str, int]
    rows_revoked: int = 0


class PlanDocument(_Doc):
    format_version: str = DOCUMENT_FORMAT_VERSION
    environment: str
    namespace: str
    created_at: datetime
    verdict: Literal["no_changes", "changes", "errored"]
    applyable: bool
    summary: Summary
    phases: tuple[PhaseDoc, ...]
    diagnostics: tuple[Diagnostic, ...]
    targets: tuple[str, ...] = ()
    order: str = ""
    key_source: KeySourceDoc | None = None
    connections: tuple[ConnectionPath, ...] = ()


def _action_doc(action: Action, required_by: tuple[str, ...] = ()) -> ActionDoc:
    kind = spec(action)
    keys = tuple(
        KeyDoc(alias=k.alias, token_prefix=token_prefix(k.token_hash), owner=k.owner,
               created_at=k.created_at, expires=k.expires, rule=k.rule)
        for k in kind.keys(action)
    )
    rows = tuple(RowDoc(id=r.id, key_hash_prefix=token_prefix(r.key_hash), alias=r.alias, owner=r.owner)
                 for r in kind.rows(action))
    changes = tuple(ChangeDoc(field=c.field, before=c.before, after=c.after) for c in action.changes)
    return ActionDoc(
        id=action.id, kind=action.kind, phase=action.phase.value, address=action.address,
        actions=kind.verbs, destructive=action.destructive, changes=changes, notes=action.notes,
        reason=action.reason, files=kind.files(action), keys=keys, rows=rows, rows_revoked=kind.rows_revoked(action),
        requires=action.requires, required_by=required_by,
    )


def rows_revoked_by(action: DeleteKeysAction | RevokeRowsAction) -> int:
    """LiteMaaS api_keys rows apply marks revoked for this action: the active rows of its keys (when
    syncing), or its orphan rows (plan/kinds.py)."""
    return int(spec(action).rows_revoked(action))


def resource_counts(action: Action) -> tuple[int, int, int]:
    """(add, change, destroy) one action contributes to the plan's summary (apply reports the same)."""
    w: tuple[int, int, int] = spec(action).weight(action)  # plan/kinds.py
    return w


def build_document(plan: Plan) -> PlanDocument:
    """Turn a Plan into the public PlanDocument (ordered by phase, redacted).

    Raises:
        Nothing.
    """
    phases = []
    by_phase: dict[str, int] = {}
    add = change = destroy = 0
    dependents: dict[str, list[str]] = {}
    for a in plan.actions:
        for r in a.requires:
            dependents.setdefault(r, []).append(a.id)
    for phase in PHASE_ORDER:
        docs = tuple(_action_doc(a, tuple(dependents.get(a.id, ()))) for a in plan.actions if a.phase == phase)
        if docs:
            phases.append(PhaseDoc(phase=phase.value, actions=docs))
        by_phase[phase.value] = len(docs)
    for a in plan.actions:  # counted Terraform-style: a key deletion once per key (destroy), each row it revokes
        w = spec(a).weight(a)  # once (change); plan/kinds.py
        add, change, destroy = add + w[0], change + w[1], destroy + w[2]
    rows_revoked = sum(spec(a).rows_revoked(a) for a in plan.actions)
    source = plan.key_source
    errored = any(d.severity == Severity.ERROR for d in plan.diagnostics)
    verdict: Literal["no_changes", "changes", "errored"] = (
        "errored" if errored else "changes" if plan.actions else "no_changes"
    )
    return PlanDocument(
        environment=plan.environment, namespace=plan.namespace, created_at=plan.created_at, verdict=verdict,
        applyable=plan.applyable,
        summary=Summary(add=add, change=change, destroy=destroy, actions=len(plan.actions), by_phase=by_phase,
                        rows_revoked=rows_revoked),
        phases=tuple(phases), diagnostics=plan.diagnostics, targets=plan.targets, connections=plan.connections,
        order=describe_order() if any(len(p.actions) > 1 for p in phases if p.phase == "images") else "",
        key_source=KeySourceDoc(origin=source.origin, detail=source.detail, count=source.count) if source else None,
    )
