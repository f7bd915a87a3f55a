"""Benchmark: plan and prune against a LiteLLM holding 50,000 prunable keys (issue 4 names the number).

Starts a sandbox, adds N expired workshop keys straight into its "LiteLLM_VerificationToken" table, then
times, through the real CLI:
  * `plan --json` (reads every /key/list page at size 100, plans, renders JSON),
  * `plan --format markdown` and the size of the PR comment (must stay < 65,536 characters),
  * optionally `apply --target keys` (POST /key/delete in batches of 50 + read-back + row revocation).
Numbers are for the sandbox's LiteLLM stand-in on this machine, not a real proxy (a real 1.81 proxy
deleted ≈ 400 keys/s in batches of 50: litellm-1.81-observed.md).

Usage: .venv/bin/python benchmarks/plan_50k_keys.py [--keys 50000] [--prune]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from litemaas_state.sandbox import manage

ROOT = Path(__file__).resolve().parents[1]
STATE = """apiVersion: litemaas-state/v1
kind: Environment
metadata: {name: litellm-rhpds}
target: {namespace: litellm-rhpds}
key_retention:
  delete_expired: true
  max_deletions: 100000
  sync_litemaas: true
"""

INSERT = """
INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, created_at, updated_at, metadata,
  models, spend)
SELECT encode(sha256(('bench-' || g)::bytea), 'hex'), 'sk-...' || lpad(g::text, 4, '0'),
       'bench-workshop-' || g, (now() AT TIME ZONE 'UTC') - interval '2 days',
       (now() AT TIME ZONE 'UTC') - interval '9 days', (now() AT TIME ZONE 'UTC') - interval '9 days',
       '{"duration": "7d"}'::jsonb, '{}', 0
FROM generate_series(1, %s) AS g
"""


def timed(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "litemaas_state", *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=50_000)
    ap.add_argument("--prune", action="store_true")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="lms-bench-", dir="/tmp"))
    os.chmod(d, 0o755)
    sandbox = d / "sbx"
    manage.up(sandbox, manage.SandboxOptions(pod_ready_s=0.15, progress_deadline_s=3))
    try:
        script = "\n".join(manage.shell_lines(sandbox)) + "\nenv -0"
        raw = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout.decode()
        env = {**os.environ, **dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)}
        with psycopg.connect(env["LITELLM_DATABASE_URL"]) as conn:
            conn.execute(INSERT, (args.keys,))
        state = d / "bench.yaml"
        state.write_text(STATE)
        t_json, p = timed(env, "plan", str(state), "--json")
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        n = sum(len(a["keys"]) for ph in doc["phases"] for a in ph["actions"])
        t_md, p = timed(env, "plan", str(state), "--format", "markdown")
        print(f"keys prunable: {n}")
        print(f"plan --json:            {t_json:6.2f} s  ({len(json.dumps(doc))} bytes)")
        print(f"plan --format markdown: {t_md:6.2f} s  ({len(p.stdout)} characters; limit 65,536)")
        if args.prune:
            t_apply, p = timed(env, "apply", str(state), "--auto-approve", "--target", "keys")
            assert p.returncode == 0, p.stderr[-2000:]
            print(f"apply (prune):          {t_apply:6.2f} s  ({n / t_apply:.0f} keys/s end to end)")
    finally:
        manage.down(sandbox)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
