"""Serving: a throw-away CA and server certificate (`generate_tls`) and `KubeApiServer`, which runs
`KubeApi` under uvicorn in a background thread.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from litemaas_state.sandbox import streams
from litemaas_state.sandbox.kubeapi.http import KubeApi
from litemaas_state.sandbox.kubeapi.store import Store


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throw-away CA and the server certificate it signed (SAN IP:127.0.0.1, DNS:localhost)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def generate_tls(directory: Path) -> TlsFiles:
    """Make a CA and a server certificate for 127.0.0.1 in `directory` with the `openssl` CLI (P-256, 30 days).

    Why TLS at all: kubectl reads a kubeconfig's credentials only when the server URL is https
    (client-go clientcmd `ClientConfig`: "only try to read the auth information if we are secure"), so
    bearer-token auth cannot be tested with kubectl over plain http.
    Raises RuntimeError if `openssl` is missing or fails.
    """
    if shutil.which("openssl") is None:
        raise RuntimeError("the sandbox needs the `openssl` command to make its TLS certificate")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt, ext = (
        directory / "server.key",
        directory / "server.csr",
        directory / "server.crt",
        directory / "server.ext",
    )
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            *ec,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_crt),
            "-days",
            "30",
            "-subj",
            "/CN=litemaas-sandbox-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        ["openssl", "req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_crt),
            "-CAkey",
            str(ca_key),
            "-set_serial",
            str(int(time.time() * 1000)),
            "-out",
            str(crt),
            "-days",
            "30",
            "-extfile",
            str(ext),
        ],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"openssl failed ({' '.join(cmd[:3])}): {done.stderr.strip()[-500:]}")
    for private in (ca_key, key):
        private.chmod(0o600)
    return TlsFiles(ca_cert=ca_crt, server_cert=crt, server_key=key)


class KubeApiServer:
    """Runs `KubeApi` under uvicorn in a background thread, on 127.0.0.1 and a free port.

    With `tls` the server speaks https (what kubectl needs to send the bearer token); without, http.
    Usage: `server = KubeApiServer(store, token, tls=generate_tls(d)); server.start(); ... server.stop()`.
    """

    def __init__(
        self,
        store: Store,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        runtimes: Mapping[str, streams.PodRuntime] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.api = KubeApi(store, token, runtimes=runtimes, state_dir=state_dir)
        self.tls = tls
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY from the listener. Without it, asyncio's TLS transport
        # leaves Nagle on, and each response's body waits for the client's delayed ACK: about 40 ms per
        # request where kube-apiserver (Go, whose net package sets TCP_NODELAY) answers in a few.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.api.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ws="wsproto",
            ws_per_message_deflate=False,
            ssl_certfile=str(tls.server_cert) if tls else None,
            ssl_keyfile=str(tls.server_key) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="kubeapi"
        )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once uvicorn accepts connections. Raises RuntimeError on timeout."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox Kubernetes API did not start")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving (open watches end), and wait for the server thread."""
        self.api.stopping = True
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()
