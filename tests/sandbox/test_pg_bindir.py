"""The sandbox finds the PostgreSQL server programs on any install (not a hard-coded major version), and a
failed `sandbox up` leaves no directory (no secrets.json) and prints no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from litemaas_state.sandbox.postgres import BINDIR_ENV, PostgresError, find_bindir


def _bin(root: Path, version: str, *, initdb: bool = True) -> Path:
    d = root / version / "bin"
    d.mkdir(parents=True)
    if initdb:
        (d / "initdb").write_text("#!/bin/sh\n")
        (d / "initdb").chmod(0o755)
    return d


def _pg_config(tmp: Path, bindir: Path) -> Path:
    tools = tmp / "tools"
    tools.mkdir(exist_ok=True)
    script = tools / "pg_config"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = --bindir ] && echo {bindir}\n")
    script.chmod(0o755)
    return tools


def test_the_newest_installed_major_version_is_found(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for v in ("9.6", "15", "16"):
        _bin(lib, v)
    _bin(lib, "17", initdb=False)  # a client-only package: no server programs
    env = {"PATH": "/nonexistent"}
    assert find_bindir(env, lib_root=lib) == lib / "16" / "bin"


def test_pg_config_first_when_its_bindir_has_initdb(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    newest = _bin(lib, "16")
    server = _bin(tmp_path / "opt", "14")
    assert find_bindir({"PATH": str(_pg_config(tmp_path, server))}, lib_root=lib) == server
    client_only = tmp_path / "client" / "bin"
    client_only.mkdir(parents=True)
    (tmp_path / "tools" / "pg_config").unlink()
    assert find_bindir({"PATH": str(_pg_config(tmp_path, client_only))}, lib_root=lib) == newest


def test_the_override_wins_and_must_hold_initdb(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _bin(lib, "16")
    mine = _bin(tmp_path / "custom", "x")
    assert find_bindir({BINDIR_ENV: str(mine), "PATH": "/nonexistent"}, lib_root=lib) == mine
    with pytest.raises(PostgresError, match=f"{BINDIR_ENV}=.*has no initdb"):
        find_bindir({BINDIR_ENV: str(tmp_path / "nothing"), "PATH": "/nonexistent"}, lib_root=lib)
    with pytest.raises(PostgresError, match=f"no PostgreSQL server programs .* set {BINDIR_ENV}"):
        find_bindir({"PATH": "/nonexistent"}, lib_root=tmp_path / "empty")


def test_this_machines_server_is_found() -> None:
    assert (find_bindir() / "initdb").is_file()


def test_a_failed_sandbox_up_leaves_nothing_and_prints_no_traceback(tmp_path: Path) -> None:
    d = tmp_path / "sb"
    env = {**os.environ, BINDIR_ENV: str(tmp_path / "no-such-bin")}
    env.pop("LITEMAAS_STATE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "litemaas_state", "sandbox", "up", "--dir", str(d)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert BINDIR_ENV in proc.stderr and "has no initdb" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not d.exists(), "the failed sandbox's directory (with secrets.json) was left behind"
