"""Re-check an action's preconditions against live state (saved plans; Terraform's stale-plan refusal,
done per action — anchors.md §1.3 and §7 item 7; style.md §6.4 #5).

Each precondition names the live value an action was computed from. Only the values an action depends
on are compared, so a live change that no action depends on never blocks a plan. Checks:

* ``kubernetes``: ``containers[N].image`` / ``initContainers[N].image``, ``spec.replicas``,
  ``template.annotations.restartedAt`` of the Deployment named by the address.
* ``litemaas-db``: ``users[<id>].roles``; ``api_keys[orphans]`` (rows already revoked are skipped at
  execution, and rows whose key reappears are left alone, so nothing to refuse).
* ``litellm``: ``keys[<rule>]``: every planned token that still exists must still have the ``expires``
  the plan saw (an extended key is no longer expired); tokens already gone are fine.
"""

from __future__ import annotations

import re
from datetime import datetime

from litemaas_state.errors import ConfigError, PreconditionFailed
from litemaas_state.live import litellm_api, litemaas_db
from litemaas_state.live.connect import Discovery
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import Workload
from litemaas_state.live.tokens import TokenReader
from litemaas_state.plan.model import Action, DeleteKeysAction, Precondition

_CONTAINER = re.compile(r"^(containers|initContainers)\[(?P<name>[^\]]+)\]\.image$")
_USER = re.compile(r"^users\[(?P<id>[^\]]+)\]\.roles$")


class PreconditionChecker:
    """Reads the live values named by preconditions and compares them with what the plan saw."""

    def __init__(self, kube: KubeReader, discovery: Discovery) -> None:
        self.kube = kube
        self.discovery = discovery

    def _fail(self, action: Action, pre: Precondition, found: object) -> PreconditionFailed:
        return PreconditionFailed(
            f"{action.id}: precondition failed: {pre.address} {pre.field} was {pre.expected!r} when the plan "
            f"was made, and is now {found!r}. The plan is stale for this action; run plan again."
        )

    def _workload(self, action: Action, pre: Precondition) -> Workload:
        name = pre.address.split("/", 1)[1]
        w = self.kube.deployment(name)
        if w is None:
            raise self._fail(action, pre, "(deployment deleted)")
        return w

    def check_one(self, action: Action, pre: Precondition) -> None:
        if pre.source == "kubernetes":
            w = self._workload(action, pre)
            found: object
            if m := _CONTAINER.match(pre.field):
                init = m.group(1) == "initContainers"
                c = next((c for c in w.containers if c.name == m.group("name") and c.init == init), None)
                found = c.image if c else "(container removed)"
            elif pre.field == "spec.replicas":
                found = w.replicas
            elif pre.field == "template.annotations.restartedAt":
                found = w.restarted_at
            else:
                return
            if found != pre.expected:
                raise self._fail(action, pre, found)
        elif pre.source == "litemaas-db":
            if m := _USER.match(pre.field):
                db = self.discovery.database("litemaas")
                if db is None:
                    raise ConfigError("the LiteMaaS database is unknown")
                roles = litemaas_db.read_user_roles(db, m.group("id"))
                if roles != list(pre.expected):
                    raise self._fail(action, pre, roles)
        elif pre.source == "litellm" and isinstance(action, DeleteKeysAction):
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
        """Raise PreconditionFailed for the first precondition of ``action`` that no longer holds."""
        for pre in action.preconditions:
            self.check_one(action, pre)


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Equal expiry, at LiteLLM's millisecond precision (timestamp(3))."""
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 0.001

