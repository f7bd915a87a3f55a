"""Shared fixtures: start a real sandbox (daemon process, Kubernetes API, controller, data plane).

`sandbox_factory(**options)` starts one sandbox per call through `manage.up` (the same path as
`litemaas-state sandbox up`) and stops it with `manage.down` at teardown. `sandbox` is one sandbox with
fast options. `sandbox_launcher` (session) lets a module share one sandbox (see tests/sandbox).

Sandbox directories are made under /tmp with short names and mode 0755 (not pytest's tmp_path, which
is 0700 under /tmp/pytest-of-<user>): as root the data plane runs PostgreSQL as the `postgres` user,
which must reach the directory, and PostgreSQL's Unix socket paths must stay short.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from litemaas_state.sandbox import manage
from tests.forkserver import ForkServer

if TYPE_CHECKING:
    from kubernetes import client

FAST: dict[str, Any] = {"pod_ready_s": 0.15, "progress_deadline_s": 3}
# The sandboxes' PostgreSQL clusters in /dev/shm (sandbox/postgres.py): ≈ 0.5 s less kernel CPU per sandbox.
os.environ.setdefault("LITEMAAS_SANDBOX_PG_IN_MEMORY", "1")
#: `LITEMAAS_TEST_FORKSERVER=0` starts every CLI run and sandbox daemon as a plain subprocess (slower; same
#: results: tests/e2e/test_forkserver.py).
FORKSERVER = os.environ.get("LITEMAAS_TEST_FORKSERVER", "1") != "0"


_WORKER_SERVER: list[ForkServer] = []  # this pytest process's fork server, once started


def worker_fork_server() -> ForkServer | None:
    """This pytest worker's fork server (tests/forkserver.py), started at first use and stopped when the
    session ends; None with LITEMAAS_TEST_FORKSERVER=0."""
    if not FORKSERVER:
        return None
    if not _WORKER_SERVER:
        _WORKER_SERVER.append(ForkServer.start())
    return _WORKER_SERVER[0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _WORKER_SERVER:
        _WORKER_SERVER.pop().stop()


@pytest.fixture(scope="session")
def fork_server() -> ForkServer | None:
    """The worker's fork server (``worker_fork_server``), None with LITEMAAS_TEST_FORKSERVER=0."""
    return worker_fork_server()


def run_cli(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            timeout_s: float = 300.0, input: str | None = None,
            server: ForkServer | None | Literal["worker"] = "worker") -> subprocess.CompletedProcess[str]:
    """`python -m litemaas_state ARGS` as `subprocess.run(capture_output=True, text=True)` gives it: with
    exactly ``env`` (default: this process's), in ``cwd`` (default: this process's), stdin ``input`` (else
    /dev/null). Forked from ``server`` (default: the worker's fork server; a warm interpreter, the same
    results: tests/e2e/test_forkserver.py), else (None) a new interpreter. Raises
    subprocess.TimeoutExpired past ``timeout_s``."""
    environ = dict(os.environ if env is None else env)
    if server == "worker":
        server = worker_fork_server()
    if server is not None:
        return server.run(list(args), environ, cwd or Path.cwd(), timeout_s=timeout_s, input=input)
    return subprocess.run([sys.executable, "-m", "litemaas_state", *args], capture_output=True, text=True,
                          env=environ, cwd=cwd, timeout=timeout_s, input=input,
                          stdin=subprocess.DEVNULL if input is None else None)


def spawn_options(server: ForkServer | None) -> dict[str, Any]:
    """manage.up's keyword arguments: its daemon forked from ``server``, else its own default (a new interpreter)."""
    return {} if server is None else {"spawn": server.spawn(manage.DAEMON_MODULE)}


def parse_env_file(path: Path) -> dict[str, str]:
    """Parse `export NAME='value'` lines (the sandbox env file) into a dict."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


@dataclass
class Sandbox:
    """A running sandbox: its directory, kubeconfig, environment (env file + KUBECONFIG) and printed lines."""

    dir: Path
    kubeconfig: Path
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    def secrets(self) -> dict[str, str]:
        """The secret values the sandbox handed out (DIR/secrets.json)."""
        data: dict[str, str] = json.loads((self.dir / "secrets.json").read_text())
        return data

    def process_env(self) -> dict[str, str]:
        """os.environ plus the sandbox's variables and a private kubectl cache dir."""
        return {**os.environ, **self.env, "KUBECACHEDIR": str(self.dir / "kube-cache")}


class SandboxLauncher:
    """Starts sandboxes in fresh /tmp directories and stops whatever is left at the end."""

    def __init__(self, server: ForkServer | None = None) -> None:
        self.running: list[Sandbox] = []
        self.server = server

    def start(self, **options: Any) -> Sandbox:
        d = Path(tempfile.mkdtemp(prefix="lms-", dir="/tmp"))
        os.chmod(d, 0o755)
        try:
            lines = manage.up(d, manage.SandboxOptions(**options), **spawn_options(self.server))
        except BaseException:
            manage.down(d)  # the error message holds the daemon's one-line error (its log: LITEMAAS_SANDBOX_KEEP_FAILED=1)
            raise
        env = parse_env_file(d / "env")
        env["KUBECONFIG"] = str(d / "kubeconfig")
        env["LITEMAAS_SANDBOX_DIR"] = str(d)
        sandbox = Sandbox(dir=d, kubeconfig=d / "kubeconfig", env=env, lines=lines)
        self.running.append(sandbox)
        return sandbox

    @contextmanager
    def started(self, **options: Any) -> Iterator[Sandbox]:
        """`start(**options)`, stopped when the block ends (a module- or function-scoped fixture's body)."""
        sandbox = self.start(**options)
        try:
            yield sandbox
        finally:
            self.stop(sandbox)

    def stop(self, sandbox: Sandbox) -> None:
        manage.down(sandbox.dir)
        if sandbox in self.running:
            self.running.remove(sandbox)

    def stop_all(self) -> None:
        for sandbox in list(self.running):
            self.stop(sandbox)


@contextmanager
def kube_api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A Kubernetes ApiClient from `kubeconfig`, closed when the block ends."""
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def sandbox_launcher(fork_server: ForkServer | None) -> Iterator[SandboxLauncher]:
    launcher = SandboxLauncher(fork_server)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def kube(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    """A kube-only sandbox (no data plane), one per test module."""
    with sandbox_launcher.started(**FAST, data_plane=False) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox_factory(sandbox_launcher: SandboxLauncher) -> Iterator[Callable[..., Sandbox]]:
    """Call with SandboxOptions fields (e.g. `databases="shared"`); each sandbox is stopped at teardown."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        sandbox = sandbox_launcher.start(**options)
        started.append(sandbox)
        return sandbox

    try:
        yield make
    finally:
        for sandbox in started:
            sandbox_launcher.stop(sandbox)


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """One sandbox with fast rollouts (pods Ready after 0.15 s, progress deadline 3 s)."""
    return sandbox_factory(**FAST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each module that shares a module-scoped fixture (one sandbox or data plane per module) on one
    xdist worker (``--dist loadgroup``, `make test`): the module then starts its fixture once, and tests that
    read what earlier ones in the module did (e.g. the sandbox's audit log) see it. Other tests spread freely."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        if any(d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
