"""Start and stop the sandbox daemon: the API behind `litemaas-state sandbox up|down`.

`up` starts `python -m litemaas_state.sandbox.daemon` detached (own session, log in DIR/daemon.log),
waits for DIR/ready and returns the shell lines to print, which point at files and never contain a
secret value:

    export KUBECONFIG='DIR/kubeconfig'
    set -a; . 'DIR/env'; set +a
    export LITEMAAS_SANDBOX_DIR='DIR'

Environments: `SandboxOptions(environments=(SandboxEnvironment("a"), SandboxEnvironment("b", "kustomize")))`
hosts one complete LiteMaaS per namespace, each with its own data plane (daemon.py); the default is one
environment, `litellm-rhpds` in the rhpds layout. Per environment, tests find its data plane's own
addresses in DIR/envs/<namespace>/direct-env (`export NAME='value'` lines: LITELLM_MASTER_KEY,
LITEMAAS_DATABASE_URL, LITELLM_DATABASE_URL, LITELLM_URL, REDIS_URL) and its secret values in
DIR/envs/<namespace>/secrets.json; DIR/direct-env and DIR/secrets.json are the first environment's.

`restricted_kubeconfig(DIR, role)` (or `SandboxOptions(restricted_role=…)`) adds a second token whose
requests the API authorizes against the given Role, and writes DIR/kubeconfig-restricted for it.
`SandboxOptions(direct_urls=False)` starts the realistic variant: in-cluster URLs only (see daemon.py).
`inject_fault(DIR, action, namespace=…)` drops port-forwards or kills execs (for tests of tunnel and
pg_dump faults), in every namespace or in one.

`down` sends SIGTERM, waits, and removes DIR; it is idempotent.

DIR defaults to `$LITEMAAS_SANDBOX_DIR`, else `/tmp/litemaas-sandbox-<uid>`: under /tmp and mode 0755,
because as root the data plane runs PostgreSQL as the `postgres` OS user, which must reach it.

Boundary: imports no product code. Errors are `SandboxError` (a RuntimeError) with the log tail.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NoReturn, Protocol

from litemaas_state.sandbox import layouts

_MARKERS = ("daemon.pid", "daemon.log", "kubeconfig")
DEFAULT_NAMESPACE = "litellm-rhpds"
TOKEN_SECONDS = 7 * 24 * 3600  # restricted_kubeconfig's token outlives any test run
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped; the message says why (with the daemon log tail)."""


@dataclass(frozen=True)
class SandboxEnvironment:
    """One environment of the sandbox: a namespace holding a complete LiteMaaS.

    namespace: a DNS-1123 label (at most 63 characters).
    layout: "rhpds" (the rhpds HA deployment) or "kustomize" (upstream rh-aiservices-bu/litemaas
        deployment/kustomize); the object names of docs/deployment-facts.md §1.3.
    databases: "separate" (LiteMaaS and LiteLLM in their own databases) or "shared" (one database).
    Raises ValueError on a bad value.
    """

    namespace: str = DEFAULT_NAMESPACE
    layout: Literal["rhpds", "kustomize"] = "rhpds"
    databases: Literal["separate", "shared"] = "separate"

    def __post_init__(self) -> None:
        if len(self.namespace) > 63 or not _DNS1123_LABEL.fullmatch(self.namespace):
            raise ValueError(
                f"namespace {self.namespace!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
                "at most 63 characters, starting and ending with a letter or digit)"
            )
        layouts.layout(self.layout)
        if self.databases not in layouts.DATABASES:
            raise ValueError(f"databases must be one of {', '.join(layouts.DATABASES)}, got {self.databases!r}")

    @property
    def arg(self) -> str:
        """The daemon's `--env` value: `NS=LAYOUT:DATABASES`."""
        return f"{self.namespace}={self.layout}:{self.databases}"


@dataclass(frozen=True)
class SandboxOptions:
    """How the sandbox behaves.

    pod_ready_s: seconds before a new pod turns Ready (demo ~1.0; tests 0.1-0.2).
    progress_deadline_s: the Deployments' spec.progressDeadlineSeconds (real default 600; demo 10; tests ~3).
    databases: "separate" (LiteMaaS and LiteLLM in their own DBs, rhpds f4545df) or "shared" (one DB), for
        the default environment when `environments` is empty.
    environments: the environments (namespaces) to host; empty → one `SandboxEnvironment(databases=databases)`
        (litellm-rhpds, rhpds). The first one is the kubeconfig's namespace and DIR/env's and DIR/direct-env's.
    secrets_file: JSON object of known secret values (SandboxSecrets field names); None → random.
    data_plane: start PostgreSQL/Redis/LiteLLM API too (if `sandbox/dataplane.py` exists); False → kube API only.
    startup_timeout_s: how long `up` waits for DIR/ready.
    direct_urls: True → Secrets, Route and DIR/env carry 127.0.0.1 URLs that dial the data plane directly;
        False → the in-cluster URLs rhpds writes (`…@litellm-postgres:5432/…`), a Route host that does not
        resolve here, and DIR/env exporting only KUBECONFIG and LITEMAAS_SANDBOX_DIR: the data plane is
        reachable only through pods/portforward and pods/exec.
    restricted_role: a Role (path to a YAML file, or the object as a dict) → after start,
        `restricted_kubeconfig` writes DIR/kubeconfig-restricted for ServiceAccount `ci` bound to it.
    """

    pod_ready_s: float = 1.0
    progress_deadline_s: int = 10
    databases: Literal["separate", "shared"] = "separate"
    environments: tuple[SandboxEnvironment, ...] = ()
    secrets_file: Path | None = None
    data_plane: bool = True
    startup_timeout_s: float = 120.0
    direct_urls: bool = True
    restricted_role: Path | dict[str, Any] | None = None

    def __post_init__(self) -> None:
        names = [e.namespace for e in self.environments]
        if len(set(names)) != len(names):
            raise ValueError(f"an environment namespace is given twice: {', '.join(names)}")

    @property
    def resolved_environments(self) -> tuple[SandboxEnvironment, ...]:
        """`environments`, or the default one (litellm-rhpds, rhpds, `databases`)."""
        return self.environments or (SandboxEnvironment(databases=self.databases),)


def default_dir() -> Path:
    """`$LITEMAAS_SANDBOX_DIR`, else `/tmp/litemaas-sandbox-<uid>`."""
    env = os.environ.get("LITEMAAS_SANDBOX_DIR")
    return Path(env) if env else Path(f"/tmp/litemaas-sandbox-{os.getuid()}")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def shell_lines(sandbox_dir: Path) -> list[str]:
    """The lines `up` prints for `eval`: paths only, never a secret value."""
    return [
        f"export KUBECONFIG={_quote(str(sandbox_dir / 'kubeconfig'))}",
        f"set -a; . {_quote(str(sandbox_dir / 'env'))}; set +a",
        f"export LITEMAAS_SANDBOX_DIR={_quote(str(sandbox_dir))}",
    ]


def _pid(sandbox_dir: Path) -> int | None:
    try:
        return int((sandbox_dir / "daemon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def is_running(sandbox_dir: Path | None = None) -> bool:
    """Whether a daemon serves DIR (its pid is alive and DIR/ready exists)."""
    d = (sandbox_dir or default_dir()).absolute()
    pid = _pid(d)
    return pid is not None and _alive(pid) and (d / "ready").exists()


def _log_tail(sandbox_dir: Path, lines: int = 30) -> str:
    try:
        text = (sandbox_dir / "daemon.log").read_text(errors="replace")
    except OSError:
        return "(no daemon.log)"
    return "\n".join(text.splitlines()[-lines:])


def _clear(sandbox_dir: Path) -> None:
    if not sandbox_dir.exists():
        return
    if any(sandbox_dir.iterdir()) and not any((sandbox_dir / m).exists() for m in _MARKERS):
        raise SandboxError(f"{sandbox_dir} exists and is not a sandbox directory; refusing to touch it")
    for root in _clusters(sandbox_dir):
        _stop_postmaster(root / "data")
        if not root.is_relative_to(sandbox_dir):
            shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(sandbox_dir)


def _clusters(sandbox_dir: Path) -> list[Path]:
    """The PostgreSQL clusters of DIR (each data plane's ``<workdir>/pg``, e.g. ``envs/<name>/data/pg``), a
    symlink resolved to the directory outside DIR it names (tmpfs or /tmp, postgres.py
    ``PG_SCRATCH_PREFIX``). Symlinks are not followed while walking."""
    from litemaas_state.sandbox.postgres import PG_SCRATCH_PREFIX

    found = []
    for parent, dirs, files in os.walk(sandbox_dir):
        if "pg" not in dirs and "pg" not in files:  # os.walk lists a symlink to a directory in dirs
            continue
        link = Path(parent) / "pg"
        if link.is_symlink():
            target = Path(os.readlink(link))
            if target.is_absolute() and target.name.startswith(PG_SCRATCH_PREFIX) and target.is_dir():
                found.append(target)
        elif (link / "data").is_dir():
            found.append(link)
        if "pg" in dirs:
            dirs.remove("pg")  # not into a cluster
    return found


def _stop_postmaster(datadir: Path, timeout_s: float = 10.0) -> None:
    """Stop a server a killed daemon left running on ``datadir``: SIGQUIT (immediate shutdown) to the pid in
    its ``postmaster.pid`` when that process is a postgres running in ``datadir``, then wait until it is gone."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cwd = os.readlink(f"/proc/{pid}/cwd")  # a postmaster runs in its data directory
    except (OSError, ValueError):
        return
    if comm != "postgres" or cwd != str(datadir.resolve()):  # a stale file whose pid was reused
        return
    try:
        os.kill(pid, signal.SIGQUIT)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


#: The daemon's module: `python -m DAEMON_MODULE --dir DIR ...` (daemon.py).
DAEMON_MODULE = "litemaas_state.sandbox.daemon"


class DaemonProcess(Protocol):
    """What `up` needs of the started daemon (a subprocess.Popen has it)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...


#: Starts `python -m DAEMON_MODULE ARGS` with environment ``env``, stdin /dev/null, stdout and stderr to
#: ``log``, in a session of its own.
Spawn = Callable[[list[str], dict[str, str], BinaryIO], DaemonProcess]


def spawn_process(args: list[str], env: dict[str, str], log: BinaryIO) -> DaemonProcess:
    """The default `Spawn`: a new interpreter (subprocess.Popen, start_new_session, close_fds)."""
    return subprocess.Popen([sys.executable, "-m", DAEMON_MODULE, *args], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log, start_new_session=True, close_fds=True, env=env)


def up(sandbox_dir: Path | None, options: SandboxOptions, spawn: Spawn = spawn_process) -> list[str]:
    """Start the sandbox daemon in DIR (detached) and wait until it serves.

    Args:
        sandbox_dir: the directory (created, mode 0755); None → `default_dir()`. A stale sandbox
            directory (no live daemon) is cleared first; a running one is reused as it is.
        options: SandboxOptions.
        spawn: how the daemon process is started (`spawn_process`; the tests fork it from a warm
            interpreter, tests/forkserver.py).
    Returns:
        The shell lines to print (`shell_lines`).
    Raises:
        SandboxError: the daemon exited or did not write DIR/ready within `options.startup_timeout_s`
            (the message holds the daemon log tail), or DIR is not a sandbox directory.
    Source: daemon.py (files written); docs/deployment-facts.md §1 (what it serves).
    """
    d = (sandbox_dir or default_dir()).absolute()
    if is_running(d):
        return shell_lines(d)
    pid = _pid(d)
    if pid is not None and _alive(pid):
        down(d)
    _clear(d)
    d.mkdir(parents=True, mode=0o755)
    os.chmod(d, 0o755)
    cmd = [
        "--dir",
        str(d),
        "--pod-ready-s",
        str(options.pod_ready_s),
        "--progress-deadline-s",
        str(int(options.progress_deadline_s)),
        "--databases",
        options.databases,
    ]
    for environment in options.resolved_environments:
        cmd += ["--env", environment.arg]
    if options.secrets_file is not None:
        cmd += ["--secrets-file", str(Path(options.secrets_file).absolute())]
    if not options.data_plane:
        cmd.append("--no-data-plane")
    if not options.direct_urls:
        cmd.append("--in-cluster-urls")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(d / "daemon.log", "ab") as log_file:
        proc = spawn(cmd, env, log_file)
    deadline = time.monotonic() + options.startup_timeout_s
    while not (d / "ready").exists():
        if proc.poll() is not None:
            _fail(d, f"the sandbox daemon exited with code {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            _fail(d, f"the sandbox was not ready after {options.startup_timeout_s:.0f} s")
        time.sleep(0.05)
    if options.restricted_role is not None:
        restricted_kubeconfig(d, options.restricted_role, namespace=options.resolved_environments[0].namespace)
    return shell_lines(d)


def _load_role(role: Path | dict[str, Any]) -> dict[str, Any]:
    import yaml

    if isinstance(role, dict):
        return copy.deepcopy(role)
    try:
        loaded = yaml.safe_load(Path(role).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SandboxError(f"cannot read the Role {role}: {exc}") from exc
    if not isinstance(loaded, dict) or loaded.get("kind") != "Role":
        raise SandboxError(f"{role} does not hold a Role (rbac.authorization.k8s.io/v1)")
    return loaded


def restricted_kubeconfig(
    sandbox_dir: Path | None,
    role: Path | dict[str, Any],
    *,
    service_account: str = "ci",
    filename: str = "kubeconfig-restricted",
    namespace: str = DEFAULT_NAMESPACE,
) -> Path:
    """Give a running sandbox a second, restricted token and write a kubeconfig that uses it.

    Creates (or replaces) ServiceAccount `service_account`, the Role (its `metadata.name`, default
    `service_account`) and RoleBinding `service_account` → that Role in `namespace` (default litellm-rhpds)
    through the admin API, asks the TokenRequest API (`POST …/serviceaccounts/<sa>/token`, what
    `kubectl create token` does) for a token of user `system:serviceaccount:<namespace>:<sa>` valid for
    `TOKEN_SECONDS`, and writes DIR/<filename> (0600): the admin kubeconfig with that token.
    The API server then authorizes that token's requests by RBAC (rbac.py) and answers denials with
    the apiserver's 403 Status. Calling it again with another Role replaces the Role's rules.

    Returns: the kubeconfig path. Raises SandboxError if the sandbox does not run, the Role is not a Role,
    or the API refuses a write (the Status message is included).
    """
    import ssl

    import httpx
    import yaml

    d = (sandbox_dir or default_dir()).absolute()
    if not is_running(d):
        raise SandboxError(f"no sandbox is running in {d}")
    body = _load_role(role)
    body.setdefault("apiVersion", "rbac.authorization.k8s.io/v1")
    meta = body.setdefault("metadata", {})
    meta.setdefault("name", service_account)
    meta["namespace"] = namespace
    for key in ("resourceVersion", "uid", "creationTimestamp"):
        meta.pop(key, None)
    admin = yaml.safe_load((d / "kubeconfig").read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {admin['users'][0]['user']['token']}"}
    ca = d / "tls" / "ca.crt"
    objects = [
        (
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": service_account}},
        ),
        (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles", body),
        (
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": service_account},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
                "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
            },
        ),
    ]
    with httpx.Client(base_url=server, headers=headers, verify=ssl.create_default_context(cafile=str(ca)) if ca.exists() else False) as client:
        for path, obj in objects:
            answer = client.post(path, json=obj)
            if answer.status_code == 409:
                answer = client.put(f"{path}/{obj['metadata']['name']}", json=obj)
            if answer.status_code >= 300:
                raise SandboxError(f"the sandbox API refused {path}: {answer.json().get('message')}")
        answer = client.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": TOKEN_SECONDS}},
        )
        if answer.status_code >= 300:
            raise SandboxError(f"the sandbox API refused the TokenRequest: {answer.json().get('message')}")
        token = answer.json()["status"]["token"]
    config = copy.deepcopy(admin)
    config["users"][0]["user"] = {"token": token}
    out = d / filename
    _write_private(out, yaml.safe_dump(config, sort_keys=False))
    return out


def inject_fault(
    sandbox_dir: Path | None, action: str, after_bytes: int | None = None, namespace: str | None = None
) -> dict[str, Any]:
    """Cut the running sandbox's streams: POST /sandbox/v1/faults with the admin token (streams.py).

    action: `drop-port-forwards` (every open tunnel's WebSocket closes), `kill-execs` (SIGKILL: the exec
    ends with exit code 137), `drop-execs` (the exec WebSocket closes without a status), `clear` (disarm).
    after_bytes: also arm the fault for streams opened later, cutting each once it has sent that many
    bytes to its client. namespace: only streams to pods of that namespace (None: every namespace; with
    `clear`, disarm only that namespace's armed faults). Returns the answer (`{"affected": N}`). Raises
    SandboxError if the API refuses.
    """
    import ssl

    import httpx
    import yaml

    d = (sandbox_dir or default_dir()).absolute()
    admin = yaml.safe_load((d / "kubeconfig").read_text())
    ca = d / "tls" / "ca.crt"
    body: dict[str, Any] = {"action": action}
    if after_bytes is not None:
        body["after_bytes"] = after_bytes
    if namespace is not None:
        body["namespace"] = namespace
    answer = httpx.post(
        admin["clusters"][0]["cluster"]["server"] + "/sandbox/v1/faults",
        json=body,
        headers={"Authorization": f"Bearer {admin['users'][0]['user']['token']}"},
        verify=ssl.create_default_context(cafile=str(ca)) if ca.exists() else False,
        timeout=10,
    )
    if answer.status_code != 200:
        raise SandboxError(f"the sandbox refused the fault {action!r}: {answer.json().get('message')}")
    result: dict[str, Any] = answer.json()
    return result


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
def _fail(d: Path, what: str) -> NoReturn:
    """A failed start: remove DIR (secrets.json included; nothing half-started is left) and raise
    SandboxError with the daemon's one-line error, or the last lines of its log when it wrote none
    (set LITEMAAS_SANDBOX_KEEP_FAILED=1 to keep DIR for a look at daemon.log)."""
    try:
        reason = (d / "error").read_text().strip()
    except OSError:
        reason = " / ".join(ln.strip() for ln in _log_tail(d, 3).splitlines() if ln.strip())[:500]
    if os.environ.get("LITEMAAS_SANDBOX_KEEP_FAILED"):
        raise SandboxError(f"{what}: {reason} (kept {d}; see {d / 'daemon.log'})")
    try:
        down(d)
    except (SandboxError, OSError):
        pass
    raise SandboxError(f"{what}: {reason}")


def down(sandbox_dir: Path | None = None, timeout_s: float = 20.0) -> None:
    """Stop the daemon serving DIR (SIGTERM, then SIGKILL of its process group after `timeout_s`) and remove DIR.

    Idempotent: nothing to do if DIR does not exist. Raises SandboxError if DIR is not a sandbox directory.
    """
    d = (sandbox_dir or default_dir()).absolute()
    if not d.exists():
        return
    pid = _pid(d)
    if pid is not None and _alive(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            end = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
    if pid is not None:
        try:  # what a killed daemon left in its process group (redis-server); PostgreSQL is stopped by _clear
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _clear(d)
