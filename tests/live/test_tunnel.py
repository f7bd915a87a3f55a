"""The port-forward tunnel and exec against the sandbox's real pods/portforward and pods/exec (WebSocket, the
official client's framing): a dialable local URL, a tunnel cut mid-query is a prompt error (never a hang)
naming the port-forward, a stale pod is replaced, and exec streams a whole dump with its exit status."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from litemaas_state.errors import ObserveError
from litemaas_state.live import litemaas_db
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube
from litemaas_state.live.model import PathKind
from litemaas_state.live.podexec import exec_stream
from litemaas_state.live.tunnel import PortForwardTunnel
from tests.conftest import FAST, Sandbox, parse_env_file
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def realistic(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(direct_urls=False, **FAST)


@pytest.fixture
def kube(realistic: Sandbox) -> KubeConnection:
    return connect_kube("litellm-rhpds", kubeconfig=str(realistic.kubeconfig))


@pytest.fixture
def discovery(kube: KubeConnection) -> Iterator[Discovery]:
    with Discovery(DataPlaneFlags(), KubeReader(kube), environ={}) as d:
        yield d


def fault(sb: Sandbox, action: str, after_bytes: int | None = None) -> None:
    cfg = yaml.safe_load(sb.kubeconfig.read_text())
    body: dict[str, Any] = {"action": action, **({"after_bytes": after_bytes} if after_bytes is not None else {})}
    with httpx.Client(base_url=cfg["clusters"][0]["cluster"]["server"],
                      headers={"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"},
                      verify=ssl.create_default_context(cafile=str(sb.dir / "tls" / "ca.crt"))) as c:
        assert c.post("/sandbox/v1/faults", json=body).status_code == 200


def test_database_through_a_port_forward(discovery: Discovery) -> None:
    db = discovery.database("litemaas")
    assert db is not None and db.pod is not None and db.pod.name == "litellm-postgres-0"
    assert "127.0.0.1" in db.url and "litellm-postgres" not in db.url
    assert (db.info.host, db.info.port, db.info.exec_pod) == ("litellm-postgres", 5432, "litellm-postgres-0")
    assert len(litemaas_db.read_users(db)) > 3
    (path,) = discovery.paths()
    assert (path.kind, path.pod, path.port) == (PathKind.KUBERNETES, "litellm-postgres-0", 5432)
    assert path.reason == "auto: litellm-postgres:5432 does not resolve or answer from here"


def test_a_run_reuses_one_connection_per_database_and_replaces_a_dead_one(realistic: Sandbox,
                                                                         discovery: Discovery) -> None:
    db = discovery.database("litemaas")
    assert db is not None and db.idle is not None

    def backend(autocommit: bool = True) -> int:
        with litemaas_db.connection(db, autocommit=autocommit) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            return int(row[0])

    first = backend()
    assert backend(autocommit=False) == first  # kept, and reused in a transaction...
    assert backend() == first  # ...which was committed, so it is kept again
    with pytest.raises(psycopg.errors.UndefinedTable), litemaas_db.connection(db) as conn:
        conn.execute("SELECT * FROM no_such_table")
    second = backend()
    assert second != first  # a block that failed does not give its connection back
    direct = parse_env_file(realistic.dir / "direct-env")["LITEMAAS_DATABASE_URL"]

    def ours() -> list[int]:
        with psycopg.connect(direct, autocommit=True) as c:
            return [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                            "'litemaas-state'")]

    assert ours() == [second]
    with psycopg.connect(direct, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (second,))
    wait_until(lambda: not ours(), "the kept connection's backend to end")
    third = backend()  # the dead kept connection is closed, a new one opened
    assert third not in (first, second)
    discovery.close()  # closes what is kept
    wait_until(lambda: not ours(), "the kept connections to close")


def test_a_tunnel_cut_mid_query_is_a_prompt_error(realistic: Sandbox, discovery: Discovery) -> None:
    db = discovery.database("litemaas")
    assert db is not None
    litemaas_db.read_users(db)  # the tunnel works
    fault(realistic, "drop-port-forwards", after_bytes=3000)  # past the handshake, inside the result
    start = time.monotonic()
    with pytest.raises(ObserveError) as err, litemaas_db.connection(db) as conn:
        conn.execute("SELECT repeat('x', 1000) FROM generate_series(1, 100000)").fetchall()  # ~100 MB
    assert time.monotonic() - start < 10
    assert "port-forward" in str(err.value) and "litellm-postgres-0" in str(err.value)
    fault(realistic, "clear")
    assert litemaas_db.read_api_keys(db)  # a new connection gets a new forward


def test_closing_the_discovery_closes_the_tunnels(kube: KubeConnection) -> None:
    d = Discovery(DataPlaneFlags(), KubeReader(kube), environ={})
    db = d.database("litemaas")
    assert db is not None
    d.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(db.url, connect_timeout=2)


def test_exec_streams_a_whole_dump_and_its_exit_status(kube: KubeConnection) -> None:
    chunks: list[bytes] = []
    result = exec_stream(kube, "litellm-postgres-0", "postgres",
                         ["pg_dump", "--no-password", "--username", "litellm", "--dbname", "litemaas_db"],
                         chunks.append, alternative="-")
    assert result.exit_code == 0
    assert b"-- PostgreSQL database dump complete" in b"".join(chunks)[-4096:]
    failed = exec_stream(kube, "litellm-postgres-0", "postgres",
                         ["pg_dump", "--no-password", "--username", "litellm", "--dbname", "no_such_db"],
                         chunks.append, alternative="-")
    assert failed.exit_code not in (0, None) and "no_such_db" in failed.stderr


class _Forward:
    """What PortForward offers the relay besides its socket: the error channel's text."""

    def error(self, port: int) -> str | None:
        return "error forwarding port 5432 to pod litellm-postgres-0: connection refused" if port == 1 else None


def _relay_once(read_timeout_s: float, port: int, answer: Callable[[Any], object]) -> tuple[float, str | None, bytes]:
    """Run the tunnel's relay between two real socket pairs (client side, pod side) for one request."""
    tunnel = PortForwardTunnel(None, "litellm-postgres-0", port, alternative="-",  # type: ignore[arg-type]
                               read_timeout_s=read_timeout_s)
    client, ours = socket.socketpair()
    remote, pod = socket.socketpair()
    start = time.monotonic()
    t = threading.Thread(target=tunnel._relay, args=(ours, remote, _Forward()), daemon=True)
    t.start()
    client.sendall(b"startup")
    assert pod.recv(100) == b"startup"
    answer(pod)
    t.join(timeout=10)
    took = time.monotonic() - start
    ours.close()
    client.settimeout(2)
    got = b""
    try:
        while chunk := client.recv(100):
            got += chunk
    except OSError:
        pass
    return took, tunnel.last_error, got


def test_a_request_without_answer_ends_the_relay_after_the_read_timeout() -> None:
    took, error, _ = _relay_once(0.6, 5432, lambda pod: None)  # the pod side never answers
    assert 0.5 < took < 3
    assert error == "the port-forward to pod/litellm-postgres-0:5432 got no answer for 1 s; closed it"


def test_a_closed_forward_ends_the_relay_with_its_error_channel_text() -> None:
    took, error, got = _relay_once(30, 1, lambda pod: (pod.sendall(b"partial"), pod.close()))
    assert took < 3 and got == b"partial"
    assert error == ("the port-forward to pod/litellm-postgres-0:1 closed: error forwarding port 5432 to pod "
                     "litellm-postgres-0: connection refused")
