"""The served resource types (`RESOURCES`), their discovery documents, and small API value types.

Discovery follows the apiserver's legacy documents: `/apis` answers an APIGroupList and
`/api/v1`, `/apis/<group>/<version>` an APIResourceList (k8s.io/apimachinery
pkg/apis/meta/v1/types.go); kubectl falls back to these when the answer is plain `application/json`.
"""

from __future__ import annotations

import marshal
import math
from dataclasses import dataclass
from typing import Any, TypeVar

Obj = dict[str, Any]
_T = TypeVar("_T")


def clone(value: _T) -> _T:
    """A deep copy of a JSON-shaped value (dicts, lists, str, int, float, bool, None), equal to what
    ``copy.deepcopy`` makes and about five times faster (marshal): the store copies every object it keeps
    or hands out, and the controller reads every object several times a second.

    Raises:
        ValueError: a value marshal cannot copy (not JSON-shaped).
    """
    marshallable: Any = value
    copied: _T = marshal.loads(marshal.dumps(marshallable))
    return copied

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-litemaas-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    """One served resource type, as listed in discovery."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale"
    generation: bool = False  # metadata.generation bumps on spec changes

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def qualified(self) -> str:
        """`deployments.apps`, as in apiserver messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Deployment.apps`, as in Invalid messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", "namespace", namespaced=False, short_names=("ns",)),
    Resource(
        "", "v1", "pods", "Pod", "pod", short_names=("po",), categories=("all",), subresources=("status",)
    ),
    Resource("", "v1", "secrets", "Secret", "secret"),
    Resource("", "v1", "configmaps", "ConfigMap", "configmap", short_names=("cm",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim",
             short_names=("pvc",), subresources=("status",)),
    Resource(
        "",
        "v1",
        "services",
        "Service",
        "service",
        short_names=("svc",),
        categories=("all",),
        subresources=("status",),
    ),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        "deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=("status", "scale"),
        generation=True,
    ),
    Resource(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        "replicaset",
        short_names=("rs",),
        categories=("all",),
        subresources=("status",),
        generation=True,
    ),
    Resource(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        "statefulset",
        short_names=("sts",),
        categories=("all",),
        subresources=("status",),
        generation=True,
    ),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscaler",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
        generation=True,
    ),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", "lease"),
    Resource(
        "", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", short_names=("sa",), subresources=("token",)
    ),
    Resource("", "v1", "endpoints", "Endpoints", "endpoints", short_names=("ep",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", "role"),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "rolebinding"),
    Resource(
        "route.openshift.io", "v1", "routes", "Route", "route", categories=("all",), subresources=("status",)
    ),
    Resource(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        "cronjob",
        short_names=("cj",),
        categories=("all",),
        subresources=("status",),
        generation=True,
    ),
    Resource(
        "batch", "v1", "jobs", "Job", "job", categories=("all",), subresources=("status",), generation=True
    ),
)

COMPUTED = frozenset({"/endpoints", "discovery.k8s.io/endpointslices"})  # derived on read (endpoints.py)
STREAMING = ("exec", "portforward")  # pods/* WebSocket subresources (streams.py)

BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}


def resource(kind: str) -> Resource:
    """The served Resource for a kind name (`"Deployment"`)."""
    return BY_KIND[kind]


# --------------------------------------------------------------------------------------------------
# Discovery


def _api_resource(res: Resource) -> list[Obj]:
    out = [
        {
            "name": res.plural,
            "singularName": res.singular,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": list(_VERBS),
            **({"shortNames": list(res.short_names)} if res.short_names else {}),
            **({"categories": list(res.categories)} if res.categories else {}),
        }
    ]
    if "status" in res.subresources:
        out.append(
            {
                "name": f"{res.plural}/status",
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if res.key == "/pods":
        for sub, kind in (("exec", "PodExecOptions"), ("portforward", "PodPortForwardOptions")):
            out.append(
                {
                    "name": f"pods/{sub}",
                    "singularName": "",
                    "namespaced": True,
                    "kind": kind,
                    "verbs": ["create", "get"],
                }
            )
    if "token" in res.subresources:
        out.append(
            {
                "name": f"{res.plural}/token",
                "singularName": "",
                "namespaced": True,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            }
        )
    if "scale" in res.subresources:
        out.append(
            {
                "name": f"{res.plural}/scale",
                "singularName": "",
                "namespaced": res.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }
        )
    return out


def resource_list(group: str, version: str) -> Obj | None:
    """The APIResourceList for `group`/`version` ("" for core), or None if nothing is served there."""
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": [entry for r in served for entry in _api_resource(r)],
    }


def group_list() -> Obj:
    """The APIGroupList of the named groups served (the core group is `/api`, not listed here)."""
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in groups.items()
        ],
    }


def parse_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString like `"25%"` or `1`, resolved against `total` (k8s intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1]) * total / 100
        return math.ceil(pct) if round_up else math.floor(pct)
    return int(value or 0)


# --------------------------------------------------------------------------------------------------
# OpenAPI v3 (only what kubectl reads)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root() -> Obj:
    """`GET /openapi/v3`: one entry per served group-version (k8s.io/client-go openapi3 root discovery)."""
    gvs = dict.fromkeys((r.group, r.version) for r in RESOURCES)
    return {
        "paths": {
            _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash=sandbox-{g or 'core'}-{v}"}
            for g, v in gvs
        }
    }


def openapi_v3_document(gv_path: str) -> Obj | None:
    """`GET /openapi/v3/<api/v1 | apis/G/V>`: per resource, the PATCH operation of its item path with its
    `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter; None if not served.

    That is what kubectl 1.32 reads before `apply` (k8s.io/cli-runtime resource/query_param_verifier_v3.go
    `supportsQueryParamV3`): with it, kubectl leaves field validation to the server instead of
    downloading OpenAPI v2 for client-side validation. No schemas: kubectl then builds client-side apply
    patches from its compiled-in types (kubectl apply patcher.go). Deviation: the server does not
    validate unknown fields (`fieldValidation` is accepted and ignored).
    """
    served = [r for r in RESOURCES if _gv_path(r.group, r.version) == gv_path]
    if not served:
        return None
    paths: Obj = {}
    params = [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        for name in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    for r in served:
        ns = "namespaces/{namespace}/" if r.namespaced else ""
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        paths[f"/{gv_path}/{ns}{r.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{r.kind}",
                "parameters": params,
                "requestBody": {
                    "content": {
                        t: {"schema": {"type": "object"}}
                        for t in (
                            "application/apply-patch+yaml",
                            "application/json-patch+json",
                            "application/merge-patch+json",
                        )
                    }
                },
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths}
