"""A run's kept database connections (live/connect.py ``IdleConnections``, live/litemaas_db.py
``connection``) behave as a fresh connection per block would: a dead path costs at most the reuse probe's
deadline, no session setting carries over, a failed transaction is not kept, and a block that ends after
the run closed its connections closes its own. Against a real PostgreSQL (a sandbox's), through a TCP
relay that can black-hole the flows open now while new ones still reach the server."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from litemaas_state.live import litemaas_db
from litemaas_state.live.connect import DatabaseTarget, IdleConnections, describe_database
from tests.conftest import FAST, Sandbox, SandboxLauncher

pytestmark = pytest.mark.slow


class FreezableProxy:
    """A TCP relay to host:port. ``freeze()`` black-holes the flows open now (bytes are read and dropped,
    nothing is closed: a pod that vanished behind a Service IP, a NAT/LB idle drop); new flows still reach
    the server, as new connections reach the new pod."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen: set[int] = set()
        self.flows: list[int] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            flow = len(self.flows)
            self.flows.append(flow)
            threading.Thread(target=self._relay, args=(flow, client, server), daemon=True).start()

    def _relay(self, flow: int, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        while not self._stop:
            readable, _, _ = select.select([a, b], [], [], 0.2)
            for s in readable:
                data = s.recv(65536)
                if not data:
                    a.close()
                    b.close()
                    return
                if flow not in self.frozen:
                    peer[s].sendall(data)

    def freeze(self) -> None:
        self.frozen.update(self.flows)

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture(scope="module")
def data_plane(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    with sandbox_launcher.started(**FAST) as sandbox:
        yield sandbox


@pytest.fixture
def via_proxy(data_plane: Sandbox) -> Iterator[tuple[DatabaseTarget, FreezableProxy]]:
    params = conninfo_to_dict(data_plane.env["LITEMAAS_DATABASE_URL"])
    proxy = FreezableProxy(str(params["host"]), int(params["port"]))
    url = make_conninfo("", **{**params, "host": "127.0.0.1", "port": str(proxy.port)})
    # what Discovery makes on the direct path (--connect direct, the in-cluster CronJob): no tunnel, kept connections
    db = replace(describe_database(url, "litemaas", "test"), idle=IdleConnections())
    yield db, proxy
    assert db.idle is not None
    db.idle.close()
    proxy.close()


def backend(db: DatabaseTarget, sql: str = "SELECT pg_backend_pid()", autocommit: bool = True) -> Any:
    with litemaas_db.connection(db, autocommit=autocommit) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def within(fn: Callable[[], Any], timeout_s: float) -> Any:
    """``fn()`` in a thread; fails the test if it has not returned after ``timeout_s``."""
    box: list[Any] = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(timeout_s)
    assert not t.is_alive(), f"still waiting after {timeout_s:.0f}s"
    assert box, "it raised (see the thread's exception above)"
    return box[0]


def test_a_kept_connection_on_a_silently_dead_path_costs_only_the_probes_deadline(
        via_proxy: tuple[DatabaseTarget, FreezableProxy]) -> None:
    db, proxy = via_proxy
    first = backend(db)
    assert backend(db) == first  # kept, reused
    proxy.freeze()  # e.g. the database pod was rescheduled during a long rollout; a new connection works
    start = time.monotonic()
    # a blocking query on the kept connection would wait for TCP to give up (about 15 minutes)
    assert within(lambda: backend(db), timeout_s=litemaas_db.REUSE_PROBE_S + 10) != first
    assert time.monotonic() - start >= litemaas_db.REUSE_PROBE_S - 0.5  # it waited for the probe, then gave up


def test_no_session_setting_of_one_block_reaches_the_next(via_proxy: tuple[DatabaseTarget, FreezableProxy]) -> None:
    db, _ = via_proxy
    default = backend(db, "SHOW TimeZone")
    first = backend(db)
    with litemaas_db.connection(db, autocommit=False) as conn:
        conn.execute("SET TIME ZONE 'Pacific/Kiritimati'")  # as litellm_db.iter_keys sets 'UTC'
        conn.execute("CREATE TEMP TABLE scratch (x int)")
    assert backend(db) == first
    assert backend(db, "SHOW TimeZone") == default
    assert backend(db, "SELECT to_regclass('pg_temp.scratch') IS NULL") is True


def test_a_block_that_swallowed_a_failed_statement_leaves_a_usable_connection(
        via_proxy: tuple[DatabaseTarget, FreezableProxy]) -> None:
    db, _ = via_proxy
    with litemaas_db.connection(db, autocommit=False) as conn:
        pid = conn.info.backend_pid
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table")
    # the block ended normally: its aborted transaction was ended, and the connection kept and reused
    with litemaas_db.connection(db, autocommit=False) as conn:
        assert conn.info.backend_pid == pid
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_block_that_ends_after_the_run_closed_its_connections_closes_its_own(
        via_proxy: tuple[DatabaseTarget, FreezableProxy]) -> None:
    db, _ = via_proxy
    assert db.idle is not None
    with litemaas_db.connection(db) as conn:
        db.idle.close()  # Discovery.close while a block (a worker, a suspended iter_keys) still runs
        conn.execute("SELECT 1")
    assert conn.closed, "kept where nobody closes it any more (its port-forward is gone)"
