"""End-to-end fixtures: a real sandbox (Kubernetes API over HTTP, PostgreSQL, Redis, LiteLLM API) and the
real CLI in a subprocess, as a user runs it.

By default the sandbox is the realistic one (`direct_urls=False`): its Secrets name only in-cluster hosts
(`litellm-postgres:5432`), the env file exports only KUBECONFIG, and the tool reaches the data plane
through pods/portforward and pods/exec, as from a laptop or CI runner against a real cluster.
`Sandbox.direct` holds the data plane's own addresses (DIR/direct-env) for the tests' seeding and
inspection behind the tool's back; it is never given to the tool unless a test says so."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litemaas_state.sandbox import manage
from tests.conftest import ForkServer, run_cli, spawn_options

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"
@dataclass
class Sandbox:
    dir: Path
    env: dict[str, str]
    direct: dict[str, str]
    server: ForkServer | None = None  # None: a new interpreter per CLI run

    def state_copy(self) -> str:
        """The shipped state file copied into the sandbox directory: its backups (resolved against the
        state file's directory) land there and go with `sandbox down`, never in the repository."""
        dest = self.dir / STATE.name
        dest.write_text(STATE.read_text())
        return str(dest)

    def cli(self, *args: str, check: int | None = None, cwd: Path | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **(extra_env or {})}
        env.pop("LITEMAAS_STATE_DEBUG", None)
        proc = self.run(list(args), env, cwd or self.dir)
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc


    def run(self, args: list[str], env: dict[str, str], cwd: Path,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m litemaas_state ARGS` with exactly ``env`` (tests.conftest.run_cli): through the fork
        server when there is one, else in a subprocess (stdin: ``input``, else /dev/null)."""
        return run_cli(args, env=env, cwd=cwd, timeout_s=300, input=input, server=self.server)


def interactive(sb: Sandbox, args: list[str], answer: str = "yes", before_answer: Callable[[], None] | None = None,
                extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, as a user at a terminal does; at its prompt (``Enter a value:``)
    call ``before_answer`` (e.g. change the world meanwhile), then type ``answer``. Returns (exit code,
    everything printed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "litemaas_state", *args], stdin=slave, stdout=slave,
                            stderr=slave, env={**os.environ, **sb.env, **(extra_env or {}), "NO_COLOR": "1"},
                            cwd=sb.dir)
    os.close(slave)
    out = b""
    answered = False
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"Enter a value:" in out:
            if before_answer is not None:
                before_answer()
            os.write(master, answer.encode() + b"\n")
            answered = True
    code = proc.wait(timeout=240)
    os.close(master)
    return code, out.decode(errors="replace")


def parse_env(sandbox_dir: Path, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables `eval "$(litemaas-state sandbox up)"` would set (plus lines `extra`), read with a real shell."""
    lines = [*manage.shell_lines(sandbox_dir), *extra]
    script = "\n".join(lines) + "\nenv -0"
    out = subprocess.run(["bash", "-c", script], capture_output=True, env={"PATH": os.environ["PATH"]},
                         check=True).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k in {"KUBECONFIG", "LITEMAAS_SANDBOX_DIR", "LITEMAAS_DATABASE_URL",
                                                  "LITELLM_DATABASE_URL", "LITELLM_URL", "LITELLM_MASTER_KEY",
                                                  "REDIS_URL"}}


@pytest.fixture
def make_sandbox(tmp_path_factory: pytest.TempPathFactory, fork_server: ForkServer | None) -> Iterator:
    started: list[Path] = []

    def start(**options: object) -> Sandbox:
        d = Path(f"/tmp/lms-e2e-{os.getpid()}-{len(started)}")
        settings = {"pod_ready_s": 0.15, "progress_deadline_s": 3, "direct_urls": False, **options}
        opts = manage.SandboxOptions(**settings)  # type: ignore[arg-type]
        manage.up(d, opts, **spawn_options(fork_server))
        started.append(d)
        return Sandbox(dir=d, env=parse_env(d), direct=parse_env(d, (f"set -a; . '{d}/direct-env'; set +a",)),
                       server=fork_server)

    yield start
    for d in started:
        manage.down(d)


def kubectl_json(sb: Sandbox, *args: str) -> dict:
    """`kubectl get ARGS -o json` against the sandbox, parsed."""
    out = subprocess.run(["kubectl", "get", *args, "-o", "json"], capture_output=True, text=True,
                         env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}, check=True).stdout
    data: dict = json.loads(out)
    return data


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail the test naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.05)


def rolled_out(sb: Sandbox, name: str, generation: int | None = None) -> bool:
    """kubectl rollout status's "successfully rolled out" (at least ``generation``, when given)."""
    d = kubectl_json(sb, "deploy", name)
    meta, spec, status = d["metadata"], d["spec"], d.get("status") or {}
    replicas = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= max(meta["generation"], generation or 0)
            and status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas)


def wait_lease_expired(sb: Sandbox, name: str, skew_s: float) -> None:
    """Wait until the Lease ``name`` (held by a killed apply) may be taken over: ``renewTime +
    leaseDurationSeconds + skew_s`` has passed (apply/lock.py)."""
    spec = kubectl_json(sb, "lease", name)["spec"]
    renew = datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00"))
    until = renew + timedelta(seconds=spec["leaseDurationSeconds"] + skew_s + 0.2)
    wait_until(lambda: datetime.now(UTC) > until, f"lease/{name} to expire", timeout_s=120)


def secrets_file(tmp: Path, **values: str) -> Path:
    p = tmp / "secrets.json"
    p.write_text(json.dumps(values))
    return p
