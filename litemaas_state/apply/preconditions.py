"""Re-check an action's preconditions against live state (saved plans; Terraform's stale-plan refusal,
done per action: hashicorp/terraform ``internal/plans`` refuses a stale plan as a whole, we per action).

Each precondition (plan/model.py ``Precondition``, a closed union) is the live value an action was
computed from. Only the values an action depends on are compared, so a live change that no action
depends on never blocks a plan. Every kind is matched; ``assert_never`` makes a new kind that is not
checked here a mypy error. Checks:

* ``image``, ``replicas``, ``restarted_at``: the Deployment's container image, ``spec.replicas`` and the
  pod-template annotation ``kubectl.kubernetes.io/restartedAt``. The Deployment is read once per action.
* ``user_roles``: the LiteMaaS user's ``users.roles``.
* ``key_expiries``: every planned token of the delete_keys action that still exists must still have the
  ``expires`` the plan saw (an extended key is no longer expired); tokens already gone are fine.
* ``orphan_rows``: nothing to refuse (rows already revoked are skipped at execution, and rows whose key
  reappears are left alone: apply/executors.py ``RevokeRows``).
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from litemaas_state.errors import ConfigError, PreconditionFailed
from litemaas_state.live import litellm_api, litemaas_db
from litemaas_state.live.connect import Discovery
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import Workload
from litemaas_state.live.tokens import TokenReader
from litemaas_state.plan.model import (
    Action,
    DeleteKeysAction,
    KeyExpiries,
    OrphanRows,
    Precondition,
    Replicas,
    RestartedAt,
    RunningImage,
    UserRoles,
)

_DELETED = "(deployment deleted)"


def _what(pre: Precondition) -> tuple[str, object]:
    """(what was read, the value the plan saw) of a precondition, for the refusal sentence."""
    match pre:
        case RunningImage():
            return f"{'initContainers' if pre.init else 'containers'}[{pre.container}].image", pre.image
        case Replicas():
            return "spec.replicas", pre.replicas
        case RestartedAt():
            return "template.annotations.restartedAt", pre.restarted_at
        case UserRoles():
            return f"users[{pre.user_id}].roles", list(pre.roles)
        case KeyExpiries():
            return f"keys[{pre.rule}].expires", None
        case OrphanRows():
            return "api_keys[orphans]", list(pre.row_ids)
        case _:
            assert_never(pre)


class PreconditionChecker:
    """Reads the live values named by preconditions and compares them with what the plan saw.

    Args:
        kube: reads Deployments. discovery: the LiteMaaS database and the LiteLLM API (user roles, keys).
    """

    def __init__(self, kube: KubeReader, discovery: Discovery) -> None:
        self.kube = kube
        self.discovery = discovery

    def _fail(self, action: Action, pre: Precondition, found: object) -> PreconditionFailed:
        field, expected = _what(pre)
        return PreconditionFailed(
            f"{action.id}: precondition failed: {action.address} {field} was {expected!r} when the plan "
            f"was made, and is now {found!r}. The plan is stale for this action; run plan again."
        )

    def _workload(self, name: str, cache: dict[str, Workload | None]) -> Workload | None:
        if name not in cache:
            cache[name] = self.kube.deployment(name)
        return cache[name]

    def check_one(self, action: Action, pre: Precondition, cache: dict[str, Workload | None] | None = None) -> None:
        """Raise PreconditionFailed when ``pre`` (of ``action``) no longer holds.

        ``cache``: Deployments already read during this check (name → Workload, None when deleted).
        Raises:
            PreconditionFailed: the live value differs. ConfigError: the LiteMaaS database is unknown.
        """
        cache = {} if cache is None else cache
        found: object
        expected: object
        match pre:
            case RunningImage() | Replicas() | RestartedAt():
                w = self._workload(pre.deployment, cache)
                if w is None:
                    raise self._fail(action, pre, _DELETED)
                match pre:
                    case RunningImage():
                        c = next((c for c in w.containers if c.name == pre.container and c.init == pre.init), None)
                        found, expected = (c.image if c else "(container removed)"), pre.image
                    case Replicas():
                        found, expected = w.replicas, pre.replicas
                    case RestartedAt():
                        found, expected = w.restarted_at, pre.restarted_at
                if found != expected:
                    raise self._fail(action, pre, found)
            case UserRoles():
                db = self.discovery.database("litemaas")
                if db is None:
                    raise ConfigError("the LiteMaaS database is unknown")
                roles = litemaas_db.read_user_roles(db, pre.user_id)
                if roles != list(pre.roles):
                    raise self._fail(action, pre, roles)
            case KeyExpiries():
                if not isinstance(action, DeleteKeysAction):
                    raise PreconditionFailed(f"{action.id}: a key_expiries precondition on a {action.kind} action "
                                             "(the plan file was edited); run plan again.")
                self._check_expiries(action)
            case OrphanRows():
                pass  # nothing to refuse (module docstring)
            case _:
                assert_never(pre)

    def _check_expiries(self, action: DeleteKeysAction) -> None:
        expiries = self._expiries([k.token_hash for k in action.keys])
        for ref in action.keys:
            if ref.token_hash not in expiries:
                continue  # already gone: nothing to refuse
            now_expires = expiries[ref.token_hash]
            if not _same_instant(now_expires, ref.expires):
                raise PreconditionFailed(
                    f"{action.id}: precondition failed: key {ref.alias or '(no alias)'} (token "
                    f"{ref.token_hash[:10]}…) had expires {ref.expires} when the plan was made, and now has "
                    f"{now_expires}. The plan is stale for this action; run plan again."
                )

    def _expiries(self, tokens: list[str]) -> dict[str, datetime | None]:
        """token → expires now, for the planned tokens that still exist (live.tokens.TokenReader)."""
        url, key = self.discovery.require_litellm()
        with litellm_api.make_client(url, key) as client:
            return TokenReader(client, self.discovery.database("litellm")).expiries(tokens)

    def check(self, action: Action) -> None:
        """Raise PreconditionFailed for the first precondition of ``action`` that no longer holds (each
        Deployment it names is read once)."""
        cache: dict[str, Workload | None] = {}
        for pre in action.preconditions:
            self.check_one(action, pre, cache)


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Equal expiry, at LiteLLM's millisecond precision (timestamp(3))."""
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 0.001
