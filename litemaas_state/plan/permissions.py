"""The Kubernetes API permissions a state file needs when the tool runs in the cluster: state file →
the RBAC rules of the Role in the manifests bundle (`litemaas-state manifests`, README "Running in the
cluster"). The one place that says which request each feature makes.

In a pod the tool connects ``direct`` (``LITEMAAS_STATE_CONNECT=direct``, cluster DNS, no port-forward or
exec) and is given ``LITELLM_URL`` as the Service's in-cluster URL (no Route lookup); everything else is
discovered as outside the cluster (live/connect.py). The requests, by feature:

* always (plan, drift, apply): ``get`` each managed Deployment (observe reads all four, live/observe.py);
  ``list`` horizontalpodautoscalers (the HPA check); ``list`` pods (Redis readiness, ``app=litellm-redis``);
  ``get`` the layout's database Secrets (``names.Layout.database_secrets``: ``litemaas-db`` in rhpds, the
  database URLs the Deployments take from it, docs/deployment-facts.md §1.6);
* the LiteLLM master key (``get`` the layout's master-key Secret, ``litellm-secret``): key retention (the LiteLLM admin API), or a
  declared LiteLLM image (apply checks LiteLLM's health after its rollout, apply/executors.py);
* apply: the Lease (apply/lock.py: ``create``; ``get`` and ``update`` to take over an expired one;
  ``update`` to renew; ``delete`` to release); ``patch`` each Deployment the file declares an image,
  replicas or restart for (apply/kube.py: every write is a patch of the Deployment, with its
  last-applied record); ``list`` replicasets when a Deployment with a rollout may be rolled back
  (``on_failure: rollback``, as ``kubectl rollout undo``);
* backup: nothing from the API (a local pg_dump over the direct connection; the container ships one).

Pure: no I/O. Requests the sandbox records are compared with these rules in both directions
(tests/e2e/test_incluster.py): nothing used is missing, nothing granted is unused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from litemaas_state import names
from litemaas_state.names import Component
from litemaas_state.spec.model import DesiredState, OnFailure

APPS = "apps"
CORE = ""


class Grant(BaseModel):
    """One permission: ``verb`` on ``resource`` in API group ``api_group`` (``""`` is the core group),
    limited to ``resource_names`` when given (RBAC cannot limit ``create`` or ``list`` by name); ``why``
    names the feature that needs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_group: str
    resource: str
    verb: str
    resource_names: tuple[str, ...] = ()
    why: str


class PolicyRule(BaseModel):
    """One rule of a Role (rbac.authorization.k8s.io/v1 PolicyRule), one API group and resource each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def to_k8s(self) -> dict[str, object]:
        """The rule as the API spells it (camelCase keys; no ``resourceNames`` key when unrestricted)."""
        rule: dict[str, object] = {"apiGroups": [self.api_group], "resources": [self.resource],
                                   "verbs": list(self.verbs)}
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule


#: RBAC verbs in the order kubectl prints them.
_VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def writes_deployments(desired: DesiredState) -> tuple[Component, ...]:
    """The Deployments an apply of ``desired`` may patch: those with a declared image, replicas or
    restart_at (plan/deployments.py makes set_image, scale and restart actions only for these)."""
    return tuple(c for c, spec in desired.deployments.items()
                 if spec.image is not None or spec.replicas is not None or spec.restart_at is not None)


def may_roll_back(desired: DesiredState) -> bool:
    """Whether an apply may run ``kubectl rollout undo``: a Deployment with a rollout (image or restart)
    whose effective ``on_failure`` is rollback."""
    return any((spec.image is not None or spec.restart_at is not None)
               and desired.on_failure_for(c) == OnFailure.ROLLBACK for c, spec in desired.deployments.items())


def needs_master_key(desired: DesiredState) -> bool:
    """Whether a run needs the LiteLLM master key: key retention (the admin API) or a declared LiteLLM
    image (its health is checked after the rollout)."""
    litellm = desired.deployments.get(Component.LITELLM)
    return desired.key_retention is not None or (litellm is not None and litellm.image is not None)


def grants(desired: DesiredState, *, apply: bool = True) -> tuple[Grant, ...]:
    """Every permission a pod running plan and drift (and, with ``apply``, apply) on ``desired`` needs.

    Returns: grants in a fixed order (always, then the LiteLLM master key, then apply's). Raises nothing.
    Source: this module's docstring; the requests are those of live/observe.py, live/connect.py,
    apply/lock.py, apply/kube.py and apply/executors.py.
    """
    layout = desired.layout
    managed = tuple(layout.deployment(c) for c in Component)
    out = [
        Grant(api_group=APPS, resource="deployments", verb="get", resource_names=managed,
              why="observe every managed Deployment"),
        Grant(api_group="autoscaling", resource="horizontalpodautoscalers", verb="list",
              why="an HPA that owns replicas is a plan check"),
        Grant(api_group=CORE, resource="pods", verb="list", why=f"Redis readiness ({layout.selectors[Component.REDIS]})"),
        Grant(api_group=CORE, resource="secrets", verb="get", resource_names=layout.database_secrets,
              why="the database URLs the Deployments take from these Secrets"),
    ]
    if needs_master_key(desired):
        out.append(Grant(api_group=CORE, resource="secrets", verb="get", resource_names=(layout.master_key.secret,),
                         why="the LiteLLM master key (key retention, LiteLLM health after its rollout)"))
    if not apply:
        return tuple(out)
    lease = (names.LEASE_NAME,)
    out += [
        Grant(api_group=names.LEASE_GROUP, resource="leases", verb="create", why="take the apply lock"),
        Grant(api_group=names.LEASE_GROUP, resource="leases", verb="get", resource_names=lease,
              why="read the lock's holder, take over an expired lock"),
        Grant(api_group=names.LEASE_GROUP, resource="leases", verb="update", resource_names=lease,
              why="renew the lock, take over an expired lock"),
        Grant(api_group=names.LEASE_GROUP, resource="leases", verb="delete", resource_names=lease,
              why="release the lock"),
    ]
    patched = tuple(layout.deployment(c) for c in writes_deployments(desired))
    if patched:
        out.append(Grant(api_group=APPS, resource="deployments", verb="patch", resource_names=patched,
                         why="images, scaling and restarts (each write carries the last-applied record)"))
    if may_roll_back(desired):
        out.append(Grant(api_group=APPS, resource="replicasets", verb="list",
                         why="on_failure: rollback finds the previous revision's ReplicaSet"))
    return tuple(out)


def rules(found: tuple[Grant, ...]) -> tuple[PolicyRule, ...]:
    """Merge grants into Role rules: the verbs of one (API group, resource, resource names) together, in
    kubectl's order; then rules with the same group, resource and verbs whose names are both restricted,
    their names together (sorted). Rules sorted by group, resource, then unrestricted before named.
    Raises nothing."""
    by_names: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for g in found:
        by_names.setdefault((g.api_group, g.resource, g.resource_names), set()).add(g.verb)
    merged: dict[tuple[str, str, tuple[str, ...], bool], set[str]] = {}
    for (group, resource, rnames), verbs in by_names.items():
        ordered = tuple(v for v in _VERB_ORDER if v in verbs)
        merged.setdefault((group, resource, ordered, bool(rnames)), set()).update(rnames)
    return tuple(sorted(
        (PolicyRule(api_group=group, resource=resource, verbs=verbs, resource_names=tuple(sorted(rnames)))
         for (group, resource, verbs, _), rnames in merged.items()),
        key=lambda r: (r.api_group, r.resource, r.resource_names, r.verbs),
    ))


def role_rules(desired: DesiredState, *, apply: bool = True) -> tuple[PolicyRule, ...]:
    """``rules(grants(desired, apply=apply))``: the Role's rules for ``desired``. Raises nothing."""
    return rules(grants(desired, apply=apply))
