"""Request bodies in the Kubernetes protobuf encoding, for the few kinds `kubectl create` sends that way.

kubectl 1.32's typed clients (`kubectl create serviceaccount|token|configmap|role|rolebinding`) send
`Content-Type: application/vnd.kubernetes.protobuf` and accept JSON back. The envelope
(k8s.io/apimachinery pkg/runtime/serializer/protobuf): the 4 magic bytes `k8s\\0`, then a
`runtime.Unknown` message (1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType);
`raw` is the object in the protobuf wire format, with the field numbers of k8s.io/api
`*/generated.proto` for the kinds in `SCHEMAS`. Only the fields those commands set are decoded; the rest
is skipped. Any other kind answers 415, as before.

Boundary: imports no product code.
"""

from __future__ import annotations

from typing import Any

from litemaas_state.sandbox.kubeapi.resources import Obj
from litemaas_state.sandbox.kubeapi.status import ApiError, bad_request

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# field number → (JSON name, type): "s" string, "i" integer, "b" bool, "S" repeated string,
# "m" map<string,string>, a schema name (message) or [schema name] (repeated message).
Field = tuple[str, Any]
SCHEMAS: dict[str, dict[int, Field]] = {
    "ObjectMeta": {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 11: ("labels", "m"),
                   12: ("annotations", "m")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"), 4: ("automountServiceAccountToken", "b")},
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", "S"), 4: ("expirationSeconds", "i")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "m"), 4: ("immutable", "b")},
    "PolicyRule": {1: ("verbs", "S"), 2: ("apiGroups", "S"), 3: ("resources", "S"), 4: ("resourceNames", "S"),
                   5: ("nonResourceURLs", "S")},
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", ["PolicyRule"])},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", ["Subject"]), 3: ("roleRef", "RoleRef")},
}
_TOP_LEVEL = {"ServiceAccount", "TokenRequest", "ConfigMap", "Role", "RoleBinding"}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: an int for varints, bytes for length-delimited."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, value))
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise ValueError("truncated field")
            out.append((number, buf[i : i + size]))
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _message(buf: bytes, schema: str) -> Obj:
    fields = SCHEMAS[schema]
    obj: Obj = {}
    for number, value in _fields(buf):
        if number not in fields:
            continue
        name, kind = fields[number]
        if kind in ("s", "S") and isinstance(value, bytes):
            text = value.decode()
            if kind == "S":
                obj.setdefault(name, []).append(text)
            elif text:
                obj[name] = text
        elif kind in ("i", "b") and isinstance(value, int):
            obj[name] = bool(value) if kind == "b" else value
        elif kind == "m" and isinstance(value, bytes):
            entry = dict(_fields(value))
            k, v = entry.get(1, b""), entry.get(2, b"")
            if isinstance(k, bytes) and isinstance(v, bytes):
                obj.setdefault(name, {})[k.decode()] = v.decode()
        elif isinstance(kind, list) and isinstance(value, bytes):
            obj.setdefault(name, []).append(_message(value, kind[0]))
        elif isinstance(kind, str) and kind in SCHEMAS and isinstance(value, bytes):
            obj[name] = _message(value, kind)
    return obj


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded request body.

    Raises ApiError 415 for a kind not in `SCHEMAS`, 400 for a body that is not a Kubernetes protobuf envelope.
    """
    if not body.startswith(MAGIC):
        raise bad_request("error decoding request body: not a Kubernetes protobuf message (no k8s magic)")
    try:
        envelope = dict(_fields(body[len(MAGIC) :]))
        type_meta = envelope.get(1, b"")
        raw = envelope.get(2, b"")
        if not isinstance(type_meta, bytes) or not isinstance(raw, bytes):
            raise ValueError("bad runtime.Unknown")
        meta = {n: v.decode() for n, v in _fields(type_meta) if isinstance(v, bytes)}
        api_version, kind = meta.get(1, ""), meta.get(2, "")
        if kind not in _TOP_LEVEL:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"application/json (protobuf is decoded for {', '.join(sorted(_TOP_LEVEL))} only, got {kind})",
            )
        obj = _message(raw, kind)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding request body: {exc}") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}
