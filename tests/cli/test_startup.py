"""`--help`, `validate` and `schema` start fast: they import no client library and no sandbox code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"
HEAVY = ("kubernetes", "psycopg", "httpx", "redis", "fastapi", "uvicorn", "litemaas_state.sandbox",
         "litemaas_state.live", "litemaas_state.apply")


def imported(*args: str) -> set[str]:
    """Every module the CLI imported for ``args`` (python -X importtime writes one line per import)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "litemaas_state", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--help"], ["validate", str(STATE)], ["schema"], ["plan", "--help"],
                                  ["manifests", str(STATE), "--image", "registry.example.com/x:1"]])
def test_light_commands_import_no_client(args: list[str]) -> None:
    mods = imported(*args)
    assert "litemaas_state.cli" in mods  # the probe sees our own imports
    heavy = sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"`litemaas-state {' '.join(args)}` imported {heavy}"


def test_help_imports_no_pydantic() -> None:
    mods = imported("--help")
    assert "pydantic" not in mods and "yaml" not in mods
