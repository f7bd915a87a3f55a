"""Endpoints (v1) and EndpointSlices (discovery.k8s.io/v1) of the sandbox's Services, computed on read.

What the endpoints and endpointslice controllers of kube-controller-manager would write
(kubernetes/kubernetes pkg/controller/endpoint, pkg/controller/endpointslice, and
staging/src/k8s.io/endpointslice): for each Service with a selector, the pods in its namespace that
match it, are not terminating and have a pod IP; Ready pods under `subsets[].addresses` (slices:
`conditions.ready: true`), the others under `notReadyAddresses` (`ready: false`). Ports are the
Service's ports resolved to the container port (`targetPort`, by number or by container port name).
A Service with no such pods has an Endpoints object without `subsets` and a slice with `endpoints: []`.
One slice per Service, named `<service>-<5 characters of the Service uid>`, labelled
`kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`.

Read-only: served for get/list (and label/field selectors); writes answer 405.

Boundary: imports no product code.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _target_port(svc_port: Obj, pods: list[Obj]) -> int:
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
    return int(svc_port.get("port", 0))


def backing_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods a Service selects that an endpoints controller lists (IP assigned, not terminating)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    ns = service["metadata"].get("namespace")
    return [
        p
        for p in pods
        if p["metadata"].get("namespace") == ns
        and _matches(selector, p["metadata"].get("labels") or {})
        and (p.get("status") or {}).get("podIP")
        and not p["metadata"].get("deletionTimestamp")
    ]


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid")}


def endpoints_for(service: Obj, pods: list[Obj], rv: int) -> Obj:
    """The v1 Endpoints object of `service`."""
    meta = service["metadata"]
    chosen = backing_pods(service, pods)
    ports = [
        {
            **({"name": p["name"]} if p.get("name") else {}),
            "port": _target_port(p, chosen),
            "protocol": p.get("protocol", "TCP"),
        }
        for p in (service.get("spec") or {}).get("ports") or []
    ]

    def address(pod: Obj) -> Obj:
        return {
            "ip": pod["status"]["podIP"],
            "nodeName": (pod.get("spec") or {}).get("nodeName"),
            "targetRef": _target_ref(pod),
        }

    ready = [address(p) for p in chosen if _ready(p)]
    not_ready = [address(p) for p in chosen if not _ready(p)]
    obj: Obj = {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}),
            "uid": _derived_uid(meta.get("uid", ""), "ep"),
            "resourceVersion": str(rv),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
    }
    if chosen:
        subset: Obj = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subset["ports"] = ports
        obj["subsets"] = [subset]
    return obj


def endpoint_slice_for(service: Obj, pods: list[Obj], rv: int) -> Obj:
    """The discovery.k8s.io/v1 EndpointSlice of `service`."""
    meta = service["metadata"]
    chosen = backing_pods(service, pods)
    name = f"{meta['name']}-{(meta.get('uid') or 'xxxxx').replace('-', '')[:5]}"
    labels = {
        **(meta.get("labels") or {}),
        "kubernetes.io/service-name": meta["name"],
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": name,
            "generateName": f"{meta['name']}-",
            "namespace": meta.get("namespace"),
            "labels": labels,
            "uid": _derived_uid(meta.get("uid", ""), "es"),
            "resourceVersion": str(rv),
            "creationTimestamp": meta.get("creationTimestamp"),
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": _ready(p), "serving": _ready(p), "terminating": False},
                "nodeName": (p.get("spec") or {}).get("nodeName"),
                "targetRef": _target_ref(p),
            }
            for p in chosen
        ],
        "ports": [
            {
                **({"name": p["name"]} if p.get("name") else {}),
                "port": _target_port(p, chosen),
                "protocol": p.get("protocol", "TCP"),
            }
            for p in (service.get("spec") or {}).get("ports") or []
        ],
    }


def _derived_uid(uid: str, tag: str) -> str:
    """A stable uid for a computed object, derived from its Service's uid."""
    return f"{tag}{uid[2:]}" if len(uid) > 2 else uid
