"""Objects changed outside litemaas-state, on the sandbox: apply records the managed fields of each
Deployment it writes; `kubectl set image` / `kubectl set env` afterwards show as a note in the next plan."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from litemaas_state import names
from tests.e2e.conftest import Sandbox
from tests.e2e.test_end_to_end import deployment, write

pytestmark = pytest.mark.slow

FRONTEND = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"
BODY = f"""deployments:
  frontend:
    image: {FRONTEND}
    replicas: 2
"""


def kubectl(sb: Sandbox, *args: str) -> None:
    subprocess.run(["kubectl", *args], env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"},
                   check=True, capture_output=True)


def observed(sb: Sandbox, name: str, generation: int) -> None:
    deadline = time.monotonic() + 30
    while deployment(sb, name)["status"].get("observedGeneration", 0) < generation:
        assert time.monotonic() < deadline, f"{name} never observed generation {generation}"
        time.sleep(0.1)


def test_set_image_and_set_env_after_apply_are_noted_by_the_next_plan(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, BODY)
    sb.cli("apply", state, "--auto-approve", check=0)
    record = json.loads(deployment(sb, "litellm-frontend")["metadata"]["annotations"][names.LAST_APPLIED_ANNOTATION])
    assert record["images"] == {"copy-custom-logos": FRONTEND, "frontend": FRONTEND} | {
        k: v for k, v in record["images"].items() if k not in ("copy-custom-logos", "frontend")}
    assert record["replicas"] == 2
    clean = sb.cli("plan", state, "--detailed-exitcode", check=0)
    assert "changed outside" not in clean.stdout + clean.stderr

    generation = deployment(sb, "litellm-frontend")["metadata"]["generation"]
    kubectl(sb, "set", "image", "deploy/litellm-frontend", "frontend=quay.io/rh-aiservices-bu/litemaas-frontend:0.4.9")
    kubectl(sb, "set", "env", "deploy/litellm-frontend", "-c", "frontend", "DEBUG_BY_HAND=1")
    observed(sb, "litellm-frontend", generation + 2)
    proc = sb.cli("plan", state, "--detailed-exitcode", check=2)
    out = proc.stdout + proc.stderr
    assert "Objects have changed outside litemaas-state" in out
    assert f"image of container frontend: {FRONTEND} -> quay.io/rh-aiservices-bu/litemaas-frontend:0.4.9" in out
    assert "env DEBUG_BY_HAND of container frontend set" in out
    doc = json.loads(sb.cli("plan", state, "--json", check=0).stdout)
    assert [d["address"] for d in doc["diagnostics"] if d.get("code") == "changed_outside"] == [
        "deployment/litellm-frontend"]

    # apply sets the image back and records the env as it is now: the note is gone
    sb.cli("apply", state, "--auto-approve", check=0)
    after = sb.cli("plan", state, "--detailed-exitcode", check=0)
    assert "changed outside" not in after.stdout + after.stderr
