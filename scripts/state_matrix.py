"""State file paths on stdin (one a line) → the GitHub Actions matrix on stdout: a JSON list of
``{"file", "environment", "namespace"}``, sorted by file, for ``strategy.matrix.include``.

``environment`` is ``metadata.name`` reduced to the characters a comment marker, an issue title and a
concurrency group keep. Used by .github/workflows/{plan,apply,drift}.yml; a file that is not a valid
state file fails the step (run `litemaas-state validate` first for its file:line message).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from litemaas_state.commands.base import read_state

#: GitHub allows at most 256 jobs per matrix (README "GitHub Actions for a fleet": split by directory).
MATRIX_MAX = 256


def main() -> int:
    files = sorted({line.strip() for line in sys.stdin if line.strip()})
    if len(files) > MATRIX_MAX:
        print(f"{len(files)} state files: a matrix holds at most {MATRIX_MAX} jobs; split them by directory "
              "(README: GitHub Actions for a fleet)", file=sys.stderr)
        return 1
    out = []
    for f in files:
        state = read_state(Path(f)).desired
        out.append({"file": f, "environment": re.sub(r"[^A-Za-z0-9._-]", "-", state.metadata.name),
                    "namespace": state.target.namespace})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
