"""observe(): run the readers one desired state needs and return a LiveState.

Reads only what the state file manages: the Deployments and HPAs always; Redis readiness; the LiteMaaS
users when ``admins`` is set; the LiteLLM keys (from LiteLLM's database when ``live.tokens.check_trust``
shows it is the one LiteLLM serves, else /key/list; and the LiteMaaS api_keys rows when syncing) when
``key_retention`` is set; database server versions and the local pg_dump when a backup may be needed
(the local pg_dump only for databases reached directly: on the kubernetes path pg_dump runs in the pod).
``connections`` records the path each source took, ``parts`` how each part was read.
``now`` is passed in so the whole pipeline sees one clock reading.

Two modes. Strict (plan, apply, drift): the first part that cannot be read raises, since a plan made from
half the world is wrong. Tolerant (status, ``tolerant=True``): a part that cannot be read is recorded in
``parts`` as failed, forbidden or unconfigured, its field stays None, and the rest is still read (a health
summary must work while something is down). The Deployments are read strictly in both: without them there
is nothing to report.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from litemaas_state import names
from litemaas_state.errors import ConfigError, Forbidden, LitemaasStateError, ObserveError
from litemaas_state.live import litellm_api, litemaas_db, pgdump, tokens
from litemaas_state.live import redis as redis_reader
from litemaas_state.live.connect import DatabaseTarget, Discovery
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import (
    DatabaseInfo,
    KeySource,
    LiteLLMHealth,
    LiveState,
    Part,
    PartState,
    PartStatus,
    RedisStatus,
    VirtualKey,
    Workload,
)
from litemaas_state.names import Component
from litemaas_state.spec.model import DesiredState

T = TypeVar("T")


def part_failed(part: Part, exc: LitemaasStateError) -> PartStatus:
    """The PartStatus of a part whose read raised ``exc``: Forbidden → forbidden, ConfigError →
    unconfigured, any other error → failed; the message and HTTP status (when any) kept."""
    state = (PartState.FORBIDDEN if isinstance(exc, Forbidden) else
             PartState.UNCONFIGURED if isinstance(exc, ConfigError) else PartState.FAILED)
    return PartStatus(part=part, state=state, error=str(exc), status=getattr(exc, "status", None))


class _Reads:
    """Runs each part's read and records its PartStatus; in tolerant mode a failed read gives None."""

    def __init__(self, tolerant: bool) -> None:
        self.tolerant = tolerant
        self.parts: dict[Part, PartStatus] = {}

    def __call__(self, part: Part, read: Callable[[], T]) -> T | None:
        if self.failed(part):
            return None
        try:
            value = read()
        except LitemaasStateError as exc:
            if not self.tolerant:
                raise
            self.parts[part] = part_failed(part, exc)
            return None
        self.parts.setdefault(part, PartStatus(part=part))
        return value

    def failed(self, part: Part) -> bool:
        got = self.parts.get(part)
        return got is not None and got.state != PartState.OK


def observe(desired: DesiredState, kube: KubeReader, discovery: Discovery, *, now: datetime,
            everything: bool = False, tolerant: bool = False) -> LiveState:
    """Observe what ``desired`` manages; ``everything`` (status) also reads what it does not manage: the
    users, the keys, LiteLLM's health and the active subscriptions.

    Raises:
        ObserveError (Forbidden for a 403): a part could not be read. ConfigError: a needed connection
        detail is unknown, or the namespace holds another layout's Deployments where ``target.layout``'s
        are missing (also in ``tolerant`` mode). With ``tolerant`` only for the Deployments; every other failure is in
        ``LiveState.parts``.
    """
    read = _Reads(tolerant)
    layout = discovery.layout
    workloads: dict[Component, Workload] = {}
    missing: list[Component] = []
    for component in Component:
        w = kube.deployment(layout.deployment(component))
        if w is None:
            missing.append(component)
        else:
            workloads[component] = w
    other_layout, other_deployments = _other_layout(kube, layout, missing)
    if other_layout is not None:  # the wrong name map would plan against objects that are not these
        theirs = ", ".join(f"deployment/{n}" for n in other_deployments)
        raise ConfigError(f"namespace {kube.conn.namespace} holds the Deployments of layout {other_layout.value} "
                          f"({theirs}), not those of target.layout {layout.name.value}: set target.layout: "
                          f"{other_layout.value} in the state file (docs/deployment-facts.md §1.3)")
    read.parts[Part.DEPLOYMENTS] = PartStatus(part=Part.DEPLOYMENTS)
    hpas = read(Part.HPAS, kube.hpas) or ()

    redis = read(Part.REDIS, lambda: _redis(kube, discovery))

    databases: list[DatabaseInfo] = []
    need_versions = desired.backup_may_be_needed()
    targets: dict[str, DatabaseTarget | None] = {}
    found: dict[str, LitemaasStateError] = {}
    for role in ("litemaas", "litellm"):
        try:
            targets[role] = target = discovery.database(role)
        except LitemaasStateError as exc:
            if not tolerant:
                raise
            found[role] = exc  # the parts that need this database report it
            read.parts.setdefault(Part.DATABASES, part_failed(Part.DATABASES, exc))
            continue
        if target is not None:
            info = read(Part.DATABASES, functools.partial(litemaas_db.server_info, target)) if need_versions \
                else target.info
            if info is not None:
                databases.append(info)

    def litemaas() -> DatabaseTarget:
        if "litemaas" in found:
            raise found["litemaas"]
        target = targets.get("litemaas")
        if target is None:
            raise ConfigError("cannot find the LiteMaaS database: set LITEMAAS_DATABASE_URL or "
                              f"--litemaas-database-url (or give {layout.address(Component.BACKEND)} a DATABASE_URL)")
        return target

    users = keys = rows = key_source = None
    retention = desired.key_retention
    if desired.admins is not None or everything:
        users = read(Part.USERS, lambda: litemaas_db.read_users(litemaas()))
    if retention is not None or everything:
        def read_keys() -> tuple[tuple[VirtualKey, ...], KeySource]:
            url, key = discovery.require_litellm()
            with litellm_api.make_client(url, key) as client:
                return tokens.read_keys(client, targets.get("litellm"))

        got = read(Part.KEYS, read_keys)
        if got is not None:
            keys, key_source = got
        if targets.get("litemaas") is not None or "litemaas" in found:
            if users is None and not read.failed(Part.USERS):
                users = read(Part.USERS, lambda: litemaas_db.read_users(litemaas()))
            if keys is not None and retention is not None and retention.sync_litemaas:
                tokens_seen = {k.token_hash: k.token_hash for k in keys}  # one string per token, shared
                rows = read(Part.API_KEY_ROWS, lambda: litemaas_db.read_api_keys(litemaas(), tokens_seen))
                del tokens_seen
        elif retention is not None and retention.sync_litemaas:
            raise ConfigError("key_retention.sync_litemaas needs the LiteMaaS database: set "
                              "LITEMAAS_DATABASE_URL or --litemaas-database-url")

    health = subscriptions = None
    if everything:
        def litellm_health() -> LiteLLMHealth:
            url = discovery.litellm_url()
            if not url:
                raise ConfigError("the LiteLLM URL is unknown: set LITELLM_URL or --litellm-url")
            with litellm_api.make_client(url, discovery.master_key() or "") as client:  # health needs no key
                alive, ready, detail = litellm_api.health(client)
            return LiteLLMHealth(alive=alive, ready=ready, detail=detail)

        health = read(Part.LITELLM_HEALTH, litellm_health)
        subscriptions = read(Part.SUBSCRIPTIONS, lambda: litemaas_db.count_active_subscriptions(litemaas()))

    return LiveState(
        observed_at=now,
        namespace=kube.conn.namespace,
        layout=layout.name,
        workloads=workloads,
        missing=tuple(missing),
        hpas=hpas,
        users=users,
        keys=keys,
        key_source=key_source,
        api_key_rows=rows,
        databases=tuple(databases),
        redis=redis,
        # pg_dump runs in the pod by exec on the kubernetes path: the local one matters only for the others
        pg_dump_version_num=pgdump.pg_dump_version_num()
        if need_versions and any(d.exec_pod is None for d in databases) else 0,
        connections=discovery.paths(),
        litellm_health=health,
        active_subscriptions=subscriptions,
        parts=tuple(read.parts[p] for p in Part if p in read.parts),
    )


def _other_layout(kube: KubeReader, layout: names.Layout, missing: list[Component],
                  ) -> tuple[names.LayoutName | None, tuple[str, ...]]:
    """When a managed Deployment is missing under ``layout``'s name: the first other layout whose names for the
    missing components exist, and those Deployment names (a state file with the wrong ``target.layout``). A
    403 on such a probe counts as not found (an in-cluster Role grants only the layout's own names)."""
    for other in names.LAYOUTS.values():
        if other.name == layout.name:
            continue
        found = []
        for component in missing:
            name = other.deployment(component)
            if name == layout.deployment(component):
                continue
            try:
                if kube.deployment(name) is not None:
                    found.append(name)
            except Forbidden:
                continue
        if found:
            return other.name, tuple(found)
    return None, ()


def _redis(kube: KubeReader, discovery: Discovery) -> RedisStatus:
    """Redis pods' readiness and a PING. A PING that cannot be made because no Ready pod can be forwarded
    to counts as failed (Redis is not ready); a 403 or a rejected password raises."""
    ready, total = kube.pods_ready(discovery.layout.selectors[Component.REDIS])
    try:
        redis_url = discovery.redis_url()
        if not redis_url:
            return RedisStatus(pods_ready=ready, pods_total=total, ping=None, detail="no REDIS_URL")
        ping, detail = redis_reader.ping(redis_url, discovered=discovery.redis_discovered)
    except Forbidden:
        raise
    except ObserveError as exc:  # no Ready pod to forward to: Redis is not ready
        ping, detail = False, str(exc)
    return RedisStatus(pods_ready=ready, pods_total=total, ping=ping, detail=detail)
