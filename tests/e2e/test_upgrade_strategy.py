"""On the sandbox, through the real CLI: ``upgrade_strategy: scale-to-one`` rolls LiteLLM's new image out at one
replica behind the backup, from a saved plan too; a failed rollout leaves LiteLLM at 1 replica and says so,
and a rerun with a good image converges."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client, config, watch

from tests.e2e.conftest import Sandbox
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow
NS = "litellm-rhpds"
OLD = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"
BROKEN = NEW + "-broken"  # the sandbox's pods of a "-broken" image never become Ready


class ReplicaHistory:
    """Watches deployment/litellm with the official client and records, in the API server's order, each
    distinct (spec.replicas, image of container litellm) it goes through."""

    def __init__(self, sb: Sandbox) -> None:
        apps = client.AppsV1Api(config.new_client_from_config(config_file=sb.env["KUBECONFIG"]))
        listed = apps.list_namespaced_deployment(NS, field_selector="metadata.name=litellm")
        self.seen: list[tuple[int, str]] = [self._state(listed.items[0])]
        self._apps, self._rv = apps, listed.metadata.resource_version
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def _state(d: Any) -> tuple[int, str]:
        return d.spec.replicas, next(c.image for c in d.spec.template.spec.containers if c.name == "litellm")

    def _run(self) -> None:
        try:
            for ev in watch.Watch().stream(self._apps.list_namespaced_deployment, NS, resource_version=self._rv,
                                           field_selector="metadata.name=litellm", timeout_seconds=240):
                now = self._state(ev["object"])
                if now != self.seen[-1]:
                    self.seen.append(now)
        except Exception:  # noqa: BLE001 - the sandbox went away at teardown
            pass

    def settle(self, last: tuple[int, str]) -> list[tuple[int, str]]:
        """The history once it reached ``last`` (the watch may lag the CLI by a moment)."""
        deadline = time.time() + 10
        while self.seen[-1] != last and time.time() < deadline:
            time.sleep(0.05)
        return self.seen


def test_the_new_image_rolls_out_at_one_replica_behind_the_backup_from_a_saved_plan(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, f"deployments:\n  litellm:\n    image: {NEW}\n    replicas: 5\n"
                      "    upgrade_strategy: scale-to-one\n")
    plan_file = sb.dir / "p.json"
    shown = sb.cli("plan", state, "--out", str(plan_file), check=0).stdout
    assert "# deployment/litellm will be updated in-place at one replica" in shown
    assert "~ replicas_during_rollout: 3 -> 1" in shown and "~ replicas: 3 -> 5" in shown
    assert "# 1. scale from 3 to 1 replica and wait" in shown
    assert "# 4. scale back to 5 (declared) and wait" in shown
    assert "# requires backup/litellm-rhpds: runs only if it succeeded in this apply" in shown
    assert "scaling/litellm" not in shown  # the scale back is part of the upgrade
    assert [a["kind"] for a in json.loads(plan_file.read_text())["actions"]] == ["backup", "scale_to_one_upgrade"]

    history = ReplicaHistory(sb)
    applied = sb.cli("apply", "--plan", str(plan_file), check=0).stdout
    assert history.settle((5, NEW)) == [(3, OLD), (1, OLD), (1, NEW), (5, NEW)]
    assert applied.index("backup/litellm-rhpds: Backing up") < applied.index(
        "deployment/litellm: Upgrading at one replica")
    assert "step 3/4: checking LiteLLM's health" in applied and "LiteLLM is alive and ready" in applied
    assert f"rolled out {NEW} at 1 replica, then scaled back to 5 (5 available)" in applied
    assert len(list(sb.dir.glob("backups/*.sql.gz"))) == 2
    sb.cli("plan", state, "--detailed-exitcode", check=0)


def test_a_failed_rollout_leaves_litellm_at_one_replica_and_a_rerun_converges(make_sandbox) -> None:
    sb = make_sandbox()
    spec = "    replicas: 4\n    upgrade_strategy: scale-to-one\n"
    broken = write(sb, f"deployments:\n  litellm:\n    image: {BROKEN}\n{spec}")
    history = ReplicaHistory(sb)
    proc = sb.cli("apply", broken, "--auto-approve", check=1)
    assert 'deployment "litellm" exceeded its progress deadline' in proc.stderr
    assert ("deployment/litellm is left at 1 replica (it ran 3): fix the cause and run apply again; the next plan "
            "rolls out the declared image at 1 replica if it is not yet, then scales it back to 4") in proc.stderr
    assert "Partly:   images/litellm (scaled from 3 to 1 replica" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert history.settle((1, BROKEN)) == [(3, OLD), (1, OLD), (1, BROKEN)]
    assert deployment(sb, "litellm")["spec"]["replicas"] == 1

    fixed = write(sb, f"deployments:\n  litellm:\n    image: {NEW}\n{spec}", name="fixed.yaml")
    plan = json.loads(sb.cli("plan", fixed, "--json", check=0).stdout)
    shown = [(a["kind"], a["id"]) for p in plan["phases"] for a in p["actions"]]
    assert shown == [("backup", "backup/litellm-rhpds"), ("set_image", "images/litellm"),
                     ("scale", "scaling/litellm")]  # at 1 replica: the plain image change, then the scale
    sb.cli("apply", fixed, "--auto-approve", check=0)
    assert history.settle((4, NEW))[-2:] == [(1, NEW), (4, NEW)]
    sb.cli("plan", fixed, "--detailed-exitcode", check=0)
