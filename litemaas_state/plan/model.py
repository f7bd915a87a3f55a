"""The plan as data: phases, actions (a closed set of kinds), changes and preconditions.

As in Terraform (``internal/plans``), the plan apply executes (``Plan``) is separate from the plan shown
(``render.document.PlanDocument``). ``reason`` and ``notes`` are for humans; no executor reads them.
``Plan`` is also the saved-plan format (``plan --out``); apply refuses an unknown major format_version.

Dependencies are typed and explicit: ``requires`` lists the ids of actions in the same plan that must
have *succeeded* before this one runs (an image change of a Deployment listed in
``backup.before_image_change_of`` requires ``backup/<env>``; a backup succeeds only when every dump was
verified). The planner brings requirements along with ``--target``; a saved plan missing one is refused
(plan/compare.py); apply runs an action only when its requirements succeeded (apply/runner.py).

Per-kind meaning of the derived ``changes`` (before → after; plan/kinds.py builds them):

* ``backup``: ``files``: none → the dump files to write.
* ``set_image``: ``image``: the main container's image → the declared image; ``containers`` names every
  container and init container that follows it (same repository; docs/deployment-facts.md §1.2).
* ``scale_to_one_upgrade``: ``replicas_during_rollout``: spec.replicas → 1, ``image`` as for ``set_image``,
  ``replicas``: spec.replicas → the count it is scaled back to (an image change made at one replica,
  upgrade_strategy scale-to-one; plan/upgrade.py).
* ``wait_rollout``: ``rollout``: kubectl's rollout-status message → ``complete`` (a rollout of the
  declared pod template that has not finished, e.g. after an apply was killed; apply waits for it).
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
from litemaas_state.live.model import ConnectionPath, KeySource
from litemaas_state.names import Component, LayoutName

#: Saved-plan format. 2.0: ``requires`` on every action, ``wait_rollout`` actions. 2.1: delete actions count
#: the LiteMaaS rows they revoke (``litemaas_rows``), plans record ``key_source`` and ``connections``.
#: 3.0: preconditions are typed (a ``kind`` each, no field strings), actions no longer store ``phase`` and
#: ``changes`` (both derived from the kind and the typed fields); older majors are refused.
#: 3.1: ``scale_to_one_upgrade`` actions.
#: 4.0: Deployment actions carry their ``component`` (layouts, names.LAYOUTS) and plans their ``layout``.
FORMAT_VERSION = "4.0"

#: An action's ``id`` (``images/litellm``, ``backup/<env>``), as referenced by ``requires``.
ActionId = str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phase(StrEnum):
    """Apply phases, in their fixed order (plan/order.py): the pre-upgrade backup first, then images,
    scaling, admins and keys, the order the state file's users asked for."""

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


class RunningImage(_Frozen):
    """The image a container (or init container) of a Deployment ran when the plan was made."""

    kind: Literal["image"] = "image"
    deployment: str
    container: str
    init: bool = False
    image: str


class Replicas(_Frozen):
    """A Deployment's ``spec.replicas`` when the plan was made."""

    kind: Literal["replicas"] = "replicas"
    deployment: str
    replicas: int | None


class RestartedAt(_Frozen):
    """A Deployment's pod-template annotation ``kubectl.kubernetes.io/restartedAt`` (None: never restarted)."""

    kind: Literal["restarted_at"] = "restarted_at"
    deployment: str
    restarted_at: str | None


class UserRoles(_Frozen):
    """A LiteMaaS user's ``users.roles`` when the plan was made."""

    kind: Literal["user_roles"] = "user_roles"
    user_id: str
    email: str
    roles: tuple[str, ...]


class KeyExpiries(_Frozen):
    """Every key of the delete_keys action it belongs to that still exists in LiteLLM must still have the
    ``expires`` recorded in its ``KeyRef`` (an extended key is no longer expired); keys already gone are fine."""

    kind: Literal["key_expiries"] = "key_expiries"
    rule: str


class OrphanRows(_Frozen):
    """The LiteMaaS api_keys rows (ids) that were active orphans when the plan was made. Nothing is refused:
    apply skips rows already revoked and leaves alone rows whose key reappeared (apply/keys.py)."""

    kind: Literal["orphan_rows"] = "orphan_rows"
    row_ids: tuple[str, ...]


#: A live value an action was computed from, re-checked before the action runs (apply/preconditions.py).
#: A closed union: the checker matches every kind and ``assert_never`` makes a new one a mypy error.
Precondition = Annotated[
    RunningImage | Replicas | RestartedAt | UserRoles | KeyExpiries | OrphanRows,
    Field(discriminator="kind"),
]


class _ActionBase(_Frozen):
    """Fields every action has. Its phase, its shown ``changes`` and everything else that depends only on
    its kind are in the kind's registry entry (plan/kinds.py), derived from the typed fields."""

    id: str
    address: str
    destructive: bool = False
    reason: str = ""
    notes: tuple[str, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    requires: tuple[ActionId, ...] = Field(
        (), description="Ids of actions in this plan that must have succeeded before this one runs.")

    @property
    def phase(self) -> Phase:
        """The apply phase of this action's kind (plan/kinds.py)."""
        from litemaas_state.plan.kinds import spec_of

        return spec_of(self.kind).phase  # type: ignore[attr-defined]

    @property
    def changes(self) -> tuple[Change, ...]:
        """What the action changes (before → after), derived from its typed fields (plan/kinds.py)."""
        from litemaas_state.plan.kinds import spec_of

        return spec_of(self.kind).changes(self)  # type: ignore[attr-defined]


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


class _ImageChangeBase(_ActionBase):
    """The fields of an action that sets a Deployment's image (set_image, scale_to_one_upgrade), in that
    order after ``kind``, which each subclass narrows to its Literal."""

    kind: str
    component: Component = Field(description="The logical component (the state file's key).")
    deployment: str = Field(description="The Deployment's name in the layout.")
    image: str
    main_container: str = Field(description="The Deployment's main container, whose image is shown as before.")
    containers: tuple[str, ...]
    init_containers: tuple[str, ...] = ()
    on_failure: Literal["stop", "rollback"] = "stop"


class SetImageAction(_ImageChangeBase):
    kind: Literal["set_image"] = "set_image"


class ScaleToOneUpgradeAction(_ImageChangeBase):
    """An image change made at one replica (``upgrade_strategy: scale-to-one``, plan/upgrade.py): scale to 1
    and wait, set the image as a set_image does and wait for the rollout (``on_failure``), check LiteLLM's
    health, scale back to ``replicas_after`` and wait. It takes the place of the Deployment's set_image (same
    id) and of its scale action; its preconditions are the set_image's plus the live ``spec.replicas``."""

    kind: Literal["scale_to_one_upgrade"] = "scale_to_one_upgrade"
    replicas_after: int = Field(ge=0, description="spec.replicas after the upgrade: the declared count, else "
                                "the live one.")
    replicas_declared: bool = Field(False, description="replicas_after is the state file's count (else the live one).")


class WaitRolloutAction(_ActionBase):
    """Wait for an unfinished rollout of the declared pod template (no write), then check it as after a
    set_image (LiteLLM's health), applying ``on_failure`` if it fails."""

    kind: Literal["wait_rollout"] = "wait_rollout"
    component: Component = Field(description="The logical component (the state file's key).")
    deployment: str = Field(description="The Deployment's name in the layout.")
    image: str
    rollout_message: str = Field("", description="kubectl's rollout-status message when the plan was made.")
    on_failure: Literal["stop", "rollback"] = "stop"


class RestartAction(_ActionBase):
    kind: Literal["restart"] = "restart"
    component: Component = Field(description="The logical component (the state file's key).")
    deployment: str = Field(description="The Deployment's name in the layout.")
    restarted_at: str
    on_failure: Literal["stop", "rollback"] = "stop"


class ScaleAction(_ActionBase):
    kind: Literal["scale"] = "scale"
    component: Component = Field(description="The logical component (the state file's key).")
    deployment: str = Field(description="The Deployment's name in the layout.")
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
    litemaas_rows: int = Field(0, description="Active LiteMaaS api_keys rows whose key_hash is one of these "
                               "tokens: apply marks them revoked once their key is gone.")


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
    BackupAction | SetImageAction | ScaleToOneUpgradeAction | WaitRolloutAction | RestartAction | ScaleAction
    | AdminAction | DeleteKeysAction | RevokeRowsAction,
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
    layout: LayoutName = Field(LayoutName.RHPDS, description="The name map the plan was made with (target.layout).")
    server: str = Field("", description="The Kubernetes API server the plan was made against.")
    created_at: datetime
    state_file: str
    state_digest: str
    state_text: str = Field("", description="The state file the plan was made from (saved plans only).")
    actions: tuple[Action, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    targets: tuple[str, ...] = ()
    key_source: KeySource | None = Field(None, description="Where the virtual keys were read (keys phase).")
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
