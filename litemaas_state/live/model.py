"""Live state: what the observers saw, as frozen pure data. Never holds a secret value.

Importable by the planner without pulling in any client (``live/__init__.py`` stays empty).
Shapes follow the Kubernetes API (apps/v1 Deployment) and docs/deployment-facts.md §3–§5.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from litemaas_state.names import Component, LayoutName


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContainerImage(_Frozen):
    """One container of a pod template: name, image, and whether it is an init container."""

    name: str
    image: str
    init: bool = False


class Condition(_Frozen):
    type: str
    status: str
    reason: str = ""
    message: str = ""


class ManagedFields(_Frozen):
    """The fields of a Deployment litemaas-state manages, as one apply left them or as they are now.

    ``images``: container and init container name → image (names are unique across both in a pod).
    ``env``: container and init container name → variable → ``env_digest`` of its ``value`` or
    ``valueFrom`` (values are never recorded; a digest only tells that one changed). ``restarted_at``:
    the pod-template annotation ``kubectl.kubernetes.io/restartedAt``. ``replicas``: ``spec.replicas``.
    As JSON (``to_annotation``/``from_annotation``) it is the Deployment annotation
    ``names.LAST_APPLIED_ANNOTATION``; the next plan compares it with the live fields (plan/outside.py),
    as Terraform reports "Objects have changed outside of Terraform".
    """

    images: dict[str, str] = Field(default_factory=dict)
    env: dict[str, dict[str, str]] = Field(default_factory=dict)
    restarted_at: str | None = None
    replicas: int | None = None

    def to_annotation(self) -> str:
        """Compact JSON with sorted keys (the same fields always give the same text)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str) -> ManagedFields:
        """Parse the annotation. Raises ValueError (pydantic's ValidationError) on anything else."""
        return cls.model_validate_json(text)


def env_digest(entry: dict[str, Any]) -> str:
    """A digest of one pod-template ``env`` entry without its name (``value`` or ``valueFrom``): sha256 of
    its canonical JSON, 16 hex digits. Whoever reads the annotation can read the Deployment's env too."""
    body = {k: v for k, v in entry.items() if k != "name"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class Workload(_Frozen):
    """One live Deployment, reduced to the fields the planner, rollout verdict and preconditions read.

    ``replicas`` is ``spec.replicas``; the ``status_*`` fields mirror ``status`` (absent → 0).
    ``restarted_at`` is the pod-template annotation ``kubectl.kubernetes.io/restartedAt``, if any.
    ``env`` holds only non-secret plain env values the checks need (e.g. DISABLE_SCHEMA_UPDATE).
    ``env_digests``: container name → variable → ``env_digest`` (every container, init ones too).
    ``last_applied``: the annotation ``names.LAST_APPLIED_ANNOTATION`` as apply last wrote it (None when
    absent); ``last_applied_invalid``: it is present but not a ManagedFields JSON (edited by hand).
    """

    name: str
    uid: str
    resource_version: str
    generation: int
    observed_generation: int = 0
    replicas: int = 1
    status_replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    containers: tuple[ContainerImage, ...] = ()
    conditions: tuple[Condition, ...] = ()
    paused: bool = False
    revision: int = 0
    revision_history_limit: int | None = 10
    progress_deadline_s: int | None = 600
    restarted_at: str | None = None
    image_triggers: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    env_digests: dict[str, dict[str, str]] = Field(default_factory=dict)
    last_applied: ManagedFields | None = None
    last_applied_invalid: bool = False

    def container(self, name: str) -> ContainerImage | None:
        return next((c for c in self.containers if c.name == name and not c.init), None)

    def managed_fields(self) -> ManagedFields:
        """The managed fields as they are now (what ``last_applied`` is compared with)."""
        return ManagedFields(images={c.name: c.image for c in self.containers}, env=self.env_digests,
                             restarted_at=self.restarted_at, replicas=self.replicas)


class HorizontalPodAutoscaler(_Frozen):
    name: str
    target_kind: str
    target_name: str


class LiteMaaSUser(_Frozen):
    """A row of LiteMaaS ``users`` (docs/deployment-facts.md §3.1). ``roles`` as stored (TEXT[])."""

    id: str
    email: str
    username: str = ""
    roles: tuple[str, ...] = ()
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A LiteLLM virtual key as /key/list returns it (docs/deployment-facts.md §5), never the key itself.

    ``token_hash``: sha256 hex of the raw key (the ``token`` column). Datetimes are UTC-aware; None when
    absent (``expires`` None = never expires). ``duration``: ``metadata.duration`` as sent by its creator
    (any JSON value; only rhpds workshop keys carry it, docs/deployment-facts.md §6.1). ``created_by``: ``metadata.created_by``.
    A slotted dataclass, not a pydantic model: 100,000 of them are held at once (≈ 0.5 KB each with their
    values), built from typed sources (``live.litellm_db``; ``live.litellm_api`` coerces the API's JSON).
    """

    token_hash: str
    alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    created_at: datetime | None = None
    expires: datetime | None = None
    duration: Any = None
    created_by: str | None = None


class KeySource(_Frozen):
    """Where the key population was read, and why (shown in the plan header).

    ``origin``: ``litellm-db`` (one query on "LiteLLM_VerificationToken", trusted on evidence) or
    ``key-list`` (every page of ``GET /key/list``). ``detail``: the evidence for trusting the database, or
    why it was not used (one sentence, no URL). ``count``: keys read.
    """

    origin: Literal["litellm-db", "key-list"]
    detail: str = ""
    count: int = 0


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """A LiteMaaS ``api_keys`` row, active or not (docs/deployment-facts.md §3.2): matched to LiteLLM by ``key_hash`` = token.
    A slotted dataclass for the same reason as ``VirtualKey`` (one row per key)."""

    id: str
    user_id: str
    key_hash: str
    alias: str | None = None
    is_active: bool = True
    owner_email: str | None = None


class Source(StrEnum):
    """A data-plane source the tool talks to (its display name is the value)."""

    LITEMAAS_DB = "LiteMaaS DB"
    LITELLM_DB = "LiteLLM DB"
    LITELLM_API = "LiteLLM API"
    REDIS = "Redis"


class PathKind(StrEnum):
    """How a source is reached: ``direct`` (dialled from here) or ``kubernetes`` (a port-forward through the
    API server, as ``kubectl port-forward`` does)."""

    DIRECT = "direct"
    KUBERNETES = "kubernetes"


class ConnectionPath(_Frozen):
    """The path one source took, chosen once per run and shown in plan, status and apply headers.

    ``host``/``port``: the address as discovered (e.g. ``litellm-postgres:5432``; never credentials).
    ``pod``: the Ready pod the port-forward goes to (kubernetes only); ``port`` is then the pod's port.
    ``reason``: why this path (``--connect direct``, ``auto: litellm-postgres does not resolve here``).
    """

    source: Source
    kind: PathKind
    host: str
    port: int
    pod: str | None = None
    reason: str = ""


class DatabaseInfo(_Frozen):
    """A database the tool reads: which role it plays, where it is; never the password.

    ``role``: ``litemaas`` (users, api_keys, …) or ``litellm`` ("LiteLLM_VerificationToken", …).
    ``source``: where the URL came from (``flag``, ``env LITEMAAS_DATABASE_URL``, ``secret litemaas-db/…``).
    """

    role: str
    database: str
    host: str
    port: int
    server_version_num: int = 0
    source: str = ""
    exec_pod: str | None = Field(None, description="The database pod where pg_dump can run by exec "
                                 "(kubernetes path); None = a local pg_dump dumps it.")

    @property
    def identity(self) -> tuple[str, int, str]:
        """(host, port, database) with loopback spellings and host case folded together."""
        host = self.host.lower().rstrip(".")
        if host in ("localhost", "127.0.0.1", "::1", "[::1]"):
            host = "loopback"
        return host, self.port, self.database


class RedisStatus(_Frozen):
    """Readiness of litellm-redis: its pods' Ready condition, and a PING when a URL is known.

    ``ping``: True answered, False failed, None not tried (no URL); ``detail``: what the PING said or why
    it was not tried (world text: escape it when shown)."""

    pods_ready: int = 0
    pods_total: int = 0
    ping: bool | None = None
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.pods_ready > 0 and self.ping is not False


class LiteLLMHealth(_Frozen):
    """LiteLLM's ``/health/liveliness`` and ``/health/readiness`` answers (live/litellm_api.py ``health``).

    ``alive``: liveliness answered 200; ``ready``: readiness answered 200 with ``db == "connected"``;
    ``detail``: the HTTP statuses, or why the API was unreachable."""

    alive: bool
    ready: bool
    detail: str = ""


class Part(StrEnum):
    """One thing ``observe`` reads, each from one source; its outcome is a ``PartStatus``."""

    DEPLOYMENTS = "deployments"
    HPAS = "hpas"
    REDIS = "redis"
    DATABASES = "databases"
    USERS = "users"
    KEYS = "keys"
    API_KEY_ROWS = "api_key_rows"
    LITELLM_HEALTH = "litellm_health"
    SUBSCRIPTIONS = "subscriptions"


class PartState(StrEnum):
    """``ok`` read; ``failed`` the source answered an error or could not be reached; ``forbidden`` the
    API server refused a read (HTTP 403); ``unconfigured`` a connection detail is unknown or wrong."""

    OK = "ok"
    FAILED = "failed"
    FORBIDDEN = "forbidden"
    UNCONFIGURED = "unconfigured"


class PartStatus(_Frozen):
    """The outcome of reading one ``Part``: ``error`` the error's one-line message (world text, no secret:
    errors.py), ``status`` its HTTP status when the source answered one."""

    part: Part
    state: PartState = PartState.OK
    error: str = ""
    status: int | None = None


class LiveState(_Frozen):
    """Everything observed for one environment at ``observed_at`` (UTC).

    ``layout``: the name map the objects were read with (names.LAYOUTS); ``workloads`` maps Component →
    Workload for the managed Deployments that exist; ``missing`` names the components whose Deployment
    returned 404. Data-plane fields are None when not observed (the state
    file does not manage that phase). ``pg_dump_version_num``: the local pg_dump's version (e.g. 150020),
    0 when not found or not needed. ``connections``: the path each data-plane source took.
    ``litellm_health``, ``active_subscriptions``: read for status only (``observe(everything=True)``).
    ``parts``: how each part was read; a part that failed is in it only in ``observe(tolerant=True)``
    (status), which leaves that part's field None instead of raising.
    """

    observed_at: datetime
    namespace: str
    layout: LayoutName = LayoutName.RHPDS
    workloads: dict[Component, Workload] = Field(default_factory=dict)
    missing: tuple[Component, ...] = ()
    hpas: tuple[HorizontalPodAutoscaler, ...] = ()
    users: tuple[LiteMaaSUser, ...] | None = None
    keys: tuple[VirtualKey, ...] | None = None
    key_source: KeySource | None = None
    api_key_rows: tuple[ApiKeyRow, ...] | None = None
    databases: tuple[DatabaseInfo, ...] = ()
    redis: RedisStatus | None = None
    pg_dump_version_num: int = 0
    connections: tuple[ConnectionPath, ...] = ()
    litellm_health: LiteLLMHealth | None = None
    active_subscriptions: int | None = None
    parts: tuple[PartStatus, ...] = ()

    def part(self, part: Part) -> PartStatus | None:
        """How ``part`` was read, or None when it was not read."""
        return next((p for p in self.parts if p.part == part), None)

    @property
    def shared_database(self) -> bool:
        """True when LiteLLM and LiteMaaS use one database (docs/deployment-facts.md §2)."""
        ids = {d.role: d.identity for d in self.databases}
        return "litemaas" in ids and "litellm" in ids and ids["litemaas"] == ids["litellm"]
