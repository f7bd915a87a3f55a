"""The sandbox daemon: one background process serving a whole LiteMaaS deployment on 127.0.0.1.

Usage: `python -m litemaas_state.sandbox.daemon --dir DIR [--pod-ready-s S] [--progress-deadline-s N]
[--layout separate|shared] [--secrets-file FILE] [--no-data-plane] [--in-cluster-urls] [--port N]
[--plain-http]`. Normally started by
`manage.up`, which detaches it and waits for `DIR/ready`.

Order of start: the data plane (`litemaas_state.sandbox.dataplane`, unless `--no-data-plane` is
given: PostgreSQL, Redis, LiteLLM admin API), then the Kubernetes API with
the seeded world (`world.seed`) and the Deployment controller, primed so the world starts rolled out.
Files written in DIR: `daemon.pid`, `secrets.json` (0600, for tests that scan outputs for secrets),
`tls/` (the throw-away CA and server certificate), `kubeconfig` (0600; cluster/user/context `sandbox`,
namespace `litellm-rhpds`, server `https://127.0.0.1:PORT` with the CA inline, bearer token), `env`
(0600, `export NAME='value'` lines: KUBECONFIG and LITEMAAS_SANDBOX_DIR always; unless
`--in-cluster-urls`, also LITELLM_MASTER_KEY and, with the data plane, LITEMAAS_DATABASE_URL,
LITELLM_DATABASE_URL, LITELLM_URL, REDIS_URL), `data/` (the data plane's work directory),
`direct-env` (0600, the same form: the data plane's 127.0.0.1 URLs and the master key whatever
`--in-cluster-urls` says, for tests and benchmarks that seed or inspect the data plane directly; the
tool never reads it), and last `ready` (holding the API URL). While serving, the API appends DIR/audit.jsonl and reads DIR/tokens.json
(restricted tokens, rbac.py; written by `manage.restricted_kubeconfig`).

`--in-cluster-urls`: Secret litemaas-db carries the URLs rhpds writes
(`postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable`) and Route `litellm` keeps its
in-cluster host (`litellm.apps.sandbox.example.com`, which does not resolve here), so a client reaches
the data plane only through pods/portforward and pods/exec (streams.py). The log goes to stderr, which `manage.up` sends to
`DIR/daemon.log`.

SIGTERM or SIGINT: stop the controller, the API server and the data plane (its child processes), remove
`ready`, exit 0. A start failure is logged with its traceback and exits 1 after stopping what started.

Boundary: imports no product code.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import logging
import os
import secrets as pysecrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from litemaas_state.sandbox import controller as controller_mod
from litemaas_state.sandbox import dataplane, kubeapi, streams, world
from litemaas_state.sandbox.secrets import SandboxSecrets

log = logging.getLogger("litemaas_state.sandbox.daemon")

CONTEXT = "sandbox"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the start (no window where it is world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def kubeconfig(server: str, token: str, namespace: str, ca_pem: bytes | None) -> dict[str, Any]:
    """A kubeconfig with one cluster/user/context named `sandbox` (bearer token; the sandbox CA inline)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m litemaas_state.sandbox.daemon", description=__doc__.splitlines()[0]
    )
    p.add_argument("--dir", required=True, type=Path, help="sandbox directory (must exist)")
    p.add_argument("--pod-ready-s", type=float, default=1.0, help="seconds before a new pod turns Ready")
    p.add_argument(
        "--progress-deadline-s", type=int, default=10, help="spec.progressDeadlineSeconds of the Deployments"
    )
    p.add_argument("--tick-s", type=float, default=0.15, help="controller tick")
    p.add_argument("--layout", choices=("separate", "shared"), default="separate")
    p.add_argument("--secrets-file", type=Path, default=None, help="JSON object of known secret values")
    p.add_argument("--no-data-plane", action="store_true", help="serve the Kubernetes API only")
    p.add_argument("--port", type=int, default=0, help="API port (0: a free one)")
    p.add_argument(
        "--in-cluster-urls",
        action="store_true",
        help="Secrets name litellm-postgres:5432 as rhpds writes them; the env file has no direct URL",
    )
    p.add_argument(
        "--plain-http", action="store_true", help="serve http (kubectl then sends no token: expect 401s)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGTERM/SIGINT. Returns the exit code (0 clean stop, 1 start failure)."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sandbox_dir: Path = args.dir.absolute()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    (sandbox_dir / "daemon.pid").write_text(f"{os.getpid()}\n")

    data_plane: Any = None
    server: kubeapi.KubeApiServer | None = None
    ctrl: controller_mod.DeploymentController | None = None
    code = 0
    try:
        secrets = (
            SandboxSecrets.from_file(args.secrets_file) if args.secrets_file else SandboxSecrets.generate()
        )
        write_private(sandbox_dir / "secrets.json", json.dumps(dataclasses.asdict(secrets), indent=2) + "\n")
        env: dict[str, str] = {}
        direct: dict[str, str] = {"LITELLM_MASTER_KEY": secrets.master_key}
        if not args.in_cluster_urls:
            env["LITELLM_MASTER_KEY"] = secrets.master_key
        endpoints = None
        runtime = None
        probes = {}
        module = None if args.no_data_plane else dataplane
        if module is None:
            log.info("running the Kubernetes API only (no data plane)")
        else:
            data_dir = sandbox_dir / "data"
            data_dir.mkdir(mode=0o755, exist_ok=True)
            log.info("starting the data plane (layout %s)", args.layout)
            data_plane = module.start_data_plane(data_dir, secrets, args.layout)
            if args.in_cluster_urls:
                endpoints = world.in_cluster_urls(
                    secrets, data_plane.litemaas_database, data_plane.litellm_database
                )
            else:
                endpoints = world.WorldEndpoints(
                    litemaas_database_url=data_plane.litemaas_database_url,
                    litellm_database_url=data_plane.litellm_database_url,
                    litellm_host=data_plane.litellm_host,
                )
                env.update(
                    {
                        "LITEMAAS_DATABASE_URL": data_plane.litemaas_database_url,
                        "LITELLM_DATABASE_URL": data_plane.litellm_database_url,
                        "LITELLM_URL": data_plane.litellm_url,
                        "REDIS_URL": data_plane.redis_url,
                    }
                )
            direct.update(
                {
                    "LITEMAAS_DATABASE_URL": data_plane.litemaas_database_url,
                    "LITELLM_DATABASE_URL": data_plane.litellm_database_url,
                    "LITELLM_URL": data_plane.litellm_url,
                    "REDIS_URL": data_plane.redis_url,
                }
            )
            probes["litellm-redis"] = data_plane.redis_ping
            runtime = streams.PodRuntime(
                postgres_port=data_plane.postgres_port,
                postgres_password=secrets.db_password,
                redis_port=data_plane.redis_port,
                redis_password=secrets.redis_password,
                litellm_port=int(data_plane.litellm_host.rsplit(":", 1)[1]),
                pg_bin=data_plane.postgres.bindir,
            )
            if stop.is_set():
                return 0

        store = kubeapi.Store()
        world.seed(
            store,
            secrets,
            layout=args.layout,
            endpoints=endpoints,
            progress_deadline_s=args.progress_deadline_s,
        )
        ctrl = controller_mod.DeploymentController(
            store, pod_ready_s=args.pod_ready_s, tick_s=args.tick_s, ready_probes=probes
        )
        ctrl.prime()
        token = pysecrets.token_urlsafe(32)
        tls = None if args.plain_http else kubeapi.generate_tls(sandbox_dir / "tls")
        server = kubeapi.KubeApiServer(
            store, token, port=args.port, tls=tls, runtime=runtime, state_dir=sandbox_dir
        )
        server.start()
        ctrl.start()
        log.info("Kubernetes API serving on %s", server.url)

        write_private(
            sandbox_dir / "kubeconfig",
            yaml.safe_dump(
                kubeconfig(server.url, token, world.NAMESPACE, tls.ca_cert.read_bytes() if tls else None),
                sort_keys=False,
            ),
        )
        env["KUBECONFIG"] = str(sandbox_dir / "kubeconfig")
        env["LITEMAAS_SANDBOX_DIR"] = str(sandbox_dir)
        write_private(sandbox_dir / "env", "".join(f"export {k}={shell_quote(v)}\n" for k, v in env.items()))
        # the data plane's own addresses, for tests and benchmarks that seed or inspect it behind the tool's back
        write_private(
            sandbox_dir / "direct-env", "".join(f"export {k}={shell_quote(v)}\n" for k, v in direct.items())
        )
        (sandbox_dir / "ready").write_text(f"{server.url}\n")
        log.info("sandbox ready in %s", sandbox_dir)
        while not stop.wait(0.5):
            pass
    except Exception as exc:
        log.exception("sandbox failed")
        # one line for `sandbox up` to show (the traceback stays in daemon.log)
        (sandbox_dir / "error").write_text(" ".join(f"{type(exc).__name__}: {exc}".split())[:1000] + "\n")
        code = 1
    finally:
        (sandbox_dir / "ready").unlink(missing_ok=True)
        if ctrl is not None:
            ctrl.stop()
        if server is not None:
            server.stop()
        if data_plane is not None:
            try:
                data_plane.stop()
            except Exception:
                log.exception("stopping the data plane failed")
        log.info("sandbox stopped (exit %s)", code)
    return code


if __name__ == "__main__":
    sys.exit(main())
