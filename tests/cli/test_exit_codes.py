"""Exit codes and messages that need no cluster: usage errors are 1 (never 2, which means changes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "litemaas_state", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"})


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--detailed-exitcode", "state"),  # a directory
        ("plan", "--detailed-exitcode", "--format", "xml", str(STATE)),
        ("drift", "missing.yaml"),
        ("validate", "state"),
        ("plan", "--json", "--format", "markdown", str(STATE)),
        ("apply",),
        ("bogus-command",),
    ],
)
def test_usage_errors_exit_1(args: tuple[str, ...]) -> None:
    proc = run(*args, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"apiVersion: litemaas-state/v1\nkind: Environment\nmetadata:\n  name: caf\xe9\n")
    proc = run("validate", str(f))
    assert proc.returncode == 1
    assert f"{f}:4:" in proc.stderr and "not UTF-8" in proc.stderr


def test_no_kubeconfig_is_a_clear_error() -> None:
    proc = run("plan", str(STATE))
    assert proc.returncode == 1
    assert "no Kubernetes configuration" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_are_scrubbed() -> None:
    proc = run("plan", str(STATE), "sk-abcdefghijklmnopqrstuv")
    assert proc.returncode == 1
    assert "sk-abcdefghijklmnopqrstuv" not in proc.stderr and "unexpected extra argument" in proc.stderr
