"""Hand-built plans for renderer snapshots (never live observation; docs/design.md §10.9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.plan.model import (
    AdminAction,
    BackupAction,
    BackupTarget,
    DeleteKeysAction,
    KeyExpiries,
    KeyRef,
    Plan,
    Replicas,
    RevokeRowsAction,
    RowRef,
    RunningImage,
    ScaleAction,
    SetImageAction,
    UserRoles,
)

NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
OLD = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
NEW = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"


def plan_of(*actions: object, diagnostics: tuple[Diagnostic, ...] = (), targets: tuple[str, ...] = ()) -> Plan:
    return Plan(environment="litellm-rhpds", namespace="litellm-rhpds", created_at=NOW, state_file="state/x.yaml",
                state_digest="0" * 64, actions=actions, diagnostics=diagnostics, targets=targets)  # type: ignore[arg-type]


def keys(n: int) -> tuple[KeyRef, ...]:
    return tuple(
        KeyRef(token_hash=f"{i:064x}", alias=f"workshop-{i:03d}", user_id=f"user-{i}", owner=f"user{i}@example.com",
               created_at=NOW - timedelta(days=40 + i), expires=NOW - timedelta(days=i + 1), rule="expired")
        for i in range(n)
    )


@pytest.fixture
def full_plan() -> Plan:
    image = SetImageAction(
        id="images/frontend", address="deployment/litellm-frontend",
        component="frontend", deployment="litellm-frontend", image=NEW, main_container="frontend", containers=("frontend",),
        init_containers=("copy-custom-logos",),
        preconditions=(RunningImage(deployment="litellm-frontend", container="frontend", image=OLD),
                       RunningImage(deployment="litellm-frontend", container="copy-custom-logos", init=True,
                                      image=OLD)),
        notes=("containers: frontend, init copy-custom-logos",),
    )
    backup = BackupAction(
        id="backup/litellm-rhpds", address="backup/litellm-rhpds", directory="backups", keep=5,
        targets=(BackupTarget(role="litellm", database="litellm", file="backups/litellm-rhpds-litellm-20261129T093000Z.sql.gz"),
                 BackupTarget(role="litemaas", database="litemaas_db",
                              file="backups/litellm-rhpds-litemaas_db-20261129T093000Z.sql.gz")),
    )
    litellm = SetImageAction(
        id="images/litellm", address="deployment/litellm", component="litellm", deployment="litellm",
        image="quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom", main_container="litellm",
        containers=("litellm",),
        preconditions=(RunningImage(deployment="litellm", container="litellm",
                                      image="quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"),),
        requires=("backup/litellm-rhpds",),
    )
    scale = ScaleAction(id="scaling/litellm", address="deployment/litellm", component="litellm", deployment="litellm",
                        replicas=5, preconditions=(Replicas(deployment="litellm", replicas=3),))
    admin = AdminAction(kind="promote_admin", id="admins/sean.o'brien@example.com",
                        address="admin/sean.o'brien@example.com", email="sean.o'brien@example.com", user_id="u1",
                        roles_after=("user", "admin"),
                        preconditions=(UserRoles(user_id="u1", email="sean.o'brien@example.com", roles=("user",)),),
                        notes=("the new role reaches the user's session at their next login or token refresh",))
    delete = DeleteKeysAction(id="keys/expired", address="keys/expired", rule="expired", keys=keys(12),
                              destructive=True, preconditions=(KeyExpiries(rule="expired"),))
    orphans = RevokeRowsAction(id="keys/orphans", address="litemaas/api_keys",
                               rows=(RowRef(id="r1", key_hash="f" * 64, alias="gone_1a2b3c4d", owner="x@example.com"),),
                               sync_error="Key deleted from LiteLLM (orphan)")
    warn = Diagnostic(severity=Severity.WARNING, address="deployment/litellm-backend",
                      summary="litellm-backend at 3 replicas: OAuth login state is held in process memory")
    pending = Diagnostic(severity=Severity.NOTE, address="admin/new.hire@example.com",
                         summary="new.hire@example.com has not logged in via OAuth yet; promotion is pending")
    return plan_of(backup, image, litellm, scale, admin, delete, orphans, diagnostics=(warn, pending))
