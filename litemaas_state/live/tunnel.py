"""A port-forward to a pod, served on a local 127.0.0.1 socket, as ``kubectl port-forward`` does.

Each connection accepted on the local socket gets its own port-forward WebSocket to the API server
(``kubernetes.stream.portforward``, the official client's ``portforward.k8s.io`` framing: one data and one
error channel per port, each opened by a 2-byte port number), and a thread pipes bytes both ways. So
psycopg, httpx and redis-py dial ``127.0.0.1:<local_port>`` and need to know nothing about Kubernetes.

A tunnel never hangs its client:

* a WebSocket that closes (pod gone, API server restarted, connection cut) closes the local socket at
  once, so the client's pending read fails;
* a request that gets no byte back for ``read_timeout_s`` closes it too (a silently dead connection);
* ``last_error`` keeps why, for the client's error message.

A pod that goes away (a rollout replaces the litellm pods) is replaced by a fresh Ready pod of the same
Service for the next connection (``repick``).

Source: kubernetes-client/python ``kubernetes/stream/ws_client.py`` (``PortForward``, ``portforward_call``);
kube-apiserver ``pkg/kubelet/cri/streaming/portforward/websocket.go`` (the framing).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from litemaas_state.errors import Forbidden, ObserveError
from litemaas_state.live import endpoints as ep
from litemaas_state.live.kube import KubeConnection, api_error

CHUNK = 1 << 18
READ_TIMEOUT_S = 120.0
POLL_S = 0.5


def open_portforward(conn: KubeConnection, pod: str, port: int, alternative: str) -> Any:
    """One port-forward WebSocket to ``pod:port`` (a ``kubernetes.stream.ws_client.PortForward``).

    Raises:
        Forbidden: the token may not ``create pods/portforward`` (HTTP 403).
        ObserveError: the API server refused the upgrade otherwise, or cannot be reached.
    """
    from kubernetes.stream import portforward  # lazy: the WebSocket stack is only needed here

    # A client of its own: kubernetes.stream swaps the client's call_api while it dials, which would race
    # with reads on a shared client and with other tunnels' threads.
    try:
        with ApiClient(conn.api.configuration) as api:
            return portforward(ep.Connect(api, ep.PORTFORWARD_POD).open, pod, conn.namespace,
                               ports=str(port))
    except ApiException as exc:
        raise api_error(exc, f"port-forward to pod/{pod}:{port}", verb="create", resource="pods/portforward",
                        alternative=alternative) from exc


class PortForwardTunnel:
    """A local listener on 127.0.0.1 whose connections are port-forwarded to ``pod:port``.

    Use as a context manager, or call ``close()``: the listener and every open forward are closed.
    ``start()`` opens one forward first, so a refused port-forward (403, pod gone) is an error here, not a
    mysterious EOF in the client.
    """

    def __init__(self, conn: KubeConnection, pod: str, port: int, *, alternative: str,
                 read_timeout_s: float = READ_TIMEOUT_S, repick: Callable[[], tuple[str, int]] | None = None) -> None:
        self.conn = conn
        self.repick = repick
        self.pod = pod
        self.port = port
        self.alternative = alternative
        self.read_timeout_s = read_timeout_s
        self.last_error: str | None = None
        self._listener: socket.socket | None = None
        self._closed = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def local_port(self) -> int:
        assert self._listener is not None
        port: int = self._listener.getsockname()[1]
        return port

    def start(self) -> PortForwardTunnel:
        """Check the forward works, then listen. Raises Forbidden/ObserveError (see open_portforward)."""
        probe = open_portforward(self.conn, self.pod, self.port, self.alternative)
        probe.close()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(POLL_S)
        self._listener = listener
        t = threading.Thread(target=self._accept_loop, name=f"port-forward pod/{self.pod}:{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __enter__(self) -> PortForwardTunnel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and cut every forward (idempotent)."""
        self._closed.set()
        if self._listener is not None:
            _close(self._listener)  # shutdown wakes the accept() of the listener thread at once
        with self._lock:
            for s in list(self._open):
                _close(s)
        for t in self._threads:
            t.join(timeout=1.0)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            # no Nagle: a small reply would otherwise wait for the client's delayed ACK (~40 ms a request)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(client,), daemon=True,
                                 name=f"port-forward conn pod/{self.pod}:{self.port}")
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self._open.add(client)
        forward = None
        try:
            try:
                forward = self._dial()
                remote = forward.socket(self.port)
                remote.setblocking(True)
                self._relay(client, remote, forward)
            except ObserveError as exc:
                self.last_error = str(exc)
            except Exception as exc:  # a thread must never print a traceback (unscrubbed) or die silently
                self.last_error = f"the port-forward to pod/{self.pod}:{self.port} failed ({type(exc).__name__})"
        finally:
            with self._lock:
                self._open.discard(client)
            _close(client)
            if forward is not None:
                try:
                    forward.close()
                except OSError:
                    pass

    def _dial(self) -> Any:
        """A forward to the current pod; when that fails (the pod was replaced, e.g. by a rollout) and
        ``repick`` is set, to the Ready pod it names instead, as a new ``kubectl port-forward svc/…`` would."""
        try:
            return open_portforward(self.conn, self.pod, self.port, self.alternative)
        except Forbidden:
            raise
        except ObserveError:
            if self.repick is None:
                raise
            self.pod, self.port = self.repick()
            return open_portforward(self.conn, self.pod, self.port, self.alternative)

    def _relay(self, client: socket.socket, remote: Any, forward: Any) -> None:
        """Pipe bytes both ways until either side closes; a request unanswered for read_timeout_s ends it."""
        waiting_since: float | None = None
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([client, remote], [], [], POLL_S)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            if not readable:
                if waiting_since is not None and now - waiting_since > self.read_timeout_s:
                    self.last_error = (f"the port-forward to pod/{self.pod}:{self.port} got no answer for "
                                       f"{self.read_timeout_s:.0f} s; closed it")
                    return
                continue
            if client in readable:
                data = _recv(client)
                if not data:
                    return
                remote.sendall(data)
                if waiting_since is None:
                    waiting_since = now
            if remote in readable:
                data = _recv(remote)
                if not data:
                    error = (forward.error(self.port) or "").strip()
                    self.last_error = (f"the port-forward to pod/{self.pod}:{self.port} closed"
                                       + (f": {error[:200]}" if error else " (the WebSocket ended)"))
                    return
                try:
                    client.sendall(data)
                except OSError:
                    return
                waiting_since = None


def _recv(s: Any) -> bytes:
    try:
        data: bytes = s.recv(CHUNK)
        return data
    except OSError:
        return b""


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
