"""The scale_to_one_upgrade executor on its own, against a real sandbox (Kubernetes API and Deployment
controller, LiteLLM API stand-in): the replicas each rollout waited for, and where a failure leaves LiteLLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from litemaas_state.apply.executors import ApplyContext, ExecutorDeps, execute_scale_to_one_upgrade
from litemaas_state.apply.kube import KubeWriter
from litemaas_state.apply.model import ApplyEvent, EventKind
from litemaas_state.errors import ApplyError, RolloutFailed
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.plan.model import Replicas, RunningImage, ScaleToOneUpgradeAction
from tests.conftest import FAST, Sandbox, SandboxLauncher

NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"


@pytest.fixture
def sb(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    with sandbox_launcher.started(**FAST) as sandbox:
        yield sandbox


@pytest.fixture
def kube(sb: Sandbox) -> KubeConnection:
    return connect_kube("litellm-rhpds", kubeconfig=str(sb.kubeconfig))


@pytest.fixture
def deps(kube: KubeConnection) -> Iterator[ExecutorDeps]:
    with Discovery(DataPlaneFlags(connect="direct"), KubeReader(kube), environ={}) as d:
        yield ExecutorDeps(kube=KubeWriter(kube), discovery=d, ctx=ApplyContext())


def upgrade(kube: KubeConnection, image: str, after: int, *, declared: bool = True,
            on_failure: str = "stop") -> ScaleToOneUpgradeAction:
    w = KubeReader(kube).deployment("litellm")
    assert w is not None and w.replicas == 3  # the seeded world
    main = w.container("litellm")
    assert main is not None
    return ScaleToOneUpgradeAction(
        id="images/litellm", address="deployment/litellm", component="litellm", deployment="litellm", image=image,
        main_container="litellm", containers=("litellm",), replicas_after=after, replicas_declared=declared,
        on_failure=on_failure,  # type: ignore[arg-type]
        preconditions=(RunningImage(deployment="litellm", container="litellm", image=main.image),
                       Replicas(deployment="litellm", replicas=3)))


def rollout_totals(events: list[ApplyEvent]) -> list[int]:
    """spec.replicas as each rollout progress event saw it, without repeats."""
    out: list[int] = []
    for e in events:
        if e.kind == EventKind.PROGRESS and e.rollout and e.total is not None and (not out or out[-1] != e.total):
            out.append(e.total)
    return out


def test_it_rolls_out_at_one_replica_checks_health_and_scales_back(kube: KubeConnection, deps: ExecutorDeps) -> None:
    action = upgrade(kube, NEW, 5)
    lost = action.model_copy(update={"preconditions": action.preconditions[:1]})  # a plan file edited by hand
    with pytest.raises(ApplyError, match="no recorded replica count"):
        execute_scale_to_one_upgrade(lost, deps, lambda e: None)
    w = KubeReader(kube).deployment("litellm")
    assert w is not None and w.replicas == 3 and w.generation == 1  # refused before any write
    events: list[ApplyEvent] = []
    message = execute_scale_to_one_upgrade(action, deps, events.append)
    assert message == f"rolled out {NEW} at 1 replica, then scaled back to 5 (5 available)"
    assert rollout_totals(events) == [1, 5]  # the scale-down and the new image's rollout at 1, then the scale back
    infos = [e.message for e in events if e.kind == EventKind.INFO]
    assert [m.split(":")[0] for m in infos if m.startswith("step")] == ["step 1/4", "step 2/4", "step 3/4", "step 4/4"]
    assert any(m.startswith("LiteLLM is alive and ready") for m in infos)
    w = KubeReader(kube).deployment("litellm")
    assert w is not None and (w.replicas, w.container("litellm").image) == (5, NEW)  # type: ignore[union-attr]
    assert deps.ctx.partial == {}


def test_a_failed_rollout_rolls_back_and_says_litellm_is_left_at_one_replica(kube: KubeConnection,
                                                                              deps: ExecutorDeps) -> None:
    action = upgrade(kube, NEW + "-broken", 3, declared=False, on_failure="rollback")
    with pytest.raises(RolloutFailed) as failed:
        execute_scale_to_one_upgrade(action, deps, lambda e: None)
    text = str(failed.value)
    assert 'deployment "litellm" exceeded its progress deadline; rolled back to revision 1' in text
    assert text.endswith(
        "deployment/litellm is left at 1 replica (it ran 3): fix the cause and run apply again; the next plan "
        "rolls out the declared image at 1 replica if it is not yet, then does not scale it back, because "
        "replicas is not declared: declare replicas: 3 or run `kubectl scale deployment/litellm --replicas=3`")
    w = KubeReader(kube).deployment("litellm")
    assert w is not None and w.replicas == 1 and w.container("litellm").image != action.image  # type: ignore[union-attr]
    assert deps.ctx.partial["images/litellm"].startswith("scaled from 3 to 1 replica")

