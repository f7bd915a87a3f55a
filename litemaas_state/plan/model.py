"""The plan as data: phases, actions (a closed set of kinds), changes and preconditions.

As in Terraform (``internal/plans``), the plan apply executes (``Plan``) is separate from the plan shown
(``render.document.PlanDocument``). ``reason`` and ``notes`` are for humans; no executor reads them.
``Plan`` is also the saved-plan format (``plan --out``); apply refuses an unknown major format_version.

Per-kind meaning of ``changes`` (before → after):

* ``backup``: ``files``: none → the dump files to write.
* ``set_image``: ``image``: the main container's image → the declared image; ``containers`` names every
  container and init container that follows it (same repository; litemaas-facts.md §1.2).
* ``restart``: ``restarted_at``: the pod-template annotation → the declared timestamp.
* ``scale``: ``replicas``: spec.replicas → declared.
* ``promote_admin`` / ``demote_admin``: ``roles``: the user's roles → with/without admin.
* ``delete_keys``: ``keys``: count → 0, per rule; ``keys`` lists each key (alias, token-hash prefix).
* ``revoke_rows``: ``is_active``: true → false for LiteMaaS api_keys rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ConnectionPath

FORMAT_VERSION = "1.2"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phase(StrEnum):
    """Apply phases, in their fixed order (issue 2: backup, images, scaling, admins, keys)."""

    BACKUP = "backup"
    IMAGES = "images"
    SCALING = "scaling"
    ADMINS = "admins"
    KEYS = "keys"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)


class Change(_Frozen):
    """One field's before → after (JSON values)."""

    field: str
    before: Any = None
    after: Any = None


class Precondition(_Frozen):
    """A live value an action was computed from; re-checked before the action runs (saved plans).

    ``source``: kubernetes | litemaas-db | litellm. ``field``: what was read (e.g.
    ``containers[litellm].image``). ``expected``: the JSON value read at plan time.
    """

    source: str
    address: str
    field: str
    expected: Any
    description: str = ""


class _ActionBase(_Frozen):
    id: str
    phase: Phase
    address: str
    changes: tuple[Change, ...] = ()
    destructive: bool = False
    reason: str = ""
    notes: tuple[str, ...] = ()
    preconditions: tuple[Precondition, ...] = ()


class BackupTarget(_Frozen):
    """One database to dump: which (``litemaas``/``litellm``/``shared``), its name, the file to write."""

    role: str
    database: str
    file: str


class BackupAction(_ActionBase):
    kind: Literal["backup"] = "backup"
    targets: tuple[BackupTarget, ...]
    directory: str
    keep: int
    before: tuple[str, ...] = Field(description="Addresses of the image changes this backup protects.")


class SetImageAction(_ActionBase):
    kind: Literal["set_image"] = "set_image"
    deployment: str
    image: str
    containers: tuple[str, ...]
    init_containers: tuple[str, ...] = ()
    on_failure: Literal["stop", "rollback"] = "stop"


class RestartAction(_ActionBase):
    kind: Literal["restart"] = "restart"
    deployment: str
    restarted_at: str
    on_failure: Literal["stop", "rollback"] = "stop"


class ScaleAction(_ActionBase):
    kind: Literal["scale"] = "scale"
    deployment: str
    replicas: int = Field(ge=0)


class AdminAction(_ActionBase):
    kind: Literal["promote_admin", "demote_admin"]
    email: str
    user_id: str
    roles_after: tuple[str, ...]


class KeyRef(_Frozen):
    """A virtual key as the plan knows it: never the key itself, only its sha256 token hash and labels."""

    token_hash: str
    alias: str | None = None
    user_id: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    expires: datetime | None = None
    rule: str = ""


class DeleteKeysAction(_ActionBase):
    kind: Literal["delete_keys"] = "delete_keys"
    rule: str
    keys: tuple[KeyRef, ...]
    sync_litemaas: bool = True


class RowRef(_Frozen):
    """A LiteMaaS api_keys row: id, token-hash (key_hash), alias, owner email."""

    id: str
    key_hash: str
    alias: str | None = None
    owner: str | None = None


class RevokeRowsAction(_ActionBase):
    kind: Literal["revoke_rows"] = "revoke_rows"
    rows: tuple[RowRef, ...]
    sync_error: str


Action = Annotated[
    BackupAction | SetImageAction | RestartAction | ScaleAction | AdminAction | DeleteKeysAction
    | RevokeRowsAction,
    Field(discriminator="kind"),
]


class Plan(_Frozen):
    """A whole plan: ordered actions and diagnostics. Also the saved-plan file format.

    ``targets``: the ``--target`` filters in effect (empty = everything). ``state_digest``: sha256 of the
    state file text the plan was made from. ``connections``: how each data-plane source was reached
    (``live.connections``; format 1.2).
    """

    format_version: str = FORMAT_VERSION
    environment: str
    namespace: str
    context: str | None = None
    server: str = Field("", description="The Kubernetes API server the plan was made against.")
    created_at: datetime
    state_file: str
    state_digest: str
    state_text: str = Field("", description="The state file the plan was made from (saved plans only).")
    actions: tuple[Action, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    targets: tuple[str, ...] = ()
    connections: tuple[ConnectionPath, ...] = Field((), description="The path each data-plane source took.")

    @property
    def errored(self) -> bool:
        return any(d.severity == Severity.ERROR for d in self.diagnostics)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    @property
    def applyable(self) -> bool:
        return self.has_changes and not self.errored
