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
in `world.py`. This package has no controller logic beyond what an API server does at write time
(defaulting, validation, `metadata.generation` bumps on spec changes).

Layout: `resources` (the served types, discovery, OpenAPI v3), `status` (Status errors), `selectors`
(label and field selectors), `patch` (merge, strategic merge and JSON patch), `ssa` (server-side apply),
`protobuf` (protobuf request bodies), `admission` (defaulting and validation), `store` (objects,
resourceVersions, the event log), `tables` (server-side printing),
`http` (`KubeApi`: routes, watch, the WebSocket route), `tls` (`generate_tls`, `KubeApiServer`).
The names other modules use are re-exported here (`kubeapi.Store`, `kubeapi.resource`, ...).

Boundary: imports no product code (import-linter contract in pyproject.toml). The names, paths and
error shapes follow the real API server, not our product, so a wrong call in the product fails here
as it would on a cluster (the kmock caveat, docs/design.md §9.16).

Decision on kmock (nolar/kmock 0.8, checked before writing this): not used. It is an aiohttp,
async-first mock whose Kubernetes emulator is by its own description "database-over-http": it does
not merge lists (so no strategic merge patch, which `kubectl set image` sends), does not list the
`/scale` subresource among its URL patterns (which `kubectl scale` uses), and has no
generation/observedGeneration or background processing; it is built around request assertions for
tests rather than a long-running daemon. We would have kept its HTTP plumbing and rewritten every
handler that matters. We use FastAPI (starlette) + uvicorn (the optional extra `[sandbox]`), with one
catch-all route and our own dispatcher.

What is served (see `RESOURCES`): core/v1 namespaces, pods (+/exec and /portforward over WebSocket,
streams.py), secrets, services, configmaps, serviceaccounts (+/token: the TokenRequest API, rbac.py),
endpoints (computed, read-only, endpoints.py); apps/v1 deployments (+/scale, +/status), replicasets,
statefulsets; autoscaling/v2 horizontalpodautoscalers; batch/v1 cronjobs and jobs (stored and defaulted;
nothing runs them); coordination.k8s.io/v1 leases; route.openshift.io/v1 routes; discovery.k8s.io/v1
endpointslices (computed, read-only); rbac.authorization.k8s.io/v1 roles, rolebindings.
Sandbox-only: `GET|POST /sandbox/v1/faults` (admin token; streams.FaultRegistry:
drop port-forwards, kill or drop execs, optionally after N bytes, optionally in one namespace).
Watch: `?watch=true` streams newline-delimited `{"type": ADDED|MODIFIED|DELETED, "object": ...}` for
events after `resourceVersion` (none or "0": synthetic ADDED for current objects first;
`sendInitialEvents=true`: the same, then a BOOKMARK with `k8s.io/initial-events-end`), honours
`labelSelector`, `fieldSelector` (any dotted path, `=`/`==`/`!=`) and `timeoutSeconds`; a
resourceVersion older than the kept event log gets an ERROR event with a 410 Expired Status.
Writes: PUT and PATCH take `metadata.resourceVersion` as a precondition when present (409 Conflict);
on the main resource `status` is ignored (use `/status`); a spec change bumps `metadata.generation`;
`dryRun=All` validates without storing. List items carry no `kind`/`apiVersion` (as a real apiserver).
Server-side apply (`application/apply-patch+yaml`, `kubectl apply --server-side`) is served, simplified
(ssa.py: no conflicts, lists owned whole). OpenAPI v3: only the PATCH operations with
`x-kubernetes-group-version-kind` and `fieldValidation` (resources.openapi_v3_document), which is what
`kubectl apply` reads before it leaves validation to the server. Protobuf request bodies are decoded for
the kinds `kubectl create` sends that way (protobuf.py); answers are always JSON.
Not served: protobuf answers, aggregated discovery (kubectl falls back to the legacy documents when the
answer is plain `application/json`), OpenAPI v2 and schemas (404; kubectl builds client-side apply
patches from its compiled-in types), `limit`/`continue` paging (everything in one page), events, watch of
the computed endpoints, ClusterRoles, plain SPDY upgrades (kubectl's port-forward is served when it
tunnels SPDY/3.1 inside a WebSocket, spdy.py, as kubectl 1.31+ does by default).

Sources: Kubernetes API concepts (watch, resourceVersion semantics, Status), kubectl behaviour in
docs/design.md §9.10-§9.13, and the apiserver's message wording for NotFound/Conflict/Invalid.
"""

from __future__ import annotations

from litemaas_state.sandbox.kubeapi.admission import ADMISSION, drop_nulls, now_rfc3339
from litemaas_state.sandbox.kubeapi.http import KubeApi, to_scale
from litemaas_state.sandbox.kubeapi.patch import apply_patch, merge_patch, strategic_merge_patch
from litemaas_state.sandbox.kubeapi.resources import (
    BY_KIND,
    BY_PATH,
    RESOURCES,
    SERVER_VERSION,
    Obj,
    Resource,
    parse_int_or_percent,
    resource,
)
from litemaas_state.sandbox.kubeapi.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)
from litemaas_state.sandbox.kubeapi.status import ApiError, FieldError
from litemaas_state.sandbox.kubeapi.store import Event, Store
from litemaas_state.sandbox.kubeapi.tables import to_table
from litemaas_state.sandbox.kubeapi.tls import KubeApiServer, TlsFiles, generate_tls

__all__ = [
    "ADMISSION",
    "BY_KIND",
    "BY_PATH",
    "RESOURCES",
    "SERVER_VERSION",
    "ApiError",
    "Event",
    "FieldError",
    "KubeApi",
    "KubeApiServer",
    "Obj",
    "Resource",
    "Store",
    "TlsFiles",
    "apply_patch",
    "drop_nulls",
    "fields_match",
    "generate_tls",
    "labels_match",
    "merge_patch",
    "now_rfc3339",
    "parse_field_selector",
    "parse_int_or_percent",
    "parse_label_selector",
    "resource",
    "selector_string",
    "strategic_merge_patch",
    "to_scale",
    "to_table",
]
