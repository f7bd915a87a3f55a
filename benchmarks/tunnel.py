"""Benchmark: the kubernetes path (port-forwards and exec through the API server) against the direct path.

Starts a realistic sandbox (Secrets name `litellm-postgres:5432`; the env file exports only KUBECONFIG) and
times, through the real CLI:
  * `plan --json` of state/litellm-rhpds.yaml at the demo size, over port-forwards (nothing but the
    kubeconfig) and direct (the data plane's 127.0.0.1 URLs given as variables, `--connect direct`);
  * the same with N extra expired keys in LiteLLM's database (default 10,000; seeded as
    plan_50k_keys.py does) and a key_retention-only state file;
then the dump throughput of a LiteMaaS database grown by a ~SIZE MB table (default 100): pg_dump by exec in
the pod (the kubernetes path's backup), a local pg_dump over the port-forward (the exec-forbidden
fallback), and a local pg_dump direct, each into a verified gzip file.

Each CLI timing is the median of --repeat runs (default 3). Figures are for the sandbox on this machine
(its API server is a Python process on the same 2 cores), not a real cluster.

Usage: .venv/bin/python benchmarks/tunnel.py [--keys 10000] [--dump-mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from litemaas_state.apply import backup
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeReader, connect_kube
from litemaas_state.sandbox import manage

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "state" / "litellm-rhpds.yaml"
KEYS_STATE = """apiVersion: litemaas-state/v1
kind: Environment
metadata: {name: litellm-rhpds}
target: {namespace: litellm-rhpds}
key_retention:
  delete_expired: true
  max_deletions: 100000
  sync_litemaas: true
"""
INSERT_KEYS = """
INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, created_at, updated_at, metadata,
  models, spend)
SELECT encode(sha256(('bench-' || g)::bytea), 'hex'), 'sk-...' || lpad(g::text, 4, '0'),
       'bench-workshop-' || g, (now() AT TIME ZONE 'UTC') - interval '2 days',
       (now() AT TIME ZONE 'UTC') - interval '9 days', (now() AT TIME ZONE 'UTC') - interval '9 days',
       '{"duration": "7d"}'::jsonb, '{}', 0
FROM generate_series(1, %s) AS g
"""
# ~1 KB of text per row (32 md5 hex digests), so SIZE MB ≈ SIZE * 1000 rows
GROW = "CREATE TABLE bench_blob AS SELECT g, repeat(md5(g::text), 32) AS body FROM generate_series(1, %s) AS g"


def shell_env(lines: list[str]) -> dict[str, str]:
    raw = subprocess.run(["bash", "-c", "\n".join(lines) + "\nenv -0"], capture_output=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout.decode()
    return dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)


def median_time(env: dict[str, str], repeat: int, *args: str) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "litemaas_state", *args], env=env, capture_output=True,
                              text=True)
        times.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--dump-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="lms-bench-", dir="/tmp"))
    os.chmod(d, 0o755)
    sandbox = d / "sbx"
    manage.up(sandbox, manage.SandboxOptions(pod_ready_s=0.15, progress_deadline_s=3, direct_urls=False))
    try:
        base = manage.shell_lines(sandbox)
        tunnel_env = {**os.environ, **shell_env(base)}
        for var in ("LITEMAAS_DATABASE_URL", "LITELLM_DATABASE_URL", "LITELLM_URL", "LITELLM_MASTER_KEY", "REDIS_URL"):
            tunnel_env.pop(var, None)
        direct = shell_env([*base, f"set -a; . '{sandbox}/direct-env'; set +a"])
        direct_env = {**tunnel_env, **direct, "LITEMAAS_STATE_CONNECT": "direct"}
        os.chdir(d)

        def compare_plan(title: str, state: Path) -> None:
            print(f"{title} (median of {args.repeat}):")
            t_tunnel = median_time(tunnel_env, args.repeat, "plan", str(state), "--json")
            t_direct = median_time(direct_env, args.repeat, "plan", str(state), "--json")
            print(f"  port-forward {t_tunnel:6.2f} s   direct {t_direct:6.2f} s   (+{t_tunnel - t_direct:.2f} s)")

        compare_plan("plan at the demo size", STATE)

        with psycopg.connect(direct["LITELLM_DATABASE_URL"]) as conn:
            conn.execute(INSERT_KEYS, (args.keys,))
        keys_state = d / "keys.yaml"
        keys_state.write_text(KEYS_STATE)
        compare_plan(f"plan with {args.keys} extra expired keys", keys_state)

        with psycopg.connect(direct["LITEMAAS_DATABASE_URL"]) as conn:
            conn.execute(GROW, (args.dump_mb * 1000,))
        kube = connect_kube("litellm-rhpds", kubeconfig=tunnel_env["KUBECONFIG"])
        with Discovery(DataPlaneFlags(connect="kubernetes"), KubeReader(kube), environ={}) as tunnels, \
                Discovery(DataPlaneFlags(litemaas_database_url=direct["LITEMAAS_DATABASE_URL"], connect="direct"),
                          None, environ={}) as straight:
            via_pod = tunnels.database("litemaas")
            plain = straight.database("litemaas")
            assert via_pod is not None and plain is not None
            runs = [
                ("pg_dump by exec in the pod", lambda dest: backup.dump_database_exec(kube, via_pod, dest)),
                ("local pg_dump over the port-forward", lambda dest: backup.dump_database(via_pod, dest)),
                ("local pg_dump direct", lambda dest: backup.dump_database(plain, dest)),
            ]
            print(f"dump of litemaas_db grown by ~{args.dump_mb} MB (gzip, verified):")
            for i, (label, run) in enumerate(runs):
                dest = d / f"dump-{i}.sql.gz"
                start = time.perf_counter()
                size = run(dest)
                took = time.perf_counter() - start
                print(f"  {label:<38} {size / 1e6:7.1f} MB in {took:6.2f} s = {size / 1e6 / took:6.1f} MB/s "
                      f"({dest.stat().st_size / 1e6:.1f} MB gzip)")
                dest.unlink()
    finally:
        manage.down(sandbox)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
