"""observe() against the sandbox's real API server and data plane: strict (plan) raises at the first part
that cannot be read; tolerant (status) records it as a typed PartStatus and reads the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from litemaas_state.errors import ConfigError
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeReader, connect_kube
from litemaas_state.live.model import Part, PartState
from litemaas_state.live.observe import observe
from tests.conftest import FAST, Sandbox, parse_env_file
from tests.plan.factories import desired

pytestmark = pytest.mark.slow
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_tolerant_records_what_strict_raises(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(direct_urls=True, **FAST)
    direct = parse_env_file(sb.dir / "direct-env")
    kube = KubeReader(connect_kube("litellm-rhpds", kubeconfig=str(sb.kubeconfig)))
    bad_redis = direct["REDIS_URL"].replace("redis://:", "redis://:WRONG")
    flags = DataPlaneFlags(redis_url=bad_redis, litellm_url="http://127.0.0.1:9", connect="direct")
    state = desired(admins={"emails": ["dana.whitfield@example.com"]})

    with Discovery(flags, kube, environ={}) as d, pytest.raises(ConfigError, match="Redis rejected the credentials"):
        observe(state, kube, d, now=NOW)

    with Discovery(flags, kube, environ={}) as d:
        live = observe(state, kube, d, now=NOW, everything=True, tolerant=True)
    parts = {p.part: p for p in live.parts}
    assert parts[Part.REDIS].state == PartState.UNCONFIGURED and "rejected the credentials" in parts[Part.REDIS].error
    assert live.redis is None
    assert parts[Part.KEYS].state == PartState.FAILED and live.keys is None  # LiteLLM is not listening
    assert live.litellm_health is not None and live.litellm_health.alive is False  # health is a value, not an error
    assert parts[Part.USERS].state == PartState.OK and live.users is not None and len(live.users) > 300
    assert parts[Part.SUBSCRIPTIONS].state == PartState.OK and live.active_subscriptions is not None
    assert len(live.workloads) == 4 and bad_redis.split("@")[0] not in str(live.model_dump())
