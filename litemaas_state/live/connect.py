"""Connection details for the data plane: flags, else environment, else discovered in the cluster.

Discovery follows litemaas-facts.md: the LiteMaaS database is the backend Deployment's ``DATABASE_URL``
and LiteLLM's is the litellm Deployment's ``DATABASE_URL`` (§2 "Recommendation"; both usually from
Secret ``litemaas-db``); the LiteLLM API is the Route whose ``spec.to.name`` is Service ``litellm`` (§1
Routes: never by route name); the master key is ``litellm-secret/LITELLM_MASTER_KEY`` (§1 Secrets).
Environment variables (issue 3): LITEMAAS_DATABASE_URL, LITELLM_DATABASE_URL, LITELLM_URL,
LITELLM_MASTER_KEY, REDIS_URL.

Secrets live only here (and in the clients built from them); each is registered with ``redact`` the
moment it is read, so no output can carry it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from litemaas_state import names, redact
from litemaas_state.errors import ConfigError
from litemaas_state.live.kube import KubeReader, env_value_source
from litemaas_state.live.model import DatabaseInfo


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL (secret: it carries the password) and its non-secret description."""

    url: str
    info: DatabaseInfo

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


def describe_database(url: str, role: str, source: str) -> DatabaseTarget:
    """Parse a PostgreSQL URL/conninfo into a DatabaseTarget; registers its password as a secret.

    Raises:
        ConfigError: the URL cannot be parsed (the message never repeats the URL).
    """
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except Exception:
        raise ConfigError(f"the {role} database URL from {source} is not a valid PostgreSQL URL") from None
    password = str(params.get("password") or "")
    redact.register(password, what=f"the {role} database password")
    if password:  # the URL carries it: masked whole too (URL userinfo is masked anyway, redact.py)
        redact.register(url, what=f"the {role} database URL")
    host = str(params.get("host") or "localhost")
    port = int(params.get("port") or 5432)
    database = str(params.get("dbname") or params.get("user") or "")
    return DatabaseTarget(url=url, info=DatabaseInfo(role=role, database=database, host=host, port=port,
                                                     source=source))


class Discovery:
    """Resolves connection details lazily, each once. Methods return None when a value cannot be found."""

    def __init__(self, flags: DataPlaneFlags, kube: KubeReader | None, environ: dict[str, str] | None = None):
        self.flags = flags
        self.kube = kube
        self.environ = dict(os.environ if environ is None else environ)
        self._cache: dict[str, Any] = {}

    def _pick(self, flag: str | None, env: str) -> tuple[str, str] | None:
        if flag:
            return flag, f"flag --{env.lower().replace('_', '-')}"
        if self.environ.get(env):
            return self.environ[env], f"env {env}"
        return None

    def _from_deployment(self, deployment: str) -> tuple[str, str] | None:
        if self.kube is None:
            return None
        raw = self.kube.raw_deployment(deployment)
        if raw is None:
            return None
        main = names.MAIN_CONTAINER[names.Component(deployment)]
        value, ref = env_value_source(raw, main, names.ENV_DATABASE_URL)
        if value:
            return value, f"deployment/{deployment} env {names.ENV_DATABASE_URL}"
        if ref:
            secret = self.kube.secret_value(*ref)
            if secret:
                return secret, f"secret {ref[0]}/{ref[1]} (deployment/{deployment} env {names.ENV_DATABASE_URL})"
        return None

    def database(self, role: str) -> DatabaseTarget | None:
        """The ``litemaas`` or ``litellm`` database."""
        key = f"db:{role}"
        if key not in self._cache:
            if role == "litemaas":
                found = self._pick(self.flags.litemaas_database_url, names.ENV_LITEMAAS_DATABASE_URL) \
                    or self._from_deployment(names.Component.BACKEND.value)
            else:
                found = self._pick(self.flags.litellm_database_url, names.ENV_LITELLM_DATABASE_URL) \
                    or self._from_deployment(names.Component.LITELLM.value)
            self._cache[key] = describe_database(found[0], role, found[1]) if found else None
        result: DatabaseTarget | None = self._cache[key]
        return result

    def litellm_url(self) -> str | None:
        if "litellm_url" not in self._cache:
            found = self._pick(self.flags.litellm_url, names.ENV_LITELLM_URL)
            url = found[0] if found else None
            if url is None and self.kube is not None:
                for route in self.kube.routes():
                    spec = route.get("spec", {})
                    if (spec.get("to") or {}).get("name") == names.LITELLM_SERVICE and spec.get("host"):
                        scheme = "https" if spec.get("tls") else "http"
                        url = f"{scheme}://{spec['host']}"
                        break
            self._cache["litellm_url"] = url.rstrip("/") if url else None
        value: str | None = self._cache["litellm_url"]
        return value

    def master_key(self) -> str | None:
        if "master_key" not in self._cache:
            found = self._pick(self.flags.litellm_master_key, names.ENV_LITELLM_MASTER_KEY)
            key = found[0] if found else None
            if key is None and self.kube is not None:
                key = self.kube.secret_value(names.LITELLM_SECRET, names.LITELLM_MASTER_KEY_FIELD)
            redact.register(key, what="the LiteLLM master key")
            self._cache["master_key"] = key
        value: str | None = self._cache["master_key"]
        return value

    def redis_url(self) -> str | None:
        found = self._pick(self.flags.redis_url, names.ENV_REDIS_URL)
        if found:
            try:
                from urllib.parse import urlsplit

                password = urlsplit(found[0]).password
            except ValueError:
                password = None
            if password:
                redact.register(password, what="the Redis password")
                redact.register(found[0], what="the Redis URL")
        return found[0] if found else None

    def require_litellm(self) -> tuple[str, str]:
        """(base URL, master key) of the LiteLLM admin API.

        Raises:
            ConfigError: either cannot be found, naming the flag/env to set.
        """
        url, key = self.litellm_url(), self.master_key()
        if not url:
            raise ConfigError("cannot find the LiteLLM API: no Route to service litellm; set LITELLM_URL "
                              "or --litellm-url")
        if not key:
            raise ConfigError("cannot find the LiteLLM master key: no litellm-secret/LITELLM_MASTER_KEY; set "
                              "LITELLM_MASTER_KEY or --litellm-master-key")
        return url, key
