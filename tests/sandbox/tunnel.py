"""Test helpers for the sandbox's pods/portforward and pods/exec: a local listener over a port-forward socket.

`listen_on(sock)` plays the part of `kubectl port-forward`'s local side for one connection: it
listens on 127.0.0.1:<free port>, accepts one client and pipes bytes both ways to `sock` (the socket
the official client's `portforward(...).socket(port)` returns), so psycopg can dial it.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import yaml

from litemaas_state.sandbox import manage
from tests.conftest import Sandbox


def listen_on(remote: Any) -> int:
    """Listen on a free local port; bridge its first connection to `remote`. Returns the port."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)

    def run() -> None:
        conn, _ = lst.accept()
        lst.close()
        try:
            while True:
                ready, _, _ = select.select([conn, remote], [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (remote if s is conn else conn).sendall(data)
        except OSError:
            return
        finally:
            conn.close()
            remote.close()

    threading.Thread(target=run, daemon=True, name="test-tunnel").start()
    port: int = lst.getsockname()[1]
    return port


def admin(sandbox: Sandbox) -> httpx.Client:
    """An httpx client for the sandbox API with the admin token (for /sandbox/v1/faults)."""
    cfg = yaml.safe_load(sandbox.kubeconfig.read_text())
    return httpx.Client(
        base_url=cfg["clusters"][0]["cluster"]["server"],
        headers={"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"},
        verify=ssl.create_default_context(cafile=str(sandbox.dir / "tls" / "ca.crt")),
        timeout=10,
    )


def fault(
    sandbox: Sandbox, action: str, after_bytes: int | None = None, namespace: str | None = None
) -> dict[str, Any]:
    return manage.inject_fault(sandbox.dir, action, after_bytes, namespace=namespace)


def open_streams(sandbox: Sandbox) -> dict[str, int]:
    with admin(sandbox) as c:
        counts: dict[str, int] = c.get("/sandbox/v1/faults").json()["open"]
        return counts


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def audit_lines(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sandbox.dir / "audit.jsonl").read_text().splitlines()]
