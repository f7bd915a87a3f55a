"""Benchmark: keys at production scale (plan 10,000 and 100,000 keys; prune against the runbook's way).

One command from a clean clone: ``make bench-keys`` (or ``.venv/bin/python benchmarks/keys_at_scale.py``).
It starts a sandbox, and for each N (default 10,000 and 100,000) seeds with COPY:
  * N virtual keys in "LiteLLM_VerificationToken", 40 % of them expired (prunable), owned by
  * 10,000 LiteMaaS users, with one LiteMaaS ``api_keys`` row per key (key_hash = token),
then measures through the real CLI, each in its own process (wall time; peak RSS from wait4):
  * ``plan --json`` on the fast path (LiteLLM's database, trusted on evidence),
  * ``plan --json`` on the fallback (LITELLM_DATABASE_URL pointed at a database LiteLLM does not use,
    so every ``/key/list`` page is read),
  * the floor: a bare SQL read of the same columns (python + psycopg, fetchall),
  * ``plan --format markdown`` and its size (must stay < 65,536 characters).
Then prune at ``--prune-keys`` (default 10,000 seeded, 4,000 prunable), on a fresh seed each:
  * the tool: ``apply --auto-approve --target keys``,
  * the runbook's cleanup: page ``/key/list`` 100 at a time, one ``POST /key/delete`` per key, one
    ``UPDATE api_keys`` per key,
counting the HTTP requests the sandbox's LiteLLM served (``/sandbox/stats``) and the LiteMaaS DB
transactions (pg_stat_database). Figures go to benchmarks/results/keys_at_scale.json and a table on stdout.
The LiteLLM here is the sandbox's stand-in, not a real proxy (a real 1.81 proxy deleted ≈ 400 keys/s in
batches of 50: docs/litellm-api.md).

The fast plan and the floor run ``--repeat`` times (default 3) and the fastest is reported (this machine is
shared; every wall time is in the file).

Usage: .venv/bin/python benchmarks/keys_at_scale.py [--sizes 10000,100000] [--prune-keys 10000]
       [--fallback-max 100000] [--repeat 3] [--out benchmarks/results/keys_at_scale.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from litemaas_state.sandbox import manage

ROOT = Path(__file__).resolve().parents[1]
USERS = 10_000
STATE = """apiVersion: litemaas-state/v1
kind: Environment
metadata: {name: litellm-rhpds}
target: {namespace: litellm-rhpds}
key_retention:
  delete_expired: true
  max_deletions: 200000
  sync_litemaas: true
"""
FLOOR = """
import sys, psycopg
with psycopg.connect(sys.argv[1]) as conn:
    rows = conn.execute('''SELECT token, key_alias, expires, created_at, metadata -> 'duration', user_id, team_id
                           FROM "LiteLLM_VerificationToken" WHERE team_id IS DISTINCT FROM 'litellm-dashboard' ''').fetchall()
print(len(rows))
"""


def user_id(i: int) -> str:
    return str(uuid.UUID(int=(0xBE << 120) | i))


def token(n: int, i: int) -> str:
    return f"{n:08x}{i:056x}"  # 64 hex characters, distinct per seed


def _copy(conn: psycopg.Connection, statement: str, lines: io.StringIO) -> None:
    with conn.cursor() as cur, cur.copy(statement) as cp:
        cp.write(lines.getvalue())


def seed_users(env: dict[str, str]) -> None:
    buf = io.StringIO()
    for i in range(USERS):
        buf.write(f"{user_id(i)}\tbench-user-{i}\tbench-user-{i}@example.com\toidc\tbench-{i}\n")
    with psycopg.connect(env["LITEMAAS_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE username LIKE 'bench-user-%'")
        _copy(conn, "COPY users (id, username, email, oauth_provider, oauth_id) FROM STDIN", buf)


def seed_keys(env: dict[str, str], n: int) -> int:
    """Replace the benchmark keys by ``n`` new ones (40 % expired); return how many are prunable."""
    now = datetime.now(UTC).replace(tzinfo=None)
    clear(env)
    vt, rows = io.StringIO(), io.StringIO()
    prunable = 0
    for i in range(n):
        t = token(n, i)
        expired = i % 5 < 2
        prunable += expired
        created = now - timedelta(days=9, seconds=i)
        expires = now - timedelta(days=2, seconds=i) if expired else now + timedelta(days=30, seconds=i)
        alias = f"bench-workshop-{i}"
        uid = user_id(i % USERS)
        vt.write(f"{t}\tsk-...{i % 10000:04d}\t{alias}\t{expires.isoformat()}\t{created.isoformat()}\t"
                 f"{created.isoformat()}\t{{\"duration\": \"7d\"}}\t{{}}\t0\t{uid}\n")
        rows.write(f"{uuid.UUID(int=(0xA1 << 120) | i)}\t{uid}\t{alias}\t{t}\tsk-...{i % 10000:04d}\t{alias}\ttrue\t"
                   f"synced\n")
    with psycopg.connect(env["LITELLM_DATABASE_URL"], autocommit=True) as conn:
        _copy(conn, 'COPY "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, created_at, updated_at, '
                    "metadata, models, spend, user_id) FROM STDIN", vt)
        conn.execute('VACUUM ANALYZE "LiteLLM_VerificationToken"')
    with psycopg.connect(env["LITEMAAS_DATABASE_URL"], autocommit=True) as conn:
        _copy(conn, "COPY api_keys (id, user_id, name, key_hash, key_prefix, litellm_key_alias, is_active, "
                    "sync_status) FROM STDIN", rows)
        conn.execute("VACUUM ANALYZE api_keys")
    return prunable


def clear(env: dict[str, str]) -> None:
    with psycopg.connect(env["LITELLM_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM \"LiteLLM_VerificationToken\" WHERE key_alias LIKE 'bench-workshop-%'")
        conn.execute("DELETE FROM \"LiteLLM_DeletedVerificationToken\" WHERE key_alias LIKE 'bench-workshop-%'")
    with psycopg.connect(env["LITEMAAS_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM api_keys WHERE litellm_key_alias LIKE 'bench-workshop-%'")


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MiB, stdout, stderr) of one process (wait4: that child's own rusage)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[2:]} exited {proc.returncode}:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout, stderr


def cli(env: dict[str, str], *args: str) -> tuple[float, float, str, str]:
    return run([sys.executable, "-m", "litemaas_state", *args], env)


def requests_served(env: dict[str, str], reset: bool = False) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {env['LITELLM_MASTER_KEY']}"}
    url = env["LITELLM_URL"] + "/sandbox/stats"
    body = (httpx.delete if reset else httpx.get)(url, headers=headers).json()
    return {k: v for k, v in body["requests"].items() if not k.endswith("/sandbox/stats")}


def litemaas_transactions(env: dict[str, str]) -> int:
    time.sleep(1.1)  # PostgreSQL flushes its per-backend statistics about once a second
    with psycopg.connect(env["LITEMAAS_DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                           "WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def best_of(repeat: int, argv: list[str], env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The fastest of ``repeat`` runs (the machine is shared: the minimum is the least disturbed), with
    every wall time and the largest peak RSS."""
    walls, rsss, out = [], [], ""
    for _ in range(repeat):
        wall, rss, out, _ = run(argv, env)
        walls.append(round(wall, 3))
        rsss.append(rss)
    return {"wall_s": min(walls), "walls_s": walls, "peak_rss_mib": round(max(rsss), 1)}, out


def plan_figures(env: dict[str, str], state: Path, n: int, fallback: bool, repeat: int) -> dict[str, Any]:
    prunable = seed_keys(env, n)
    fig: dict[str, Any] = {"keys": n, "prunable_seeded": prunable}
    plan = [sys.executable, "-m", "litemaas_state", "plan", str(state)]
    fig["fast"], out = best_of(repeat, [*plan, "--json"], env)
    doc = json.loads(out)
    assert doc["key_source"]["origin"] == "litellm-db", doc["key_source"]
    fig["planned_deletions"] = sum(len(a["keys"]) for p in doc["phases"] for a in p["actions"])
    fig["rows_revoked"] = doc["summary"]["rows_revoked"]
    fig["fast"]["json_bytes"] = len(out)
    fig["markdown"], out = best_of(1, [*plan, "--format", "markdown"], env)
    fig["markdown"]["chars"] = len(out)
    fig["floor"], out = best_of(repeat, [sys.executable, "-c", FLOOR, env["LITELLM_DATABASE_URL"]], env)
    fig["floor"]["rows"] = int(out)
    if fallback:
        wrong = {**env, "LITELLM_DATABASE_URL": env["LITEMAAS_DATABASE_URL"]}  # not LiteLLM's: untrusted
        requests_served(env, reset=True)
        wall, rss, out, _ = cli(wrong, "plan", str(state), "--json")
        doc = json.loads(out)
        assert doc["key_source"]["origin"] == "key-list", doc["key_source"]
        fig["fallback"] = {"wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
                           "requests": sum(requests_served(env).values())}
    else:
        fig["fallback"] = None
    return fig


def prune_tool(env: dict[str, str], state: Path, n: int) -> dict[str, Any]:
    prunable = seed_keys(env, n)
    requests_served(env, reset=True)
    tx = litemaas_transactions(env)
    wall, _, out, _ = cli(env, "apply", str(state), "--auto-approve", "--target", "keys")
    served = requests_served(env)
    return {"prunable": prunable, "wall_s": round(wall, 3), "http_requests": sum(served.values()),
            "by_route": served, "litemaas_transactions": litemaas_transactions(env) - tx - 1,
            "result": [ln for ln in out.splitlines() if "deleted" in ln][-2:]}


def prune_baseline(env: dict[str, str], n: int) -> dict[str, Any]:
    """What the runbook's cleanup does: list every key 100 a page, then one delete and one UPDATE per key."""
    prunable = seed_keys(env, n)
    requests_served(env, reset=True)
    tx = litemaas_transactions(env)
    now = datetime.now(UTC)
    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {env['LITELLM_MASTER_KEY']}"}
    with httpx.Client(base_url=env["LITELLM_URL"], headers=headers, timeout=30) as c, \
            psycopg.connect(env["LITEMAAS_DATABASE_URL"], autocommit=True) as conn:
        keys: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = c.get("/key/list", params={"return_full_object": "true", "size": 100, "page": page}).json()
            keys += body["keys"]
            pages = body["total_pages"]
            page += 1
        expired = [k["token"] for k in keys
                   if k.get("expires") and datetime.fromisoformat(k["expires"].replace("Z", "+00:00")) < now]
        for t in expired:
            c.post("/key/delete", json={"keys": [t]})
            conn.execute("UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error', "
                         "sync_error = 'Key deleted from LiteLLM' WHERE key_hash = %s", (t,))
    wall = time.perf_counter() - start
    served = requests_served(env)
    return {"prunable": prunable, "deleted": len(expired), "wall_s": round(wall, 3),
            "http_requests": sum(served.values()), "by_route": served,
            "litemaas_transactions": litemaas_transactions(env) - tx - 1}


def table(results: dict[str, Any]) -> str:
    lines = ["| keys | fast plan s | fast RSS MiB | fallback plan s | fallback RSS MiB | floor s | floor RSS MiB "
             "| markdown chars |", "|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for f in results["plan"]:
        fb = f["fallback"] or {}
        lines.append(f"| {f['keys']:,} | {f['fast']['wall_s']:.2f} | {f['fast']['peak_rss_mib']:.0f} | "
                     f"{fb.get('wall_s', '—')} | {fb.get('peak_rss_mib', '—')} | {f['floor']['wall_s']:.2f} | "
                     f"{f['floor']['peak_rss_mib']:.0f} | {f['markdown']['chars']:,} |")
    p = results["prune"]
    lines += ["", "| prune | keys | wall s | HTTP requests | LiteMaaS transactions |", "|:--|--:|--:|--:|--:|",
              f"| litemaas-state | {p['tool']['prunable']:,} | {p['tool']['wall_s']:.2f} | "
              f"{p['tool']['http_requests']:,} | {p['tool']['litemaas_transactions']:,} |",
              f"| runbook baseline | {p['baseline']['deleted']:,} | {p['baseline']['wall_s']:.2f} | "
              f"{p['baseline']['http_requests']:,} | {p['baseline']['litemaas_transactions']:,} |",
              f"| **speed-up** | | **{p['speedup']:.0f}×** | | |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--prune-keys", type=int, default=10_000)
    ap.add_argument("--fallback-max", type=int, default=100_000, help="skip the /key/list fallback above this N")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each fast plan and floor read (best kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "keys_at_scale.json")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    d = Path(tempfile.mkdtemp(prefix="lms-bench-", dir="/tmp"))
    os.chmod(d, 0o755)
    sandbox = d / "sbx"
    manage.up(sandbox, manage.SandboxOptions(pod_ready_s=0.15, progress_deadline_s=3))
    try:
        script = "\n".join(manage.shell_lines(sandbox)) + "\nenv -0"
        raw = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout.decode()
        env = {**os.environ, **dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)}
        env.pop("LITEMAAS_STATE_DEBUG", None)
        state = sandbox / "bench.yaml"
        state.write_text(STATE)
        seed_users(env)
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "plan": [],
        }
        for n in sizes:
            print(f"plan at {n:,} keys…", file=sys.stderr)
            results["plan"].append(plan_figures(env, state, n, fallback=n <= args.fallback_max, repeat=args.repeat))
        if len(sizes) >= 2:
            a, b = results["plan"][0], results["plan"][-1]
            results["growth"] = {"keys": b["keys"] / a["keys"],
                                 "fast_wall": round(b["fast"]["wall_s"] / a["fast"]["wall_s"], 2)}
        print(f"prune at {args.prune_keys:,} keys…", file=sys.stderr)
        tool = prune_tool(env, state, args.prune_keys)
        base = prune_baseline(env, args.prune_keys)
        results["prune"] = {"tool": tool, "baseline": base, "speedup": round(base["wall_s"] / tool["wall_s"], 1)}
        clear(env)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(table(results))
        print(f"\nfigures: {args.out}")
    finally:
        manage.down(sandbox)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
