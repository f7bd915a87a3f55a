"""Authentication, RBAC authorization and the audit log of the sandbox's Kubernetes API.

Tokens: the admin token (DIR/kubeconfig) is all-powerful. ServiceAccount tokens come from the
TokenRequest API (`POST /api/v1/namespaces/<ns>/serviceaccounts/<sa>/token`, what `kubectl create token`
does; `Authenticator.issue`): user `system:serviceaccount:<ns>:<sa>`, valid until their expiry and while
that ServiceAccount (same uid) exists, as bound tokens are; kept in memory only. Further static tokens
may live in DIR/tokens.json, `{"<token>": {"user": "...", "groups": [...]}}`, re-read when the file
changes. A service-account user also has the groups `system:serviceaccounts`,
`system:serviceaccounts:<ns>` and `system:authenticated`.

Authorization of a non-admin user, as kube-apiserver's RBAC authorizer does it
(kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/rbac.go, pkg/apis/rbac/v1/evaluation_helpers.go):
the request's attributes come from the path and method (staging/src/k8s.io/apiserver/pkg/endpoints/
request/requestinfo.go: GET → get/list/watch, POST → create, PUT → update, PATCH → patch, DELETE →
delete/deletecollection; the WebSocket upgrades of pods/exec and pods/portforward need `create`, as with
the AuthorizePodWebsocketUpgradeCreatePermission gate, on by default since 1.31); they are allowed when
a rule of a Role bound by a RoleBinding in the request's namespace matches verb, API group, resource
(`pods/exec` style for subresources, `*` wildcards) and, when the rule lists resourceNames, the name.
Cluster-scoped resource requests (e.g. namespaces) are denied (no ClusterRoles are served).
Non-resource paths (/api, /apis, /version, /healthz) are allowed to every authenticated user, as the
`system:discovery` ClusterRole does. A denial is the apiserver's 403 Status (responsewriters.Forbidden).

Audit: one JSON object per request in DIR/audit.jsonl, always the same keys: `{"time", "user",
"verb", "apiGroup", "resource", "subresource", "namespace", "name", "path", "code"}` (user null: no
valid token; resource "": a non-resource path such as /api; code 101: a WebSocket upgrade accepted).

Boundary: imports no product code.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

ADMIN_USER = "kubernetes-admin"
_WEBSOCKET_CREATE = ("exec", "portforward", "attach")


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False


@dataclass(frozen=True)
class RequestInfo:
    """The authorization attributes of a request (requestinfo.go RequestInfo)."""

    verb: str
    path: str
    is_resource: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def request_info(method: str, path: str, query: dict[str, str], websocket: bool = False) -> RequestInfo:
    """Parse `path` like kube-apiserver's RequestInfoFactory (no API prefix other than /api and /apis)."""
    parts = [p for p in path.split("/") if p]
    lower = {"GET": "get", "DELETE": "delete"}.get(method, _METHOD_VERBS.get(method, method.lower()))
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=lower, path=path)
    if not rest:
        return RequestInfo(verb=lower, path=path)
    namespace = ""
    if rest[0] == "namespaces":
        if len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        else:  # the namespace object itself
            namespace = ""
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) >= 3 else ""
    if resource == "namespaces" and len(rest) >= 2:
        namespace = name
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    if websocket and sub in _WEBSOCKET_CREATE:
        verb = "create"
    return RequestInfo(
        verb=verb,
        path=path,
        is_resource=True,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=sub,
        namespace=namespace,
        name=name,
    )


def _rule_allows(rule: Obj, info: RequestInfo) -> bool:
    verbs = rule.get("verbs") or []
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    names = rule.get("resourceNames") or []
    if "*" not in verbs and info.verb not in verbs:
        return False
    if "*" not in groups and info.api_group not in groups:
        return False
    combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    if not any(
        r == "*" or r == combined or (info.subresource and r == f"*/{info.subresource}") for r in resources
    ):
        return False
    return not names or info.name in names


def _subject_matches(subject: Obj, user: User, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    if kind == "User":
        return user.name == subject.get("name")
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


def forbidden_status(user: User, info: RequestInfo) -> tuple[str, Obj]:
    """The message and Status `details` of the apiserver's 403 (responsewriters.Forbidden + NewForbidden)."""
    if not info.is_resource:
        return f'forbidden: User "{user.name}" cannot {info.verb} path "{info.path}"', {}
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    if info.namespace:
        why = (
            f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{info.api_group}" '
            f'in the namespace "{info.namespace}"'
        )
    else:
        why = f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{info.api_group}" at the cluster scope'
    qualified = f"{info.resource}.{info.api_group}" if info.api_group else info.resource
    head = f'{qualified} "{info.name}" is forbidden' if info.name else f"{qualified} is forbidden"
    details: Obj = {"name": info.name, "kind": info.resource} if info.name else {"kind": info.resource}
    if info.api_group:
        details["group"] = info.api_group
    return f"{head}: {why}", details


def service_account_user(namespace: str, name: str) -> User:
    """The user of a ServiceAccount's token, with the groups kube-apiserver gives it."""
    return User(
        name=f"system:serviceaccount:{namespace}:{name}",
        groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


@dataclass(frozen=True)
class _Issued:
    user: User
    namespace: str
    service_account: str
    uid: str
    expires: float  # time.time()


@dataclass
class Authenticator:
    """Maps bearer tokens to users: the admin token, issued ServiceAccount tokens, and DIR/tokens.json.

    `sa_uid(namespace, name)` returns the current uid of a ServiceAccount (None: gone); an issued token
    whose ServiceAccount is gone or was re-created is refused (401), as a bound token is.
    """

    admin_token: str = field(repr=False)
    tokens_file: Path | None = None
    sa_uid: Callable[[str, str], str | None] | None = None
    _cache: dict[str, User] = field(default_factory=dict, repr=False)
    _stamp: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _issued: dict[str, _Issued] = field(default_factory=dict, repr=False)

    def issue(self, namespace: str, name: str, uid: str, seconds: int) -> tuple[str, str]:
        """A new token for ServiceAccount `namespace/name` (uid `uid`), valid `seconds`.

        Returns (token, expirationTimestamp as RFC 3339)."""
        token = secrets.token_urlsafe(48)
        expires = time.time() + seconds
        with self._lock:
            self._issued[token] = _Issued(service_account_user(namespace, name), namespace, name, uid, expires)
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return token, stamp

    def _load(self) -> dict[str, User]:
        if self.tokens_file is None:
            return {}
        try:
            st = self.tokens_file.stat()
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    raw = json.loads(self.tokens_file.read_text())
                except (OSError, ValueError):
                    raw = {}
                users: dict[str, User] = {}
                for token, entry in (raw or {}).items():
                    name = str((entry or {}).get("user", ""))
                    groups = [str(g) for g in (entry or {}).get("groups") or []]
                    if name.startswith("system:serviceaccount:"):
                        ns = name.split(":")[2]
                        groups += ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
                    groups.append("system:authenticated")
                    users[str(token)] = User(name=name, groups=tuple(groups))
                self._cache, self._stamp = users, stamp
            return self._cache

    def authenticate(self, authorization: str) -> User | None:
        """The user of an `Authorization: Bearer <token>` header, or None (401). The scheme is matched without
        regard to case, as kube-apiserver does (k8s.io/apiserver pkg/authentication/request/bearertoken:
        `strings.EqualFold(parts[0], "bearer")`; the official client's in-cluster config sends `bearer`)."""
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return User(name=ADMIN_USER, groups=("system:masters", "system:authenticated"), admin=True)
        with self._lock:
            issued = self._issued.get(token)
        if issued is not None:
            live_uid = self.sa_uid(issued.namespace, issued.service_account) if self.sa_uid else issued.uid
            if time.time() < issued.expires and live_uid == issued.uid:
                return issued.user
            return None
        for known, user in self._load().items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


def authorize(user: User, info: RequestInfo, roles: list[Obj], bindings: list[Obj]) -> bool:
    """Whether RBAC allows `info` for `user`, given the Roles and RoleBindings of the request's namespace."""
    if user.admin or not info.is_resource:
        return True
    if not info.namespace or info.resource == "namespaces":
        return False
    by_name = {r["metadata"]["name"]: r for r in roles if r["metadata"].get("namespace") == info.namespace}
    for binding in bindings:
        if binding["metadata"].get("namespace") != info.namespace:
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "Role" or ref.get("name") not in by_name:
            continue
        if not any(_subject_matches(s, user, info.namespace) for s in binding.get("subjects") or []):
            continue
        if any(_rule_allows(rule, info) for rule in by_name[ref["name"]].get("rules") or []):
            return True
    return False


class AuditLog:
    """Appends one JSON line per request to a file (thread-safe); None path → no log."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, user: User | None, info: RequestInfo, code: int) -> None:
        if self.path is None:
            return
        entry: Obj = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        entry["user"] = user.name if user else None
        entry.update(
            verb=info.verb,
            apiGroup=info.api_group,
            resource=info.resource,
            subresource=info.subresource,
            namespace=info.namespace,
            name=info.name,
            path=info.path,
        )
        entry["code"] = code
        line = json.dumps(entry) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
