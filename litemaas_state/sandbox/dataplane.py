"""The sandbox's data plane: PostgreSQL + redis-server + the LiteLLM admin API, started together.

:func:`start_data_plane` is what the fake Kubernetes API (``sandbox/daemon.py``, ``world.py``) calls;
it puts the URLs of the returned :class:`DataPlane` into its Secrets, Route and env file. Steps:

1. a throwaway PostgreSQL cluster in ``<workdir>/pg`` (``postgres.py``) with the layout's superuser and
   databases (``layouts.py``; docs/deployment-facts.md §2: ``"separate"`` = ``litemaas_db`` + ``litellm``
   in rhpds, ``litemaas_db`` + ``litellm_db`` in Kustomize; ``"shared"`` = both schemas in ``litemaas_db``,
   the rhpds HEAD reality);
2. the deterministic seed (``seed.py``) relative to ``now``;
3. redis-server with ``requirepass`` (``redis_server.py``);
4. the LiteLLM admin API on 127.0.0.1 (``litellm_api.py``, held to docs/litellm-api.md).

If a step fails, the steps already done are undone before the exception propagates.

Must not: print secrets. ``repr(DataPlane)`` shows ports only; the URLs carry passwords.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from litemaas_state.sandbox import layouts
from litemaas_state.sandbox.litellm_api import LiteLLMApiServer
from litemaas_state.sandbox.postgres import PostgresCluster
from litemaas_state.sandbox.redis_server import RedisServer
from litemaas_state.sandbox.secrets import SandboxSecrets
from litemaas_state.sandbox.seed import DEFAULT_SEED, SeedSummary, seed_databases

log = logging.getLogger(__name__)


@dataclass
class DataPlane:
    """A running data plane. Stop it with :meth:`stop` (or use it as a context manager).

    databases: ``"separate"`` or ``"shared"``; layout: ``"rhpds"`` or ``"kustomize"`` (``layouts.py``).
    litemaas_database_url: ``postgresql://<user>:<pw>@127.0.0.1:<port>/litemaas_db?sslmode=disable``
        (the backend's ``DATABASE_URL``; user ``litellm`` in rhpds, ``litemaas_admin`` in Kustomize).
    litellm_database_url: the database holding the LiteLLM tables: ``…/litellm`` (rhpds) or
        ``…/litellm_db`` (Kustomize) when separate, the same URL as ``litemaas_database_url`` when shared.
    db_user: the PostgreSQL superuser.
    redis_url: ``redis://:<pw>@127.0.0.1:<port>/0``.
    litellm_url: ``http://127.0.0.1:<port>``; litellm_host: ``127.0.0.1:<port>`` (for a Route host).
    """

    databases: str
    workdir: Path
    litemaas_database_url: str = field(repr=False)
    litellm_database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    litellm_url: str
    litellm_host: str
    postgres_port: int
    redis_port: int
    litemaas_database: str
    litellm_database: str
    db_user: str
    seed: SeedSummary = field(repr=False)
    postgres: PostgresCluster = field(repr=False)
    redis: RedisServer = field(repr=False)
    api: LiteLLMApiServer = field(repr=False)
    layout: str = layouts.RHPDS

    def redis_ping(self) -> bool:
        """True while the sandbox redis-server answers an authenticated PING (0.5 s timeout)."""
        return self.redis.ping()

    def stop(self) -> None:
        """Stop the LiteLLM API, redis-server and PostgreSQL, in that order. Idempotent; never raises.

        Files under ``workdir`` are left to its owner; a cluster placed outside it (see postgres.py)
        is deleted, since nobody else knows where it is.
        """
        steps = (
            ("litellm api", self.api.stop),
            ("redis", self.redis.stop),
            ("postgres", lambda: self.postgres.stop(remove=self.postgres.external)),
        )
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                log.warning("sandbox data plane: stopping %s failed: %s", name, type(exc).__name__)

    def __enter__(self) -> DataPlane:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_data_plane(
    workdir: Path,
    secrets: SandboxSecrets,
    databases: str = "separate",
    now: datetime | None = None,
    seed: int = DEFAULT_SEED,
    layout: str = layouts.RHPDS,
) -> DataPlane:
    """Start PostgreSQL, seed it, start redis-server and the LiteLLM API; return their coordinates.

    Args:
        workdir: a directory of this sandbox (created if missing); the cluster goes to ``<workdir>/pg``
            and redis to ``<workdir>/redis``. Must not already contain ``pg``.
        secrets: ``db_password`` (of the layout's database user), ``redis_password``, ``master_key``.
        databases: ``"separate"`` or ``"shared"`` (docs/deployment-facts.md §2).
        now: reference time of the seed (UTC-aware); default the current time.
        seed: seed of the data generator.
        layout: ``"rhpds"`` or ``"kustomize"``: the database user and database names (``layouts.py``).
    Returns:
        DataPlane, running.
    Raises:
        ValueError: unknown databases or layout. PostgresError, RedisServerError, RuntimeError: a server failed to
        start (everything started so far has been stopped again).
    """
    names = layouts.layout(layout)
    wanted = names.databases(databases)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pg = PostgresCluster(workdir, secrets.db_password, role=names.db_user)
    rds = RedisServer(workdir, secrets.redis_password if names.redis_auth else "")
    api: LiteLLMApiServer | None = None
    try:
        pg.start()
        litemaas_db, litellm_db = pg.create_databases(*wanted)
        if litemaas_db == litellm_db:
            with pg.connect(litemaas_db) as conn:
                summary = seed_databases(conn, conn, now=now, seed=seed)
        else:
            with pg.connect(litemaas_db) as c1, pg.connect(litellm_db) as c2:
                summary = seed_databases(c1, c2, now=now, seed=seed)
        rds.start()
        api = LiteLLMApiServer(
            secrets.master_key,
            {
                "host": "127.0.0.1",
                "port": pg.port,
                "user": names.db_user,
                "password": secrets.db_password,
                "dbname": litellm_db,
                "sslmode": "disable",
            },
        )
        api.start()
    except BaseException:
        if api is not None:
            api.stop()
        rds.stop()
        pg.stop(remove=pg.external)
        raise
    return DataPlane(
        databases=databases,
        layout=layout,
        workdir=workdir,
        litemaas_database_url=pg.url(litemaas_db),
        litellm_database_url=pg.url(litellm_db),
        redis_url=rds.url,
        litellm_url=api.url,
        litellm_host=api.host,
        postgres_port=pg.port,
        redis_port=rds.port,
        litemaas_database=litemaas_db,
        litellm_database=litellm_db,
        db_user=names.db_user,
        seed=summary,
        postgres=pg,
        redis=rds,
        api=api,
    )
