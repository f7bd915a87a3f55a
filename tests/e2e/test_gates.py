"""On the sandbox, through the real CLI: the backup gates LiteLLM's image (a saved plan cannot drop it),
the upgrade follows the runbook's order, and a rollout left unfinished by a killed apply is unfinished work."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from litemaas_state.apply.lock import LEASE_NAME
from tests.e2e.conftest import Sandbox, rolled_out
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow
NS = "litellm-rhpds"
LITELLM_NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"
BACKEND_NEW = "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0"
FRONTEND_NEW = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"


def kubectl(sb: Sandbox, *args: str) -> str:
    return subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True, check=True,
                          env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}).stdout


def dumps(sb: Sandbox) -> list[Path]:
    return sorted(sb.dir.glob("backups/*.sql.gz"))


class TemplateChanges:
    """Watches Deployments with the official client and records, in the API server's event order, each
    change of a pod template's images ("image") or restartedAt annotation ("restart"), with the time seen."""

    def __init__(self, sb: Sandbox) -> None:
        self.apps = client.AppsV1Api(config.new_client_from_config(config_file=sb.env["KUBECONFIG"]))
        listed = self.apps.list_namespaced_deployment(NS)
        self.last = {d.metadata.name: self._template(d) for d in listed.items}
        self.changes: list[tuple[str, str, float]] = []
        self._rv = listed.metadata.resource_version
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _template(d: Any) -> tuple[tuple[str, ...], str | None]:
        spec = d.spec.template.spec
        images = tuple(c.image for c in [*(spec.init_containers or []), *spec.containers])
        return images, (d.spec.template.metadata.annotations or {}).get("kubectl.kubernetes.io/restartedAt")

    def _run(self) -> None:
        try:
            for ev in watch.Watch().stream(self.apps.list_namespaced_deployment, NS, resource_version=self._rv,
                                           timeout_seconds=240):
                d = ev["object"]
                name, now = d.metadata.name, self._template(d)
                before = self.last.get(name, now)
                if now[0] != before[0]:
                    self.changes.append(("image", name, time.time()))
                if now[1] != before[1]:
                    self.changes.append(("restart", name, time.time()))
                self.last[name] = now
        except Exception:  # noqa: BLE001 - the sandbox went away at teardown
            pass

    def settle(self, count: int) -> list[tuple[str, str]]:
        deadline = time.time() + 10
        while len(self.changes) < count and time.time() < deadline:
            time.sleep(0.05)
        return [(what, name) for what, name, _ in self.changes]

    def at(self, what: str, name: str) -> float:
        return next(t for w, n, t in self.changes if (w, n) == (what, name))


def test_a_saved_plan_cannot_drop_the_backup_that_gates_litellms_image(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, f"deployments:\n  litellm:\n    image: {LITELLM_NEW}\n")
    plan_file = sb.dir / "p.json"
    shown = sb.cli("plan", state, "--out", str(plan_file), check=0)
    saved = json.loads(plan_file.read_text())

    no_backup = dict(saved, actions=[a for a in saved["actions"] if a["kind"] != "backup"])
    (sb.dir / "nobackup.json").write_text(json.dumps(no_backup))
    proc = sb.cli("apply", "--plan", str(sb.dir / "nobackup.json"), check=1)
    assert ("deployment/litellm image change requires backup/litellm-rhpds which is not in this plan"
            in proc.stderr)
    assert "nothing was changed" in proc.stderr
    # dropping the requirement as well: a fresh plan of the embedded state file still requires the backup
    unguarded = dict(no_backup, actions=[dict(a, requires=[]) for a in no_backup["actions"]])
    (sb.dir / "unguarded.json").write_text(json.dumps(unguarded))
    proc = sb.cli("apply", "--plan", str(sb.dir / "unguarded.json"), check=1)
    assert "images/litellm: a plan of the state file requires backup/litellm-rhpds before it" in proc.stderr
    assert deployment(sb, "litellm")["metadata"]["generation"] == 1 and dumps(sb) == []
    # the plan shows the dependency, and the saved format says it has one
    assert "# requires backup/litellm-rhpds: runs only if it succeeded in this apply" in shown.stdout
    from litemaas_state.plan.model import FORMAT_VERSION

    assert saved["format_version"] == FORMAT_VERSION and FORMAT_VERSION.split(".")[0] >= "2"

    applied = sb.cli("apply", "--plan", str(plan_file), check=0)
    assert applied.stdout.index("backup/litellm-rhpds: Backing up") < applied.stdout.index(
        "deployment/litellm: Modifying")
    assert len(dumps(sb)) == 2


def test_the_upgrade_follows_the_runbooks_order(make_sandbox) -> None:
    sb = make_sandbox()
    stamp = "restart_at: 2026-01-01T00:00:00Z"
    state = write(sb, f"""deployments:
  litellm:
    image: {LITELLM_NEW}
    {stamp}
  backend:
    image: {BACKEND_NEW}
    {stamp}
  frontend:
    image: {FRONTEND_NEW}
    {stamp}
""")
    watcher = TemplateChanges(sb)
    sb.cli("apply", state, "--auto-approve", check=0)
    assert watcher.settle(6) == [
        ("image", "litellm-backend"), ("image", "litellm-frontend"), ("image", "litellm"),
        ("restart", "litellm-backend"), ("restart", "litellm"), ("restart", "litellm-frontend"),
    ]
    # the dumps (the backup phase) were written before any image changed
    for dump in dumps(sb):
        assert dump.stat().st_mtime < watcher.at("image", "litellm-backend")


def test_a_failed_litellm_rollout_leaves_the_new_backend_with_the_old_litellm_and_says_so(make_sandbox) -> None:
    sb = make_sandbox()
    broken = LITELLM_NEW + "-broken"
    state = write(sb, f"deployments:\n  litellm:\n    image: {broken}\n  backend:\n    image: {BACKEND_NEW}\n")
    proc = sb.cli("apply", state, "--auto-approve", check=1)
    assert 'deployment "litellm" exceeded its progress deadline' in proc.stderr
    assert ("litellm-backend now runs its new image with the previous LiteLLM, whose old ReplicaSet keeps "
            "serving: a combination the LiteMaaS backend supports") in proc.stderr
    backend = deployment(sb, "litellm-backend")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert backend == BACKEND_NEW
    # status and drift say so until it is fixed
    assert "deployment/litellm: the last rollout failed" in sb.cli("status", state, check=1).stderr
    sb.cli("drift", state, check=2)


#: A line the apply prints off a terminal while it waits for litellm's rollout, i.e. after its patch
#: (apply/kube.py wait_rollout reports each new kubectl status message; commands/apply.py CountedProgress).
IN_THE_ROLLOUT_WAIT = re.compile(r"deployment/litellm: Waiting for deployment .*\[\d+s elapsed\]")


def killed_apply(sb: Sandbox, state: str) -> None:
    """Run ``apply STATE --auto-approve`` and SIGKILL it as soon as it waits for litellm's rollout (its
    patch is in, the rollout has just begun), then delete the lease it leaves behind."""
    printed: list[str] = []
    in_the_wait = threading.Event()
    read_on = threading.Event()  # set once the apply waits for the rollout, or its output has ended
    with subprocess.Popen([sys.executable, "-m", "litemaas_state", "apply", state, "--auto-approve"],
                          env={**os.environ, **sb.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=sb.dir) as first:

        def read() -> None:
            assert first.stdout is not None
            try:
                for line in first.stdout:
                    printed.append(line)
                    if IN_THE_ROLLOUT_WAIT.search(line):
                        in_the_wait.set()
                        read_on.set()
            finally:
                read_on.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            read_on.wait(timeout=120)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            reader.join(timeout=30)
    assert in_the_wait.is_set(), "the apply did not wait for litellm's rollout:\n" + "".join(printed)
    assert not rolled_out(sb, "litellm"), "litellm's rollout is already complete: the rerun has nothing to wait for"
    kubectl(sb, "delete", "lease", LEASE_NAME)


def test_a_rerun_after_a_killed_apply_waits_for_the_unfinished_rollout_that_fails(make_sandbox) -> None:
    # the broken rollout must not pass its deadline before the rerun starts, even on a loaded machine (plan
    # and drift run in between); its new pod never turns Ready, and slow pods keep its restart count (a pod
    # status write) from changing every second while the rerun waits
    sb = make_sandbox(pod_ready_s=3.0, progress_deadline_s=60)
    # a rollout that will fail: the rerun is not "No changes." but waits, then reports the failure
    state = write(sb, f"deployments:\n  litellm:\n    image: {LITELLM_NEW}-broken\n")
    killed_apply(sb, state)
    plan = sb.cli("plan", state, "--detailed-exitcode", check=2)
    assert "# deployment/litellm rollout in progress: will wait for it" in plan.stdout
    assert "No changes." not in plan.stdout
    sb.cli("drift", state, check=2)
    rerun = sb.cli("apply", state, "--auto-approve", check=1)
    assert "deployment/litellm: Waiting for the unfinished rollout..." in rerun.stdout
    assert 'deployment "litellm" exceeded its progress deadline' in rerun.stderr
    assert "deployment/litellm: the last rollout failed" in sb.cli("status", state, check=1).stderr
    sb.cli("drift", state, check=2)


def test_a_rerun_after_a_killed_apply_waits_for_the_unfinished_rollout_that_finishes(make_sandbox) -> None:
    # slow pods: litellm's 3 replicas are replaced one at a time (maxSurge 1, maxUnavailable 0), so the rollout
    # takes 3 x pod_ready_s and outlives the kill and the rerun's start, even on a loaded machine; a rollout
    # that finishes never waits for its deadline, which only has to outlast one pod's start
    sb = make_sandbox(pod_ready_s=3.0, progress_deadline_s=30)
    # a rollout that will finish: the rerun waits for it and checks LiteLLM's health
    fixed = write(sb, f"deployments:\n  litellm:\n    image: {LITELLM_NEW}\n", name="fixed.yaml")
    killed_apply(sb, fixed)
    rerun = sb.cli("apply", fixed, "--auto-approve", check=0)
    assert "deployment/litellm: Waiting for the unfinished rollout..." in rerun.stdout
    assert "LiteLLM is alive and ready" in rerun.stdout
    sb.cli("plan", fixed, "--detailed-exitcode", check=0)
    sb.cli("status", fixed, check=0)
