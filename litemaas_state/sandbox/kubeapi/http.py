"""The HTTP side of the sandbox Kubernetes API: `KubeApi` (a FastAPI app with one catch-all route and
our own dispatcher): auth, RBAC, audit, discovery, OpenAPI v3, CRUD, list/watch, server-side apply, the
`/scale`, `/status` and serviceaccounts `/token` subresources, and the pods/exec and pods/portforward
WebSocket route (streams.py, spdy.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.websockets import WebSocket

from litemaas_state.sandbox import endpoints, rbac, spdy, streams
from litemaas_state.sandbox.kubeapi import protobuf, ssa
from litemaas_state.sandbox.kubeapi.admission import int_at_least
from litemaas_state.sandbox.kubeapi.patch import apply_patch
from litemaas_state.sandbox.kubeapi.resources import (
    BY_PATH,
    COMPUTED,
    RESOURCES,
    SERVER_VERSION,
    STREAMING,
    Obj,
    Resource,
    group_list,
    openapi_v3_document,
    openapi_v3_root,
    resource,
    resource_list,
)
from litemaas_state.sandbox.kubeapi.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)
from litemaas_state.sandbox.kubeapi.status import (
    ApiError,
    bad_request,
    conflict,
    not_found,
)
from litemaas_state.sandbox.kubeapi.store import Store
from litemaas_state.sandbox.kubeapi.tables import to_table

log = logging.getLogger(__name__)


def _json(body: Obj, code: int = 200) -> Response:
    return Response(content=json.dumps(body), status_code=code, media_type="application/json")


def _strip_list_item(obj: Obj) -> Obj:
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return obj


def _list_response(res: Resource, items: list[Obj], rv: int | str, table: bool) -> Response:
    """A list answer: a meta.k8s.io/v1 Table when `table` (Accept: ...;as=Table), else `<Kind>List`."""
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

    runtimes: per namespace, where its pods' port-forwards and execs reach (streams.PodRuntime); a
    namespace without one (or None) → every port is refused and every command is not found. state_dir: where DIR/tokens.json is read and
    DIR/audit.jsonl written (rbac.py); None → admin token only, no audit log.
    """

    WATCH_POLL_S = 0.05

    def __init__(
        self,
        store: Store,
        token: str,
        *,
        runtimes: Mapping[str, streams.PodRuntime] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.stopping = False
        self.runtimes = dict(runtimes or {})
        self.faults = streams.FaultRegistry()
        self.auth = rbac.Authenticator(
            token, state_dir / "tokens.json" if state_dir else None, sa_uid=self._service_account_uid
        )
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

    def _service_account_uid(self, namespace: str, name: str) -> str | None:
        sa = self.store.find(resource("ServiceAccount"), namespace, name)
        return None if sa is None else str(sa["metadata"]["uid"])

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
        """`/sandbox/v1/faults` (admin token only): GET → open streams; POST {"action", "after_bytes", "namespace"}."""
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
        namespace = body.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise bad_request("namespace must be a string")
        try:
            return _json(self.faults.apply(str(body.get("action")), after, namespace))
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
        runtime = self.runtimes.get(info.namespace) or streams.PodRuntime()
        if info.subresource == "portforward" and protocol == spdy.PROTOCOL:
            await spdy.serve_spdy_portforward(ws, pod, runtime, self.faults)
        elif info.subresource == "portforward":
            await streams.serve_portforward(ws, protocol, pod, ports, runtime, self.faults)
        else:
            opts = {k: q.get(k, "") in ("1", "true", "True") for k in ("stdin", "stdout", "stderr", "tty")}
            await streams.serve_exec(ws, protocol, pod, command, opts, runtime, self.faults)

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
                return _json(group_list())
            if path == "/openapi/v3":
                return _json(openapi_v3_root())
            if path.startswith("/openapi/v3/"):
                doc = openapi_v3_document(path[len("/openapi/v3/") :])
                if doc is not None:
                    return _json(doc)
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[:1] == ["apis"] and len(parts) == 2 and any(r.group == parts[1] for r in RESOURCES):
            g = next(x for x in group_list()["groups"] if x["name"] == parts[1])
            return _json({"kind": "APIGroup", "apiVersion": "v1", **g})
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            listing = resource_list(group, version)
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
                return _list_response(res, items, rv, table)
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
        if sub == "token":
            if method != "POST":
                raise self._not_allowed(method)
            return _json(self._token_request(res, ns, name, await self._body(request)), 201)
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
            if ctype == ssa.CONTENT_TYPE and sub is None:
                obj, created = ssa.apply(self.store, res, ns, name, raw, q.get("fieldManager", ""), dry_run=dry_run)
                return _json(obj, 201 if created else 200)
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

    def _token_request(self, res: Resource, ns: str, name: str, body: Obj) -> Obj:
        """`POST .../serviceaccounts/{name}/token` (what `kubectl create token` sends): a TokenRequest with a new
        bearer token for `system:serviceaccount:<ns>:<name>`, valid while the ServiceAccount (same uid) exists
        and for `spec.expirationSeconds` (default 3600; kube-apiserver's minimum 600)."""
        sa = self.store.get(res, ns, name)
        spec = body.get("spec") or {}
        seconds = spec.get("expirationSeconds") or 3600
        int_at_least(seconds, "spec.expirationSeconds", 600, "TokenRequest.authentication.k8s.io", name,
                     "may not specify a duration less than 10 minutes")
        token, expires = self.auth.issue(ns, name, sa["metadata"]["uid"], seconds)
        audiences = spec.get("audiences") or ["https://kubernetes.default.svc"]
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": None},
            "status": {"token": token, "expirationTimestamp": expires},
        }

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
        return _list_response(res, items, rv, "as=Table" in request.headers.get("accept", ""))

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
        if ctype == protobuf.CONTENT_TYPE:
            return protobuf.decode(await request.body())
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
        """GET/PUT/PATCH of .../{name}/scale (autoscaling/v1 Scale), as `kubectl scale` uses it (docs/design.md §9.13)."""
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
        int_at_least(replicas, "spec.replicas", 0, "Scale.autoscaling", name, "must be greater than or equal to 0")
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
