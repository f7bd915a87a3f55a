"""Benchmark: `plan` of a fleet of 8 environments, --parallelism 4 against --parallelism 1, and against 8
separate `plan FILE` processes one after another (what the PR workflow did per state file).

Starts one realistic sandbox hosting 8 environments (namespaces env-0 … env-7, each with its own PostgreSQL,
Redis and LiteLLM API; even ones in the rhpds layout, odd ones in the upstream Kustomize layout; Secrets
name in-cluster hosts, so every environment goes through port-forwards) and writes one state file per
environment (state/litellm-rhpds.yaml with its namespace, name and layout). Each timing is the median wall time of --repeat runs
(default 3) of the real CLI. Figures are for the sandbox on this machine: its API server, PostgreSQL,
Redis and LiteLLM stand-in share the 2 cores with the CLI, so they bound what parallelism can gain.

Usage: .venv/bin/python benchmarks/fleet.py [--environments 8] [--repeat 3]
Writes benchmarks/results/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litemaas_state.sandbox import manage

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "state" / "litellm-rhpds.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "fleet.json"


def shell_env(lines: list[str]) -> dict[str, str]:
    raw = subprocess.run(["bash", "-c", "\n".join(lines) + "\nenv -0"], capture_output=True, check=True,
                         env={"PATH": os.environ["PATH"]}).stdout.decode()
    return dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)


def timed(env: dict[str, str], cwd: Path, *commands: list[str]) -> float:
    """Wall seconds of running ``commands`` one after another (each a CLI invocation)."""
    start = time.perf_counter()
    for args in commands:
        proc = subprocess.run([sys.executable, "-m", "litemaas_state", *args], env=env, cwd=cwd,
                              capture_output=True, text=True)
        assert proc.returncode in (0, 2), proc.stderr[-2000:]
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--environments", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sandbox = Path(tempfile.mkdtemp(prefix="lms-bench-fleet-"))
    sandbox.rmdir()
    layouts = ("rhpds", "kustomize")
    envs = tuple(manage.SandboxEnvironment(f"env-{i}", layouts[i % 2])  # type: ignore[arg-type]
                 for i in range(args.environments))
    manage.up(sandbox, manage.SandboxOptions(pod_ready_s=0.15, progress_deadline_s=3, direct_urls=False,
                                             environments=envs, startup_timeout_s=300))
    try:
        env = {**os.environ, **shell_env(manage.shell_lines(sandbox))}
        fleet = sandbox / "fleet"
        fleet.mkdir()
        text = STATE.read_text()
        files = []
        for i in range(args.environments):
            f = fleet / f"env-{i}.yaml"
            f.write_text(text.replace("name: litellm-rhpds\n", f"name: env-{i}\n", 1)
                         .replace("namespace: litellm-rhpds", f"namespace: env-{i}")
                         .replace("layout: rhpds", f"layout: {layouts[i % 2]}"))
            files.append(f"fleet/{f.name}")
        runs: dict[str, list[float]] = {"parallelism_4": [], "parallelism_1": [], "separate_processes": []}
        timed(env, sandbox, ["plan", "fleet", "--json"])  # warm-up: page cache, the sandbox's first reads
        for _ in range(args.repeat):
            runs["parallelism_4"].append(timed(env, sandbox, ["plan", "fleet", "--json", "--parallelism", "4"]))
            runs["parallelism_1"].append(timed(env, sandbox, ["plan", "fleet", "--json", "--parallelism", "1"]))
            runs["separate_processes"].append(timed(env, sandbox, *(["plan", f, "--json"] for f in files)))
        medians = {k: round(statistics.median(v), 2) for k, v in runs.items()}
        result = {
            "benchmark": "plan --json of a fleet of environments (one namespace and data plane each, both layouts) in one realistic sandbox (port-forwards)",
            "environments": args.environments,
            "repeat": args.repeat,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "median_s": medians,
            "speedup_parallelism_4_over_1": round(medians["parallelism_1"] / medians["parallelism_4"], 2),
            "speedup_parallelism_4_over_separate": round(medians["separate_processes"] / medians["parallelism_4"], 2),
            "runs_s": {k: [round(t, 2) for t in v] for k, v in runs.items()},
        }
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        manage.down(sandbox)


if __name__ == "__main__":
    main()
