"""The object store: objects, a global resourceVersion, and the event log that watches read."""

from __future__ import annotations

import logging
import threading
import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from litemaas_state.sandbox.kubeapi.admission import ADMISSION, now_rfc3339
from litemaas_state.sandbox.kubeapi.resources import Obj, Resource, clone, resource
from litemaas_state.sandbox.kubeapi.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from litemaas_state.sandbox.kubeapi.status import (
    ApiError,
    FieldError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)

log = logging.getLogger(__name__)


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
        self._events.append(Event(rv, res.key, type_, clone(obj)))
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
            return clone(obj)

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
                clone(o)
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
        new = clone(obj)
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
            return clone(new)

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
                new = clone(old)
                new["status"] = clone(obj.get("status"))
            else:
                new = clone(obj)
                if "status" in res.subresources:
                    if "status" in old:
                        new["status"] = clone(old["status"])
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
                return clone(new)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[(res.key, ns, name)] = new
            self._emit(res, "MODIFIED", new)
            return clone(new)

    def mutate(self, res: Resource, namespace: str, name: str, fn: Callable[[Obj], None]) -> Obj | None:
        """Controller write: apply `fn` to a copy and store it if it changed. None if the object is gone."""
        ns = namespace if res.namespaced else ""
        with self.lock:
            old = self._objects.get((res.key, ns, name))
            if old is None:
                return None
            new = clone(old)
            fn(new)
            self._bump_generation(res, old, new)
            if new == old:
                return clone(old)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[(res.key, ns, name)] = new
            self._emit(res, "MODIFIED", new)
            return clone(new)

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
                return clone(old)
            del self._objects[(res.key, ns, name)]
            gone = clone(old)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            self._emit(res, "DELETED", gone)
            return gone
