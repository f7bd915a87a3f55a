"""Connection details for the data plane: flags, else environment, else discovered in the cluster; and
the path each source takes from here.

Discovery follows docs/deployment-facts.md: the LiteMaaS database is the backend Deployment's ``DATABASE_URL``
and LiteLLM's is the litellm Deployment's ``DATABASE_URL`` (§2 "Recommendation"; both usually from
Secret ``litemaas-db``); the LiteLLM API is the Route whose ``spec.to.name`` is Service ``litellm`` (§1
Routes: never by route name); the master key is ``litellm-secret/LITELLM_MASTER_KEY`` (§1.6); Redis
is Service ``litellm-redis:6379``, with the password the redis Deployment's ``REDIS_PASSWORD`` (if any).
Environment variables (README "Connections"): LITEMAAS_DATABASE_URL, LITELLM_DATABASE_URL, LITELLM_URL,
LITELLM_MASTER_KEY, REDIS_URL.

Paths (``--connect`` / ``LITEMAAS_STATE_CONNECT``): each source (LiteMaaS DB, LiteLLM DB, LiteLLM API,
Redis) is reached ``direct`` or through a port-forward to a Ready pod behind its Service (``kubernetes``),
chosen once per run by ``choose_path`` and recorded as a ``ConnectionPath``. The in-cluster URL names the
Service by its host's first label (``litellm-postgres:5432`` → Service ``litellm-postgres``). A forwarded
database gets a dialable ``127.0.0.1:<local port>`` URL with the discovered user, password and database,
so every reader and writer rides the tunnel unchanged. ``Discovery.close()`` tears the tunnels down.

Secrets live only here (and in the clients built from them); each is registered with ``redact`` the
moment it is read, so no output can carry it.
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from litemaas_state import names, redact
from litemaas_state.errors import ConfigError
from litemaas_state.live.kube import KubeReader, PodPort, env_value_source
from litemaas_state.live.model import ConnectionPath, DatabaseInfo, PathKind, Source

PROBE_TIMEOUT_S = 1.0


class ConnectMode(StrEnum):
    """``--connect``: ``auto`` picks per source; ``direct`` / ``kubernetes`` force one path for all."""

    AUTO = "auto"
    DIRECT = "direct"
    KUBERNETES = "kubernetes"


def reachable(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``host`` resolves and accepts a TCP connection on ``port`` within ``timeout_s``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except (OSError, UnicodeError, ValueError):
        return False


def choose_path(mode: ConnectMode, mode_origin: str, in_cluster: bool, host: str, port: int,
                probe: Any = reachable) -> tuple[PathKind, str]:
    """(path, reason) for one source at ``host:port``.

    ``direct``/``kubernetes`` modes are obeyed (reason: ``mode_origin``, e.g. ``--connect direct``).
    ``auto``: direct when running in the cluster (in-cluster service-account configuration) or when
    ``probe(host, port)`` succeeds (resolves and answers within ``PROBE_TIMEOUT_S``), else kubernetes.
    """
    if mode == ConnectMode.DIRECT:
        return PathKind.DIRECT, mode_origin
    if mode == ConnectMode.KUBERNETES:
        return PathKind.KUBERNETES, mode_origin
    if in_cluster:
        return PathKind.DIRECT, "auto: running inside the cluster"
    if probe(host, port):
        return PathKind.DIRECT, f"auto: {host}:{port} answers from here"
    return PathKind.KUBERNETES, f"auto: {host}:{port} does not resolve or answer from here"


def service_of(host: str) -> str:
    """The Service an in-cluster host names: its first label (``litellm-postgres.ns.svc`` → ``litellm-postgres``)."""
    return host.split(".", 1)[0]


class IdleConnections:
    """Open connections to one database that finished their block, kept for the next ``connection()`` block
    of the same run (live/litemaas_db.py): a plan reads each database in several steps, and each new
    connection costs a TCP connection (through a port-forward: a WebSocket stream), a backend process and
    a SCRAM exchange. Thread-safe; ``close()`` closes them (``Discovery.close``, before the port-forwards)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: list[Any] = []
        self._closed = False

    def take(self) -> Any | None:
        """The most recently kept connection (the caller owns it now), or None."""
        with self._lock:
            return self._conns.pop() if self._conns else None

    def keep(self, conn: Any) -> None:
        """Keep ``conn`` for the next block; after ``close()`` (a block that outlived the run) close it."""
        with self._lock:
            if not self._closed:
                self._conns.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._conns, self._closed = self._conns, [], True
        for conn in conns:
            conn.close()


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL (secret: it carries the password) and its non-secret description.

    ``url`` is dialable from here: the discovered URL (direct), or ``127.0.0.1:<local port>`` of a
    port-forward with the discovered user, password and database. ``info`` keeps the discovered host and
    port. ``pod``: the database pod (kubernetes path; pg_dump runs there by exec). ``tunnel``: the
    port-forward (a ``live.tunnel.PortForwardTunnel``, for its ``last_error``), else None. ``user``: the
    URL's user name (pg_dump in the pod connects as it). ``idle``: where finished connections wait for
    the next block (targets from ``Discovery``, which closes them); None = each block opens its own.
    """

    url: str
    info: DatabaseInfo
    pod: PodPort | None = None
    tunnel: Any = None
    user: str = ""
    idle: IdleConnections | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"DatabaseTarget({self.info.role} {self.info.host}:{self.info.port}/{self.info.database})"


@dataclass(frozen=True)
class DataPlaneFlags:
    """Values given on the command line; None = take from the environment, else discover."""

    litemaas_database_url: str | None = None
    litellm_database_url: str | None = None
    litellm_url: str | None = None
    litellm_master_key: str | None = None
    redis_url: str | None = None
    connect: str | None = None


def describe_database(url: str, role: str, source: str) -> DatabaseTarget:
    """Parse a PostgreSQL URL/conninfo into a DatabaseTarget; registers its password as a secret.

    Raises:
        ConfigError: the URL cannot be parsed (the message never repeats the URL).
    """
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except Exception:  # no cause: the parser's message may repeat the URL, password included (not yet registered)
        raise ConfigError(f"the {role} database URL from {source} is not a valid PostgreSQL URL") from None
    password = str(params.get("password") or "")
    redact.register(password, what=f"the {role} database password")
    if password:  # the URL carries it: masked whole too (URL userinfo is masked anyway, redact.py)
        redact.register(url, what=f"the {role} database URL")
    host = str(params.get("host") or "localhost")
    port = int(params.get("port") or 5432)
    database = str(params.get("dbname") or params.get("user") or "")
    return DatabaseTarget(url=url, info=DatabaseInfo(role=role, database=database, host=host, port=port,
                                                     source=source), user=str(params.get("user") or ""))


class Discovery:
    """Resolves connection details lazily, each once, and opens the port-forwards the chosen paths need.
    Methods return None when a value cannot be found. Call ``close()`` (or use ``with``) to tear the
    tunnels down."""

    def __init__(self, flags: DataPlaneFlags, kube: KubeReader | None, environ: dict[str, str] | None = None,
                 layout: names.Layout = names.LAYOUTS[names.LayoutName.RHPDS]):
        self.flags = flags
        self.kube = kube
        self.layout = layout
        self.environ = dict(os.environ if environ is None else environ)
        self._cache: dict[str, Any] = {}
        self._paths: dict[Source, ConnectionPath] = {}
        self._tunnels: dict[tuple[str, int], tuple[Any, PodPort]] = {}
        self._stack = ExitStack()
        raw = flags.connect or self.environ.get(names.ENV_CONNECT) or ConnectMode.AUTO.value
        where = "--connect" if flags.connect else names.ENV_CONNECT if self.environ.get(names.ENV_CONNECT) else ""
        try:
            self.mode = ConnectMode(raw.strip().lower())
        except ValueError as exc:
            raise ConfigError(f"{where} {raw!r} is not one of auto, direct, kubernetes") from exc
        #: why a forced mode was chosen, for ConnectionPath.reason (``--connect direct``)
        self.mode_origin = f"{where} {self.mode.value}" if where == "--connect" else f"{where}={self.mode.value}"

    def __enter__(self) -> Discovery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every port-forward opened (idempotent)."""
        self._stack.close()
        self._tunnels.clear()

    def paths(self) -> tuple[ConnectionPath, ...]:
        """The path each source took so far, in Source order."""
        return tuple(self._paths[s] for s in Source if s in self._paths)

    @property
    def in_cluster(self) -> bool:
        return bool(self.kube is not None and self.kube.conn.in_cluster)

    def _choose(self, host: str, port: int) -> tuple[PathKind, str]:
        return choose_path(self.mode, self.mode_origin, self.in_cluster, host, port)

    def _forward(self, service: str, port: int, alternative: str) -> tuple[Any, PodPort]:
        """A started port-forward to a Ready pod behind ``service:port`` (one per Service port per run).

        Raises:
            ObserveError / Forbidden: no such Service, no Ready pod, or port-forward refused.
        """
        key = (service, port)
        if key not in self._tunnels:
            from litemaas_state.live.tunnel import PortForwardTunnel  # lazy: pulls in the WebSocket stack

            if self.kube is None:
                raise ConfigError(f"a port-forward to service/{service} needs a Kubernetes connection; "
                                  f"{alternative}")
            kube = self.kube
            pod = kube.ready_pod(service, port, alternative)

            def repick() -> tuple[str, int]:
                fresh = kube.ready_pod(service, port, alternative)
                return fresh.name, fresh.port

            tunnel = PortForwardTunnel(kube.conn, pod.name, pod.port, alternative=alternative,
                                       repick=repick).start()
            self._stack.callback(tunnel.close)
            self._tunnels[key] = (tunnel, pod)
        return self._tunnels[key]

    def _pick(self, flag: str | None, env: str) -> tuple[str, str] | None:
        if flag:
            return flag, f"flag --{env.lower().replace('_', '-')}"
        if self.environ.get(env):
            return self.environ[env], f"env {env}"
        return None

    def _from_deployment(self, component: names.Component, env_name: str = names.ENV_DATABASE_URL,
                         ) -> tuple[str, str] | None:
        if self.kube is None:
            return None
        deployment = self.layout.deployment(component)
        raw = self.kube.raw_deployment(deployment)
        if raw is None:
            return None
        main = self.layout.main_containers[component]
        value, ref = env_value_source(raw, main, env_name)
        if value:
            return value, f"deployment/{deployment} env {env_name}"
        if ref:
            secret = self.kube.secret_value(*ref)
            if secret:
                return secret, f"secret {ref[0]}/{ref[1]} (deployment/{deployment} env {env_name})"
        return None

    def database(self, role: str) -> DatabaseTarget | None:
        """The ``litemaas`` or ``litellm`` database, dialable from here (its path chosen on first use).

        Raises:
            ObserveError / Forbidden: the kubernetes path was chosen and the port-forward cannot be opened.
        """
        key = f"db:{role}"
        if key not in self._cache:
            if role == "litemaas":
                found = self._pick(self.flags.litemaas_database_url, names.ENV_LITEMAAS_DATABASE_URL) \
                    or self._from_deployment(names.Component.BACKEND)
            else:
                found = self._pick(self.flags.litellm_database_url, names.ENV_LITELLM_DATABASE_URL) \
                    or self._from_deployment(names.Component.LITELLM)
            target = self._route_database(describe_database(found[0], role, found[1])) if found else None
            if target is not None:
                idle = IdleConnections()
                target = replace(target, idle=idle)
                self._stack.callback(idle.close)  # LIFO: before the port-forward it runs through
            self._cache[key] = target
        result: DatabaseTarget | None = self._cache[key]
        return result

    def _route_database(self, target: DatabaseTarget) -> DatabaseTarget:
        info = target.info
        source = Source.LITEMAAS_DB if info.role == "litemaas" else Source.LITELLM_DB
        kind, reason = self._choose(info.host, info.port)
        if kind == PathKind.DIRECT:
            self._paths[source] = ConnectionPath(source=source, kind=kind, host=info.host, port=info.port,
                                                 reason=reason)
            return target
        env = names.ENV_LITEMAAS_DATABASE_URL if info.role == "litemaas" else names.ENV_LITELLM_DATABASE_URL
        alternative = f"set {env} to a URL reachable from here (--connect direct)"
        tunnel, pod = self._forward(service_of(info.host), info.port, alternative)
        self._paths[source] = ConnectionPath(source=source, kind=kind, host=info.host, port=pod.port,
                                             pod=pod.name, reason=reason)
        params = conninfo_to_dict(target.url)
        params.update(host="127.0.0.1", port=str(tunnel.local_port))
        params.pop("hostaddr", None)
        url = make_conninfo("", **params)
        redact.register(url)
        return DatabaseTarget(url=url, info=info.model_copy(update={"exec_pod": pod.name}), pod=pod,
                              tunnel=tunnel, user=target.user)

    def litellm_url(self) -> str | None:
        """The LiteLLM API base URL, dialable from here: the Route (or flag/env) when it answers, else a
        port-forward to Service ``litellm`` port 4000 (``http://127.0.0.1:<port>``)."""
        if "litellm_url" not in self._cache:
            found = self._pick(self.flags.litellm_url, names.ENV_LITELLM_URL)
            url = found[0] if found else None
            if url is None and self.kube is not None:
                for route in self.kube.routes():
                    spec = route.get("spec", {})
                    if (spec.get("to") or {}).get("name") == self.layout.litellm_service and spec.get("host"):
                        scheme = "https" if spec.get("tls") else "http"
                        url = f"{scheme}://{spec['host']}"
                        break
            if url:
                url = self._route_litellm(url.rstrip("/"))
            self._cache["litellm_url"] = url
        value: str | None = self._cache["litellm_url"]
        return value

    def _route_litellm(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ConfigError("the LiteLLM URL is not a valid URL") from exc
        kind, reason = self._choose(host, port)
        if kind == PathKind.DIRECT:
            self._paths[Source.LITELLM_API] = ConnectionPath(source=Source.LITELLM_API, kind=kind, host=host,
                                                             port=port, reason=reason)
            return url
        tunnel, pod = self._forward(self.layout.litellm_service, self.layout.litellm_port,
                                    f"set {names.ENV_LITELLM_URL} to a URL reachable from here")
        self._paths[Source.LITELLM_API] = ConnectionPath(source=Source.LITELLM_API, kind=kind, host=host,
                                                         port=pod.port, pod=pod.name, reason=reason)
        return urlunsplit(("http", f"127.0.0.1:{tunnel.local_port}", parts.path.rstrip("/"), "", ""))

    def master_key(self) -> str | None:
        if "master_key" not in self._cache:
            found = self._pick(self.flags.litellm_master_key, names.ENV_LITELLM_MASTER_KEY)
            key = found[0] if found else None
            if key is None and self.kube is not None:
                found = self._from_deployment(names.Component.LITELLM, names.ENV_LITELLM_MASTER_KEY)
                key = found[0] if found else self.kube.secret_value(self.layout.master_key.secret,
                                                                     self.layout.master_key.key)
            redact.register(key, what="the LiteLLM master key")
            self._cache["master_key"] = key
        value: str | None = self._cache["master_key"]
        return value

    @property
    def redis_discovered(self) -> bool:
        """Whether the Redis URL was built from the cluster rather than given (REDIS_URL / --redis-url)."""
        return self._pick(self.flags.redis_url, names.ENV_REDIS_URL) is None

    def redis_url(self) -> str | None:
        """A Redis URL dialable from here for a PING: REDIS_URL / --redis-url, else Service litellm-redis
        (direct, or over a port-forward) with the redis Deployment's REDIS_PASSWORD; None when neither a
        URL nor a Kubernetes connection is known.

        Raises:
            ObserveError / Forbidden: the kubernetes path was chosen and the port-forward cannot be opened.
        """
        if "redis_url" in self._cache:
            cached: str | None = self._cache["redis_url"]
            return cached
        found = self._pick(self.flags.redis_url, names.ENV_REDIS_URL)
        if found:
            url = found[0]
            try:
                parts = urlsplit(url)
                password = parts.password
                host, port = parts.hostname or "localhost", parts.port or self.layout.redis_port
            except ValueError:
                self._cache["redis_url"] = url  # redis.ping reports the bad URL
                return url
            if password:
                redact.register(password, what="the Redis password")
                redact.register(url, what="the Redis URL")
        elif self.kube is not None:
            found_password = self._from_deployment(names.Component.REDIS, names.ENV_REDIS_PASSWORD)
            auth = f":{found_password[0]}@" if found_password else ""
            host, port = self.layout.redis_service, self.layout.redis_port
            url = f"redis://{auth}{host}:{port}"
            if found_password:
                redact.register(found_password[0], what="the Redis password")
                redact.register(url, what="the Redis URL")
        else:
            self._cache["redis_url"] = None
            return None
        kind, reason = self._choose(host, port)
        if kind == PathKind.KUBERNETES:
            alternative = f"set {names.ENV_REDIS_URL} to a URL reachable from here"
            tunnel, pod = self._forward(service_of(host), port, alternative)
            self._paths[Source.REDIS] = ConnectionPath(source=Source.REDIS, kind=kind, host=host, port=pod.port,
                                                       pod=pod.name, reason=reason)
            parts = urlsplit(url)
            netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            url = urlunsplit((parts.scheme, f"{netloc}127.0.0.1:{tunnel.local_port}", parts.path, parts.query, ""))
            if "@" in netloc:
                redact.register(url, what="the Redis URL")
        else:
            self._paths[Source.REDIS] = ConnectionPath(source=Source.REDIS, kind=kind, host=host, port=port,
                                                       reason=reason)
        self._cache["redis_url"] = url
        return url

    def require_litellm(self) -> tuple[str, str]:
        """(base URL, master key) of the LiteLLM admin API.

        Raises:
            ConfigError: either cannot be found, naming the flag/env to set.
        """
        url, key = self.litellm_url(), self.master_key()
        if not url:
            raise ConfigError(f"cannot find the LiteLLM API: no Route to service {self.layout.litellm_service}; "
                              "set LITELLM_URL or --litellm-url")
        if not key:
            ref = self.layout.master_key
            raise ConfigError(f"cannot find the LiteLLM master key: no {ref.secret}/{ref.key}; set "
                              "LITELLM_MASTER_KEY or --litellm-master-key")
        return url, key
