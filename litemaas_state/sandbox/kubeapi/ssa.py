"""Server-side apply (`PATCH` with `Content-Type: application/apply-patch+yaml`), simplified.

What `kubectl apply --server-side` needs (Kubernetes docs "Server-Side Apply"; k8s.io/apiserver
pkg/endpoints/handlers/patch.go `applyPatcher`): the body is the whole intended object (YAML or JSON);
`fieldManager` is required; an object that does not exist is created (201); one that exists gets the
applied fields (200), and fields this manager applied before but leaves out now are removed. Each
manager's fields are recorded in `metadata.managedFields` (`operation: Apply`, `fieldsType: FieldsV1`).

Simplifications (deviations from the real apiserver): lists are owned as a whole (a `FieldsV1` leaf),
merged by the strategic merge keys of patch.py; there are no conflicts between managers (`force` is
accepted and not needed); updates by other requests do not take fields over.

Boundary: imports no product code.
"""

from __future__ import annotations

from typing import Any

import yaml

from litemaas_state.sandbox.kubeapi.admission import now_rfc3339
from litemaas_state.sandbox.kubeapi.patch import strategic_merge_patch
from litemaas_state.sandbox.kubeapi.resources import Obj, Resource, clone
from litemaas_state.sandbox.kubeapi.status import ApiError, bad_request
from litemaas_state.sandbox.kubeapi.store import Store

CONTENT_TYPE = "application/apply-patch+yaml"
_SERVER_OWNED = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


def fields_v1(obj: Any) -> Obj:
    """The FieldsV1 set of an applied object: `{"f:<key>": {...}}` per map key, `{}` for a leaf or a list."""
    if not isinstance(obj, dict):
        return {}
    return {f"f:{k}": fields_v1(v) for k, v in obj.items()}


def _remove_dropped(live: Any, before: Obj, now: Obj) -> None:
    """Delete from `live` the map keys owned in `before` and absent from `now` (recursively)."""
    if not isinstance(live, dict):
        return
    for key, sub in before.items():
        name = key[2:]
        if key not in now:
            live.pop(name, None)
        elif sub and now[key]:
            _remove_dropped(live.get(name), sub, now[key])


def parse(body: bytes, res: Resource, name: str) -> Obj:
    """The applied object; raises ApiError 400/415 on a body that is not one object of this resource."""
    try:
        obj = yaml.safe_load(body or b"")
    except yaml.YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc
    if not isinstance(obj, dict):
        raise bad_request("the body of an apply request must be an object")
    if obj.get("apiVersion") != res.api_version or obj.get("kind") != res.kind:
        raise bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version "
            f"({res.api_version})"
            if obj.get("apiVersion") != res.api_version
            else f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({res.kind})"
        )
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict) or meta.get("name", name) != name:
        raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
    meta["name"] = name
    return obj


def apply(
    store: Store, res: Resource, namespace: str, name: str, body: bytes, manager: str, *, dry_run: bool = False
) -> tuple[Obj, bool]:
    """Server-side apply `body` as `manager`. Returns (the stored object, whether it was created).

    Raises ApiError: 400 without a fieldManager or with a bad body; what create/replace raise (422, 404
    namespace, 409 on a stale `metadata.resourceVersion` in the body).
    """
    if not manager:
        raise bad_request("PATCH requests with content type application/apply-patch+yaml must have a fieldManager")
    applied = parse(body, res, name)
    if res.namespaced:
        if applied["metadata"].get("namespace", namespace) != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        applied["metadata"]["namespace"] = namespace
    applied.pop("status", None)
    for key in _SERVER_OWNED:
        if key != "resourceVersion":
            applied["metadata"].pop(key, None)
    owned = fields_v1({k: v for k, v in applied.items() if k not in ("apiVersion", "kind")})
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": res.api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": owned,
    }
    with store.lock:
        live = store.find(res, namespace, name)
        if live is None:
            new = clone(applied)
            new["metadata"].pop("resourceVersion", None)
            new["metadata"]["managedFields"] = [entry]
            return store.create(res, new, dry_run=dry_run), True
        fields = live["metadata"].get("managedFields") or []
        before = next(
            (f.get("fieldsV1") or {} for f in fields if f.get("manager") == manager and f.get("operation") == "Apply"),
            {},
        )
        merged = clone(live)
        _remove_dropped(merged, before, owned)
        merged = strategic_merge_patch(merged, applied)
        if not isinstance(merged, dict):
            raise ApiError(500, "InternalError", "apply produced no object")
        others = [f for f in fields if not (f.get("manager") == manager and f.get("operation") == "Apply")]
        merged["metadata"]["managedFields"] = [*others, entry]
        if "resourceVersion" not in applied["metadata"]:
            merged["metadata"].pop("resourceVersion", None)
        unchanged = clone(merged)
        unchanged["metadata"]["managedFields"] = fields
        if _same(unchanged, live):
            return live, False  # a no-op apply writes nothing (the managed fields' time stays)
        return store.replace(res, namespace, name, merged, dry_run=dry_run), False


def _same(candidate: Obj, live: Obj) -> bool:
    a, b = clone(candidate), clone(live)
    for o in (a, b):
        o["metadata"].pop("resourceVersion", None)
        o.pop("status", None)
    return a == b
