"""The sandbox's own name map: what each LiteMaaS layout calls its PostgreSQL, its database user and
its databases, and the two database arrangements (`separate` | `shared`).

Two layouts (docs/deployment-facts.md §1.3):

- ``rhpds``: the rhpds HA deployment (rhpds/rhpds.litemaas @f4545df, docs/deployment-facts.md §1.4–§1.6):
  StatefulSet/Service ``litellm-postgres`` (``app=litellm-postgres``), database user ``litellm``,
  databases ``litemaas_db`` and ``litellm``;
- ``kustomize``: the upstream manifests (rh-aiservices-bu/litemaas deployment/kustomize @f6b748f):
  StatefulSet/Service ``postgres`` (``app=postgres``), database user ``litemaas_admin``, databases
  ``litemaas_db`` and ``litellm_db``.

Both call LiteLLM ``litellm`` (``app=litellm``, port 4000) and Redis ``litellm-redis``
(``app=litellm-redis``, port 6379).

Databases: ``separate`` gives LiteMaaS and LiteLLM a database each; ``shared`` puts both schemas in
``litemaas_db`` (what rhpds HEAD really does, docs/deployment-facts.md §2).

Declared here, not imported from the product (`names.py`), so a wrong name in the product is not
mirrored by the sandbox (docs/design.md §9.16). Boundary: imports no product code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LayoutName = Literal["rhpds", "kustomize"]
DatabasesName = Literal["separate", "shared"]

RHPDS: LayoutName = "rhpds"
KUSTOMIZE: LayoutName = "kustomize"
LAYOUT_NAMES: tuple[LayoutName, ...] = (RHPDS, KUSTOMIZE)
DATABASES: tuple[DatabasesName, ...] = ("separate", "shared")


@dataclass(frozen=True)
class Layout:
    """The names one layout gives the parts the data plane stands in for.

    postgres: StatefulSet, Service and ``app`` label of PostgreSQL (its pod is ``<postgres>-0``).
    db_user: the PostgreSQL superuser (POSTGRES_USER of the official image).
    litemaas_db / litellm_db: database names in the ``separate`` arrangement.
    litellm / redis: Deployment, Service and ``app`` label of LiteLLM and Redis.
    redis_auth: whether Redis requires a password (upstream's redis-deployment.yaml sets none).
    """

    name: LayoutName
    postgres: str
    db_user: str
    litemaas_db: str
    litellm_db: str
    litellm: str = "litellm"
    redis: str = "litellm-redis"
    redis_auth: bool = True

    @property
    def postgres_pod(self) -> str:
        return f"{self.postgres}-0"

    def databases(self, databases: str) -> tuple[str, str]:
        """(LiteMaaS database, LiteLLM database) for ``separate`` or ``shared`` (equal when shared).

        Raises ValueError on another value.
        """
        if databases not in DATABASES:
            raise ValueError(f"databases must be one of {DATABASES}, got {databases!r}")
        return self.litemaas_db, self.litemaas_db if databases == "shared" else self.litellm_db


LAYOUTS: dict[str, Layout] = {
    RHPDS: Layout(RHPDS, postgres="litellm-postgres", db_user="litellm", litemaas_db="litemaas_db",
                  litellm_db="litellm"),
    KUSTOMIZE: Layout(KUSTOMIZE, postgres="postgres", db_user="litemaas_admin", litemaas_db="litemaas_db",
                      litellm_db="litellm_db", redis_auth=False),
}


def layout(name: str) -> Layout:
    """The Layout called ``name``. Raises ValueError for an unknown one."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown layout {name!r} (expected one of {', '.join(LAYOUT_NAMES)})") from None
