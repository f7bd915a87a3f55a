"""The sandbox's Deployment and ReplicaSet controllers, ticking in a background thread.

Role: make the objects in `kubeapi.Store` behave like a cluster's over a few seconds, so that
`kubectl rollout status`, `rollout undo` and our own wait loops see what they would see on OpenShift:
`status.observedGeneration`, one ReplicaSet per pod template with the revision annotation, a rolling
update bounded by maxSurge/maxUnavailable, pods that turn Ready after `pod_ready_s`, the `Progressing`
and `Available` conditions, `ProgressDeadlineExceeded` after `spec.progressDeadlineSeconds`, pause,
ReplicaSet history trimmed to `spec.revisionHistoryLimit`, and garbage collection of orphans.

Readiness rules: a pod whose containers (or init containers) use an image tag ending in `-broken`
never becomes Ready (CrashLoopBackOff); a Deployment (namespace, name) may have a `ready_probe` callable
(the daemon passes each environment's Redis PING for its `litellm-redis`) that its pods' readiness follows, checked at most every
`probe_interval_s`.

Sources: kubernetes/kubernetes pkg/controller/deployment (rolling.go reconcileNewReplicaSet /
reconcileOldReplicaSets, sync.go getNewReplicaSet / syncRolloutStatus / cleanupDeployment,
progress.go) and pkg/controller/deployment/util (revision annotations, EqualIgnoreHash); the rollout
semantics kubectl observes are in docs/design.md §9.10 and §9.12.

Boundary: talks to the store in-process (`Store.mutate`, `create`, `delete`), never over HTTP;
imports no product code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from litemaas_state.sandbox import kubeapi
from litemaas_state.sandbox.kubeapi import Obj, Store
from litemaas_state.sandbox.kubeapi.resources import clone

log = logging.getLogger(__name__)

DEPLOY = kubeapi.resource("Deployment")
RS = kubeapi.resource("ReplicaSet")
POD = kubeapi.resource("Pod")

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
_NOT_COPIED = {
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "kubectl.kubernetes.io/last-applied-configuration",
}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.SafeEncodeString alphabet


def template_hash(template: Obj, collisions: int = 0) -> str:
    """A stable 10-character pod-template-hash (the real one is FNV-32a; only stability matters here)."""
    clean = _without_hash(template)
    digest = hashlib.sha256((json.dumps(clean, sort_keys=True) + str(collisions)).encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(_SAFE))
        out += _SAFE[r]
    return out


def _without_hash(template: Obj) -> Obj:
    t = clone(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def templates_equal(a: Obj, b: Obj) -> bool:
    """EqualIgnoreHash (pkg/controller/deployment/util): pod templates equal apart from pod-template-hash."""
    return _without_hash(a) == _without_hash(b)


def revision_of(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _controlled_by(obj: Obj, owner: Obj) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def _owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _is_broken(image: str) -> bool:
    return image.rsplit("/", 1)[-1].rpartition(":")[2].endswith("-broken")


def _set_condition(
    status: Obj, type_: str, value: str, reason: str, message: str, now: str, *, touch: bool = True
) -> None:
    """SetDeploymentCondition: lastTransitionTime kept when the status value does not change."""
    conds = status.setdefault("conditions", [])
    old = next((c for c in conds if c.get("type") == type_), None)
    if old and old.get("status") == value and old.get("reason") == reason and not touch:
        return
    new = {
        "type": type_,
        "status": value,
        "lastUpdateTime": now,
        "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == value else now,
        "reason": reason,
        "message": message,
    }
    if old:
        conds[conds.index(old)] = new
    else:
        conds.append(new)


def _condition(status: Obj, type_: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


class DeploymentController:
    """The Deployment + ReplicaSet controllers (and a kubelet stand-in for pod readiness).

    Args:
        store: the API server's store.
        pod_ready_s: seconds before a new pod turns Ready (if not broken and its probe passes).
        tick_s: seconds between reconcile passes (0.1-0.2 keeps rollouts at a few seconds).
        ready_probes: (namespace, Deployment name) → callable returning whether its pods are Ready
            (e.g. `{("litellm-rhpds", "litellm-redis"): dataplane.redis_ping}`); exceptions count as not Ready.
        probe_interval_s: minimum seconds between two calls of one probe.
        idle_tick_s: seconds between passes while the world is settled (every Deployment rolled out, and
            neither a write nor the last pass changed anything); a write wakes the controller at once.
    Source: kubernetes pkg/controller/deployment; docs/design.md §9.10.
    """

    def __init__(
        self,
        store: Store,
        *,
        pod_ready_s: float = 1.0,
        tick_s: float = 0.15,
        ready_probes: Mapping[tuple[str, str], Callable[[], bool]] | None = None,
        probe_interval_s: float = 0.5,
        idle_tick_s: float = 1.0,
    ) -> None:
        self.store = store
        self.pod_ready_s = pod_ready_s
        self.tick_s = tick_s
        self.ready_probes = dict(ready_probes or {})
        self.probe_interval_s = probe_interval_s
        self.idle_tick_s = idle_tick_s
        self._born: dict[str, float] = {}  # pod uid → monotonic creation time
        self._progress_at: dict[str, float] = {}  # deployment uid → monotonic time of the last progress
        self._probe_cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._instant = False

    # -- lifecycle
    def start(self) -> None:
        """Start ticking in a daemon thread."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="deployment-controller")
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        settled_at: int | None = None  # the store's resourceVersion when a pass last found nothing to do
        last_pass = time.monotonic()
        while not self._stop.wait(self.tick_s):
            rv = self.store.resource_version
            if rv == settled_at and time.monotonic() - last_pass < self.idle_tick_s:
                continue
            last_pass = time.monotonic()
            try:
                self.tick()
                deployments, after = self.store.select(DEPLOY)
                settled_at = after if after == rv and all(self._complete(d) for d in deployments) else None
            except Exception:  # keep the sandbox alive; the log shows the bug
                settled_at = None
                log.exception("controller tick failed")

    def prime(self, max_ticks: int = 20) -> None:
        """Roll every Deployment out at once with pods Ready immediately (the seeded, settled world)."""
        self._instant = True
        try:
            for _ in range(max_ticks):
                self.tick()
                deployments, _ = self.store.select(DEPLOY)
                if all(self._complete(d) for d in deployments):
                    return
        finally:
            self._instant = False

    @staticmethod
    def _complete(d: Obj) -> bool:
        st, want = d.get("status") or {}, d["spec"].get("replicas", 1)
        return (
            st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want
            and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
        )

    # -- one pass
    def tick(self) -> None:
        """One reconcile pass over every Deployment, ReplicaSet and Pod."""
        deployments, _ = self.store.select(DEPLOY)
        for d in deployments:
            try:
                self._sync_deployment(d)
            except Exception:  # one broken object must not stop the others
                log.exception("sync of deployment %s failed", d["metadata"]["name"])
        replicasets, _ = self.store.select(RS)
        for rs in replicasets:
            try:
                self._sync_replicaset(rs)
            except Exception:
                log.exception("sync of replicaset %s failed", rs["metadata"]["name"])
        replicasets, _ = self.store.select(RS)
        for d in deployments:
            current = self.store.find(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"])
            # Status is written for the generation this pass synced; a spec written meanwhile waits for the next pass.
            if current is not None and current["metadata"].get("generation") == d["metadata"].get(
                "generation"
            ):
                self._sync_status(current, [rs for rs in replicasets if _controlled_by(rs, current)])
        self._collect_garbage(deployments, replicasets)

    # -- Deployment controller
    def _owned_rs(self, d: Obj) -> list[Obj]:
        items, _ = self.store.select(RS, d["metadata"]["namespace"])
        return [rs for rs in items if _controlled_by(rs, d)]

    @staticmethod
    def _fenceposts(d: Obj) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) resolved against spec.replicas (deployment/util ResolveFenceposts)."""
        desired = d["spec"].get("replicas", 1)
        ru = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = kubeapi.parse_int_or_percent(ru.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = kubeapi.parse_int_or_percent(ru.get("maxUnavailable", "25%"), desired, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _sync_deployment(self, d: Obj) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        spec = d["spec"]
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        rss = self._owned_rs(d)
        new_rs = next((rs for rs in rss if templates_equal(rs["spec"]["template"], template)), None)
        olds = [rs for rs in rss if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        max_old_rev = max((revision_of(rs) for rs in olds), default=0)
        surge, unavailable = self._fenceposts(d)
        if spec.get("paused"):
            if new_rs is not None and not any(rs["spec"].get("replicas", 0) for rs in olds):
                self._scale_rs(new_rs, desired, d, surge)
            return

        if new_rs is None:
            new_rs = self._create_rs(d, max_old_rev + 1, desired, surge, olds)
            if new_rs is None:
                return
            self._set_progress(
                d, "True", "NewReplicaSetCreated", f'Created new replica set "{new_rs["metadata"]["name"]}"'
            )
        elif revision_of(new_rs) <= max_old_rev:
            # A rollback (or a template set back by hand): the old RS becomes the new one, with a new revision.
            old_rev, new_rev = revision_of(new_rs), max_old_rev + 1

            def bump(rs: Obj) -> None:
                ann = rs["metadata"].setdefault("annotations", {})
                ann[REVISION] = str(new_rev)
                history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                ann[REVISION_HISTORY] = ",".join([*history, str(old_rev)])

            new_rs = self.store.mutate(RS, ns, new_rs["metadata"]["name"], bump) or new_rs
            # Deviation: the real controller sets FoundNewReplicaSet only when there is no Progressing
            # condition, so right after `rollout undo` of a timed-out rollout `rollout status` may still see
            # ProgressDeadlineExceeded for a moment. The sandbox restarts the progress clock instead.
            self._set_progress(
                d, "True", "FoundNewReplicaSet", f'Found new replica set "{new_rs["metadata"]["name"]}"'
            )

        rev = str(revision_of(new_rs))
        self.store.mutate(
            DEPLOY, ns, name, lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(REVISION, rev)
        )

        if (spec.get("strategy") or {}).get("type") == "Recreate":
            active_old = [rs for rs in olds if rs["spec"].get("replicas", 0) > 0]
            for rs in active_old:
                self._scale_rs(rs, 0, d, surge)
            if not active_old and not any((rs.get("status") or {}).get("replicas", 0) for rs in olds):
                self._scale_rs(new_rs, desired, d, surge)
            self._cleanup_history(d, olds)
            return

        # reconcileNewReplicaSet
        new_replicas = new_rs["spec"].get("replicas", 0)
        if new_replicas > desired:
            new_rs = self._scale_rs(new_rs, desired, d, surge)
        elif new_replicas < desired:
            total = sum(rs["spec"].get("replicas", 0) for rs in [new_rs, *olds])
            room = desired + surge - total
            if room > 0:
                new_rs = self._scale_rs(new_rs, new_replicas + min(room, desired - new_replicas), d, surge)

        # reconcileOldReplicaSets
        old_count = sum(rs["spec"].get("replicas", 0) for rs in olds)
        if old_count > 0:
            all_count = old_count + new_rs["spec"].get("replicas", 0)
            min_available = desired - unavailable
            new_unavailable = new_rs["spec"].get("replicas", 0) - (new_rs.get("status") or {}).get(
                "availableReplicas", 0
            )
            max_scaled_down = all_count - min_available - new_unavailable
            if max_scaled_down > 0:
                olds = sorted(olds, key=revision_of)
                # cleanupUnhealthyReplicas
                for i, rs in enumerate(olds):
                    if max_scaled_down <= 0:
                        break
                    replicas = rs["spec"].get("replicas", 0)
                    unhealthy = replicas - (rs.get("status") or {}).get("availableReplicas", 0)
                    cut = min(max(unhealthy, 0), max_scaled_down)
                    if cut > 0:
                        olds[i] = self._scale_rs(rs, replicas - cut, d, surge)
                        max_scaled_down -= cut
                # scaleDownOldReplicaSetsForRollingUpdate
                available = sum(
                    (rs.get("status") or {}).get("availableReplicas", 0) for rs in [new_rs, *olds]
                )
                to_cut = available - min_available
                for i, rs in enumerate(olds):
                    if to_cut <= 0:
                        break
                    replicas = rs["spec"].get("replicas", 0)
                    cut = min(replicas, to_cut)
                    if cut > 0:
                        olds[i] = self._scale_rs(rs, replicas - cut, d, surge)
                        to_cut -= cut
        self._cleanup_history(d, olds)

    def _create_rs(self, d: Obj, revision: int, desired: int, surge: int, olds: list[Obj]) -> Obj | None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        template = clone(d["spec"]["template"])
        for collisions in range(5):
            h = template_hash(template, collisions)
            if self.store.find(RS, ns, f"{name}-{h}") is None:
                break
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = clone(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        annotations = {
            k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in _NOT_COPIED
        }
        annotations.update(
            {REVISION: str(revision), DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
        )
        no_old_pods = not any(rs["spec"].get("replicas", 0) for rs in olds)
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{h}",
                "namespace": ns,
                "labels": clone(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [_owner_ref(d)],
            },
            "spec": {
                "replicas": desired if no_old_pods else 0,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            return self.store.create(RS, rs)
        except kubeapi.ApiError:
            log.exception("could not create ReplicaSet for deployment %s/%s", ns, name)
            return None

    def _scale_rs(self, rs: Obj, replicas: int, d: Obj, surge: int) -> Obj:
        desired = d["spec"].get("replicas", 1)

        def scale(o: Obj) -> None:
            o["spec"]["replicas"] = replicas
            ann = o["metadata"].setdefault("annotations", {})
            ann[DESIRED_REPLICAS] = str(desired)
            ann[MAX_REPLICAS] = str(desired + surge)

        return self.store.mutate(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], scale) or rs

    def _cleanup_history(self, d: Obj, olds: list[Obj]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted(
            (
                rs
                for rs in olds
                if rs["spec"].get("replicas", 0) == 0 and not (rs.get("status") or {}).get("replicas", 0)
            ),
            key=revision_of,
        )
        for rs in idle[: max(len(idle) - limit, 0)]:
            try:
                self.store.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except kubeapi.ApiError:
                pass

    def _set_progress(self, d: Obj, value: str, reason: str, message: str) -> None:
        now = kubeapi.now_rfc3339()
        self._progress_at[d["metadata"]["uid"]] = time.monotonic()

        def apply(o: Obj) -> None:
            _set_condition(o.setdefault("status", {}), "Progressing", value, reason, message, now)

        self.store.mutate(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"], apply)

    def _sync_status(self, d: Obj, rss: list[Obj]) -> None:
        """calculateStatus + syncRolloutStatus (pkg/controller/deployment/sync.go, progress.go)."""
        spec = d["spec"]
        desired = spec.get("replicas", 1)
        template = spec.get("template") or {}
        new_rs = next((rs for rs in rss if templates_equal(rs["spec"]["template"], template)), None)
        _, unavailable = self._fenceposts(d)
        old = d.get("status") or {}
        st = {k: clone(v) for k, v in old.items()}

        def total(key: str, items: list[Obj]) -> int:
            return sum((rs.get("status") or {}).get(key, 0) for rs in items)

        st["observedGeneration"] = d["metadata"]["generation"]
        st["replicas"] = total("replicas", rss)
        st["updatedReplicas"] = total("replicas", [new_rs] if new_rs else [])
        st["readyReplicas"] = total("readyReplicas", rss)
        st["availableReplicas"] = total("availableReplicas", rss)
        st["unavailableReplicas"] = max(
            sum(rs["spec"].get("replicas", 0) for rs in rss) - st["availableReplicas"], 0
        )
        for key in (
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ):
            if st[key] == 0 and key != "replicas":
                st.pop(key)
        now = kubeapi.now_rfc3339()
        uid = d["metadata"]["uid"]
        if st.get("availableReplicas", 0) >= desired - unavailable:
            _set_condition(
                st,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
                touch=False,
            )
        else:
            _set_condition(
                st,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
                touch=False,
            )

        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        cond = _condition(st, "Progressing")
        if spec.get("paused"):
            if not cond or cond.get("reason") != "DeploymentPaused":
                _set_condition(st, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
        elif cond and cond.get("reason") == "DeploymentPaused":
            _set_condition(st, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
            self._progress_at[uid] = time.monotonic()
        elif spec.get("progressDeadlineSeconds") is not None:
            complete_before = (
                st.get("replicas", 0) == st.get("updatedReplicas", 0)
                and cond
                and cond.get("reason") == "NewReplicaSetAvailable"
            )
            if not complete_before:
                done = (
                    st.get("updatedReplicas", 0) == desired
                    and st.get("replicas", 0) == desired
                    and st.get("availableReplicas", 0) == desired
                )
                old_olds = old.get("replicas", 0) - old.get("updatedReplicas", 0)
                new_olds = st.get("replicas", 0) - st.get("updatedReplicas", 0)
                progressed = (
                    st.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
                    or new_olds < old_olds
                    or st.get("readyReplicas", 0) > old.get("readyReplicas", 0)
                    or st.get("availableReplicas", 0) > old.get("availableReplicas", 0)
                )
                if old.get("observedGeneration") != st.get("observedGeneration"):
                    # a new generation starts a new progress deadline (the real controller resets the
                    # Progressing condition when it creates or adopts the new ReplicaSet)
                    self._progress_at[uid] = time.monotonic()
                last = self._progress_at.setdefault(uid, time.monotonic())
                if done:
                    _set_condition(
                        st,
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        f'ReplicaSet "{rs_name}" has successfully progressed.',
                        now,
                    )
                elif progressed:
                    _set_condition(
                        st,
                        "Progressing",
                        "True",
                        "ReplicaSetUpdated",
                        f'ReplicaSet "{rs_name}" is progressing.',
                        now,
                    )
                    self._progress_at[uid] = time.monotonic()
                elif time.monotonic() - last > spec["progressDeadlineSeconds"] and not (
                    cond and cond.get("reason") == "ProgressDeadlineExceeded"
                ):
                    _set_condition(
                        st,
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        now,
                    )
        # stable order: Available before Progressing, as the real controller ends up with
        st["conditions"] = sorted(
            st.get("conditions") or [], key=lambda c: {"Available": 0, "Progressing": 1}.get(c["type"], 2)
        )
        if st != old:
            self.store.mutate(
                DEPLOY,
                d["metadata"]["namespace"],
                d["metadata"]["name"],
                lambda o: o.__setitem__("status", st),
            )

    # -- ReplicaSet controller and kubelet stand-in
    def _probe(self, namespace: str, deployment: str | None) -> bool:
        key = (namespace, deployment or "")
        probe = self.ready_probes.get(key)
        if probe is None:
            return True
        now = time.monotonic()
        cached = self._probe_cache.get(key)
        if cached and now - cached[0] < self.probe_interval_s:
            return cached[1]
        try:
            ok = bool(probe())
        except Exception:
            ok = False
        self._probe_cache[key] = (now, ok)
        return ok

    def _sync_replicaset(self, rs: Obj) -> None:
        ns = rs["metadata"]["namespace"]
        owner = next(
            (r["name"] for r in rs["metadata"].get("ownerReferences") or [] if r.get("kind") == "Deployment"),
            None,
        )
        pods, _ = self.store.select(POD, ns)
        mine = [p for p in pods if _controlled_by(p, rs)]
        want = rs["spec"].get("replicas", 0)
        probe_ok = self._probe(ns, owner)
        if len(mine) < want:
            for _ in range(want - len(mine)):
                mine.append(self._create_pod(rs))
        elif len(mine) > want:
            # controller.ActivePods ranking, simplified: not-ready first, then the newest.
            ranked = sorted(
                mine,
                key=lambda p: (self._pod_ready(p), p["metadata"]["creationTimestamp"], p["metadata"]["name"]),
            )
            ranked_out = sorted(ranked[: len(mine) - want], key=lambda p: p["metadata"]["name"])
            for p in ranked_out:
                try:
                    self.store.delete(POD, ns, p["metadata"]["name"])
                except kubeapi.ApiError:
                    pass
                self._born.pop(p["metadata"]["uid"], None)
            gone = {p["metadata"]["uid"] for p in ranked_out}
            mine = [p for p in mine if p["metadata"]["uid"] not in gone]
        ready = 0
        for p in mine:
            if self._update_pod(p, probe_ok):
                ready += 1
        status = {
            "replicas": len(mine),
            "fullyLabeledReplicas": len(mine),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if rs.get("status") != status:
            self.store.mutate(RS, ns, rs["metadata"]["name"], lambda o: o.__setitem__("status", status))

    @staticmethod
    def _pod_ready(pod: Obj) -> bool:
        conds = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    def _create_pod(self, rs: Obj) -> Obj:
        template = rs["spec"]["template"]
        suffix = "".join(secrets.choice(_SAFE) for _ in range(5))
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{rs['metadata']['name']}-{suffix}",
                "generateName": f"{rs['metadata']['name']}-",
                "namespace": rs["metadata"]["namespace"],
                "labels": clone((template.get("metadata") or {}).get("labels") or {}),
                "annotations": clone((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": {
                **clone(template.get("spec") or {}),
                "nodeName": "sandbox-node-1",
                "serviceAccountName": "default",
            },
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        created = self.store.create(POD, pod)
        self._born[created["metadata"]["uid"]] = time.monotonic() - (
            self.pod_ready_s if self._instant else 0.0
        )
        return created

    def _update_pod(self, pod: Obj, probe_ok: bool) -> bool:
        """Kubelet stand-in: compute the pod's status; returns whether it is Ready."""
        uid = pod["metadata"]["uid"]
        born = self._born.setdefault(uid, time.monotonic())
        age = time.monotonic() - born
        spec = pod.get("spec") or {}
        started = age >= self.pod_ready_s / 2 or self._instant
        init_broken = any(_is_broken(c.get("image", "")) for c in spec.get("initContainers") or [])
        main_broken = any(_is_broken(c.get("image", "")) for c in spec.get("containers") or [])
        restarts = int(age // max(2 * self.pod_ready_s, 1.0)) if started else 0
        ready = (age >= self.pod_ready_s or self._instant) and not (init_broken or main_broken) and probe_ok
        old_status = pod.get("status") or {}
        start_time = old_status.get("startTime") or kubeapi.now_rfc3339()
        state: Obj
        rc: int
        crash: Obj = {
            "waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}
        }
        running = {"running": {"startedAt": start_time}}
        init_statuses = []
        for c in spec.get("initContainers") or []:
            if init_broken and _is_broken(c.get("image", "")):
                state, rc = crash, restarts
            elif not started:
                state, rc = {"waiting": {"reason": "PodInitializing"}}, 0
            else:
                state, rc = {"terminated": {"exitCode": 0, "reason": "Completed"}}, 0
            init_statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image"),
                    "imageID": "",
                    "ready": "terminated" in state,
                    "restartCount": rc,
                    "state": state,
                }
            )
        statuses = []
        for c in spec.get("containers") or []:
            if init_broken or not started:
                state, rc = {"waiting": {"reason": "PodInitializing"}}, 0
            elif _is_broken(c.get("image", "")):
                state, rc = crash, restarts
            else:
                state, rc = running, 0
            statuses.append(
                {
                    "name": c["name"],
                    "image": c.get("image"),
                    "imageID": "",
                    "ready": ready,
                    "restartCount": rc,
                    "started": "running" in state,
                    "state": state,
                }
            )
        initialized = started and not init_broken
        now = kubeapi.now_rfc3339()

        def cond(type_: str, ok: bool) -> Obj:
            prev = next((x for x in old_status.get("conditions") or [] if x.get("type") == type_), None)
            value = "True" if ok else "False"
            since = prev["lastTransitionTime"] if prev and prev.get("status") == value else now
            return {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": since}

        status = {
            "phase": "Running" if started else "Pending",
            "conditions": [
                cond("Initialized", initialized),
                cond("Ready", ready),
                cond("ContainersReady", ready),
                cond("PodScheduled", True),
            ],
            "hostIP": "10.0.0.1",
            "podIP": old_status.get("podIP")
            or f"10.128.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}",
            "startTime": start_time,
            "initContainerStatuses": init_statuses,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }
        if not init_statuses:
            del status["initContainerStatuses"]
        if status != old_status:
            self.store.mutate(
                POD,
                pod["metadata"]["namespace"],
                pod["metadata"]["name"],
                lambda o: o.__setitem__("status", status),
            )
        return ready

    def _collect_garbage(self, deployments: list[Obj], replicasets: list[Obj]) -> None:
        """The garbage collector: delete ReplicaSets and Pods whose controller owner is gone."""
        live = {d["metadata"]["uid"] for d in deployments}
        live_deploys, _ = self.store.select(DEPLOY)
        live |= {d["metadata"]["uid"] for d in live_deploys}
        rs_uids = set()
        for rs in replicasets:
            owners = [r for r in rs["metadata"].get("ownerReferences") or [] if r.get("kind") == "Deployment"]
            if owners and not any(r["uid"] in live for r in owners):
                try:
                    self.store.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"])
                except kubeapi.ApiError:
                    pass
            else:
                rs_uids.add(rs["metadata"]["uid"])
        pods, _ = self.store.select(POD)
        for p in pods:
            owners = [r for r in p["metadata"].get("ownerReferences") or [] if r.get("kind") == "ReplicaSet"]
            if owners and not any(r["uid"] in rs_uids for r in owners):
                try:
                    self.store.delete(POD, p["metadata"]["namespace"], p["metadata"]["name"])
                except kubeapi.ApiError:
                    pass
                self._born.pop(p["metadata"]["uid"], None)


def describe(d: Obj) -> dict[str, Any]:
    """A compact view of a Deployment's rollout state (for logs and test failure messages)."""
    st = d.get("status") or {}
    return {
        "name": d["metadata"]["name"],
        "generation": d["metadata"].get("generation"),
        "observedGeneration": st.get("observedGeneration"),
        "replicas": [
            d["spec"].get("replicas"),
            st.get("replicas", 0),
            st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0),
        ],
        "conditions": {c["type"]: c.get("reason") for c in st.get("conditions") or []},
    }
