"""End to end on the sandbox, through the real CLI: plan → apply → plan converges; failures stop apply."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from litemaas_state.apply.lock import takeover_skew_s
from tests.e2e.conftest import STATE, Sandbox, parse_env, secrets_file, wait_lease_expired

#: The lease duration of the lock test (LITEMAAS_STATE_LOCK_SECONDS): short, so a killed apply's lease expires
#: in seconds, yet renewed (every duration/4) often enough that a loaded machine does not lose it.
LOCK_SECONDS = 3

pytestmark = pytest.mark.slow

HEAD = """apiVersion: litemaas-state/v1
kind: Environment
metadata:
  name: litellm-rhpds
target:
  namespace: litellm-rhpds
"""


def write(sb: Sandbox, body: str, name: str = "s.yaml") -> str:
    p = sb.dir / name  # inside the sandbox directory, so `sandbox down` removes it
    p.write_text(HEAD + body)
    return str(p)


def tokens(sb: Sandbox) -> set[str]:
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        return {r[0] for r in conn.execute('SELECT token FROM "LiteLLM_VerificationToken"')}


def api_keys(sb: Sandbox) -> list[tuple[str, str | None, bool, str | None, str | None]]:
    with psycopg.connect(sb.direct["LITEMAAS_DATABASE_URL"]) as conn:
        return conn.execute("SELECT key_hash, litellm_key_alias, is_active, sync_status, sync_error FROM api_keys").fetchall()


def deployment(sb: Sandbox, name: str) -> dict:
    out = subprocess.run(["kubectl", "get", "deploy", name, "-o", "json"], capture_output=True, text=True,
                         env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}, check=True).stdout
    return json.loads(out)


def test_plan_apply_plan_converges(make_sandbox) -> None:
    sb = make_sandbox()
    state = sb.state_copy()
    before_tokens = tokens(sb)
    rows_before = api_keys(sb)
    first = sb.cli("plan", state, "--detailed-exitcode", check=2)
    assert "~ image: \"quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom\"" in first.stdout
    assert "~ replicas: 3 -> 5" in first.stdout
    for phase in ("backup", "images", "scaling", "admins", "keys"):
        assert f"Phase {phase}:" in first.stdout
    assert "+ backup/litellm-rhpds" in first.stdout
    doc = json.loads(sb.cli("plan", state, "--json", check=0).stdout)
    pruned = {k["token_prefix"] for p in doc["phases"] if p["phase"] == "keys" for a in p["actions"]
              for k in a["keys"]}
    applied = sb.cli("apply", state, "--auto-approve", check=0)
    assert "successfully rolled out" in applied.stdout and "Apply complete!" in applied.stdout
    order = [m.group(1) for m in re.finditer(r"^(\S+): (?:Backing up|Modifying|Scaling|Updating roles|Pruning)\.\.\.",
                                             applied.stdout, re.M)]
    assert order[:4] == ["backup/litellm-rhpds", "deployment/litellm-backend", "deployment/litellm-frontend",
                         "deployment/litellm"]
    assert order.index("deployment/litellm-frontend") < order.index("admin/sean.o'brien@example.com")
    sb.cli("plan", state, "--detailed-exitcode", check=0)
    # pruned keys are gone, and their rows revoked; the rotated key (stale alias, live key_hash) survives
    after_tokens = tokens(sb)
    gone = before_tokens - after_tokens
    assert {t[:10] for t in gone} == pruned
    rows = {r[0]: r for r in api_keys(sb)}
    for key_hash, _alias, active, _, _ in rows_before:
        if key_hash in gone and active:
            assert rows[key_hash][2] is False and rows[key_hash][3] == "error"
            assert "litemaas-state" in (rows[key_hash][4] or "")
    aliases = set()
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        aliases = {r[0] for r in conn.execute('SELECT key_alias FROM "LiteLLM_VerificationToken"') if r[0]}
    rotated = [r for r in rows.values() if r[2] and r[0] in after_tokens and r[1] and r[1] not in aliases]
    assert rotated, "the rotated LiteMaaS key (stale alias, fresh key_hash) must stay active"
    assert all(not (r[2] and r[0] not in after_tokens) for r in rows.values()), "no active orphan row remains"
    backups = list((sb.dir / "backups").glob("*.sql.gz"))
    assert len(backups) == 2
    frontend = deployment(sb, "litellm-frontend")["spec"]["template"]["spec"]
    assert {c["image"] for c in frontend["initContainers"] if c["name"] == "copy-custom-logos"} == {
        "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"}


def test_broken_image_stops_apply_and_later_steps_are_not_done(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """deployments:
  frontend:
    image: quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0-broken
  litellm:
    replicas: 4
""")
    proc = sb.cli("apply", state, "--auto-approve", check=1)
    assert 'deployment "litellm-frontend" exceeded its progress deadline' in proc.stderr
    assert "Not done: scaling/litellm" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert deployment(sb, "litellm")["spec"]["replicas"] == 3
    # the failed rollout stays visible: plan refuses, drift reports it, status shows it
    again = sb.cli("plan", state, "--detailed-exitcode", check=1)
    assert "the last rollout failed" in again.stderr and "kubectl rollout undo" in again.stderr  # errors: stderr
    assert "Error:" not in again.stdout
    assert "DRIFT" in sb.cli("drift", state, check=2).stdout
    status = sb.cli("status", state, "--json", check=1)  # a failed rollout is not a healthy deployment
    assert json.loads(status.stdout)["deployments"]["litellm-frontend"]["rollout"] == "failed"
    assert json.loads(status.stdout)["failed_rollouts"] == ["litellm-frontend"]
    text = sb.cli("status", state, check=1)
    assert "deployment/litellm-frontend: the last rollout failed" in text.stderr
    # declaring a working image again is planned (with a warning) and converges
    fixed = write(sb, """deployments:
  frontend:
    image: quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0
""", name="fixed.yaml")
    sb.cli("apply", fixed, "--auto-approve", check=0)
    sb.cli("plan", fixed, "--detailed-exitcode", check=0)


def test_status_survives_an_unreachable_litellm_and_a_bad_redis_password_is_a_config_error(make_sandbox) -> None:
    # the direct path: the sandbox hands out 127.0.0.1 URLs and --connect direct forbids port-forwards
    sb = make_sandbox(direct_urls=True)
    sb.env = parse_env(sb.dir)
    proc = sb.cli("status", str(STATE), extra_env={"LITELLM_URL": "http://127.0.0.1:9", "LITEMAAS_STATE_CONNECT": "direct"},
                  check=0)
    assert "LiteLLM API: direct 127.0.0.1:9" in proc.stdout and "LiteMaaS DB: direct 127.0.0.1:" in proc.stdout
    assert "LiteLLM:  NOT ALIVE" in proc.stdout and "Connection refused" in proc.stdout
    assert "DEPLOYMENT" in proc.stdout and "Admins:   3" in proc.stdout
    bad = sb.direct["REDIS_URL"].replace("redis://:", "redis://:WRONG")
    proc = sb.cli("plan", str(STATE), extra_env={"REDIS_URL": bad}, check=1)
    assert "Redis rejected the credentials" in proc.stderr
    proc = sb.cli("plan", str(STATE), extra_env={"LITELLM_MASTER_KEY": "sk-WrongWrongWrongWrong"}, check=1)
    assert "HTTP 401" in proc.stderr and "sk-" not in proc.stderr
    proc = sb.cli("plan", str(STATE), "--connect", "direct", check=0)
    assert "Redis: direct 127.0.0.1:" in proc.stdout and "port-forward" not in proc.stdout


def test_rollback_of_a_broken_litellm_image_names_the_backup(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """on_failure: rollback
deployments:
  litellm:
    image: quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-broken
""")
    proc = sb.cli("apply", state, "--auto-approve", check=1)
    assert "rolled back to revision 1" in proc.stderr
    assert re.search(r"backup taken before the change is \S*litellm-rhpds-litellm-\d{8}T\d{6}Z\.sql\.gz", proc.stderr)
    rolled_back = deployment(sb, "litellm")
    image = rolled_back["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":main-v1.81.0-stable-custom")
    record = json.loads(rolled_back["metadata"]["annotations"]["litemaas-state/last-applied"])
    assert record["images"]["litellm"] == image  # the rollback records what it wrote back


def test_failing_backup_stops_before_any_image_change(make_sandbox) -> None:
    sb = make_sandbox()
    (sb.dir / "not-a-dir").write_text("x")
    state = write(sb, """backup:
  directory: not-a-dir/dumps
deployments:
  litellm:
    image: quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom
""")
    proc = sb.cli("apply", state, "--auto-approve", check=1)
    assert "Failed:   backup/litellm-rhpds" in proc.stderr and "Not done: images/litellm" in proc.stderr
    assert deployment(sb, "litellm")["metadata"]["generation"] == 1


def test_saved_plan_refused_when_stale_and_unrelated_change_does_not_block(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """deployments:
  litellm:
    replicas: 4
  backend:
    image: quay.io/rh-aiservices-bu/litemaas-backend:0.5.0
""")
    plan_file = str(sb.dir / "p.plan")
    sb.cli("plan", state, "--out", plan_file, check=0)
    saved = Path(plan_file).read_text()
    assert sb.direct["LITELLM_MASTER_KEY"] not in saved and "postgresql://" not in saved
    kube = {"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}
    subprocess.run(["kubectl", "scale", "deploy/litellm", "--replicas=2"], env=kube, check=True, capture_output=True)
    proc = sb.cli("apply", "--plan", plan_file, check=1)
    assert "scaling/litellm: precondition failed: deployment/litellm spec.replicas was 3" in proc.stderr
    assert "now 2" in proc.stderr and "nothing was changed" in proc.stderr
    assert deployment(sb, "litellm-backend")["metadata"]["generation"] == 1
    # an unrelated live change (frontend image, which no action depends on) does not block a fresh plan
    sb.cli("plan", state, "--out", plan_file, check=0)
    subprocess.run(["kubectl", "set", "image", "deploy/litellm-frontend", "frontend=quay.io/x/y:1"], env=kube,
                   check=True, capture_output=True)
    sb.cli("apply", "--plan", plan_file, check=0)
    assert deployment(sb, "litellm")["spec"]["replicas"] == 4


def test_second_apply_is_refused_and_killed_apply_converges(make_sandbox) -> None:
    # slow pods: the first apply must still run when the second has been refused, even on a loaded machine
    sb = make_sandbox(pod_ready_s=4.0, progress_deadline_s=60)
    state = write(sb, """deployments:
  frontend:
    image: quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0
    replicas: 5
""")
    env = {**sb.env, "LITEMAAS_STATE_LOCK_SECONDS": str(LOCK_SECONDS)}
    import os
    first = subprocess.Popen([sys.executable, "-m", "litemaas_state", "apply", state, "--auto-approve"],
                             env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if deployment(sb, "litellm-frontend")["metadata"]["generation"] > 1:
                break
            time.sleep(0.1)
        second = sb.cli("apply", state, "--auto-approve",
                        extra_env={"LITEMAAS_STATE_LOCK_SECONDS": str(LOCK_SECONDS)}, check=1)
        assert first.poll() is None, "the first apply ended before it could be killed: the test proves nothing"
        assert "another apply holds the lock for this namespace" in second.stderr
        assert "pid" in second.stderr and "(environment litellm-rhpds)" in second.stderr and "since" in second.stderr
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    # the killed apply's lease expires by itself: LOCK_SECONDS lease + as much clock-skew allowance after its last renewal
    wait_lease_expired(sb, "litemaas-state", takeover_skew_s(LOCK_SECONDS))
    sb.cli("apply", state, "--auto-approve", check=0)
    sb.cli("plan", state, "--detailed-exitcode", check=0)


def test_drift_exit_codes(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 3\n")
    sb.cli("drift", state, check=0)
    kube = {"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}
    subprocess.run(["kubectl", "scale", "deploy/litellm", "--replicas=2"], env=kube, check=True, capture_output=True)
    proc = sb.cli("drift", state, check=2)
    assert "DRIFT" in proc.stdout and "~ replicas: 2 -> 3" in proc.stdout
    assert "apply would perform these actions" in proc.stdout and "will perform" not in proc.stdout  # read-only
    report = json.loads(sb.cli("drift", state, "--json", check=2).stdout)
    assert report["environments"][0]["verdict"] == "drift"
    bad = write(sb, "deployments:\n  litellm:\n    replicas: -1\n", name="bad.yaml")
    sb.cli("drift", bad, check=1)


def test_litellm_failing_midway_through_pruning_then_rerun_converges(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, """key_retention:
  delete_expired: true
  max_deletions: 500
""")
    headers = {"Authorization": f"Bearer {sb.direct['LITELLM_MASTER_KEY']}"}
    r = httpx.post(sb.direct["LITELLM_URL"] + "/sandbox/faults", headers=headers,
                   json={"key_delete_fail_after": 1, "key_delete_status": 500, "key_delete_message": "db down"})
    assert r.status_code == 200, r.text
    proc = sb.cli("apply", state, "--auto-approve", check=1)
    assert "POST /key/delete: HTTP 500" in proc.stderr
    live = tokens(sb)
    for key_hash, _alias, active, _, err in api_keys(sb):
        if key_hash in live:
            assert active or "litemaas-state" not in (err or ""), "no row revoked for a key that still exists"
    httpx.delete(sb.direct["LITELLM_URL"] + "/sandbox/faults", headers=headers)
    sb.cli("apply", state, "--auto-approve", check=0)
    sb.cli("plan", state, "--detailed-exitcode", check=0)


def test_no_secret_in_any_output(make_sandbox, tmp_path: Path) -> None:
    known = {"master_key": "sk-KnownMasterKey0123456789abcdefgh", "db_password": "KnownDbPassw0rdXyz",
             "redis_password": "KnownRedisPassw0rd", "jwt_secret": "KnownJwtSecretValue123456",
             "admin_api_key": "KnownAdminApiKey987", "oauth_client_secret": "KnownOauthSecret55",
             "ui_password": "KnownUiPassw0rd"}
    sb = make_sandbox(secrets_file=secrets_file(tmp_path, **known))
    state = sb.state_copy()
    outputs = []
    plan_file = str(tmp_path / "p.plan")
    for args in (["validate", state], ["plan", state], ["plan", state, "--json"],
                 ["plan", state, "--format", "markdown"], ["plan", state, "--out", plan_file],
                 ["drift", state], ["drift", state, "--json"], ["drift", state, "--format", "markdown"],
                 ["schema"], ["status", state],
                 ["status", state, "--json"], ["apply", "--plan", plan_file],
                 ["plan", state, "--litellm-url", "http://127.0.0.1:1"],
                 ["apply", state]):
        proc = sb.cli(*args)
        outputs += [proc.stdout, proc.stderr]
    outputs.append(Path(plan_file).read_text())
    from litemaas_state.sandbox import manage
    outputs += manage.shell_lines(sb.dir)
    blob = "\n".join(outputs)
    for name, value in known.items():
        assert value not in blob, f"{name} leaked"
    assert not re.search(r"sk-[A-Za-z0-9_\-]{8,}", blob)


def test_saved_plan_refused_when_a_planned_key_was_extended(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, "key_retention:\n  delete_expired: true\n  max_deletions: 500\n")
    plan_file = str(sb.dir / "keys.plan")
    sb.cli("plan", state, "--out", plan_file, check=0)
    saved = json.loads(Path(plan_file).read_text())
    token = saved["actions"][0]["keys"][0]["token_hash"]
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        conn.execute('UPDATE "LiteLLM_VerificationToken" SET expires = expires + interval \'400 days\' '
                     "WHERE token = %s", (token,))
    before = tokens(sb)
    proc = sb.cli("apply", "--plan", plan_file, check=1)
    assert f"token {token[:10]}" in proc.stderr and "nothing was changed" in proc.stderr
    assert tokens(sb) == before


def test_edited_saved_plans_are_refused(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\nkey_retention:\n  delete_expired: true\n")
    plan_file = sb.dir / "orig.plan"
    sb.cli("plan", state, "--out", str(plan_file), check=0)
    original = json.loads(plan_file.read_text())
    with psycopg.connect(sb.direct["LITELLM_DATABASE_URL"]) as conn:
        live_key = conn.execute('SELECT token, expires FROM "LiteLLM_VerificationToken" WHERE expires > now() '
                                "LIMIT 1").fetchone()
    before = tokens(sb)

    def edited(name: str, change) -> str:  # type: ignore[no-untyped-def]
        doc = json.loads(json.dumps(original))
        change(doc)
        p = sb.dir / name
        p.write_text(json.dumps(doc))
        return str(p)

    def scale_to_zero(doc: dict) -> None:
        a = next(a for a in doc["actions"] if a["kind"] == "scale")
        a["replicas"] = 0
        a["preconditions"] = []

    def delete_a_live_key(doc: dict) -> None:
        a = next(a for a in doc["actions"] if a["kind"] == "delete_keys")
        a["keys"] = [{"token_hash": live_key[0], "expires": live_key[1].isoformat() + "Z", "rule": "expired"}]

    def add_an_action(doc: dict) -> None:
        doc["actions"].insert(0, {"kind": "set_image", "id": "images/redis",
                               "address": "deployment/litellm-redis", "component": "redis",
                               "deployment": "litellm-redis",
                               "image": "evil.example.com/redis:1", "main_container": "redis",
                               "containers": ["redis"]})

    def show_one_thing_do_another(doc: dict) -> None:  # changes are derived from the typed fields: not stored
        next(a for a in doc["actions"] if a["kind"] == "scale")["changes"] = [
            {"field": "replicas", "before": 3, "after": 4}]

    def redigested(doc: dict) -> None:  # a consistent edit of the embedded copy: the file on disk says otherwise
        doc["state_text"] = doc["state_text"].replace("replicas: 4", "replicas: 7")
        doc["state_digest"] = hashlib.sha256(doc["state_text"].encode()).hexdigest()
        next(a for a in doc["actions"] if a["kind"] == "scale")["replicas"] = 7

    cases = {
        "redigest.plan": (redigested, "differs from the copy this plan was made from"),
        "zero.plan": (scale_to_zero, "would now scale to 4"),
        "livekey.plan": (delete_a_live_key, "no longer selected by rule expired"),
        "added.plan": (add_an_action, "no longer contains this action"),
        "shown.plan": (show_one_thing_do_another, "is not a litemaas-state saved plan"),
        "newer.plan": (lambda d: d.update(format_version="4.999"), "unsupported format_version 4.999"),
        "older.plan": (lambda d: d.update(format_version="1.1"), "written by an older litemaas-state"),
        "older2.plan": (lambda d: d.update(format_version="2.1"), "preconditions are now typed values"),
        "nostate.plan": (lambda d: d.update(state_text=""), "carries no state file"),
    }
    for name, (change, message) in cases.items():
        proc = sb.cli("apply", "--plan", edited(name, change), check=1)
        assert message in proc.stderr, (name, proc.stderr)
        assert "Traceback" not in proc.stderr
    (sb.dir / "binary.plan").write_bytes(b"\xff\xfe\x00garbage")
    assert "not a litemaas-state saved plan" in sb.cli("apply", "--plan", str(sb.dir / "binary.plan"),
                                                       check=1).stderr
    assert deployment(sb, "litellm")["spec"]["replicas"] == 3 and tokens(sb) == before
    # the untouched plan still applies; replaying it reports the keys as already gone
    sb.cli("apply", "--plan", str(plan_file), check=0)
    again = sb.cli("apply", "--plan", str(plan_file), check=1)
    assert "no longer contains this action" in again.stderr or "precondition failed" in again.stderr
