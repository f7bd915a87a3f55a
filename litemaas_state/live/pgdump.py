"""The local pg_dump: where it is and its version (for the backup phase's version check)."""

from __future__ import annotations

import re
import shutil
import subprocess


def pg_dump_path() -> str | None:
    return shutil.which("pg_dump")


def pg_dump_version_num() -> int:
    """``pg_dump --version`` as a server_version_num-style integer (15.20 → 150020); 0 when absent."""
    path = pg_dump_path()
    if path is None:
        return 0
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not m:
        return 0
    major, minor = int(m.group(1)), int(m.group(2) or 0)
    return major * 10000 + minor
