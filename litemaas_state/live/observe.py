"""observe(): run the readers one desired state needs and return a LiveState.

Reads only what the state file manages: the Deployments and HPAs always; Redis readiness; the LiteMaaS
users when ``admins`` is set; the LiteLLM keys (from LiteLLM's database when ``live.tokens.check_trust``
shows it is the one LiteLLM serves, else /key/list; and the LiteMaaS api_keys rows when syncing) when
``key_retention`` is set; database server versions and the local pg_dump when a backup may be needed
(the local pg_dump only for databases reached directly: on the kubernetes path pg_dump runs in the pod).
``connections`` records the path each source took.
``now`` is passed in so the whole pipeline sees one clock reading. ``everything=True`` (status) reads all.
"""

from __future__ import annotations

from datetime import datetime

from litemaas_state import names
from litemaas_state.errors import ConfigError, Forbidden, ObserveError
from litemaas_state.live import litellm_api, litemaas_db, pgdump, tokens
from litemaas_state.live import redis as redis_reader
from litemaas_state.live.connect import Discovery
from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import DatabaseInfo, LiveState, RedisStatus, Workload
from litemaas_state.names import Component
from litemaas_state.spec.model import DesiredState


def backup_may_be_needed(desired: DesiredState) -> bool:
    return desired.backup.enabled and any(
        spec.image is not None for c, spec in desired.deployments.items() if c in desired.backup.before_image_change_of
    )


def observe(desired: DesiredState, kube: KubeReader, discovery: Discovery, *, now: datetime,
            everything: bool = False) -> LiveState:
    """Observe what ``desired`` manages.

    Raises:
        ObserveError: a source could not be read. ConfigError: a needed connection detail is unknown.
    """
    workloads: dict[str, Workload] = {}
    missing: list[str] = []
    for component in Component:
        w = kube.deployment(component.value)
        if w is None:
            missing.append(component.value)
        else:
            workloads[component.value] = w

    ready, total = kube.pods_ready(names.SELECTOR[Component.REDIS])
    try:
        redis_url = discovery.redis_url()
        ping = redis_reader.ping(redis_url, discovered=discovery.redis_discovered)[0] if redis_url else None
    except Forbidden:
        raise
    except ObserveError:
        ping = False  # no Ready pod to forward to: Redis is not ready
    redis = RedisStatus(pods_ready=ready, pods_total=total, ping=ping)

    databases: list[DatabaseInfo] = []
    need_versions = everything or backup_may_be_needed(desired)
    for role in ("litemaas", "litellm"):
        target = discovery.database(role)
        if target is not None:
            databases.append(litemaas_db.server_info(target) if need_versions else target.info)

    users = keys = rows = key_source = None
    litemaas = discovery.database("litemaas")
    if desired.admins is not None or everything:
        if litemaas is None:
            raise ConfigError("cannot find the LiteMaaS database: set LITEMAAS_DATABASE_URL or "
                              "--litemaas-database-url (or give deployment/litellm-backend a DATABASE_URL)")
        users = litemaas_db.read_users(litemaas)
    retention = desired.key_retention
    if retention is not None or everything:
        url, key = discovery.require_litellm()
        with litellm_api.make_client(url, key) as client:
            keys, key_source = tokens.read_keys(client, discovery.database("litellm"))
        if litemaas is not None:
            if users is None:
                users = litemaas_db.read_users(litemaas)
            if retention is None or retention.sync_litemaas or everything:
                tokens_seen = {k.token_hash: k.token_hash for k in keys}  # one string per token, shared
                rows = litemaas_db.read_api_keys(litemaas, tokens_seen)
                del tokens_seen
        elif retention is not None and retention.sync_litemaas:
            raise ConfigError("key_retention.sync_litemaas needs the LiteMaaS database: set "
                              "LITEMAAS_DATABASE_URL or --litemaas-database-url")

    return LiveState(
        observed_at=now,
        namespace=kube.conn.namespace,
        workloads=workloads,
        missing=tuple(missing),
        hpas=kube.hpas(),
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
    )
