"""The apply seams on their own, against one kube-only sandbox per module (a real Kubernetes API over HTTP,
with its Deployment controller) and fake clocks where time matters:

* ``ApplyLock`` (apply/lock.py): one holder at a time, takeover of an expired Lease, loss noticed;
* ``KubeWriter.wait_rollout`` (apply/kube.py): kubectl's verdicts as progress, its timeout on an injected
  clock, a paused Deployment;
* ``PreconditionChecker`` (apply/preconditions.py): a Deployment value that moved since the plan refuses;
* ``apply_plan`` (apply/runner.py): a failed precondition check stops the apply before the executor runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client as k8s

from litemaas_state.apply.kube import KubeWriter, RolloutWaiter
from litemaas_state.apply.lock import ApplyLock, lease_name
from litemaas_state.apply.model import ActionStatus, ApplyEvent, EventKind, Reporter
from litemaas_state.apply.preconditions import PreconditionChecker
from litemaas_state.apply.runner import apply_plan
from litemaas_state.errors import LockHeld, PreconditionFailed, RolloutFailed
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.plan.model import Action, Plan, Replicas, ScaleAction
from tests.conftest import Sandbox
from tests.plan.factories import NOW

pytestmark = pytest.mark.slow
NS = "litellm-rhpds"


@pytest.fixture(scope="module")
def conn(kube: Sandbox, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[KubeConnection]:
    monkeypatch_module.delenv("LITEMAAS_STATE_LOCK_SECONDS", raising=False)
    c = connect_kube(NS, kubeconfig=str(kube.kubeconfig))
    try:
        yield c
    finally:
        c.api.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def lease(conn: KubeConnection, environment: str) -> k8s.V1Lease | None:
    try:
        return k8s.CoordinationV1Api(conn.api).read_namespaced_lease(lease_name(), NS)
    except k8s.ApiException as exc:
        if exc.status == 404:
            return None
        raise


# --- ApplyLock -------------------------------------------------------------------------------------


def test_one_holder_at_a_time_and_release_frees_it(conn: KubeConnection) -> None:
    first = ApplyLock(conn, "seam-one", identity="alice@host pid 1")
    with first:
        held = lease(conn, "seam-one")
        assert held is not None and held.spec.holder_identity == "alice@host pid 1"
        with pytest.raises(LockHeld) as refused:
            ApplyLock(conn, "seam-one", identity="bob@host pid 2").acquire()
        message = str(refused.value)
        assert "another apply holds the lock for this namespace: alice@host pid 1" in message
        assert "90s after its last renewal (60s lease + 30s clock-skew allowance)" in message
        first.ensure_held()  # still ours
    assert lease(conn, "seam-one") is None
    with ApplyLock(conn, "seam-one", identity="bob@host pid 2"):
        assert lease(conn, "seam-one").spec.holder_identity == "bob@host pid 2"


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(conn: KubeConnection) -> None:
    api = k8s.CoordinationV1Api(conn.api)

    def leave_lease(environment: str, renewed: datetime) -> None:
        stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        api.create_namespaced_lease(NS, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": lease_name()},
            "spec": {"holderIdentity": "dead@host pid 9", "leaseDurationSeconds": 10, "acquireTime": stamp,
                     "renewTime": stamp}})

    now = datetime.now(UTC)
    leave_lease("seam-dead", now - timedelta(seconds=21))  # 10 s lease + 10 s skew allowance: expired
    with ApplyLock(conn, "seam-dead", identity="me@host pid 3"):
        assert lease(conn, "seam-dead").spec.holder_identity == "me@host pid 3"
    leave_lease("seam-alive", now - timedelta(seconds=15))  # within the skew allowance: still held
    with pytest.raises(LockHeld, match="dead@host pid 9"):
        ApplyLock(conn, "seam-alive", identity="me@host pid 3").acquire()
    api.delete_namespaced_lease(lease_name(), NS)


def test_a_lease_deleted_by_hand_is_noticed_before_the_next_action(conn: KubeConnection) -> None:
    lock = ApplyLock(conn, "seam-lost", duration_s=2, identity="me@host pid 4")  # renews every 0.5 s
    with lock:
        k8s.CoordinationV1Api(conn.api).delete_namespaced_lease(lease_name(), NS)

        def lost() -> bool:
            try:
                lock.ensure_held()
            except LockHeld as exc:
                assert "lease/litemaas-state was deleted" in str(exc)
                return True
            return False

        wait_until(lost, "the renewal to notice the deleted Lease")


# --- KubeWriter.wait_rollout -----------------------------------------------------------------------


class FakeClock:
    """Monotonic seconds that advance only when ``sleep`` is called (plus a short real pause, so the
    sandbox's controller gets to run)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        time.sleep(0.02)


def events() -> tuple[list[ApplyEvent], Reporter]:
    seen: list[ApplyEvent] = []
    return seen, seen.append


def test_wait_rollout_reports_kubectls_verdicts_until_complete(conn: KubeConnection) -> None:
    writer = KubeWriter(conn, RolloutWaiter(timeout_s=60, poll_interval_s=0.05))
    writer.set_image("litellm-frontend", "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0", ("frontend",), ())
    seen, report = events()
    done = writer.wait_rollout("litellm-frontend", "deployment/litellm-frontend", "images/frontend", report)
    assert done.updated_replicas == done.replicas == done.available_replicas
    messages = [e.message for e in seen]
    assert all(e.kind == EventKind.PROGRESS for e in seen) and len(messages) == len(set(messages))
    assert messages[-1] == 'deployment "litellm-frontend" successfully rolled out'


def test_wait_rollout_times_out_on_its_own_clock(conn: KubeConnection) -> None:
    clock = FakeClock()
    writer = KubeWriter(conn, RolloutWaiter(timeout_s=5, poll_interval_s=1.0, clock=clock, sleep=clock.sleep))
    writer.set_image("litellm", "quay.io/rh-aiservices-bu/litellm-non-root:never-ready-broken", ("litellm",), ())
    started = time.monotonic()
    with pytest.raises(RolloutFailed, match=r"deployment/litellm: rollout did not finish within 5s \(last status: "
                                            r"Waiting for deployment \"litellm\" rollout to finish"):
        writer.wait_rollout("litellm", "deployment/litellm", "images/litellm", lambda e: None)
    assert time.monotonic() - started < 2.5  # the fake clock ran out, not the sandbox's 3 s progress deadline
    assert clock.now - 1000.0 == pytest.approx(6.0)  # polled each second until past 5 s


def test_wait_rollout_refuses_a_paused_deployment(conn: KubeConnection) -> None:
    apps = k8s.AppsV1Api(conn.api)
    apps.patch_namespaced_deployment("litellm-backend", NS, {"spec": {"paused": True}})
    writer = KubeWriter(conn, RolloutWaiter(timeout_s=60, poll_interval_s=0.05))
    writer.set_image("litellm-backend", "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0", ("backend",), ())
    with pytest.raises(RolloutFailed, match="deployment/litellm-backend: the Deployment is paused"):
        writer.wait_rollout("litellm-backend", "deployment/litellm-backend", "images/backend",
                            lambda e: None)
    apps.patch_namespaced_deployment("litellm-backend", NS, {"spec": {"paused": False}})


# --- PreconditionChecker and apply_plan ------------------------------------------------------------


def scale_redis(expected_replicas: int) -> ScaleAction:
    return ScaleAction(
        id="scaling/redis", address="deployment/litellm-redis",
        component="redis", deployment="litellm-redis", replicas=1,
        preconditions=(Replicas(deployment="litellm-redis", replicas=expected_replicas),))


def test_a_moved_deployment_value_refuses_the_action_and_apply_stops_before_it(conn: KubeConnection) -> None:
    checker = PreconditionChecker(KubeReader(conn), Discovery(DataPlaneFlags(), None, environ={}))
    live_replicas = KubeReader(conn).deployment("litellm-redis").replicas
    checker.check(scale_redis(live_replicas))  # what the plan saw: passes
    with pytest.raises(PreconditionFailed) as stale:
        checker.check(scale_redis(live_replicas + 1))
    assert str(stale.value) == (
        f"scaling/redis: precondition failed: deployment/litellm-redis spec.replicas was "
        f"{live_replicas + 1!r} when the plan was made, and is now {live_replicas!r}. The plan is stale for this "
        "action; run plan again.")

    ran: list[str] = []

    def execute(action: Action, report: Reporter) -> str:
        ran.append(action.id)
        return "scaled"

    plan = Plan(environment="e", namespace=NS, created_at=NOW, state_file="s", state_digest="d",
                actions=(scale_redis(live_replicas + 1),))
    result = apply_plan(plan, {"scale": execute}, lambda e: None, check=checker.check)
    assert ran == []
    [(status, message)] = [(r.status, r.message) for r in result.results]
    assert status == ActionStatus.FAILED and message == str(stale.value)
    assert result.failed_action == "scaling/redis"
