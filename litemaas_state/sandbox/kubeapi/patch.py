"""The three PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902).

Source: the strategic merge keys are the `patchMergeKey` struct tags of k8s.io/api for the lists the
sandbox serves; JSON patch is applied with the `jsonpatch` library.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpatch

from litemaas_state.sandbox.kubeapi.resources import Obj, clone
from litemaas_state.sandbox.kubeapi.status import ApiError, bad_request

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
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
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
    kubectl's `CreateTwoWayMergePatch` output uses (`kubectl set image`, docs/design.md §9.11).
    """
    if not isinstance(patch, dict):
        return clone(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    result = clone(target) if isinstance(target, dict) else {}
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
            result[key] = clone(value)
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
    current = clone(current) if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [clone(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in _MERGE_PRIMITIVES:
        return current + [v for v in patch if v not in current]
    mk = _merge_key(field, patch)
    if not mk or not all(isinstance(i, dict) for i in patch):
        return clone(patch)
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
