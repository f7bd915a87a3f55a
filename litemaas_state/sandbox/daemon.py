"""The sandbox daemon: one background process serving whole LiteMaaS deployments on 127.0.0.1.

Usage: `python -m litemaas_state.sandbox.daemon --dir DIR [--env NS=LAYOUT:DATABASES]... [--pod-ready-s S]
[--progress-deadline-s N] [--databases separate|shared] [--secrets-file FILE] [--no-data-plane]
[--in-cluster-urls] [--port N] [--plain-http]`. Normally started by `manage.up`, which detaches it and
waits for `DIR/ready`.

Environments: each `--env` is one namespace holding a complete LiteMaaS in layout `rhpds` or
`kustomize` (layouts.py) with `separate` or `shared` databases (default `--databases`); without `--env`,
one environment `litellm-rhpds=rhpds`. Each environment has its own data plane (its own PostgreSQL
server, seeded with seed `DEFAULT_SEED + index`, its own redis-server and LiteLLM admin API) and its own
secrets: the first takes `--secrets-file` (or random values), the others random values. Port-forwards
and execs to a pod of namespace A reach A's servers only (`streams.PodRuntime` per namespace). The data
planes start in parallel.

Order of start: the data planes (`litemaas_state.sandbox.dataplane`, unless `--no-data-plane` is
given: PostgreSQL, Redis, LiteLLM admin API), then the Kubernetes API with the seeded world
(`world.seed`, once per environment) and the Deployment controller, primed so the world starts rolled out.
Files written in DIR: `daemon.pid`, `secrets.json` (0600, the first environment's secret values, for tests
that scan outputs for secrets), `tls/` (the throw-away CA and server certificate), `kubeconfig` (0600;
cluster/user/context `sandbox`, the first environment's namespace, server `https://127.0.0.1:PORT` with
the CA inline, bearer token), `env` (0600, `export NAME='value'` lines: KUBECONFIG and
LITEMAAS_SANDBOX_DIR always; unless `--in-cluster-urls`, also the first environment's
LITELLM_MASTER_KEY and, with the data plane, LITEMAAS_DATABASE_URL, LITELLM_DATABASE_URL, LITELLM_URL,
REDIS_URL), `direct-env` (0600, the same form: the first environment's data-plane 127.0.0.1 URLs and
master key whatever `--in-cluster-urls` says, for tests and benchmarks that seed or inspect the data
plane directly; the tool never reads it), per environment `envs/<namespace>/` with `direct-env` (same
form, that environment's), `secrets.json` (0600) and `data/` (its data plane's work directory), and last
`ready` (holding the API URL). While serving, the API appends DIR/audit.jsonl and reads DIR/tokens.json
(restricted tokens, rbac.py; written by `manage.restricted_kubeconfig`).

`--in-cluster-urls`: the Secrets carry the URLs the layout's templates write (rhpds:
`postgresql://litellm:<pw>@litellm-postgres:5432/<db>?sslmode=disable`) and Route `litellm` keeps its
in-cluster host (`litellm.apps.sandbox.example.com`, which does not resolve here), so a client reaches
the data plane only through pods/portforward and pods/exec (streams.py). The log goes to stderr, which
`manage.up` sends to `DIR/daemon.log`.

SIGTERM or SIGINT: stop the controller, the API server and the data planes (their child processes),
remove `ready`, exit 0. A start failure is logged with its traceback and exits 1 after stopping what started.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from litemaas_state.sandbox import controller as controller_mod
from litemaas_state.sandbox import dataplane, kubeapi, layouts, streams, world
from litemaas_state.sandbox.secrets import SandboxSecrets
from litemaas_state.sandbox.seed import DEFAULT_SEED

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


def env_line(values: dict[str, str]) -> str:
    return "".join(f"export {k}={shell_quote(v)}\n" for k, v in values.items())


def parse_env(text: str, default_databases: str) -> tuple[str, str, str]:
    """`NS[=LAYOUT[:DATABASES]]` → (namespace, layout, databases). Raises argparse.ArgumentTypeError."""
    ns, _, rest = text.partition("=")
    layout, _, databases = rest.partition(":")
    layout, databases = layout or layouts.RHPDS, databases or default_databases
    if layout not in layouts.LAYOUT_NAMES or databases not in layouts.DATABASES or not ns:
        raise argparse.ArgumentTypeError(f"bad --env {text!r} (expected NS[=rhpds|kustomize[:separate|shared]])")
    return ns, layout, databases


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
    p.add_argument("--databases", choices=layouts.DATABASES, default="separate",
                   help="the databases of an --env that names none")
    p.add_argument("--env", action="append", default=[], metavar="NS[=LAYOUT[:DATABASES]]",
                   help="one environment (repeatable); default litellm-rhpds=rhpds")
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
    args = p.parse_args(argv)
    try:
        args.environments = [parse_env(e, args.databases) for e in args.env] or [
            (world.NAMESPACE, layouts.RHPDS, args.databases)
        ]
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    if len({ns for ns, _, _ in args.environments}) != len(args.environments):
        p.error("an --env namespace is given twice")
    return args


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

    data_planes: list[Any] = []
    server: kubeapi.KubeApiServer | None = None
    ctrl: controller_mod.DeploymentController | None = None
    code = 0
    try:
        envs = [
            world.Env(namespace=ns, layout=layout, databases=databases, index=i)
            for i, (ns, layout, databases) in enumerate(args.environments)
        ]
        first_secrets = (
            SandboxSecrets.from_file(args.secrets_file) if args.secrets_file else SandboxSecrets.generate()
        )
        all_secrets = [first_secrets, *(SandboxSecrets.generate() for _ in envs[1:])]
        write_private(sandbox_dir / "secrets.json", json.dumps(dataclasses.asdict(first_secrets), indent=2) + "\n")
        env_dirs = []
        for e, sec in zip(envs, all_secrets, strict=True):
            d = sandbox_dir / "envs" / e.namespace
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.chmod(d.parent, 0o755)
            write_private(d / "secrets.json", json.dumps(dataclasses.asdict(sec), indent=2) + "\n")
            env_dirs.append(d)
        env: dict[str, str] = {}
        directs: list[dict[str, str]] = [{"LITELLM_MASTER_KEY": sec.master_key} for sec in all_secrets]
        if not args.in_cluster_urls:
            env["LITELLM_MASTER_KEY"] = first_secrets.master_key
        endpoints: list[world.WorldEndpoints | None] = [None] * len(envs)
        runtimes: dict[str, streams.PodRuntime] = {}
        probes = {}
        if args.no_data_plane:
            log.info("running the Kubernetes API only (no data plane)")
        else:
            for d in env_dirs:
                (d / "data").mkdir(mode=0o755, exist_ok=True)
            log.info("starting %d data plane(s): %s", len(envs),
                     ", ".join(f"{e.namespace} ({e.layout}, {e.databases})" for e in envs))

            def start(i: int) -> Any:
                e = envs[i]
                return dataplane.start_data_plane(
                    env_dirs[i] / "data", all_secrets[i], e.databases, seed=DEFAULT_SEED + i, layout=e.layout
                )

            with ThreadPoolExecutor(max_workers=min(len(envs), 4)) as pool:
                futures = [pool.submit(start, i) for i in range(len(envs))]
                errors = []
                for f in futures:
                    try:
                        data_planes.append(f.result())
                    except Exception as exc:  # noqa: BLE001 - stop the others, then raise the first
                        errors.append(exc)
                if errors:
                    raise errors[0]
            for i, (e, dp) in enumerate(zip(envs, data_planes, strict=True)):
                names = e.names
                if args.in_cluster_urls:
                    endpoints[i] = world.in_cluster_urls(
                        all_secrets[i], dp.litemaas_database, dp.litellm_database, layout=e.layout
                    )
                else:
                    endpoints[i] = world.WorldEndpoints(
                        litemaas_database_url=dp.litemaas_database_url,
                        litellm_database_url=dp.litellm_database_url,
                        litellm_host=dp.litellm_host,
                    )
                urls = {
                    "LITEMAAS_DATABASE_URL": dp.litemaas_database_url,
                    "LITELLM_DATABASE_URL": dp.litellm_database_url,
                    "LITELLM_URL": dp.litellm_url,
                    "REDIS_URL": dp.redis_url,
                }
                if i == 0 and not args.in_cluster_urls:
                    env.update(urls)
                directs[i].update(urls)
                probes[(e.namespace, names.redis)] = dp.redis_ping
                runtimes[e.namespace] = streams.PodRuntime(
                    postgres_port=dp.postgres_port,
                    postgres_password=all_secrets[i].db_password,
                    postgres_user=dp.db_user,
                    redis_port=dp.redis_port,
                    redis_password=all_secrets[i].redis_password if names.redis_auth else "",
                    litellm_port=int(dp.litellm_host.rsplit(":", 1)[1]),
                    pg_bin=dp.postgres.bindir,
                    postgres_app=names.postgres,
                    litellm_app=names.litellm,
                    redis_app=names.redis,
                )
            if stop.is_set():
                return 0

        store = kubeapi.Store()
        for e, sec, ep in zip(envs, all_secrets, endpoints, strict=True):
            world.seed(store, sec, env=e, endpoints=ep, progress_deadline_s=args.progress_deadline_s)
        ctrl = controller_mod.DeploymentController(
            store, pod_ready_s=args.pod_ready_s, tick_s=args.tick_s, ready_probes=probes
        )
        ctrl.prime()
        token = pysecrets.token_urlsafe(32)
        tls = None if args.plain_http else kubeapi.generate_tls(sandbox_dir / "tls")
        server = kubeapi.KubeApiServer(
            store, token, port=args.port, tls=tls, runtimes=runtimes, state_dir=sandbox_dir
        )
        server.start()
        ctrl.start()
        log.info("Kubernetes API serving on %s", server.url)

        write_private(
            sandbox_dir / "kubeconfig",
            yaml.safe_dump(
                kubeconfig(server.url, token, envs[0].namespace, tls.ca_cert.read_bytes() if tls else None),
                sort_keys=False,
            ),
        )
        env["KUBECONFIG"] = str(sandbox_dir / "kubeconfig")
        env["LITEMAAS_SANDBOX_DIR"] = str(sandbox_dir)
        write_private(sandbox_dir / "env", env_line(env))
        # the data planes' own addresses, for tests and benchmarks that seed or inspect them behind the tool's back
        write_private(sandbox_dir / "direct-env", env_line(directs[0]))
        for d, direct in zip(env_dirs, directs, strict=True):
            write_private(d / "direct-env", env_line(direct))
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
        for data_plane in data_planes:
            try:
                data_plane.stop()
            except Exception:
                log.exception("stopping a data plane failed")
        log.info("sandbox stopped (exit %s)", code)
    return code


if __name__ == "__main__":
    sys.exit(main())
