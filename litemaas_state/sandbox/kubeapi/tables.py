"""Server-side printing (`Table`, meta.k8s.io/v1), as `kubectl get` asks for it.

Source: the column definitions of k8s.io/kubernetes pkg/printers/internalversion/printers.go.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litemaas_state.sandbox.kubeapi.resources import Obj, Resource
from litemaas_state.sandbox.kubeapi.selectors import selector_string


def human_duration(seconds: float) -> str:
    """kubectl's age format (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    return f"{h // (24 * 365)}y"


def _age(obj: Obj) -> str:
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return human_duration((datetime.now(UTC) - created).total_seconds())


def _images(obj: Obj) -> tuple[str, str]:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def pod_phase_text(pod: Obj) -> str:
    """The STATUS column of `kubectl get pods`."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in status.get("initContainerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"Init:{waiting.get('reason', 'Waiting')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "Waiting")
    return status.get("phase", "Unknown")


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _workload(
    heads: list[Obj], cells: Callable[[Obj, Obj], list[Any]], *, selector: bool = True
) -> tuple[list[Obj], Callable[[Obj], list[Any]]]:
    """A workload's columns: Name, `heads`, Age, then (wide) Containers, Images and, with `selector`, Selector.

    `cells(obj, status)` gives the cells under `heads` (status: the object's `status`, {} when absent).
    """
    cols = [_col("Name", fmt="name"), *heads, _col("Age"), _col("Containers", priority=1), _col("Images", priority=1)]
    if selector:
        cols.append(_col("Selector", priority=1))

    def row(o: Obj) -> list[Any]:
        names, images = _images(o)
        tail = [_age(o), names, images]
        if selector:
            tail.append(selector_string(o["spec"].get("selector")))
        return [o["metadata"]["name"], *cells(o, o.get("status") or {}), *tail]

    return cols, row


def _ready(o: Obj, st: Obj) -> str:
    return f"{st.get('readyReplicas', 0)}/{o['spec'].get('replicas', 0)}"


def _table_columns(res: Resource) -> tuple[list[Obj], Callable[[Obj], list[Any]]]:
    k = res.kind
    if k == "Deployment":
        return _workload(
            [_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer")],
            lambda o, st: [_ready(o, st), st.get("updatedReplicas", 0), st.get("availableReplicas", 0)],
        )
    if k == "ReplicaSet":
        return _workload(
            [_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer")],
            lambda o, st: [o["spec"].get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0)],
        )
    if k == "StatefulSet":
        return _workload([_col("Ready")], lambda o, st: [_ready(o, st)], selector=False)
    if k == "Pod":
        cols = [_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts"), _col("Age")]
        cols += [
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ]

        def row(o: Obj) -> list[Any]:
            st = o.get("status") or {}
            css = st.get("containerStatuses") or []
            total = len((o.get("spec") or {}).get("containers") or [])
            ready = sum(1 for c in css if c.get("ready"))
            restarts = sum(int(c.get("restartCount", 0)) for c in css)
            return [
                o["metadata"]["name"],
                f"{ready}/{total}",
                pod_phase_text(o),
                str(restarts),
                _age(o),
                st.get("podIP", "<none>"),
                (o.get("spec") or {}).get("nodeName", "<none>"),
                "<none>",
                "<none>",
            ]

        return cols, row
    if k == "Service":
        cols = [
            _col("Name", fmt="name"),
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            _col("Age"),
            _col("Selector", priority=1),
        ]

        def row(o: Obj) -> list[Any]:
            sp = o.get("spec") or {}
            ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in sp.get("ports") or [])
            sel = ",".join(f"{a}={b}" for a, b in sorted((sp.get("selector") or {}).items())) or "<none>"
            return [
                o["metadata"]["name"],
                sp.get("type", "ClusterIP"),
                sp.get("clusterIP", "<none>"),
                "<none>",
                ports or "<none>",
                _age(o),
                sel,
            ]

        return cols, row
    if k == "Secret":
        cols = [_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")]
        return cols, lambda o: [
            o["metadata"]["name"],
            o.get("type", "Opaque"),
            len(o.get("data") or {}),
            _age(o),
        ]
    if k == "Route":
        cols = [
            _col("Name", fmt="name"),
            _col("Host/Port"),
            _col("Path"),
            _col("Services"),
            _col("Port"),
            _col("Termination"),
            _col("Wildcard"),
        ]

        def row(o: Obj) -> list[Any]:
            sp = o.get("spec") or {}
            tls = sp.get("tls") or {}
            term = tls.get("termination", "")
            if term and tls.get("insecureEdgeTerminationPolicy"):
                term += "/" + tls["insecureEdgeTerminationPolicy"]
            port = ((sp.get("port") or {}).get("targetPort")) or "<all>"
            return [
                o["metadata"]["name"],
                sp.get("host", ""),
                sp.get("path", ""),
                (sp.get("to") or {}).get("name", ""),
                str(port),
                term,
                sp.get("wildcardPolicy", "None"),
            ]

        return cols, row
    if k == "Lease":
        cols = [_col("Name", fmt="name"), _col("Holder"), _col("Age")]
        return cols, lambda o: [
            o["metadata"]["name"],
            (o.get("spec") or {}).get("holderIdentity", ""),
            _age(o),
        ]
    if k == "HorizontalPodAutoscaler":
        cols = [
            _col("Name", fmt="name"),
            _col("Reference"),
            _col("Targets"),
            _col("MinPods", "integer"),
            _col("MaxPods", "integer"),
            _col("Replicas", "integer"),
            _col("Age"),
        ]

        def row(o: Obj) -> list[Any]:
            sp = o.get("spec") or {}
            ref = sp.get("scaleTargetRef") or {}
            return [
                o["metadata"]["name"],
                f"{ref.get('kind', '')}/{ref.get('name', '')}",
                "<unknown>",
                sp.get("minReplicas", 1),
                sp.get("maxReplicas", 0),
                (o.get("status") or {}).get("currentReplicas", 0),
                _age(o),
            ]

        return cols, row
    if k == "CronJob":
        cols = [
            _col("Name", fmt="name"),
            _col("Schedule"),
            _col("Timezone"),
            _col("Suspend"),
            _col("Active", "integer"),
            _col("Last Schedule"),
            _col("Age"),
        ]

        def row(o: Obj) -> list[Any]:
            sp, st = o.get("spec") or {}, o.get("status") or {}
            return [
                o["metadata"]["name"],
                sp.get("schedule", ""),
                sp.get("timeZone", "<none>"),
                "True" if sp.get("suspend") else "False",
                len(st.get("active") or []),
                "<none>",
                _age(o),
            ]

        return cols, row
    if k == "Job":
        cols = [_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Duration"), _col("Age")]

        def row(o: Obj) -> list[Any]:
            sp, st = o.get("spec") or {}, o.get("status") or {}
            done = st.get("succeeded", 0)
            return [
                o["metadata"]["name"],
                "Complete" if done >= sp.get("completions", 1) else "Running",
                f"{done}/{sp.get('completions', 1)}",
                "",
                _age(o),
            ]

        return cols, row
    if k == "Namespace":
        cols = [_col("Name", fmt="name"), _col("Status"), _col("Age")]
        return cols, lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", "Active"),
            _age(o),
        ]
    return [_col("Name", fmt="name"), _col("Age")], lambda o: [o["metadata"]["name"], _age(o)]


def to_table(res: Resource, items: list[Obj], rv: int | str, *, with_columns: bool = True) -> Obj:
    """A meta.k8s.io/v1 Table of `items`, rows carrying PartialObjectMetadata (kubectl's default)."""
    cols, row = _table_columns(res)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(rv)},
        "columnDefinitions": cols if with_columns else [],
        "rows": [
            {
                "cells": row(o),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for o in items
        ],
    }
