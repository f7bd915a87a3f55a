"""pods/exec and pods/portforward over WebSocket for the sandbox's Kubernetes API.

Port-forward (`GET /api/v1/namespaces/{ns}/pods/{name}/portforward?ports=P[,Q]`): the WebSocket
framing kube-apiserver proxies from the kubelet (kubernetes/kubernetes
pkg/kubelet/cri/streaming/portforward/websocket.go) and the official Python client speaks
(kubernetes-client/python kubernetes/stream/ws_client.py `PortForward._proxy`). Subprotocols accepted:
`v4.channel.k8s.io` (the one the Python client gets when it offers `v5.channel.k8s.io,v4.channel.k8s.io`),
`portforward.k8s.io` and none. Every binary frame starts with a channel byte: port i (in `ports` order)
has data channel 2i and error channel 2i+1; the first frame on each carries the port as 2 bytes
little-endian. Each port is dialled at connect, like the kubelet does in the pod's network namespace:
a port with no server behind it sends `error forwarding port P to pod NAME, uid UID: ... connection
refused` on its error channel and its data stream ends. The connection closes when every port's
stream has ended (upstream EOF, client close, or a fault). Each namespace (environment) has its own
`PodRuntime`, so a pod in namespace A reaches A's servers only. The pod → server map
(`PodRuntime.upstream`, app labels per layout, layouts.py): app=litellm-postgres (rhpds) or app=postgres
(Kustomize) port 5432 → that environment's PostgreSQL, app=litellm port 4000 → its LiteLLM admin API
emulator, app=litellm-redis port 6379 → its redis-server; anything else is refused. As on a cluster, a
Running pod forwards even when it is not Ready; a pod that is not Running answers the upgrade with the
kubelet's 500 `pod not found ("<name>_<namespace>")`, an exec into a container that is not running
with 500 `container not found ("<container>")`, and a missing pod with the apiserver's 404 Status.

kubectl's own port-forward tunnels SPDY/3.1 in the WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`,
no `ports` query): served by spdy.py with the same pod → server map. kubectl 1.32 tries that only with
KUBECTL_PORT_FORWARD_WEBSOCKETS=true; otherwise it sends a plain SPDY upgrade (POST), which this server
answers with 400 "Upgrade request required", so `kubectl port-forward` fails at once.

Exec (`GET .../pods/{name}/exec?command=..&stdin=&stdout=&stderr=&tty=&container=`): the kubelet's
remotecommand WebSocket protocol (kubernetes/kubernetes pkg/kubelet/cri/streaming/remotecommand and
staging/src/k8s.io/client-go/tools/remotecommand/websocket.go), subprotocols `v5.channel.k8s.io` and
`v4.channel.k8s.io`: channel 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status JSON: `Success`, or
`Failure` with reason `NonZeroExitCode` and a cause `{"reason":"ExitCode","message":"<code>"}`),
4 resize (ignored); v5 adds the close frame `[255, channel]` (stdin EOF). The container's commands run
as real processes of this machine against the sandbox's servers: in the postgres pod `psql`, `pg_dump`,
`pg_isready` with PGHOST/PGPORT/PGUSER/PGPASSWORD aimed at the environment's PostgreSQL (the pod's trusted local
socket; `-h`/`-p` options given by the caller are replaced); in redis pods `redis-cli` with the sandbox
Redis address and REDISCLI_AUTH (the password the pod's env gives). Any other command gets runc's
`exec: "X": executable file not found in $PATH` on stderr and exit code 127. A process killed by a
signal reports 128+signal (SIGKILL → 137), as a container runtime does. Output is streamed, never held.

Faults (`FaultRegistry`, reached through the admin-only `POST /sandbox/v1/faults` in kubeapi/http.py):
drop every open port-forward (the client sees the WebSocket close), SIGKILL every running exec
(non-zero exit status on channel 3), or drop exec connections without a status; each optionally armed
with `after_bytes` so that streams are cut once they have sent that many bytes to the client, and
optionally limited to the pods of one namespace.

Boundary: imports no product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

Obj = dict[str, Any]

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4)
PORTFORWARD_PROTOCOLS = (V4, "portforward.k8s.io")
CHUNK = 64 * 1024

POSTGRES_TOOLS = ("psql", "pg_dump", "pg_isready")
REDIS_TOOLS = ("redis-cli",)
_IMAGE_BIN_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")


def offered_protocols(ws: WebSocket) -> list[str]:
    """The subprotocols of the client's `Sec-WebSocket-Protocol` header(s), in order.

    The ASGI scope's `subprotocols` (uvicorn's wsproto protocol moves the header there), else the header.
    """
    if ws.scope.get("subprotocols"):
        return [str(p).strip() for p in ws.scope["subprotocols"]]
    raw = ",".join(v for k, v in ws.headers.items() if k == "sec-websocket-protocol")
    return [p.strip() for p in raw.split(",") if p.strip()]


def choose_protocol(offered: list[str], served: tuple[str, ...]) -> str | None:
    """The first offered protocol we serve; "" if none was offered; None if none matches."""
    if not offered:
        return ""
    return next((p for p in offered if p in served), None)


@dataclass(frozen=True)
class PodRuntime:
    """What one environment's pods' containers reach: its data plane's servers on 127.0.0.1 (ports None:
    not running).

    postgres_app / litellm_app / redis_app: the pods' `app` labels (layouts.py; rhpds defaults).
    pg_bin: directory holding psql/pg_dump/pg_isready (else found in PATH).
    """

    postgres_port: int | None = None
    postgres_password: str = field(default="", repr=False)
    postgres_user: str = "litellm"
    redis_port: int | None = None
    redis_password: str = field(default="", repr=False)
    litellm_port: int | None = None
    pg_bin: Path | None = None
    host: str = "127.0.0.1"
    postgres_app: str = "litellm-postgres"
    litellm_app: str = "litellm"
    redis_app: str = "litellm-redis"

    def upstream(self, pod: Obj, port: int) -> tuple[str, int] | None:
        """The local server behind `port` of `pod`, or None (connection refused)."""
        app = ((pod.get("metadata") or {}).get("labels") or {}).get("app")
        target = {
            (self.postgres_app, 5432): self.postgres_port,
            (self.litellm_app, 4000): self.litellm_port,
            (self.redis_app, 6379): self.redis_port,
        }.get((str(app), port))
        return (self.host, target) if target else None

    def _pg_binary(self, name: str) -> str | None:
        if self.pg_bin is not None and (self.pg_bin / name).exists():
            return str(self.pg_bin / name)
        return shutil.which(name)

    def command(self, pod: Obj, argv: list[str]) -> tuple[list[str], dict[str, str]] | None:
        """The local argv and environment that stand in for `argv` in `pod`, or None (not in the image)."""
        if not argv:
            return None
        first = argv[0]
        name = os.path.basename(first)
        if "/" in first and os.path.dirname(first) not in _IMAGE_BIN_DIRS:
            return None
        app = ((pod.get("metadata") or {}).get("labels") or {}).get("app")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")}
        if app == self.postgres_app and name in POSTGRES_TOOLS and self.postgres_port:
            binary = self._pg_binary(name)
            if binary is None:
                return None
            env.update(
                PGHOST=self.host,
                PGPORT=str(self.postgres_port),
                PGUSER=self.postgres_user,
                PGPASSWORD=self.postgres_password,
                PGSSLMODE="disable",
            )
            return [binary, *_drop_options(argv[1:], ("-h", "--host", "-p", "--port"))], env
        if app == self.redis_app and name in REDIS_TOOLS and self.redis_port:
            binary = shutil.which(name)
            if binary is None:
                return None
            if self.redis_password:
                env["REDISCLI_AUTH"] = self.redis_password
            rest = _drop_options(argv[1:], ("-h", "-p", "-a", "--pass", "--user"))
            return [binary, "-h", self.host, "-p", str(self.redis_port), *rest], env
        return None


def _drop_options(args: list[str], options: tuple[str, ...]) -> list[str]:
    """`args` without the given options (`-h X`, `-hX`, `--host=X`): the pod's own socket is the only host."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in options:
            skip = True
            continue
        if any(arg.startswith(o + "=") for o in options if o.startswith("--")):
            continue
        if any(len(o) == 2 and arg.startswith(o) and len(arg) > 2 for o in options):
            continue
        out.append(arg)
    return out


# --------------------------------------------------------------------------------------------------
# Faults


class _Session:
    """One open stream: counts bytes sent to the client and can be cut from another thread."""

    def __init__(
        self,
        kind: str,
        loop: asyncio.AbstractEventLoop,
        cut: Callable[[str], Coroutine[Any, Any, None]],
        namespace: str = "",
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self.loop = loop
        self._cut = cut
        self.sent = 0
        self.cutting = False

    def cut(self, how: str) -> None:
        if self.cutting:
            return
        self.cutting = True
        asyncio.run_coroutine_threadsafe(self._cut(how), self.loop)


class FaultRegistry:
    """Open port-forwards and execs, and the faults armed against them. Thread-safe.

    Actions (`apply`): `drop-port-forwards`, `kill-execs` (SIGKILL), `drop-execs` (close, no status),
    each with optional `after_bytes` (also armed for streams opened later) and optional `namespace` (only
    streams to pods of that namespace; None: every namespace); `clear` disarms (all, or one namespace's).
    """

    ACTIONS = ("drop-port-forwards", "kill-execs", "drop-execs", "clear")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._armed: dict[tuple[str, str | None], tuple[str, int]] = {}  # (kind, namespace) → (how, after_bytes)

    def open(self, session: _Session) -> None:
        with self._lock:
            self._sessions.add(session)

    def close(self, session: _Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def counts(self) -> dict[str, int]:
        with self._lock:
            kinds = [s.kind for s in self._sessions]
        return {"portforward": kinds.count("portforward"), "exec": kinds.count("exec")}

    def sent(self, session: _Session, n: int) -> None:
        """Record `n` bytes sent to the client; cut the session if an armed fault says so."""
        session.sent += n
        with self._lock:
            armed = self._armed.get((session.kind, session.namespace)) or self._armed.get((session.kind, None))
        if armed is not None and session.sent >= armed[1]:
            session.cut(armed[0])

    def apply(self, action: str, after_bytes: int | None = None, namespace: str | None = None) -> dict[str, int]:
        """Run a fault action; returns `{"affected": N}` (streams cut now). Raises ValueError on a bad action."""
        if action not in self.ACTIONS:
            raise ValueError(f"unknown fault action {action!r} (expected one of {', '.join(self.ACTIONS)})")
        if action == "clear":
            with self._lock:
                for key in [k for k in self._armed if namespace is None or k[1] == namespace]:
                    del self._armed[key]
            return {"affected": 0}
        kind = "portforward" if action == "drop-port-forwards" else "exec"
        how = "kill" if action == "kill-execs" else "drop"
        with self._lock:
            if after_bytes is not None:
                self._armed[(kind, namespace)] = (how, after_bytes)
            targets = [
                s
                for s in self._sessions
                if s.kind == kind
                and s.sent >= (after_bytes or 0)
                and (namespace is None or s.namespace == namespace)
            ]
        for s in targets:
            s.cut(how)
        return {"affected": len(targets)}


# --------------------------------------------------------------------------------------------------
# Port-forward


def _port_bytes(port: int) -> bytes:
    return bytes((port & 0xFF, port >> 8))


async def serve_portforward(
    ws: WebSocket, protocol: str, pod: Obj, ports: list[int], runtime: PodRuntime, faults: FaultRegistry
) -> None:
    """Accept the upgrade and pipe each port to its local server until every stream has ended."""
    await ws.accept(subprotocol=protocol or None)
    name = pod["metadata"]["name"]
    uid = pod["metadata"].get("uid", "")
    send_lock = asyncio.Lock()
    writers: dict[int, asyncio.StreamWriter] = {}
    tasks: list[asyncio.Task[None]] = []
    closed = asyncio.Event()

    async def send(payload: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(payload)

    async def cut(how: str) -> None:
        closed.set()
        for w in writers.values():
            w.transport.abort()
        with contextlib.suppress(Exception):
            await ws.close(code=1011, reason="port-forward dropped")

    session = _Session("portforward", asyncio.get_running_loop(), cut, pod["metadata"].get("namespace", ""))
    faults.open(session)
    try:
        # Dial every port before reading client frames: bytes the client sends early wait in the
        # WebSocket instead of arriving before there is an upstream to take them.
        readers: dict[int, asyncio.StreamReader] = {}
        refusals: dict[int, str] = {}
        for i, port in enumerate(ports):
            target = runtime.upstream(pod, port)
            try:
                if target is None:
                    raise ConnectionRefusedError
                readers[i], writers[i] = await asyncio.open_connection(*target)
            except OSError:
                refusals[i] = (
                    f"error forwarding port {port} to pod {name}, uid {uid}: failed to connect to "
                    f'localhost:{port} inside namespace "{uid}", IPv4: dial tcp4 127.0.0.1:{port}: connect: '
                    f"connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused"
                )
        for i, port in enumerate(ports):
            await send(bytes((2 * i,)) + _port_bytes(port))
            await send(bytes((2 * i + 1,)) + _port_bytes(port))

        async def pipe_out(i: int) -> None:
            if i in refusals:
                await send(bytes((2 * i + 1,)) + refusals[i].encode())
                return
            reader = readers[i]
            channel = bytes((2 * i,))
            while not closed.is_set():
                try:
                    chunk = await reader.read(CHUNK)
                except OSError:
                    break
                if not chunk:
                    break
                await send(channel + chunk)
                faults.sent(session, len(chunk))

        async def pipe_in() -> None:
            while not closed.is_set():
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                data = msg.get("bytes")
                if data is None:
                    data = (msg.get("text") or "").encode()
                if not data:
                    continue
                i, rest = divmod(data[0], 2)
                writer = writers.get(i)
                if rest == 0 and writer is not None and len(data) > 1:
                    writer.write(data[1:])
                    await writer.drain()

        tasks = [asyncio.create_task(pipe_out(i)) for i in range(len(ports))]
        inbound = asyncio.create_task(pipe_in())
        outbound: asyncio.Future[list[None]] = asyncio.gather(*tasks)
        waited: set[asyncio.Future[Any]] = {inbound, outbound}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        closed.set()
        for t in (*tasks, inbound):
            t.cancel()
        await asyncio.gather(*tasks, inbound, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await outbound
    except (WebSocketDisconnect, ConnectionError, RuntimeError):
        pass
    finally:
        faults.close(session)
        for w in writers.values():
            w.transport.abort()
        with contextlib.suppress(Exception):
            await ws.close()


# --------------------------------------------------------------------------------------------------
# Exec


def exit_status(code: int, argv: list[str]) -> Obj:
    """The Status the kubelet writes on the error channel for an exit code (0 → Success)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: command '{' '.join(argv)}' exited with {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def serve_exec(
    ws: WebSocket,
    protocol: str,
    pod: Obj,
    argv: list[str],
    opts: dict[str, bool],
    runtime: PodRuntime,
    faults: FaultRegistry,
) -> None:
    """Accept the upgrade, run the stand-in process, stream its output, then send the exit Status."""
    await ws.accept(subprotocol=protocol)
    send_lock = asyncio.Lock()

    async def send(channel: int, payload: bytes) -> None:
        async with send_lock:
            await ws.send_bytes(bytes((channel,)) + payload)

    async def finish(code: int) -> None:
        await send(ERROR, json.dumps(exit_status(code, argv)).encode())
        await ws.close()

    resolved = runtime.command(pod, argv)
    if resolved is None:
        if opts.get("stderr", True):
            await send(
                STDERR,
                (
                    "exec failed: unable to start container process: exec: "
                    f'"{argv[0] if argv else ""}": executable file not found in $PATH\n'
                ).encode(),
            )
        await finish(127)
        return
    local_argv, env = resolved
    proc = await asyncio.create_subprocess_exec(
        *local_argv,
        stdin=asyncio.subprocess.PIPE if opts.get("stdin") else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    dropped = asyncio.Event()

    async def cut(how: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        if how == "drop":
            dropped.set()
            with contextlib.suppress(Exception):
                await ws.close(code=1011, reason="exec dropped")

    session = _Session("exec", asyncio.get_running_loop(), cut, pod["metadata"].get("namespace", ""))
    faults.open(session)

    async def pump(stream: asyncio.StreamReader | None, channel: int, wanted: bool) -> None:
        assert stream is not None
        while chunk := await stream.read(CHUNK):
            if wanted and not dropped.is_set():
                await send(channel, chunk)
                faults.sent(session, len(chunk))

    async def feed() -> None:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                return
            data = msg.get("bytes")
            if data is None:
                data = (msg.get("text") or "").encode()
            if not data:
                continue
            channel = data[0]
            if channel == STDIN and proc.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(data[1:])
                    await proc.stdin.drain()
            elif channel == CLOSE and protocol == V5 and data[1:2] == bytes((STDIN,)) and proc.stdin:
                proc.stdin.close()

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(
            pump(proc.stdout, STDOUT, opts.get("stdout", True)),
            pump(proc.stderr, STDERR, opts.get("stderr", True)),
        )
        rc = await proc.wait()
        code = rc if rc >= 0 else 128 - rc
        if not dropped.is_set():
            await finish(code)
    except (WebSocketDisconnect, ConnectionError, RuntimeError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
    finally:
        faults.close(session)
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
