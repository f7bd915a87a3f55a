"""Builders for the planner tests: real DesiredState/LiveState objects, no mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litemaas_state.live.model import LiveState
from litemaas_state.spec.model import DesiredState

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
ENV = "litellm-rhpds"


def desired(**sections: Any) -> DesiredState:
    """A state file with the given top-level sections (by their YAML names)."""
    doc: dict[str, Any] = {
        "apiVersion": "litemaas-state/v1",
        "kind": "Environment",
        "metadata": {"name": ENV},
        "target": {"namespace": ENV},
        **sections,
    }
    return DesiredState.model_validate(doc)


def live(**fields: Any) -> LiveState:
    """A LiveState observed at NOW with the given fields."""
    return LiveState(observed_at=NOW, namespace=ENV, **fields)


def token(n: int) -> str:
    """A 64-hex token hash, distinct per n."""
    return f"{n:064x}"
