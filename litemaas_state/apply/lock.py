"""One apply at a time per namespace: the Kubernetes Lease ``litemaas-state`` in the deployment's namespace.

One Lease per namespace, not per ``metadata.name``: two state files (or a copy with another name) that
manage the same namespace must not apply at the same time. The holder identity names the environment.

Why a Lease (coordination.k8s.io/v1) and not a PostgreSQL advisory lock: the Lease lives next to what
apply changes, needs nothing but the Kubernetes access every apply already has (a state file may manage
only Deployments, and LiteLLM and LiteMaaS may use two databases), is visible and removable with plain
kubectl, and carries who holds it and since when. An advisory lock would vanish with its session, but
its holder cannot be named. A Lease left by a killed apply expires by itself: the holder renews it every
``renew_every_s`` while it runs; one whose ``renewTime + leaseDurationSeconds`` has passed is taken over.
Takeover and release use the Lease's resourceVersion, so two applies never both win (409 Conflict).

``LITEMAAS_STATE_LOCK_SECONDS`` overrides the lease duration (default 60 s). A dead holder's lease is
taken over ``duration + min(CLOCK_SKEW_S, duration)`` after its last renewal (90 s by default); the
refusal message says so, with the time.
Release by hand: ``kubectl delete lease litemaas-state -n <namespace>`` (README).
Terraform's lock semantics (docs/design.md §9.4): no waiting by default; the second apply fails at once.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from litemaas_state import names
from litemaas_state.errors import ApplyError, ConfigError, LitemaasStateError, LockHeld, ObserveError
from litemaas_state.live import endpoints as ep
from litemaas_state.live.kube import KubeConnection, api_error, forbidden_from, kube_errors
from litemaas_state.timestamps import parse_utc, rfc3339, rfc3339_micro

#: The apply lock's Lease in the target namespace (one per namespace, whatever the environment's name).
LEASE_NAME = names.LEASE_NAME
#: The Lease API group, as RBAC rules name it.
LEASE_GROUP = names.LEASE_GROUP
DURATION_S = 60
RENEW_EVERY_S = 15.0
#: Takeover waits this much longer (at most one more lease duration) than the holder's lease, so a holder whose clock is behind ours is not
#: taken over while it still renews (client-go judges by local observation; a one-shot CLI cannot wait).
CLOCK_SKEW_S = 30
MIN_SECONDS = 2


def _lock_seconds(default: int) -> int:
    raw = os.environ.get("LITEMAAS_STATE_LOCK_SECONDS")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"LITEMAAS_STATE_LOCK_SECONDS must be a whole number of seconds, not {raw!r}") from exc
    if value < MIN_SECONDS:
        raise ConfigError(f"LITEMAAS_STATE_LOCK_SECONDS must be at least {MIN_SECONDS}")
    return value


def takeover_skew_s(duration_s: int) -> int:
    """The clock-skew allowance added to a lease of ``duration_s`` before it is taken over."""
    return min(CLOCK_SKEW_S, duration_s)


def lease_name() -> str:
    return LEASE_NAME


def _ts(dt: datetime) -> str:
    return rfc3339_micro(dt)


def holder_identity(environment: str) -> str:
    """``user@host pid N (environment E)``: enough to find the holder and what it applies."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()} (environment {environment})"


class ApplyLock:
    """The namespace's apply lock, taken for ``environment`` (named in the holder identity). Use as a
    context manager; renews itself in a thread while held."""

    def __init__(self, conn: KubeConnection, environment: str, *, duration_s: int = DURATION_S,
                 renew_every_s: float = RENEW_EVERY_S, identity: str | None = None) -> None:
        self.conn = conn
        self.name = lease_name()
        self.duration_s = _lock_seconds(duration_s)
        self.renew_every_s = min(renew_every_s, self.duration_s / 4)
        self._last_renewal = time.monotonic()
        self._lost: str | None = None
        self.identity = identity or holder_identity(environment)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rv: str | None = None

    def _path(self) -> dict[str, str]:
        return {"namespace": self.conn.namespace, "name": self.name}

    def _body(self, now: datetime, rv: str | None = None, acquired: datetime | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "labels": {"app.kubernetes.io/managed-by": "litemaas-state"}}
        if rv:
            meta["resourceVersion"] = rv
        return {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration_s,
                     "acquireTime": _ts(acquired or now), "renewTime": _ts(now)},
        }

    def acquire(self) -> None:
        """Take the lock or fail at once (translating client errors: never a bare exception).

        Raises:
            LockHeld: another live holder has it (message names the holder and since when).
            ApplyError: the API refused for another reason.
        """
        try:
            with kube_errors(f"lease/{self.name}"):
                self._acquire()
        except ObserveError as exc:
            raise ApplyError(f"cannot take the apply lock: {exc}", status=exc.status) from exc
        self._last_renewal = time.monotonic()
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True)
        self._thread.start()

    def _acquire(self) -> None:
        now = datetime.now(UTC)
        try:
            created = ep.call_json(self.conn.api, ep.CREATE_LEASE, {"namespace": self.conn.namespace}, body=self._body(now))
            self._rv = created["metadata"]["resourceVersion"]
        except ApiException as exc:
            if exc.status == 404:
                raise ApplyError(f"cannot create lease/{self.name}: namespace {self.conn.namespace} does not "
                                 "exist (or the coordination.k8s.io API is not served)") from exc
            if exc.status == 403:
                raise forbidden_from(exc, "create", "leases", LEASE_GROUP) from exc
            if exc.status != 409:
                raise _lease_error("create", "create", self.name, exc) from exc
            self._take_over(now)

    def _take_over(self, now: datetime) -> None:
        try:
            lease = ep.call_json(self.conn.api, ep.READ_LEASE, self._path())
        except ApiException as exc:
            raise _lease_error("read", "get", self.name, exc) from exc
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or "(unknown)"
        renew = parse_utc(spec.get("renewTime")) or parse_utc(spec.get("acquireTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.duration_s)
        since = spec.get("acquireTime") or "?"
        skew = takeover_skew_s(duration)
        if holder and renew is not None and renew + timedelta(seconds=duration + skew) > now:
            at = (renew + timedelta(seconds=duration + skew)).astimezone(UTC)
            raise LockHeld(
                f"another apply holds the lock for this namespace: {holder}, since {since} "
                f"(lease/{self.name} in namespace {self.conn.namespace}; if that apply died, it can be taken "
                f"over {duration + skew}s after its last renewal ({duration}s lease + {skew}s clock-skew "
                f"allowance), at {rfc3339(at)} at the earliest; release by hand: kubectl delete "
                f"lease {self.name} -n {self.conn.namespace})"
            )
        try:
            updated = ep.call_json(self.conn.api, ep.REPLACE_LEASE, self._path(),
                                   body=self._body(now, lease["metadata"]["resourceVersion"]))
        except ApiException as exc:
            if exc.status == 409:
                raise LockHeld(f"another apply took lease/{self.name} at the same moment") from exc
            raise _lease_error("take over", "update", self.name, exc) from exc
        self._rv = updated["metadata"]["resourceVersion"]

    def _renew_loop(self) -> None:
        acquired = datetime.now(UTC)
        while not self._stop.wait(self.renew_every_s):
            try:
                updated = ep.call_json(self.conn.api, ep.REPLACE_LEASE, self._path(),
                                       body=self._body(datetime.now(UTC), self._rv, acquired))
                self._rv = updated["metadata"]["resourceVersion"]
                self._last_renewal = time.monotonic()
            except ApiException as exc:
                if exc.status in (404, 409):  # deleted by hand, or taken over: it is not ours any more
                    self._lost = f"lease/{self.name} was {'deleted' if exc.status == 404 else 'taken over'}"
                    return
            except Exception:  # noqa: S112 - a missed renewal only shortens the lease; ensure_held() judges it
                continue

    def ensure_held(self) -> None:
        """Raise LockHeld when the lock may no longer be ours: taken over or deleted, or not renewed for
        a whole lease duration (e.g. the machine slept or the API was unreachable). Called before each
        action, so a second apply can never run alongside this one."""
        if self._lost is None and time.monotonic() - self._last_renewal > self.duration_s:
            self._lost = f"lease/{self.name} was not renewed for {self.duration_s}s and may have been taken over"
        if self._lost is not None:
            raise LockHeld(f"the apply lock was lost ({self._lost}); stopping before the next action")

    def release(self) -> None:
        """Stop renewing and delete the Lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            # DeleteOptions with a resourceVersion precondition: a Lease taken over since is left alone (409)
            preconditions = {"resourceVersion": self._rv} if self._rv else {}
            ep.request(self.conn.api, ep.DELETE_LEASE, self._path(), body={"preconditions": preconditions})
        except Exception:  # noqa: S110 - gone, or taken over after expiry: not ours to delete
            pass

    def __enter__(self) -> ApplyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lease_error(doing: str, verb: str, name: str, exc: ApiException) -> LitemaasStateError:
    """``cannot <doing> lease/NAME: HTTP <status> <reason>: <Status message>`` (live/kube.py ``api_error``);
    a 403 is the one-line RBAC error naming ``verb`` on ``leases`` in group coordination.k8s.io."""
    if exc.status == 403:
        return forbidden_from(exc, verb, "leases", LEASE_GROUP)
    err = api_error(exc, f"{verb} leases/{name}", verb=verb, resource="leases.coordination.k8s.io")
    return ApplyError(f"cannot {doing} lease/{name}: {str(err).removeprefix('kubernetes: ')}", status=err.status)
