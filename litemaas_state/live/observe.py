"""observe(): run the readers for one desired state and return a LiveState.

Reads only what the desired state manages (its Deployments; later phases add databases and the LiteLLM
API). ``now`` is passed in so the whole pipeline sees one clock reading.
"""

from __future__ import annotations

from datetime import datetime

from litemaas_state.live.kube import KubeReader
from litemaas_state.live.model import LiveState, Workload
from litemaas_state.names import Component
from litemaas_state.spec.model import DesiredState


def observe(desired: DesiredState, kube: KubeReader, *, now: datetime) -> LiveState:
    """Observe every Deployment the tool knows (all four components) and the namespace's HPAs.

    Raises:
        ObserveError: the API server could not be read.
    """
    workloads: dict[str, Workload] = {}
    missing: list[str] = []
    for component in Component:
        w = kube.deployment(component.value)
        if w is None:
            missing.append(component.value)
        else:
            workloads[component.value] = w
    return LiveState(
        observed_at=now,
        namespace=kube.conn.namespace,
        workloads=workloads,
        missing=tuple(missing),
        hpas=kube.hpas(),
    )
