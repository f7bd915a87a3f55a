"""Writes to Deployments: image patch, rolling restart, scale, rollout wait, and rollback.

* set image: one strategic-merge patch that sets every listed container and init container (kubectl
  set image matches init containers by name only; we list them explicitly; docs/design.md §9.11).
* scale: merge-patch of ``spec.replicas`` (what kubectl scale sets through ``/scale``, docs/design.md §9.13; the
  Deployment itself is patched so the record below goes in the same write).
* restart: the pod-template annotation ``kubectl.kubernetes.io/restartedAt`` (kubectl rollout restart).
* wait: polls the Deployment and judges it with ``live.rollout.rollout_status`` — kubectl's algorithm
  (docs/design.md §9.10); stops on ProgressDeadlineExceeded, on timeout, or when the object is deleted or its
  uid changes.
* rollback: ``kubectl rollout undo`` (docs/design.md §9.12): the ReplicaSet with the previous revision, its
  template without ``pod-template-hash`` written back with a JSON patch.
* Every write also sets the Deployment annotation ``names.LAST_APPLIED_ANNOTATION`` to the managed fields
  as the write leaves them (``live.model.ManagedFields``: the fields read just before, with this write's
  values), in the same patch, so plan can tell a change made outside litemaas-state (plan/outside.py).
  Read and patch are not one transaction: a change made between them is taken into the record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from litemaas_state import names
from litemaas_state.apply.model import ApplyEvent, EventKind, Reporter
from litemaas_state.errors import ApplyError, ObserveError, RolloutFailed
from litemaas_state.live import endpoints as ep
from litemaas_state.live.kube import KubeConnection, kube_errors, workload_from_raw
from litemaas_state.live.model import Workload
from litemaas_state.live.rollout import RolloutPhase, rollout_status

#: A progress line is repeated at least this often while a rollout waits (so CI logs show it is alive).
STILL_WAITING_EVERY_S = 30.0


@dataclass
class RolloutWaiter:
    """Wait settings: ``timeout_s`` for a whole rollout, ``poll_interval_s`` between reads."""

    timeout_s: float = 600.0
    poll_interval_s: float = 0.5
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)


class KubeWriter:
    """Writes to one namespace; every method raises ApplyError (never a client exception)."""

    def __init__(self, conn: KubeConnection, waiter: RolloutWaiter | None = None) -> None:
        self.conn = conn
        self.waiter = waiter or RolloutWaiter()

    def _path(self, name: str) -> dict[str, str]:
        return {"namespace": self.conn.namespace, "name": name}

    def _patch(self, name: str, body: Any, content_type: str) -> None:
        ep.request(self.conn.api, ep.PATCH_DEPLOYMENT, self._path(name), body=body, content_type=content_type)

    def _read(self, name: str) -> dict[str, Any]:
        with _apply_errors(f"get deployment/{name}", "get", "deployments"):
            return ep.call_json(self.conn.api, ep.READ_DEPLOYMENT, self._path(name))

    def read(self, name: str) -> Workload:
        return workload_from_raw(self._read(name))

    def _record(self, name: str, **update: Any) -> dict[str, Any]:
        """``metadata`` of a patch that records the managed fields as the patch leaves them."""
        fields = self.read(name).managed_fields()
        if "images" in update:
            update["images"] = {**fields.images, **update["images"]}
        return {"annotations": {names.LAST_APPLIED_ANNOTATION: fields.model_copy(update=update).to_annotation()}}

    def set_image(self, name: str, image: str, containers: tuple[str, ...], init_containers: tuple[str, ...]) -> None:
        """Set ``image`` on the named containers and init containers in one strategic-merge patch."""
        spec: dict[str, Any] = {}
        if containers:
            spec["containers"] = [{"name": c, "image": image} for c in containers]
        if init_containers:
            spec["initContainers"] = [{"name": c, "image": image} for c in init_containers]
        meta = self._record(name, images={c: image for c in (*containers, *init_containers)})
        body = {"metadata": meta, "spec": {"template": {"spec": spec}}}
        with _apply_errors(f"patch deployment/{name}", "patch", "deployments"):
            self._patch(name, body, "application/strategic-merge-patch+json")

    def restart(self, name: str, restarted_at: str) -> None:
        """Set the pod-template annotation kubectl rollout restart sets."""
        body = {"metadata": self._record(name, restarted_at=restarted_at),
                "spec": {"template": {"metadata": {"annotations": {names.RESTARTED_AT_ANNOTATION: restarted_at}}}}}
        with _apply_errors(f"patch deployment/{name}", "patch", "deployments"):
            self._patch(name, body, "application/strategic-merge-patch+json")

    def scale(self, name: str, replicas: int) -> None:
        """Set spec.replicas (merge patch), as kubectl scale does, with the record in the same write."""
        body = {"metadata": self._record(name, replicas=replicas), "spec": {"replicas": replicas}}
        with _apply_errors(f"scale deployment/{name}", "patch", "deployments"):
            self._patch(name, body, "application/merge-patch+json")

    def wait_rollout(self, name: str, address: str, action_id: str, report: Reporter) -> Workload:
        """Poll until the rollout completes; report each new kubectl status message.

        Returns:
            The Deployment as last observed (complete).
        Raises:
            RolloutFailed: ProgressDeadlineExceeded, timeout, or the Deployment was deleted/replaced.
        """
        w = self.waiter
        start = w.clock()
        first = self.read(name)
        uid = first.uid
        last, last_report = "", 0.0
        while True:
            elapsed = w.clock() - start
            try:
                current = self.read(name)
            except ApplyError as exc:  # one failed read is not a failed rollout: retry until the deadline
                if elapsed > w.timeout_s:
                    raise RolloutFailed(f"{address}: cannot read the Deployment: {exc}") from exc
                if str(exc) != last:
                    report(ApplyEvent(kind=EventKind.PROGRESS, action_id=action_id, address=address,
                                      message=f"read failed, retrying: {exc}", elapsed_s=elapsed))
                    last = str(exc)
                w.sleep(w.poll_interval_s)
                continue
            if current.uid != uid:
                raise RolloutFailed(f"{address}: the Deployment was deleted and recreated during the rollout")
            verdict = rollout_status(current)
            if current.paused and verdict.phase != RolloutPhase.COMPLETE:
                raise RolloutFailed(f"{address}: the Deployment is paused, so the rollout cannot progress "
                                    "(kubectl rollout resume)")
            if verdict.message != last or elapsed - last_report >= STILL_WAITING_EVERY_S:
                report(ApplyEvent(kind=EventKind.PROGRESS, action_id=action_id, address=address,
                                  message=verdict.message, elapsed_s=elapsed, rollout=True,
                                  done=min(current.updated_replicas, current.available_replicas),
                                  total=current.replicas))
                last, last_report = verdict.message, elapsed
            if verdict.phase == RolloutPhase.COMPLETE:
                return current
            if verdict.phase == RolloutPhase.FAILED:
                raise RolloutFailed(f"{address}: {verdict.message}")
            if elapsed > w.timeout_s:
                raise RolloutFailed(f"{address}: rollout did not finish within {w.timeout_s:.0f}s "
                                    f"(last status: {verdict.message})")
            w.sleep(w.poll_interval_s)

    def rollback(self, name: str) -> int:
        """Put the previous revision's pod template back, as ``kubectl rollout undo`` does.

        Returns:
            The revision rolled back to.
        Raises:
            ApplyError: paused Deployment, or no previous revision in history.
        """
        raw = self._read(name)
        if raw.get("spec", {}).get("paused"):
            raise ApplyError(f"deployment/{name} is paused; resume it before rolling back")
        uid = raw["metadata"]["uid"]
        with _apply_errors(f"list replicasets for deployment/{name}", "list", "replicasets"):
            rs_data = ep.call_json(self.conn.api, ep.LIST_REPLICASETS, {"namespace": self.conn.namespace})
        rs_list = [
            rs for rs in rs_data.get("items", [])
            if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []) or [])
        ]
        history = sorted(
            ((int((rs["metadata"].get("annotations") or {}).get(names.REVISION_ANNOTATION, "0")), rs)
             for rs in rs_list),
            key=lambda p: p[0],
        )
        # kubectl's --to-revision=0: the second-highest revision among the Deployment's ReplicaSets
        # (the highest is the template just rolled out), not one below the Deployment's annotation
        newest = history[-1][0] if history else 0
        previous = [(rev, rs) for rev, rs in history if rev < newest]
        if not previous:
            raise ApplyError(f"deployment/{name}: no rollout history to roll back to "
                             "(revisionHistoryLimit may be 0)")
        rev, rs = previous[-1]
        template = json.loads(json.dumps(rs["spec"]["template"]))
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop("pod-template-hash", None)
        restored = workload_from_raw({**raw, "spec": {**raw["spec"], "template": template}}).managed_fields()
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        if raw["metadata"].get("annotations"):
            key = names.LAST_APPLIED_ANNOTATION.replace("~", "~0").replace("/", "~1")  # RFC 6901
            patch.append({"op": "add", "path": f"/metadata/annotations/{key}", "value": restored.to_annotation()})
        else:
            patch.append({"op": "add", "path": "/metadata/annotations",
                          "value": {names.LAST_APPLIED_ANNOTATION: restored.to_annotation()}})
        with _apply_errors(f"roll back deployment/{name}", "patch", "deployments"):
            self._patch(name, patch, "application/json-patch+json")
        return rev


@contextmanager
def _apply_errors(what: str, verb: str, resource: str) -> Iterator[None]:
    """Client exceptions → ApplyError naming the operation, translated once by live/kube.py
    ``kube_errors`` (the Status message only, no bodies); a 403 names ``verb`` on ``resource`` as RBAC
    spells them (``patch`` on ``deployments``); ``status`` keeps the HTTP status (None when the API server
    was not reached) and the ObserveError, chained to the client exception, is the cause."""
    try:
        with kube_errors(what, verb=verb, resource=resource):
            yield
    except ObserveError as exc:
        raise ApplyError(str(exc), status=exc.status) from exc
