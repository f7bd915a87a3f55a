"""`litemaas-state manifests`: one bundle per state file, every bad option named at once in one line
(exit 1, no traceback), no cluster access."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"
IMAGE = "registry.example.com/litemaas-state:0.1.0"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["manifests", *args], cwd=ROOT, timeout_s=60, env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"})


def test_two_state_files_two_bundles_with_their_own_names(tmp_path: Path) -> None:
    other = tmp_path / "staging.yaml"
    other.write_text(STATE.read_text().replace("name: litellm-rhpds", "name: staging", 1))
    proc = cli(str(STATE), str(other), "--image", IMAGE)
    assert proc.returncode == 0, proc.stderr
    objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
    roles = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Role")
    assert roles == ["litemaas-state-litellm-rhpds", "litemaas-state-staging"]
    assert {o["metadata"]["namespace"] for o in objects} == {"litellm-rhpds"}


def test_bad_options_are_named_together_in_one_line() -> None:
    proc = cli(str(STATE), str(STATE), "--image", "a b", "--name", "Bad_Name", "--drift-schedule", "hourly",
               "--backup-size", "lots")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for part in ("--image 'a b'", "--name names one bundle", "--name 'Bad_Name'", "--drift-schedule 'hourly'",
                 "--backup-size 'lots'"):
        assert part in lines[0]


def test_a_prune_schedule_without_key_retention_names_the_file(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(STATE.read_text().split("key_retention:")[0])
    proc = cli(str(bare), "--image", IMAGE, "--prune-schedule", "@daily")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: {bare}: --prune-schedule needs key_retention in the state file: there is nothing to prune"


def test_an_invalid_state_file_is_reported_at_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(STATE.read_text().replace("replicas: 5", "replicas: many"))
    proc = cli(str(bad), "--image", IMAGE)
    assert proc.returncode == 1 and f"{bad}:" in proc.stderr and "replicas" in proc.stderr
    assert "Traceback" not in proc.stderr
