"""The desired state of one LiteMaaS environment, as declared in a YAML state file.

Shape (every mapping rejects unknown keys)::

    apiVersion: litemaas-state/v1
    kind: Environment
    metadata: {name: litellm-rhpds}
    target: {namespace: litellm-rhpds, context: null, layout: rhpds | kustomize}
    on_failure: stop | rollback                     # default for every deployment
    deployments:
      litellm|backend|frontend|redis:               # components; target.layout names their Deployments
        image: registry/repo:tag                    # every container and init container running
        replicas: 5                                 #   the same repository follows it (docs/deployment-facts.md §1.2)
        on_failure: stop | rollback
        restart_at: 2026-11-29T10:00:00Z            # changing it triggers a rolling restart
        upgrade_strategy: rolling | scale-to-one    # litellm only (plan/upgrade.py)
    backup: {enabled, before_image_change_of: [litellm], directory, keep}
    admins: {emails: [...], exclusive: false}
    key_retention: {delete_expired, expired_grace_days, max_age_days, max_age_applies_to,
                    protect_aliases, protect_users, max_deletions, sync_litemaas}

Sources: the rhpds day-2 runbook (docs/deployment-facts.md) for what is managed; docs/deployment-facts.md §1.2 (backend must stay at 1
replica, shared images), §3 (roles), §6 (the cleanup script's retention rules, which this policy
generalises).
"""

from __future__ import annotations

import posixpath
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from litemaas_state.names import LAYOUTS, Component, Layout, LayoutName, layout
from litemaas_state.timestamps import as_utc

API_VERSION = "litemaas-state/v1"
KIND = "Environment"

# Docker/OCI image reference grammar (distribution/reference regexp.go), simplified to one expression:
# [domain[:port]/]path-component(/path-component)*[:tag][@sha256:hex]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Longest e-mail address (RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets).
EMAIL_MAX = 254
#: Upper bounds of day counts: ten years (a larger value is a typo and would overflow date arithmetic).
DAYS_MAX = 3650
#: Most entries of one list in a state file (admins, protected aliases or users).
LIST_MAX = 1000
#: Directories a backup may never be written to (system directories; a dump there is a mistake).
SYSTEM_DIRECTORIES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin",
                      "/sys", "/usr", "/var/lib", "/var/run")


def system_directory(path: str) -> str | None:
    """The system directory (``SYSTEM_DIRECTORIES`` or ``/`` itself) an absolute path is in, else None.

    Pure: ``path`` is normalised as text (``..`` folded); the caller resolves symlinks first
    (``os.path.realpath``) where the file system is at hand (commands/base.py, apply/backup.py).
    """
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm == "/":
        return "/"
    return next((d for d in SYSTEM_DIRECTORIES if norm == d or norm.startswith(d + "/")), None)


def image_repository(image: str) -> str:
    """The repository part of an image reference (``quay.io/a/b:1`` → ``quay.io/a/b``).

    A first component without ``.``/``:`` and not ``localhost`` is a path, not a registry, so its colon
    is a tag separator. Unparseable input is returned unchanged.
    """
    m = IMAGE_RE.match(image)
    if not m:
        return image
    domain = m.group("domain")
    return f"{domain}/{m.group('path')}" if domain else m.group("path")


def _check_image(value: str) -> str:
    m = IMAGE_RE.match(value)
    if not m or len(value) > 255:
        raise ValueError(
            f"{value!r} is not a valid image reference (expected registry/repository:tag or @sha256:digest)"
        )
    if not m.group("tag") and not m.group("digest"):
        raise ValueError(f"{value!r} has no tag or digest; pin a version such as {value}:1.2.3")
    return value


ImageRef = Annotated[str, AfterValidator(_check_image)]


def _rfc3339(value: object) -> object:
    """``restart_at`` must be an RFC 3339 timestamp with a zone: YAML gives a datetime for one, a string
    if quoted. Refused: numbers (a Unix time is ambiguous and pydantic would take it silently), dates
    without a time, and timestamps without a zone (the annotation is UTC; guessing the zone would restart
    at the wrong time or not at all)."""
    if isinstance(value, bool | int | float):
        raise ValueError(f"must be an RFC 3339 timestamp such as 2026-11-29T10:00:00Z, not the number {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
            raise ValueError(f"{value[:60]!r} is not an RFC 3339 timestamp with a zone, such as 2026-11-29T10:00:00Z")
        return text
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no zone; add Z (UTC) or an offset, e.g. "
                             f"{value.strftime('%Y-%m-%dT%H:%M:%S')}Z")
        return value
    raise ValueError("must be an RFC 3339 timestamp with a zone, such as 2026-11-29T10:00:00Z (not a date alone)")


def _utc_seconds(value: datetime) -> datetime:
    """UTC, whole seconds: the restartedAt annotation is RFC 3339 without fractions (kubectl's format)."""
    return as_utc(value).replace(microsecond=0)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class OnFailure(StrEnum):
    """What apply does when a rollout fails: stop there, or put the previous pod template back."""

    STOP = "stop"
    ROLLBACK = "rollback"


class UpgradeStrategy(StrEnum):
    """How apply rolls out a new image. ``rolling``: the Deployment's own rolling update. ``scale-to-one``
    (LiteLLM only): scale to 1 replica, roll out the new image at 1 and check LiteLLM's health, then scale
    back, because every new LiteLLM pod runs the database migrations at start and parallel pods race
    (docs/deployment-facts.md §1.2; plan/upgrade.py)."""

    ROLLING = "rolling"
    SCALE_TO_ONE = "scale-to-one"


#: Components whose image change may use ``upgrade_strategy: scale-to-one`` (they migrate at start).
SCALE_TO_ONE_COMPONENTS: tuple[Component, ...] = (Component.LITELLM,)


class Metadata(_Strict):
    name: str = Field(description="Environment name; used in backup file names and the apply lock.")

    @field_validator("name")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_LABEL.match(v):
            raise ValueError("must be a DNS label: lower-case letters, digits and '-', at most 63")
        return v


class Target(_Strict):
    namespace: str = Field(description="Kubernetes namespace of the deployment.")
    context: str | None = Field(None, max_length=253, description="kubeconfig context; default: the current context.")
    layout: LayoutName = Field(LayoutName.RHPDS, description="How the deployment names its objects: rhpds "
                               "(rhpds/rhpds.litemaas) or kustomize (rh-aiservices-bu/litemaas deployment/kustomize).")

    @field_validator("namespace")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_LABEL.match(v):
            raise ValueError("must be a DNS label: lower-case letters, digits and '-', at most 63")
        return v


class DeploymentSpec(_Strict):
    image: ImageRef | None = Field(None, description="Image of the main container (and same-repo init ones).")
    replicas: StrictInt | None = Field(None, ge=0, le=1000, description="spec.replicas, set via the scale subresource.")
    on_failure: OnFailure | None = Field(None, description="Overrides the top-level on_failure.")
    restart_at: Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_utc_seconds)] | None = Field(
        None, description="RFC 3339 timestamp with a zone, not in the future; changing it triggers a rolling "
        "restart at the next apply (kubectl.kubernetes.io/restartedAt)."
    )
    upgrade_strategy: UpgradeStrategy | None = Field(
        None, description="rolling (default) or scale-to-one (litellm only): an image change of a Deployment "
        "running more than one replica scales it to 1, rolls out the new image, checks health and scales back."
    )


#: Deployment names a state file might use as keys by mistake (the rhpds names): the error says what to write.
_DEPLOYMENT_NAMES_AS_KEYS = {n: c for lay in LAYOUTS.values() for c, n in lay.deployments.items() if n != c.value}


class Deployments(_Strict):
    """One optional spec per ``Component``, keyed by its logical name; ``target.layout`` maps it to a Deployment."""

    litellm: DeploymentSpec | None = None
    backend: DeploymentSpec | None = None
    frontend: DeploymentSpec | None = None
    redis: DeploymentSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _component_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _DEPLOYMENT_NAMES_AS_KEYS:
                    raise ValueError(
                        f"{key!r} is a Deployment name, not a component: write "
                        f"{_DEPLOYMENT_NAMES_AS_KEYS[key].value!r} (deployments are keyed by component: "
                        "litellm, backend, frontend, redis; target.layout maps them to Deployment names)")
        return data

    def items(self) -> list[tuple[Component, DeploymentSpec]]:
        """Declared deployments in a fixed order (the order of ``Component``)."""
        found = {c: getattr(self, c.value) for c in Component}
        return [(c, s) for c, s in found.items() if s is not None]

    def get(self, component: Component) -> DeploymentSpec | None:
        return dict(self.items()).get(component)


class BackupPolicy(_Strict):
    enabled: StrictBool = True
    before_image_change_of: tuple[Component, ...] = Field(
        (Component.LITELLM,),
        description="Deployments whose image change needs a database backup first "
        "(LiteLLM migrates its schema at start; docs/deployment-facts.md §1.2).",
    )
    directory: str = Field("backups", min_length=1, max_length=1024,
                           description="Where dumps go; a relative path is relative to the state file's "
                           "directory. Never a system directory; inside a git work tree only if git-ignored.")
    keep: StrictInt = Field(5, ge=1, le=100, description="Dumps kept per database; older ones are removed after a backup.")

    @field_validator("directory")
    @classmethod
    def _not_system(cls, v: str) -> str:
        if v.startswith("~"):
            raise ValueError(f"{v!r} starts with '~', which is not expanded (a directory named '~' would be "
                             "created); write the path out, or make it relative to the state file")
        if v.startswith("/") and system_directory(v):
            raise ValueError(f"{v!r} is a system directory; database dumps hold keys and user data: use a "
                             "directory of their own, e.g. backups")
        if "\x00" in v:
            raise ValueError("must not contain NUL")
        return v


class AdminPolicy(_Strict):
    emails: tuple[str, ...] = Field((), max_length=LIST_MAX,
                                    description="Users who must hold the LiteMaaS admin role.")
    exclusive: StrictBool = Field(False, description="When true, other users lose admin (keeping other roles).")

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for e in v:
            if len(e) > EMAIL_MAX:
                raise ValueError(f"an e-mail address of {len(e):,} characters; at most {EMAIL_MAX} are allowed")
            if not _EMAIL.match(e):
                raise ValueError(f"{e!r} is not an email address")
            if e.casefold() in seen:
                raise ValueError(f"{e!r} is listed twice (emails match case-insensitively)")
            seen.add(e.casefold())
        return v


class KeyRetention(_Strict):
    delete_expired: StrictBool = Field(True, description="Delete keys whose expires is in the past.")
    expired_grace_days: StrictInt | StrictFloat = Field(0, ge=0, le=DAYS_MAX, allow_inf_nan=False,
                                                        description="Only once expired for longer than this.")
    max_age_days: StrictInt | StrictFloat | None = Field(None, gt=0, le=DAYS_MAX, allow_inf_nan=False,
                                                         description="Delete keys created longer ago than this.")
    max_age_applies_to: Literal["workshop", "expiring"] = Field(
        "workshop",
        description="workshop: keys carrying metadata.duration (the cleanup script's rule, docs/deployment-facts.md §6.1); "
        "expiring: every key with an expiry.",
    )
    protect_aliases: tuple[Annotated[str, Field(max_length=256)], ...] = Field(
        (), max_length=LIST_MAX, description="Key aliases never deleted (shell globs).")
    protect_users: tuple[Annotated[str, Field(max_length=256)], ...] = Field(
        (), max_length=LIST_MAX, description="LiteLLM user_ids or LiteMaaS emails never pruned.")
    max_deletions: StrictInt = Field(1000, ge=0, le=1_000_000, description="More prunable keys than this is a plan error.")
    sync_litemaas: StrictBool = Field(True, description="Revoke matching LiteMaaS api_keys rows (and orphans).")


class DesiredState(_Strict):
    """A whole state file. Optional sections that are absent are not managed."""

    api_version: Literal["litemaas-state/v1"] = Field(alias="apiVersion")
    kind: Literal["Environment"]
    metadata: Metadata
    target: Target
    on_failure: OnFailure = OnFailure.STOP
    deployments: Deployments = Deployments()
    backup: BackupPolicy = BackupPolicy()
    admins: AdminPolicy | None = None
    key_retention: KeyRetention | None = None

    @property
    def layout(self) -> Layout:
        """The name map of ``target.layout`` (names.LAYOUTS)."""
        return layout(self.target.layout)

    def on_failure_for(self, component: Component) -> OnFailure:
        spec = self.deployments.get(component)
        return (spec.on_failure if spec and spec.on_failure else None) or self.on_failure

    def upgrade_strategy_for(self, component: Component) -> UpgradeStrategy:
        """The component's declared ``upgrade_strategy``, else ``rolling``."""
        spec = self.deployments.get(component)
        return (spec.upgrade_strategy if spec else None) or UpgradeStrategy.ROLLING

    def cross_field_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems that one field's type cannot express, as (field path by state-file keys, summary):
        ``upgrade_strategy: scale-to-one`` on a component other than ``SCALE_TO_ONE_COMPONENTS``.
        spec/load.py reports each at its line and column. Raises nothing."""
        allowed = {id(s) for c, s in self.deployments.items() if c in SCALE_TO_ONE_COMPONENTS}
        keys = ", ".join(c.value for c in SCALE_TO_ONE_COMPONENTS)
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name, info in Deployments.model_fields.items():
            spec = getattr(self.deployments, name)
            if spec is None or id(spec) in allowed or spec.upgrade_strategy != UpgradeStrategy.SCALE_TO_ONE:
                continue
            problems.append((("deployments", info.alias or name, "upgrade_strategy"),
                             f"scale-to-one applies only to {keys} (it runs database migrations in every new pod "
                             "at start); use rolling or leave upgrade_strategy out"))
        return problems

    def backup_may_be_needed(self) -> bool:
        """Whether an apply of this file can take a backup: backups are enabled and a Deployment listed in
        ``backup.before_image_change_of`` has a declared image (plan/backup.py makes the action only then)."""
        return self.backup.enabled and any(
            spec.image is not None for c, spec in self.deployments.items() if c in self.backup.before_image_change_of
        )


def json_schema() -> dict[str, object]:
    """The JSON Schema of the state file (pydantic's, validation mode, by alias)."""
    schema = DesiredState.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/litemaas-state/litemaas-state/schemas/state.schema.json"
    schema["title"] = "litemaas-state state file"
    return schema
