"""Without the optional extra `litemaas-state[sandbox]`, `sandbox up` says so in one line and exits 1.

"Not installed" is made real for every Python process of the command (the CLI and any daemon it would
start) by a `sitecustomize` on PYTHONPATH whose meta-path finder refuses `fastapi`, exactly as Python
reports a missing distribution (ModuleNotFoundError). The command runs through the installed
`litemaas-state` entry point, so the real import path of the CLI is what is tested.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from litemaas_state.commands.sandbox import SANDBOX_EXTRA_MISSING

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = Path(sys.executable).parent / "litemaas-state"

BLOCKER = '''
import sys


class _NotInstalled:
    """Refuse the given top-level packages as if their distributions were not installed."""

    blocked = {"fastapi"}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''


def run_without_fastapi(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "KUBECONFIG": "/nonexistent", "NO_COLOR": "1"}
    return subprocess.run([str(ENTRY_POINT), *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=60)


def test_the_blocker_really_hides_fastapi(tmp_path: Path) -> None:
    done = run_without_fastapi(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "probe"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    probe = subprocess.run([sys.executable, "-c", "import fastapi"], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}, timeout=60)
    assert probe.returncode == 1
    assert "ModuleNotFoundError: No module named 'fastapi'" in probe.stderr


def test_sandbox_up_without_the_extra_is_one_line_and_exit_1(tmp_path: Path) -> None:
    sandbox_dir = tmp_path / "sandbox"
    done = run_without_fastapi(tmp_path, "sandbox", "up", "--fast", "--dir", str(sandbox_dir))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"Error: {SANDBOX_EXTRA_MISSING}"]
    assert SANDBOX_EXTRA_MISSING == "the sandbox needs the optional extra: pip install 'litemaas-state[sandbox]'"
    assert not sandbox_dir.exists(), "nothing may be started or written when the extra is missing"


@pytest.mark.parametrize("args", [("validate", str(ROOT / "state" / "litellm-rhpds.yaml")), ("sandbox", "--help")])
def test_other_commands_need_no_sandbox_extra(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run_without_fastapi(tmp_path, *args)
    assert done.returncode == 0, done.stderr
