"""`manage.up`/`manage.down` and the daemon's files, with the data plane wired into the world."""

from __future__ import annotations

import base64
import importlib.util
import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from litemaas_state.sandbox import manage
from tests.conftest import FAST, Sandbox, kube_api

pytestmark = pytest.mark.slow

NS = "litellm-rhpds"
HAS_DATA_PLANE = importlib.util.find_spec("litemaas_state.sandbox.dataplane") is not None


def test_up_prints_no_secret_and_down_is_idempotent(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(**FAST, data_plane=False)
    assert sb.lines == [
        f"export KUBECONFIG='{sb.dir}/kubeconfig'",
        f"set -a; . '{sb.dir}/env'; set +a",
        f"export LITEMAAS_SANDBOX_DIR='{sb.dir}'",
    ]
    for value in sb.secrets().values():
        assert all(value not in line for line in sb.lines)
    for name in ("env", "kubeconfig", "secrets.json"):
        assert stat.S_IMODE(os.stat(sb.dir / name).st_mode) == 0o600
    assert manage.is_running(sb.dir)
    assert manage.up(sb.dir, manage.SandboxOptions(**FAST)) == sb.lines  # already up: reused
    pid = int((sb.dir / "daemon.pid").read_text())
    manage.down(sb.dir)
    assert not sb.dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    manage.down(sb.dir)  # idempotent


def test_up_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(manage.SandboxError, match="not a sandbox directory"):
        manage.up(tmp_path, manage.SandboxOptions(**FAST, data_plane=False))
    assert (tmp_path / "precious.txt").exists()


@pytest.mark.skipif(not HAS_DATA_PLANE, reason="litemaas_state.sandbox.dataplane is not present yet")
def test_world_points_at_the_data_plane(sandbox: Sandbox) -> None:
    env = sandbox.env
    for name in (
        "LITEMAAS_DATABASE_URL",
        "LITELLM_DATABASE_URL",
        "LITELLM_URL",
        "LITELLM_MASTER_KEY",
        "REDIS_URL",
    ):
        assert env.get(name), name
    with kube_api(sandbox.kubeconfig) as api:
        core = client.CoreV1Api(api)
        db = core.read_namespaced_secret("litemaas-db", NS).data
        assert base64.b64decode(db["DATABASE_URL"]).decode() == env["LITEMAAS_DATABASE_URL"]
        assert base64.b64decode(db["LITELLM_DATABASE_URL"]).decode() == env["LITELLM_DATABASE_URL"]
        route = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "route.openshift.io", "v1", NS, "routes", "litellm"
        )
        assert "tls" not in route["spec"]
        assert env["LITELLM_URL"] == f"http://{route['spec']['host']}"
        redis = core.list_namespaced_pod(NS, label_selector="app=litellm-redis").items
        assert [c.status for p in redis for c in p.status.conditions if c.type == "Ready"] == ["True"]


@pytest.mark.skipif(not HAS_DATA_PLANE, reason="needs the data plane")
def test_the_cluster_lives_in_memory_and_down_removes_it_even_after_a_kill_9(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    from litemaas_state.sandbox.postgres import MEMORY_DIR, PG_SCRATCH_PREFIX

    sb = sandbox_factory(**FAST)
    links = [p for p in sb.dir.rglob("pg") if p.is_symlink()]
    assert links, "no cluster symlink in the sandbox directory"
    targets = [Path(os.readlink(p)) for p in links]
    for target in targets:
        assert target.name.startswith(PG_SCRATCH_PREFIX) and (target / "data" / "PG_VERSION").is_file()
        if MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK):
            assert target.parent == MEMORY_DIR
    pid = int((sb.dir / "daemon.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the daemon alone: what it started is left running
    manage.down(sb.dir)
    assert not sb.dir.exists() and not any(t.exists() for t in targets)
    deadline = time.monotonic() + 10  # nothing of its process group (redis-server) is left, once reaped
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(pid)


def _group_alive(pgid: int) -> bool:
    """A process of group ``pgid`` that is not a zombie (/proc/PID/stat: state, then ppid, pgrp)."""
    for proc_stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc_stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
