"""Executors and the PreconditionChecker on their own, against one real sandbox (Kubernetes API stand-in,
PostgreSQL, LiteLLM API stand-in): no planner, no CLI, no apply_plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from litemaas_state.apply.executors import (
    ExecutorDeps,
    build_executors,
    execute_admin,
    execute_revoke_rows,
    execute_scale,
)
from litemaas_state.apply.kube import KubeWriter
from litemaas_state.apply.model import ApplyEvent
from litemaas_state.apply.preconditions import PreconditionChecker
from litemaas_state.errors import ApplyError, LitemaasStateError, PreconditionFailed
from litemaas_state.live import litemaas_db
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.plan.model import (
    AdminAction,
    DeleteKeysAction,
    KeyExpiries,
    KeyRef,
    OrphanRows,
    Replicas,
    RestartedAt,
    RevokeRowsAction,
    RowRef,
    RunningImage,
    ScaleAction,
    UserRoles,
)
from tests.conftest import FAST, Sandbox, SandboxLauncher


@pytest.fixture(scope="module")
def sb(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    with sandbox_launcher.started(**FAST) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def kube(sb: Sandbox) -> KubeConnection:
    return connect_kube("litellm-rhpds", kubeconfig=str(sb.kubeconfig))


@pytest.fixture(scope="module")
def discovery(kube: KubeConnection) -> Iterator[Discovery]:
    with Discovery(DataPlaneFlags(connect="direct"), KubeReader(kube), environ={}) as d:
        yield d


@pytest.fixture
def deps(kube: KubeConnection, discovery: Discovery) -> ExecutorDeps:
    return ExecutorDeps(kube=KubeWriter(kube), discovery=discovery)


def litemaas_url(discovery: Discovery) -> str:
    db = discovery.database("litemaas")
    assert db is not None
    return db.url


def a_user(discovery: Discovery) -> tuple[str, str, tuple[str, ...]]:
    with psycopg.connect(litemaas_url(discovery)) as conn:
        row = conn.execute("SELECT id::text, email, roles FROM users WHERE roles IS NOT NULL AND NOT 'admin' = ANY(roles) "
                           "ORDER BY email LIMIT 1").fetchone()
    assert row is not None
    return row[0], row[1], tuple(row[2] or ())


def test_scale_executor_scales_and_waits(kube: KubeConnection, deps: ExecutorDeps) -> None:
    before = KubeReader(kube).deployment("litellm")
    assert before is not None
    target = (before.replicas or 1) + 1
    events: list[ApplyEvent] = []
    action = ScaleAction(id="scaling/litellm", address="deployment/litellm", component="litellm", deployment="litellm", replicas=target,
                         preconditions=(Replicas(deployment="litellm", replicas=before.replicas),))
    message = execute_scale(action, deps, events.append)
    assert message == f"scaled to {target} ({target} available)"
    after = KubeReader(kube).deployment("litellm")
    assert after is not None and after.replicas == target


def test_checker_compares_each_typed_precondition_with_the_live_deployment(kube: KubeConnection,
                                                                           discovery: Discovery) -> None:
    w = KubeReader(kube).deployment("litellm")
    assert w is not None
    main = w.container("litellm")
    assert main is not None
    checker = PreconditionChecker(KubeReader(kube), discovery)

    def action(*pre: RunningImage | Replicas | RestartedAt) -> ScaleAction:
        return ScaleAction(id="scaling/litellm", address="deployment/litellm", component="litellm", deployment="litellm", replicas=1,
                           preconditions=pre)

    holds = (RunningImage(deployment="litellm", container="litellm", image=main.image),
             Replicas(deployment="litellm", replicas=w.replicas),
             RestartedAt(deployment="litellm", restarted_at=w.restarted_at))
    checker.check(action(*holds))
    with pytest.raises(PreconditionFailed, match=r"deployment/litellm spec\.replicas was 99 when the plan was "
                                                 rf"made, and is now {w.replicas}"):
        checker.check(action(*holds, Replicas(deployment="litellm", replicas=99)))
    with pytest.raises(PreconditionFailed, match=r"containers\[litellm\]\.image was 'x:1'"):
        checker.check(action(RunningImage(deployment="litellm", container="litellm", image="x:1")))
    with pytest.raises(PreconditionFailed, match=r"initContainers\[litellm\]\.image .* now '\(container removed\)'"):
        checker.check(action(RunningImage(deployment="litellm", container="litellm", init=True, image=main.image)))
    with pytest.raises(PreconditionFailed, match=r"now '\(deployment deleted\)'"):
        checker.check(action(Replicas(deployment="no-such-deployment", replicas=1)))


def test_checker_user_roles_key_expiries_and_orphan_rows(kube: KubeConnection, discovery: Discovery) -> None:
    checker = PreconditionChecker(KubeReader(kube), discovery)
    uid, email, roles = a_user(discovery)
    admin = AdminAction(kind="promote_admin", id=f"admins/{email}", address=f"admin/{email}", email=email,
                        user_id=uid, roles_after=(*roles, "admin"),
                        preconditions=(UserRoles(user_id=uid, email=email, roles=roles),))
    checker.check(admin)
    stale = admin.model_copy(update={"preconditions": (UserRoles(user_id=uid, email=email, roles=("nobody",)),)})
    with pytest.raises(PreconditionFailed, match=rf"users\[{uid}\]\.roles was \['nobody'\]"):
        checker.check(stale)
    # a key still in LiteLLM whose expires differs from what the plan saw is refused; a gone key is fine
    db = discovery.database("litellm")
    assert db is not None
    with psycopg.connect(db.url) as conn:
        row = conn.execute('SELECT token, expires FROM "LiteLLM_VerificationToken" WHERE expires IS NOT NULL '
                           "LIMIT 1").fetchone()
    assert row is not None
    token, expires = row[0], row[1].replace(tzinfo=UTC)

    def delete(seen: datetime) -> DeleteKeysAction:
        return DeleteKeysAction(id="keys/expired", address="keys/expired", rule="expired", destructive=True,
                                keys=(KeyRef(token_hash=token, expires=seen), KeyRef(token_hash="0" * 64)),
                                preconditions=(KeyExpiries(rule="expired"),))

    checker.check(delete(expires))
    with pytest.raises(PreconditionFailed, match=r"keys/expired: precondition failed: key .* had expires"):
        checker.check(delete(expires - timedelta(days=1)))
    # a key_expiries precondition on another kind is an edited plan, never a silent pass
    with pytest.raises(PreconditionFailed, match="key_expiries precondition on a promote_admin action"):
        checker.check(admin.model_copy(update={"preconditions": (KeyExpiries(rule="expired"),)}))
    orphans = RevokeRowsAction(id="keys/orphans", address="litemaas/api_keys", rows=(), sync_error="x",
                               preconditions=(OrphanRows(row_ids=("r1",)),))
    checker.check(orphans)  # nothing to refuse: the executor skips rows already revoked or whose key is back


def test_admin_executor_sets_the_roles_it_planned_and_refuses_without_the_recorded_ones(
        deps: ExecutorDeps, discovery: Discovery) -> None:
    uid, email, roles = a_user(discovery)
    after = tuple(sorted({*roles, "admin-readonly"}))
    action = AdminAction(kind="promote_admin", id=f"admins/{email}", address=f"admin/{email}", email=email,
                         user_id=uid, roles_after=after,
                         preconditions=(UserRoles(user_id=uid, email=email, roles=roles),))
    assert execute_admin(action, deps, lambda _e: None) == f"roles {json.dumps(list(roles))} -> {json.dumps(list(after))}"
    db = discovery.database("litemaas")
    assert db is not None and litemaas_db.read_user_roles(db, uid) == list(after)
    with pytest.raises(ApplyError, match="no recorded roles"):
        execute_admin(action.model_copy(update={"preconditions": ()}), deps, lambda _e: None)
    with pytest.raises(PreconditionFailed):  # compare-and-set: the roles are no longer the recorded ones
        execute_admin(action, deps, lambda _e: None)
    execute_admin(action.model_copy(update={"roles_after": roles, "preconditions": (
        UserRoles(user_id=uid, email=email, roles=after),)}), deps, lambda _e: None)  # restore


def test_revoke_rows_executor_revokes_an_orphan_row(deps: ExecutorDeps, discovery: Discovery) -> None:
    with psycopg.connect(litemaas_url(discovery), autocommit=True) as conn:
        row = conn.execute("SELECT id::text FROM api_keys WHERE is_active LIMIT 1").fetchone()
        assert row is not None
        conn.execute("UPDATE api_keys SET key_hash = %s WHERE id = %s", ("e" * 64, row[0]))  # now an orphan
    action = RevokeRowsAction(id="keys/orphans", address="litemaas/api_keys", sync_error="orphan (test)",
                              rows=(RowRef(id=row[0], key_hash="e" * 64),), preconditions=(OrphanRows(row_ids=(row[0],)),))
    assert execute_revoke_rows(action, deps, lambda _e: None) == "1 orphaned api_keys rows revoked"
    with psycopg.connect(litemaas_url(discovery)) as conn:
        active = conn.execute("SELECT is_active FROM api_keys WHERE id = %s", (row[0],)).fetchone()
    assert active == (False,)


def test_bound_executors_refuse_an_action_of_another_class(deps: ExecutorDeps) -> None:
    executors = build_executors(deps.kube, deps.discovery)
    scale = ScaleAction(id="scaling/litellm", address="deployment/litellm", component="litellm", deployment="litellm", replicas=1)
    with pytest.raises(LitemaasStateError, match="a scale action is not a BackupAction"):
        executors["backup"](scale, lambda _e: None)
