"""A Kubernetes API server for the sandbox: real HTTPS on 127.0.0.1, bearer-token auth.

Transport: https with a throw-away CA (`generate_tls`, CA inline in the kubeconfig), because kubectl
sends a kubeconfig's token only to https servers (client-go clientcmd: "only try to read the auth
information if we are secure"); over plain http every kubectl request would be anonymous and get 401.
`KubeApiServer(tls=None)` still serves plain http (daemon `--plain-http`) for clients that need it.
Auth: `Authorization: Bearer <token>` on every path; a missing or wrong token gets a 401 Status. The
admin token may do anything; further tokens (DIR/tokens.json) are authorized by RBAC against the
stored Roles/RoleBindings and denied with the apiserver's 403 Status; every request is appended to
DIR/audit.jsonl (rbac.py).

Role: serve what `kubectl` (v1.32) and the official `kubernetes` Python client need to observe and
change a LiteMaaS deployment: discovery, CRUD + list/watch on a fixed set of resources, the three
patch types, the Deployment `/scale` and `/status` subresources, Kubernetes `Status` errors and
server-side `Table` printing. The Deployment controller lives in `controller.py`; the seeded objects
in `world.py`. This module has no controller logic beyond what an API server does at write time
(defaulting, validation, `metadata.generation` bumps on spec changes).

Boundary: imports no product code (import-linter contract in pyproject.toml). The names, paths and
error shapes follow the real API server, not our product, so a wrong call in the product fails here
as it would on a cluster (the kmock caveat, style.md §3).

Decision on kmock (nolar/kmock 0.8, checked before writing this): not used. It is an aiohttp,
async-first mock whose Kubernetes emulator is by its own description "database-over-http": it does
not merge lists (so no strategic merge patch, which `kubectl set image` sends), does not list the
`/scale` subresource among its URL patterns (which `kubectl scale` uses), and has no
generation/observedGeneration or background processing; it is built around request assertions for
tests rather than a long-running daemon. We would have kept its HTTP plumbing and rewritten every
handler that matters. We use FastAPI (starlette) + uvicorn, already our dependencies, with one
catch-all route and our own dispatcher.

What is served (see `RESOURCES`): core/v1 namespaces, pods (+/exec and /portforward over WebSocket,
streams.py), secrets, services, configmaps, serviceaccounts, endpoints (computed, read-only,
endpoints.py); apps/v1 deployments (+/scale, +/status), replicasets, statefulsets; autoscaling/v2
horizontalpodautoscalers; coordination.k8s.io/v1 leases; route.openshift.io/v1 routes;
discovery.k8s.io/v1 endpointslices (computed, read-only); rbac.authorization.k8s.io/v1 roles,
rolebindings. Sandbox-only: `GET|POST /sandbox/v1/faults` (admin token; streams.FaultRegistry:
drop port-forwards, kill or drop execs, optionally after N bytes).
Watch: `?watch=true` streams newline-delimited `{"type": ADDED|MODIFIED|DELETED, "object": ...}` for
events after `resourceVersion` (none or "0": synthetic ADDED for current objects first;
`sendInitialEvents=true`: the same, then a BOOKMARK with `k8s.io/initial-events-end`), honours
`labelSelector`, `fieldSelector` (any dotted path, `=`/`==`/`!=`) and `timeoutSeconds`; a
resourceVersion older than the kept event log gets an ERROR event with a 410 Expired Status.
Writes: PUT and PATCH take `metadata.resourceVersion` as a precondition when present (409 Conflict);
on the main resource `status` is ignored (use `/status`); a spec change bumps `metadata.generation`;
`dryRun=All` validates without storing. List items carry no `kind`/`apiVersion` (as a real apiserver).
Not served: server-side apply (`application/apply-patch+yaml` → 415), protobuf (always JSON),
aggregated discovery (kubectl falls back to the legacy documents when the answer is plain
`application/json`), OpenAPI (404; kubectl get/set image/scale/rollout do not need it),
`limit`/`continue` paging (everything in one page), events, watch of the computed endpoints,
ClusterRoles, plain SPDY upgrades (kubectl's port-forward is served when it tunnels SPDY/3.1 inside
a WebSocket, spdy.py, as kubectl 1.31+ does by default).

Sources: Kubernetes API concepts (watch, resourceVersion semantics, Status), kubectl behaviour in
anchors.md §4.2-§4.4, and the apiserver's message wording for NotFound/Conflict/Invalid.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import math
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonpatch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.websockets import WebSocket

from litemaas_state.sandbox import endpoints, rbac, spdy, streams

log = logging.getLogger(__name__)

Obj = dict[str, Any]

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
    Resource("", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", short_names=("sa",)),
    Resource("", "v1", "endpoints", "Endpoints", "endpoints", short_names=("ep",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", "role"),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "rolebinding"),
    Resource(
        "route.openshift.io", "v1", "routes", "Route", "route", categories=("all",), subresources=("status",)
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
# Errors as Kubernetes Status objects


class ApiError(Exception):
    """An error answered as a `Status` object with HTTP code `code`."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{res.qualified} "{name}" not found',
        {"name": name, "group": res.group, "kind": res.plural},
    )


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": res.group, "kind": res.plural},
    )


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{res.qualified} "{name}" already exists',
        {"name": name, "group": res.group, "kind": res.plural},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


@dataclass(frozen=True)
class FieldError:
    """One cause of an Invalid (422) answer, in apiserver wording."""

    field: str
    reason: str  # FieldValueInvalid | FieldValueRequired | FieldValueDuplicate | FieldValueForbidden
    detail: str

    @staticmethod
    def invalid(field: str, value: Any, why: str) -> FieldError:
        shown = json.dumps(value) if isinstance(value, str) else value
        return FieldError(field, "FieldValueInvalid", f"Invalid value: {shown}: {why}")

    @staticmethod
    def required(field: str) -> FieldError:
        return FieldError(field, "FieldValueRequired", "Required value")

    @staticmethod
    def duplicate(field: str, value: Any) -> FieldError:
        return FieldError(field, "FieldValueDuplicate", f"Duplicate value: {json.dumps(value)}")


def invalid(qualified_kind: str, name: str, errors: list[FieldError]) -> ApiError:
    kind, _, group = qualified_kind.partition(".")
    message = f'{qualified_kind} "{name}" is invalid: ' + ", ".join(f"{e.field}: {e.detail}" for e in errors)
    causes = [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", message, {"name": name, "group": group, "kind": kind, "causes": causes})


# --------------------------------------------------------------------------------------------------
# Selectors

_LABEL = r"[A-Za-z0-9][-A-Za-z0-9_./]*"


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse a label selector string (`a=b,c!=d,e in (f,g),!h`) into (key, op, values) requirements.

    Raises ApiError 400 on a syntax error. Source: k8s.io/apimachinery labels.Parse grammar.
    """
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        if m := re.fullmatch(rf"({_LABEL})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)", part):
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append((m.group(1), op, (m.group(3),)))
        elif m := re.fullmatch(rf"({_LABEL})\s+(in|notin)\s*\(([^)]*)\)", part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), values))
        elif m := re.fullmatch(rf"(!?)\s*({_LABEL})", part):
            reqs.append((m.group(2), "!" if m.group(1) else "exists", ()))
        else:
            raise bad_request(f'unable to parse requirement: found "{part}"')
    return reqs


def labels_match(labels: dict[str, str], reqs: list[tuple[str, str, tuple[str, ...]]]) -> bool:
    """Whether `labels` satisfy every requirement."""
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """Parse `metadata.name=x,status.phase!=Running` into (path, equal, value) requirements."""
    reqs = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request(f'invalid field selector: "{part}"')
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return reqs


def fields_match(obj: Obj, reqs: list[tuple[str, bool, str]]) -> bool:
    for path, equal, value in reqs:
        cur: Any = obj
        for step in path.split("."):
            cur = cur.get(step) if isinstance(cur, dict) else None
        found = "" if cur is None else str(cur)
        if (found == value) != equal:
            return False
    return True


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector object (`matchLabels`/`matchExpressions`) as a selector string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{expr['key']} {op.lower()} ({','.join(expr.get('values') or [])})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append(f"!{expr['key']}")
    return ",".join(parts)


# --------------------------------------------------------------------------------------------------
# Patches

# Merge keys of the strategic merge patch for the lists the sandbox serves (k8s.io/api struct tags).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
_MERGE_PRIMITIVES = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (`application/merge-patch+json`)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict) and "$patch" not in i), None)
        if sample is None:
            sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch (`application/strategic-merge-patch+json`).

    Lists of containers, initContainers, env, volumes, ... merge by their merge key (`name` etc.);
    other lists are replaced. Directives: `$patch: replace|delete` (map and list element),
    `$setElementOrder/<list>`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`. This is the subset
    kubectl's `CreateTwoWayMergePatch` output uses (`kubectl set image`, anchors.md §4.2).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _ordered(field, result[field], order)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _ordered(field: str, current: list[Any], order: list[Any]) -> list[Any]:
    """`$setElementOrder/<field>`: items named in `order` first, in that order; others keep their place after."""
    mk = _merge_key(field, current)

    def identity(item: Any) -> Any:
        return item.get(mk) if mk and isinstance(item, dict) else json.dumps(item, sort_keys=True)

    rank = {identity(o): i for i, o in enumerate(order)}
    return sorted(current, key=lambda item: rank.get(identity(item), len(rank)))


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current = copy.deepcopy(current) if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in _MERGE_PRIMITIVES:
        return current + [v for v in patch if v not in current]
    mk = _merge_key(field, patch)
    if not mk or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    for item in patch:
        key = item.get(mk)
        idx = next((i for i, c in enumerate(current) if isinstance(c, dict) and c.get(mk) == key), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                current.pop(idx)
        elif idx is not None:
            current[idx] = strategic_merge_patch(current[idx], item)
        else:
            current.append(strategic_merge_patch({}, item))
    return current


def apply_patch(content_type: str, target: Obj, body: bytes, name: str) -> Obj:
    """Apply a PATCH body of the given content type to `target`; raises ApiError 400/415/422."""
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    if content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            return jsonpatch.apply_patch(target, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
    if not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal non-object into Go value of type map[string]interface {}")
    if content_type == "application/merge-patch+json":
        return merge_patch(target, patch)
    if content_type == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json "
        f"(got {content_type!r} for {name!r}; server-side apply is not implemented by the sandbox)",
    )


# --------------------------------------------------------------------------------------------------
# Admission: defaulting and validation at write time


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image") or "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
            c.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})


def _validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(spec, dict):
        return [FieldError.required(path)]
    containers = spec.get("containers")
    if not containers:
        errors.append(FieldError.required(f"{path}.containers"))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            where = f"{path}.{key}[{i}]"
            if not isinstance(c, dict):
                errors.append(FieldError.required(where))
                continue
            name = c.get("name")
            if not name:
                errors.append(FieldError.required(f"{where}.name"))
            elif name in seen:
                errors.append(FieldError.duplicate(f"{where}.name", name))
            else:
                seen.add(name)
            image = c.get("image")
            if not isinstance(image, str) or not image.strip():
                errors.append(FieldError.required(f"{where}.image"))
            elif image != image.strip():
                errors.append(
                    FieldError.invalid(
                        f"{where}.image", image, "must not have leading or trailing whitespace"
                    )
                )
    return errors


def _int_field(value: Any, field: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field {field} of type int32"
        )


def drop_nulls(value: Any) -> Any:
    """Remove JSON nulls from maps, as decoding into typed Go structs does (e.g. kubectl's
    `"creationTimestamp": null` in a pod template sent by `rollout undo`)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def admit_workload(res: Resource, old: Obj | None, new: Obj) -> None:
    """Default and validate a Deployment/ReplicaSet/StatefulSet as the apiserver does; raises ApiError 422."""
    name = new["metadata"]["name"]
    for part in ("metadata", "spec"):
        if isinstance(new.get(part), dict):
            new[part] = drop_nulls(new[part])
    spec = new.get("spec")
    if not isinstance(spec, dict):
        raise invalid(res.qualified_kind, name, [FieldError.required("spec")])
    _int_field(spec.get("replicas"), "spec.replicas")
    spec.setdefault("replicas", 1)
    if res.kind == "Deployment":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate"})
        if spec["strategy"].get("type", "RollingUpdate") == "RollingUpdate":
            spec["strategy"]["type"] = "RollingUpdate"
            ru = spec["strategy"].setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _default_pod_spec(template["spec"])
    errors: list[FieldError] = []
    if spec["replicas"] < 0:
        errors.append(
            FieldError.invalid("spec.replicas", spec["replicas"], "must be greater than or equal to 0")
        )
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        errors.append(FieldError.required("spec.selector"))
    elif isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not labels_match(labels, parse_label_selector(selector_string(selector))):
            errors.append(
                FieldError.invalid(
                    "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
    if not isinstance(template, dict):
        errors.append(FieldError.required("spec.template"))
    else:
        errors += _validate_pod_spec(template.get("spec"), "spec.template.spec")
    for field in ("revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds"):
        value = spec.get(field)
        _int_field(value, f"spec.{field}")
        if isinstance(value, int) and value < 0:
            errors.append(FieldError.invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    pds = spec.get("progressDeadlineSeconds")
    if res.kind == "Deployment" and isinstance(pds, int) and pds <= (spec.get("minReadySeconds") or 0):
        errors.append(
            FieldError.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
        )
    if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
        errors.append(FieldError.invalid("spec.selector", spec.get("selector"), "field is immutable"))
    if errors:
        raise invalid(res.qualified_kind, name, errors)


def admit_lease(res: Resource, old: Obj | None, new: Obj) -> None:
    spec = new.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    _int_field(duration, "spec.leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        raise invalid(
            res.qualified_kind,
            new["metadata"]["name"],
            [FieldError.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")],
        )


def admit_hpa(res: Resource, old: Obj | None, new: Obj) -> None:
    spec = new.get("spec") or {}
    errors = []
    if not spec.get("scaleTargetRef"):
        errors.append(FieldError.required("spec.scaleTargetRef"))
    if not isinstance(spec.get("maxReplicas"), int) or spec["maxReplicas"] < 1:
        errors.append(
            FieldError.invalid("spec.maxReplicas", spec.get("maxReplicas"), "must be greater than 0")
        )
    spec.setdefault("minReplicas", 1)
    if errors:
        raise invalid(res.qualified_kind, new["metadata"]["name"], errors)


def admit_secret(res: Resource, old: Obj | None, new: Obj) -> None:
    string_data = new.pop("stringData", None) or {}
    data = new.setdefault("data", {})
    for k, v in string_data.items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    new.setdefault("type", "Opaque")


ADMISSION: dict[str, Callable[[Resource, Obj | None, Obj], None]] = {
    "apps/deployments": admit_workload,
    "apps/replicasets": admit_workload,
    "apps/statefulsets": admit_workload,
    "coordination.k8s.io/leases": admit_lease,
    "autoscaling/horizontalpodautoscalers": admit_hpa,
    "/secrets": admit_secret,
}


# --------------------------------------------------------------------------------------------------
# The object store


@dataclass(frozen=True)
class Event:
    rv: int
    res_key: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj


class Store:
    """In-memory objects with a global, monotonically increasing resourceVersion and an event log.

    Thread-safe (one re-entrant lock); every method returns deep copies. Writes through
    `create`/`replace`/`delete` run admission (defaulting, validation, generation bumps) as the
    apiserver does; `mutate` is the controller's door (no admission, generation still bumped).
    """

    MAX_EVENTS = 50_000

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._rv = 0
        self._events: list[Event] = []
        self._event_rvs: list[int] = []
        self._floor = 0  # events with rv <= floor were dropped from the log

    # -- internals
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, res: Resource, type_: str, obj: Obj) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self._events.append(Event(rv, res.key, type_, copy.deepcopy(obj)))
        self._event_rvs.append(rv)
        if len(self._events) > self.MAX_EVENTS:
            cut = len(self._events) // 2
            self._floor = self._event_rvs[cut - 1]
            del self._events[:cut]
            del self._event_rvs[:cut]

    @staticmethod
    def _bump_generation(res: Resource, old: Obj, new: Obj) -> None:
        if res.generation:
            gen = int(old["metadata"].get("generation") or 1)
            if old.get("spec") != new.get("spec"):
                gen += 1
            new["metadata"]["generation"] = gen

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    # -- reads
    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get((res.key, namespace if res.namespaced else "", name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def find(self, res: Resource, namespace: str, name: str) -> Obj | None:
        try:
            return self.get(res, namespace, name)
        except ApiError:
            return None

    def select(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], int]:
        lreqs = parse_label_selector(label_selector) if label_selector else []
        freqs = parse_field_selector(field_selector) if field_selector else []
        with self.lock:
            items = [
                copy.deepcopy(o)
                for (key, ns, _), o in sorted(self._objects.items())
                if key == res.key
                and (namespace is None or not res.namespaced or ns == namespace)
                and labels_match(o["metadata"].get("labels") or {}, lreqs)
                and fields_match(o, freqs)
            ]
            return items, self._rv

    def events_after(self, rv: int) -> tuple[list[Event], bool]:
        """Events with resourceVersion > rv, and whether rv is too old (410 Expired)."""
        with self.lock:
            if rv < self._floor:
                return [], True
            i = bisect_right(self._event_rvs, rv)
            return self._events[i:], False

    # -- writes
    def create(self, res: Resource, obj: Obj, *, dry_run: bool = False) -> Obj:
        new = copy.deepcopy(obj)
        meta = new.setdefault("metadata", {})
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise invalid(res.qualified_kind, "", [FieldError.required("metadata.name")])
        ns = meta.get("namespace", "") if res.namespaced else ""
        if res.namespaced and not ns:
            raise invalid(res.qualified_kind, meta["name"], [FieldError.required("metadata.namespace")])
        if not res.namespaced:
            meta.pop("namespace", None)
        with self.lock:
            key = (res.key, ns, meta["name"])
            if key in self._objects:
                raise already_exists(res, meta["name"])
            if res.namespaced and (resource("Namespace").key, "", ns) not in self._objects:
                raise ApiError(
                    404,
                    "NotFound",
                    f'namespaces "{ns}" not found',
                    {"name": ns, "group": "", "kind": "namespaces"},
                )
            if admit := ADMISSION.get(res.key):
                admit(res, None, new)
                meta = new["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta.setdefault("creationTimestamp", now_rfc3339())
            if res.generation:
                meta["generation"] = 1
            if dry_run:
                meta["resourceVersion"] = str(self._rv)
                return new
            meta["resourceVersion"] = self._next_rv()
            self._objects[key] = new
            self._emit(res, "ADDED", new)
            return copy.deepcopy(new)

    def replace(
        self,
        res: Resource,
        namespace: str,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Update an object (PUT or the result of a PATCH).

        `obj.metadata.resourceVersion`, when set, is a precondition (409 Conflict if stale).
        On the main resource, `status` is kept from the stored object when the resource has a
        status subresource; on `subresource="status"` only `status` is taken from `obj`.
        """
        ns = namespace if res.namespaced else ""
        with self.lock:
            old = self._objects.get((res.key, ns, name))
            if old is None:
                raise not_found(res, name)
            meta_in = obj.get("metadata") or {}
            if meta_in.get("name", name) != name:
                raise bad_request(
                    f"the name of the object ({meta_in.get('name')}) does not match the name on the URL ({name})"
                )
            expected = meta_in.get("resourceVersion")
            if expected and str(expected) != old["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            if subresource == "status":
                new = copy.deepcopy(old)
                new["status"] = copy.deepcopy(obj.get("status"))
            else:
                new = copy.deepcopy(obj)
                if "status" in res.subresources:
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                    else:
                        new.pop("status", None)
                meta = new.setdefault("metadata", {})
                for keep in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"):
                    if keep in old["metadata"]:
                        meta[keep] = old["metadata"][keep]
                meta.pop("generation", None)
                if admit := ADMISSION.get(res.key):
                    admit(res, old, new)
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            self._bump_generation(res, old, new)
            if new == old or dry_run:
                return copy.deepcopy(new)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[(res.key, ns, name)] = new
            self._emit(res, "MODIFIED", new)
            return copy.deepcopy(new)

    def mutate(self, res: Resource, namespace: str, name: str, fn: Callable[[Obj], None]) -> Obj | None:
        """Controller write: apply `fn` to a copy and store it if it changed. None if the object is gone."""
        ns = namespace if res.namespaced else ""
        with self.lock:
            old = self._objects.get((res.key, ns, name))
            if old is None:
                return None
            new = copy.deepcopy(old)
            fn(new)
            self._bump_generation(res, old, new)
            if new == old:
                return copy.deepcopy(old)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[(res.key, ns, name)] = new
            self._emit(res, "MODIFIED", new)
            return copy.deepcopy(new)

    def delete(
        self,
        res: Resource,
        namespace: str,
        name: str,
        *,
        expected_rv: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        ns = namespace if res.namespaced else ""
        with self.lock:
            old = self._objects.get((res.key, ns, name))
            if old is None:
                raise not_found(res, name)
            if expected_rv and expected_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            if dry_run:
                return copy.deepcopy(old)
            del self._objects[(res.key, ns, name)]
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            self._emit(res, "DELETED", gone)
            return gone


# --------------------------------------------------------------------------------------------------
# Server-side printing (Table), as `kubectl get` asks for it


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


def _table_columns(res: Resource) -> tuple[list[Obj], Callable[[Obj], list[Any]]]:
    k = res.kind
    if k == "Deployment":
        cols = [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
        ]
        cols += [
            _col("Age"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ]

        def row(o: Obj) -> list[Any]:
            st = o.get("status") or {}
            names, images = _images(o)
            ready = f"{st.get('readyReplicas', 0)}/{o['spec'].get('replicas', 0)}"
            sel = selector_string(o["spec"].get("selector"))
            return [
                o["metadata"]["name"],
                ready,
                st.get("updatedReplicas", 0),
                st.get("availableReplicas", 0),
                _age(o),
                names,
                images,
                sel,
            ]

        return cols, row
    if k in ("ReplicaSet",):
        cols = [
            _col("Name", fmt="name"),
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
        ]
        cols += [
            _col("Age"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ]

        def row(o: Obj) -> list[Any]:
            st = o.get("status") or {}
            names, images = _images(o)
            sel = selector_string(o["spec"].get("selector"))
            return [
                o["metadata"]["name"],
                o["spec"].get("replicas", 0),
                st.get("replicas", 0),
                st.get("readyReplicas", 0),
                _age(o),
                names,
                images,
                sel,
            ]

        return cols, row
    if k == "StatefulSet":
        cols = [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Age"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
        ]

        def row(o: Obj) -> list[Any]:
            st = o.get("status") or {}
            names, images = _images(o)
            return [
                o["metadata"]["name"],
                f"{st.get('readyReplicas', 0)}/{o['spec'].get('replicas', 0)}",
                _age(o),
                names,
                images,
            ]

        return cols, row
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


def _resource_list(group: str, version: str) -> Obj | None:
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


def _group_list() -> Obj:
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


# --------------------------------------------------------------------------------------------------
# HTTP


def _json(body: Obj, code: int = 200) -> Response:
    return Response(content=json.dumps(body), status_code=code, media_type="application/json")


def _strip_list_item(obj: Obj) -> Obj:
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def to_scale(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment/ReplicaSet/StatefulSet."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_string(obj["spec"].get("selector")),
        },
    }


class KubeApi:
    """The request dispatcher: auth, RBAC, audit, routing, verbs. One instance per server.

    runtime: where pods' port-forwards and execs reach (streams.PodRuntime); None → every port is
    refused and every command is not found. state_dir: where DIR/tokens.json is read and
    DIR/audit.jsonl written (rbac.py); None → admin token only, no audit log.
    """

    WATCH_POLL_S = 0.05

    def __init__(
        self,
        store: Store,
        token: str,
        *,
        runtime: streams.PodRuntime | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.stopping = False
        self.runtime = runtime or streams.PodRuntime()
        self.faults = streams.FaultRegistry()
        self.auth = rbac.Authenticator(token, state_dir / "tokens.json" if state_dir else None)
        self.audit = rbac.AuditLog(state_dir / "audit.jsonl" if state_dir else None)

    def app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.api_route(
            "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
        )
        async def dispatch(request: Request, path: str) -> Response:
            return await self.handle(request)

        @app.websocket("/{path:path}")
        async def upgrade(websocket: WebSocket, path: str) -> None:
            await self.handle_websocket(websocket)

        return app

    def _authorize(self, user: rbac.User, info: rbac.RequestInfo) -> None:
        """Raise the apiserver's 403 unless RBAC allows `info` for `user`."""
        if user.admin or not info.is_resource:
            return
        roles: list[Obj] = []
        bindings: list[Obj] = []
        if info.namespace:
            roles, _ = self.store.select(resource("Role"), info.namespace)
            bindings, _ = self.store.select(resource("RoleBinding"), info.namespace)
        if not rbac.authorize(user, info, roles, bindings):
            message, details = rbac.forbidden_status(user, info)
            raise ApiError(403, "Forbidden", message, details)

    async def handle(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        info = rbac.request_info(request.method, path, dict(request.query_params))
        user = self.auth.authenticate(request.headers.get("authorization", ""))
        if user is None:
            self.audit.record(None, info, 401)
            return _json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
        try:
            if path.startswith("/sandbox/"):
                response = await self._sandbox(request, path, user)
            else:
                self._authorize(user, info)
                response = await self._route(request)
        except ApiError as exc:
            response = _json(exc.status(), exc.code)
        except Exception as exc:  # a bug in the sandbox: answer like an apiserver would, and log it
            log.exception("internal error on %s %s", request.method, request.url.path)
            response = _json(ApiError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)
        self.audit.record(user, info, response.status_code)
        return response

    async def _sandbox(self, request: Request, path: str, user: rbac.User) -> Response:
        """`/sandbox/v1/faults` (admin token only): GET → open streams; POST {"action", "after_bytes"}."""
        if not user.admin:
            raise ApiError(
                403,
                "Forbidden",
                f'forbidden: User "{user.name}" cannot {request.method.lower()} path "{path}"',
            )
        if path != "/sandbox/v1/faults":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if request.method == "GET":
            return _json({"open": self.faults.counts()})
        if request.method != "POST":
            raise self._not_allowed(request.method)
        body = await self._body(request)
        after = body.get("after_bytes")
        if after is not None and (not isinstance(after, int) or after < 0):
            raise bad_request("after_bytes must be a non-negative integer")
        try:
            return _json(self.faults.apply(str(body.get("action")), after))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc

    async def handle_websocket(self, ws: WebSocket) -> None:
        """pods/{name}/exec and pods/{name}/portforward upgrades (streams.py); anything else is refused."""
        path = ws.url.path.rstrip("/")
        info = rbac.request_info("GET", path, dict(ws.query_params), websocket=True)
        user = self.auth.authenticate(ws.headers.get("authorization", ""))
        if user is None:
            self.audit.record(None, info, 401)
            await ws.send_denial_response(_json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401))
            return
        try:
            self._authorize(user, info)
            if not (
                info.is_resource
                and info.api_group == ""
                and info.api_version == "v1"
                and info.resource == "pods"
                and info.name
                and info.subresource in STREAMING
            ):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            pod = self.store.get(resource("Pod"), info.namespace, info.name)
            if not (pod.get("spec") or {}).get("nodeName"):
                raise bad_request(f"pod {info.name} does not have a host assigned")
            q = ws.query_params
            tunnelled = spdy.PROTOCOL in streams.offered_protocols(ws)
            if info.subresource == "portforward":
                ports = [] if tunnelled else self._ports(q.getlist("ports") + q.getlist("port"))
                if (pod.get("status") or {}).get("phase") != "Running":
                    raise ApiError(500, "InternalError", f'pod not found ("{info.name}_{info.namespace}")')
                served: tuple[str, ...] = (spdy.PROTOCOL, *streams.PORTFORWARD_PROTOCOLS)
            else:
                container = self._exec_container(pod, q.get("container"))
                states = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
                if "running" not in ((states.get(container) or {}).get("state") or {}):
                    raise ApiError(500, "InternalError", f'container not found ("{container}")')
                command = q.getlist("command")
                if not command:
                    raise bad_request("you must specify at least 1 command")
                served = streams.EXEC_PROTOCOLS
            protocol = streams.choose_protocol(streams.offered_protocols(ws), served)
            if protocol is None or (protocol == "" and info.subresource == "exec"):
                raise ApiError(
                    403,
                    "Forbidden",
                    f"unable to upgrade: requested protocol(s) are not supported: "
                    f"{streams.offered_protocols(ws)}; supports {list(served)}",
                )
        except ApiError as exc:
            self.audit.record(user, info, exc.code)
            await ws.send_denial_response(_json(exc.status(), exc.code))
            return
        self.audit.record(user, info, 101)
        if info.subresource == "portforward" and protocol == spdy.PROTOCOL:
            await spdy.serve_spdy_portforward(ws, pod, self.runtime, self.faults)
        elif info.subresource == "portforward":
            await streams.serve_portforward(ws, protocol, pod, ports, self.runtime, self.faults)
        else:
            opts = {k: q.get(k, "") in ("1", "true", "True") for k in ("stdin", "stdout", "stderr", "tty")}
            await streams.serve_exec(ws, protocol, pod, command, opts, self.runtime, self.faults)

    @staticmethod
    def _ports(values: list[str]) -> list[int]:
        ports: list[int] = []
        for value in values:
            for text in value.split(","):
                try:
                    port = int(text)
                except ValueError as exc:
                    raise bad_request(f"unable to parse {text!r} as a port: invalid syntax") from exc
                if not 0 < port < 65536:
                    raise bad_request(f"port {port} must be > 0 and < 65536")
                ports.append(port)
        if not ports:
            raise bad_request('query parameter "port" is required')
        return ports

    @staticmethod
    def _exec_container(pod: Obj, wanted: str | None) -> str:
        """The container an exec runs in (apiserver ExecLocation: required when the pod has several)."""
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        name = pod["metadata"]["name"]
        if not wanted:
            if len(names) == 1:
                return names[0]
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
            )
        if wanted not in names:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted

    async def _route(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        method = request.method
        if method == "GET":
            if path == "/version":
                return _json(SERVER_VERSION)
            if path in ("/healthz", "/readyz", "/livez"):
                return Response("ok", media_type="text/plain")
            if path == "/api":
                return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
            if path == "/apis":
                return _json(_group_list())
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[:1] == ["apis"] and len(parts) == 2 and any(r.group == parts[1] for r in RESOURCES):
            g = next(x for x in _group_list()["groups"] if x["name"] == parts[1])
            return _json({"kind": "APIGroup", "apiVersion": "v1", **g})
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            listing = _resource_list(group, version)
            if listing is None or method != "GET":
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(listing)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        res = BY_PATH.get((group, version, rest[0]))
        if res is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not res.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if res.key == "/pods" and sub in STREAMING:
            raise bad_request("Upgrade request required")
        if res.key in COMPUTED:
            return self._computed(request, res, namespace, name)
        if sub is not None and sub not in res.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = namespace or ""
        q = request.query_params
        dry_run = q.get("dryRun") == "All"
        table = "as=Table" in request.headers.get("accept", "")
        if name is None:
            if method == "GET":
                if q.get("watch") in ("true", "1"):
                    return self._watch(res, namespace, request, table)
                items, rv = self.store.select(
                    res, namespace, q.get("labelSelector", ""), q.get("fieldSelector", "")
                )
                if table:
                    return _json(to_table(res, items, rv))
                return _json(
                    {
                        "kind": f"{res.kind}List",
                        "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(rv)},
                        "items": [_strip_list_item(i) for i in items],
                    }
                )
            if method == "POST":
                body = await self._body(request)
                meta = body.setdefault("metadata", {})
                if res.namespaced:
                    if meta.get("namespace", ns) != ns:
                        raise bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request"
                        )
                    meta["namespace"] = ns
                return _json(self.store.create(res, body, dry_run=dry_run), 201)
            raise self._not_allowed(method)
        if sub == "scale":
            return await self._scale(request, res, ns, name, dry_run)
        if method == "GET":
            obj = self.store.get(res, ns, name)
            if table:
                return _json(to_table(res, [obj], obj["metadata"]["resourceVersion"]))
            return _json(obj)
        if method == "PUT":
            body = await self._body(request)
            return _json(self.store.replace(res, ns, name, body, subresource=sub, dry_run=dry_run))
        if method == "PATCH":
            raw = await request.body()
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            old = self.store.get(res, ns, name)
            patched = apply_patch(ctype, old, raw, name)
            if not isinstance(patched, dict):
                raise bad_request("patch result is not an object")
            if (patched.get("metadata") or {}).get("resourceVersion") == old["metadata"]["resourceVersion"]:
                # No precondition in the patch: apply to whatever is current (the apiserver retries internally).
                patched["metadata"].pop("resourceVersion", None)
            return _json(self.store.replace(res, ns, name, patched, subresource=sub, dry_run=dry_run))
        if method == "DELETE":
            if sub is not None:
                raise self._not_allowed(method)
            raw = await request.body()
            expected = None
            if raw:
                try:
                    opts = json.loads(raw)
                except ValueError as exc:
                    raise bad_request(f"error decoding DeleteOptions: {exc}") from exc
                expected = ((opts or {}).get("preconditions") or {}).get("resourceVersion")
            gone = self.store.delete(res, ns, name, expected_rv=expected, dry_run=dry_run)
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": res.group,
                        "kind": res.plural,
                        "uid": gone["metadata"]["uid"],
                    },
                }
            )
        raise self._not_allowed(method)

    def _computed(self, request: Request, res: Resource, namespace: str | None, name: str | None) -> Response:
        """GET/list of Endpoints or EndpointSlices, derived from Services and Pods (endpoints.py)."""
        if request.method != "GET":
            raise self._not_allowed(request.method)
        q = request.query_params
        services, rv = self.store.select(resource("Service"), namespace)
        pods, _ = self.store.select(resource("Pod"), namespace)
        make = endpoints.endpoints_for if res.kind == "Endpoints" else endpoints.endpoint_slice_for
        objs = [make(svc, pods, rv) for svc in services]
        if name is not None:
            found = next((o for o in objs if o["metadata"]["name"] == name), None)
            if found is None:
                raise not_found(res, name)
            return _json(found)
        lreqs = parse_label_selector(q.get("labelSelector", ""))
        freqs = parse_field_selector(q.get("fieldSelector", ""))
        items = [
            o
            for o in objs
            if labels_match(o["metadata"].get("labels") or {}, lreqs) and fields_match(o, freqs)
        ]
        if "as=Table" in request.headers.get("accept", ""):
            return _json(to_table(res, items, rv))
        return _json(
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": [_strip_list_item(i) for i in items],
            }
        )

    @staticmethod
    def _not_allowed(method: str) -> ApiError:
        return ApiError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({method})",
        )

    @staticmethod
    async def _body(request: Request) -> Obj:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype not in ("application/json", ""):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: application/json (got {ctype})",
            )
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        return body

    async def _scale(self, request: Request, res: Resource, ns: str, name: str, dry_run: bool) -> Response:
        """GET/PUT/PATCH of .../{name}/scale (autoscaling/v1 Scale), as `kubectl scale` uses it (anchors.md §4.4)."""
        method = request.method
        obj = self.store.get(res, ns, name)
        current = to_scale(obj)
        if method == "GET":
            return _json(current)
        if method == "PUT":
            desired = await self._body(request)
        elif method == "PATCH":
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            desired = apply_patch(ctype, current, await request.body(), name)
        else:
            raise self._not_allowed(method)
        expected = (desired.get("metadata") or {}).get("resourceVersion")
        replicas = (desired.get("spec") or {}).get("replicas", 0)
        _int_field(replicas, "spec.replicas")
        if replicas < 0:
            raise invalid(
                "Scale.autoscaling",
                name,
                [FieldError.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        with self.store.lock:
            obj = self.store.get(res, ns, name)
            if expected and str(expected) != obj["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            obj["spec"]["replicas"] = replicas
            obj["metadata"].pop("resourceVersion", None)
            updated = self.store.replace(res, ns, name, obj, dry_run=dry_run)
        return _json(to_scale(updated))

    def _watch(self, res: Resource, namespace: str | None, request: Request, table: bool) -> Response:
        q = request.query_params
        lsel = parse_label_selector(q.get("labelSelector", ""))
        fsel = parse_field_selector(q.get("fieldSelector", ""))
        rv_text = q.get("resourceVersion", "")
        send_initial = q.get("sendInitialEvents") == "true"
        timeout_s = float(q.get("timeoutSeconds") or 1800)
        try:
            start_rv = int(rv_text) if rv_text not in ("", "0") else None
        except ValueError as exc:
            raise bad_request(f"invalid resourceVersion {rv_text!r}") from exc

        def matches(obj: Obj) -> bool:
            if res.namespaced and namespace is not None and obj["metadata"].get("namespace") != namespace:
                return False
            return labels_match(obj["metadata"].get("labels") or {}, lsel) and fields_match(obj, fsel)

        def line(type_: str, obj: Obj) -> bytes:
            if table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = to_table(res, [obj], obj["metadata"]["resourceVersion"])
            return (json.dumps({"type": type_, "object": obj}) + "\n").encode()

        async def stream() -> AsyncIterator[bytes]:
            last = start_rv
            if last is None or send_initial:
                items, rv = self.store.select(
                    res, namespace, q.get("labelSelector", ""), q.get("fieldSelector", "")
                )
                for item in items:
                    yield line("ADDED", item)
                if send_initial:
                    bookmark = {
                        "kind": res.kind,
                        "apiVersion": res.api_version,
                        "metadata": {
                            "resourceVersion": str(rv),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }
                    yield line("BOOKMARK", bookmark)
                last = rv if last is None or send_initial else last
            deadline = time.monotonic() + timeout_s
            while not self.stopping and time.monotonic() < deadline:
                events, expired = self.store.events_after(last)
                if expired:
                    gone = ApiError(410, "Expired", f"too old resource version: {last}").status()
                    yield line("ERROR", gone)
                    return
                for ev in events:
                    last = ev.rv
                    if ev.res_key == res.key and matches(ev.obj):
                        yield line(ev.type, ev.obj)
                if not events:
                    await asyncio.sleep(self.WATCH_POLL_S)

        return StreamingResponse(stream(), media_type="application/json")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throw-away CA and the server certificate it signed (SAN IP:127.0.0.1, DNS:localhost)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def generate_tls(directory: Path) -> TlsFiles:
    """Make a CA and a server certificate for 127.0.0.1 in `directory` with the `openssl` CLI (P-256, 30 days).

    Why TLS at all: kubectl reads a kubeconfig's credentials only when the server URL is https
    (client-go clientcmd `ClientConfig`: "only try to read the auth information if we are secure"), so
    bearer-token auth cannot be tested with kubectl over plain http.
    Raises RuntimeError if `openssl` is missing or fails.
    """
    if shutil.which("openssl") is None:
        raise RuntimeError("the sandbox needs the `openssl` command to make its TLS certificate")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt, ext = (
        directory / "server.key",
        directory / "server.csr",
        directory / "server.crt",
        directory / "server.ext",
    )
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            *ec,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_crt),
            "-days",
            "30",
            "-subj",
            "/CN=litemaas-sandbox-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        ["openssl", "req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_crt),
            "-CAkey",
            str(ca_key),
            "-set_serial",
            str(int(time.time() * 1000)),
            "-out",
            str(crt),
            "-days",
            "30",
            "-extfile",
            str(ext),
        ],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"openssl failed ({' '.join(cmd[:3])}): {done.stderr.strip()[-500:]}")
    for private in (ca_key, key):
        private.chmod(0o600)
    return TlsFiles(ca_cert=ca_crt, server_cert=crt, server_key=key)


class KubeApiServer:
    """Runs `KubeApi` under uvicorn in a background thread, on 127.0.0.1 and a free port.

    With `tls` the server speaks https (what kubectl needs to send the bearer token); without, http.
    Usage: `server = KubeApiServer(store, token, tls=generate_tls(d)); server.start(); ... server.stop()`.
    """

    def __init__(
        self,
        store: Store,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        runtime: streams.PodRuntime | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.api = KubeApi(store, token, runtime=runtime, state_dir=state_dir)
        self.tls = tls
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.api.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ws="wsproto",
            ws_per_message_deflate=False,
            ssl_certfile=str(tls.server_cert) if tls else None,
            ssl_keyfile=str(tls.server_key) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="kubeapi"
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once uvicorn accepts connections. Raises RuntimeError on timeout."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox Kubernetes API did not start")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving (open watches end), and wait for the server thread."""
        self.api.stopping = True
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()


def parse_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString like `"25%"` or `1`, resolved against `total` (k8s intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1]) * total / 100
        return math.ceil(pct) if round_up else math.floor(pct)
    return int(value or 0)
