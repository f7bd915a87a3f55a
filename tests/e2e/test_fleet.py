"""Fleet runs end to end (commands/fleet.py): one verb over several state files, through the real CLI on the
sandbox. One environment is the sandbox's; the other names a namespace that does not exist, so it fails:
one failing and one succeeding, in parallel, with the worst exit code."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.conftest import STATE, Sandbox, interactive, kubectl_json, wait_until

pytestmark = pytest.mark.slow

MARKER = re.compile(r"^<!-- litemaas-state:[A-Za-z0-9._-]+ -->$", re.M)


def fleet_dir(sb: Sandbox, *, copy_name: str | None = None) -> tuple[Path, str, str]:
    """DIR/fleet with ``a-real.yaml`` (a copy of the shipped state file: backups land in the sandbox) and
    ``b-ghost.yaml`` (namespace ``ghost``, which does not exist), or with ``copy_name``: a copy of the real
    one under another ``metadata.name``, managing the same namespace."""
    d = sb.dir / "fleet"
    d.mkdir(exist_ok=True)
    real = STATE.read_text()
    (d / "a-real.yaml").write_text(real)
    if copy_name is None:
        other = real.replace("name: litellm-rhpds\n", "name: ghost\n", 1).replace("namespace: litellm-rhpds",
                                                                                   "namespace: ghost")
        (d / "b-ghost.yaml").write_text(other)
    else:
        (d / "b-copy.yaml").write_text(real.replace("name: litellm-rhpds\n", f"name: {copy_name}\n", 1))
    return d, "fleet/a-real.yaml", "fleet/b-ghost.yaml" if copy_name is None else "fleet/b-copy.yaml"


def sections(stdout: str) -> dict[str, str]:
    """Each environment's section of the text output, by its header line."""
    parts = re.split(r"^(== .+ ==)$", stdout, flags=re.M)
    found: dict[str, str] = {}
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        found[header] = found.get(header, "") + body
    return found


def test_plan_status_drift_of_a_fleet_one_failing_one_succeeding(make_sandbox) -> None:
    sb = make_sandbox()
    d, real, ghost = fleet_dir(sb)
    proc = sb.cli("plan", "fleet", "--detailed-exitcode", check=1)  # an error wins over changes
    got = sections(proc.stdout)
    assert set(got) == {f"== env litellm-rhpds ({real}) ==", f"== env ghost ({ghost}) =="}
    assert "Phase images:" in got[f"== env litellm-rhpds ({real}) =="]
    assert "Plan: 2 to add" in got[f"== env litellm-rhpds ({real}) =="]
    assert "Fleet: 2 environments (parallelism 4): 1 changes, 1 failed. Exit code 1." in proc.stdout
    assert re.search(rf"^  litellm-rhpds +{re.escape(real)} +changes \(exit 2\)$", proc.stdout, re.M)
    assert re.search(rf"^  ghost +{re.escape(ghost)} +failed \(exit 1\)$", proc.stdout, re.M)
    assert "Error: cannot find the LiteMaaS database" in proc.stderr  # ghost has no deployment/litellm-backend

    doc = json.loads(sb.cli("plan", real, ghost, "--json", "--detailed-exitcode", "--parallelism", "1",
                            check=1).stdout)
    assert (doc["format_version"], doc["command"], doc["exit_code"], doc["interrupted"]) == ("1.0", "plan", 1, False)
    first, second = doc["environments"]  # in the order given
    assert (first["environment"], first["state_file"], first["exit_code"], first["error"]) == \
        ("litellm-rhpds", real, 2, None)
    assert first["document"]["verdict"] == "changes" and first["document"]["environment"] == "litellm-rhpds"
    assert (second["environment"], second["exit_code"], second["document"]) == ("ghost", 1, None)
    assert second["error"].startswith("Error: cannot find the LiteMaaS database")

    md = sb.cli("plan", "fleet", "--format", "markdown", check=1).stdout
    starts = [m.start() for m in MARKER.finditer(md)]
    comments = [md[a:b] for a, b in zip(starts, [*starts[1:], len(md)], strict=True)]
    assert [c.split("\n", 1)[0] for c in comments] == ["<!-- litemaas-state:litellm-rhpds -->",
                                                       "<!-- litemaas-state:ghost -->"]
    assert all(len(c) < 65536 for c in comments) and md.startswith(comments[0])
    assert "### ❌ ghost: plan failed" in comments[1] and "cannot find the LiteMaaS database" in comments[1]

    status = json.loads(sb.cli("status", "fleet", "--json", check=1).stdout)
    assert [(e["environment"], e["exit_code"]) for e in status["environments"]] == [("litellm-rhpds", 0), ("ghost", 1)]
    assert status["environments"][0]["document"]["deployments"]["litellm"]["replicas"] == 3
    assert "needs the LiteMaaS database" in status["environments"][1]["error"]

    drift = json.loads(sb.cli("drift", real, ghost, "--json", check=1).stdout)  # the DriftDocument, as drift DIR
    assert [(e["environment"], e["verdict"]) for e in drift["environments"]] == [("litellm-rhpds", "drift"),
                                                                               ("ghost", "error")]


def test_apply_a_fleet_asks_once_and_applies_what_planned(make_sandbox) -> None:
    sb = make_sandbox()
    fleet_dir(sb)
    code, out = interactive(sb, ["apply", "fleet"])
    assert code == 1, out  # ghost failed; litellm-rhpds applied
    assert out.count("Enter a value:") == 1
    assert "Do you want to perform these actions in 1 environment (litellm-rhpds)?" in out
    assert "Apply complete!" in out and "successfully rolled out" in out
    assert out.index("Phase images:") < out.index("Enter a value:") < out.index("Apply complete!")
    assert re.search(r"^  ghost +fleet/b-ghost\.yaml +failed \(exit 1\)\s*$", out, re.M)
    assert re.search(r"^  litellm-rhpds +fleet/a-real\.yaml +ok \(exit 0\)\s*$", out, re.M)
    sb.cli("plan", "fleet/a-real.yaml", "--detailed-exitcode", check=0)

    # without a terminal or an answer on stdin: nothing applied, as a single apply refuses
    proc = run_cli(["apply", "fleet"], env={**os.environ, **sb.env}, cwd=sb.dir, timeout_s=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_two_state_files_of_one_namespace_never_apply_at_once(make_sandbox) -> None:
    sb = make_sandbox(pod_ready_s=1.0)  # each apply runs for seconds: both try the lock while the other holds it
    _, real, copy = fleet_dir(sb, copy_name="litellm-rhpds-copy")
    proc = sb.cli("apply", real, copy, "--auto-approve", check=1)
    assert proc.stdout.count("Apply complete!") == 1, proc.stdout
    assert proc.stderr.count("another apply holds the lock for this namespace") == 1, proc.stderr
    assert re.search(r"^  \S+ +fleet/\S+ +ok \(exit 0\)$", proc.stdout, re.M)
    assert re.search(r"^  \S+ +fleet/\S+ +failed \(exit 1\)$", proc.stdout, re.M)


def test_sigterm_stops_every_environment_and_releases_its_lease(make_sandbox) -> None:
    sb = make_sandbox(pod_ready_s=2.0, progress_deadline_s=60)  # slow pods: the apply is still rolling out
    fleet_dir(sb)
    proc = subprocess.Popen([sys.executable, "-m", "litemaas_state", "apply", "fleet", "--auto-approve"],
                            env={**os.environ, **sb.env}, cwd=sb.dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: kubectl_json(sb, "deploy", "litellm-backend")["metadata"]["generation"] > 1,
                   "the fleet's apply to start the backend's rollout")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupt received: stopping every environment" in err
    assert "interrupted (SIGINT/SIGTERM) while this action ran" in err
    assert "Apply stopped at" in err and "Traceback" not in err
    assert "Exit code 130." in out
    leases = subprocess.run(["kubectl", "get", "lease", "litemaas-state"], capture_output=True, text=True,
                            env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"})
    assert leases.returncode != 0 and "NotFound" in leases.stderr  # released by the interrupted environment
