"""check_data_plane (plan/checks.py): Redis readiness for multi-replica LiteLLM; the shared-database trap.

Sources: the runbook ("Redis is required for multi-replica LiteLLM"); docs/deployment-facts.md §2
(DISABLE_SCHEMA_UPDATE, BerriAI/litellm#9558).
"""

from __future__ import annotations

from typing import Any

import pytest

from litemaas_state.errors import Severity
from litemaas_state.live.model import DatabaseInfo, RedisStatus, Workload
from litemaas_state.plan.checks import check_data_plane

from .factories import desired, live

LITEMAAS = DatabaseInfo(role="litemaas", database="litemaas_db", host="pg", port=5432)
LITELLM_SHARED = LITEMAAS.model_copy(update={"role": "litellm"})
LITELLM_OWN = LITEMAAS.model_copy(update={"role": "litellm", "database": "litellm_db"})
REDIS_DOWN = RedisStatus(pods_ready=0, pods_total=1)
REDIS_UP = RedisStatus(pods_ready=1, pods_total=1, ping=True)


def litellm(replicas: int = 1, env: dict[str, str] | None = None) -> dict[str, Workload]:
    w = Workload(
        name="litellm", uid="u", resource_version="1", generation=1, replicas=replicas, env=env or {}
    )
    return {"litellm": w}


@pytest.mark.parametrize(
    ("declared", "live_replicas", "redis", "error"),
    [
        pytest.param(3, 1, REDIS_DOWN, True, id="scale-up-redis-down"),
        pytest.param(None, 3, REDIS_DOWN, True, id="already-multi-redis-down"),
        pytest.param(3, 1, RedisStatus(pods_ready=1, pods_total=1, ping=False), True, id="ping-failed"),
        pytest.param(3, 1, REDIS_UP, False, id="redis-ready"),
        pytest.param(3, 1, None, False, id="redis-not-observed"),
        pytest.param(1, 3, REDIS_DOWN, False, id="one-replica"),
    ],
)
def test_multi_replica_litellm_needs_redis(
    declared: int | None, live_replicas: int, redis: RedisStatus | None, error: bool
) -> None:
    state: dict[str, Any] = {"deployments": {"litellm": {"replicas": declared}}} if declared else {}
    diags = check_data_plane(desired(**state), live(workloads=litellm(live_replicas), redis=redis))
    assert [d.severity for d in diags] == ([Severity.ERROR] if error else [])
    if error:
        assert diags[0].summary.startswith(
            "litellm at 3 replicas needs Redis, but litellm-redis is not ready"
        )


def test_redis_error_message_pins_counts() -> None:
    (d,) = check_data_plane(
        desired(deployments={"litellm": {"replicas": 2}}),
        live(workloads=litellm(), redis=RedisStatus(pods_ready=1, pods_total=1, ping=False)),
    )
    assert (
        d.summary
        == "litellm at 2 replicas needs Redis, but litellm-redis is not ready (1/1 pods ready, PING failed)"
    )
    assert d.address == "deployment/litellm"


@pytest.mark.parametrize(
    ("databases", "env", "warn"),
    [
        pytest.param((LITEMAAS, LITELLM_SHARED), {}, True, id="shared-unset"),
        pytest.param((LITEMAAS, LITELLM_SHARED), {"DISABLE_SCHEMA_UPDATE": "false"}, True, id="shared-false"),
        pytest.param((LITEMAAS, LITELLM_SHARED), {"DISABLE_SCHEMA_UPDATE": "True"}, False, id="shared-true"),
        pytest.param((LITEMAAS, LITELLM_SHARED), {"DISABLE_SCHEMA_UPDATE": "TRUE"}, False, id="shared-TRUE"),
        pytest.param((LITEMAAS, LITELLM_OWN), {}, False, id="separate"),
        pytest.param((LITEMAAS,), {}, False, id="one-known"),
    ],
)
def test_shared_database_needs_disable_schema_update(
    databases: tuple[DatabaseInfo, ...], env: dict[str, str], warn: bool
) -> None:
    diags = check_data_plane(desired(), live(workloads=litellm(env=env), databases=databases))
    assert [d.severity for d in diags] == ([Severity.WARNING] if warn else [])
    if warn:
        assert "LiteLLM's start-up migration can drop LiteMaaS tables" in diags[0].summary
        assert "BerriAI/litellm#9558" in diags[0].detail


def test_shared_database_without_litellm_workload_is_not_judged() -> None:
    assert check_data_plane(desired(), live(databases=(LITEMAAS, LITELLM_SHARED))) == []
