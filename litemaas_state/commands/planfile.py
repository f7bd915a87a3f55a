"""Saved plans: `plan --out FILE` writes the Plan (actions + the live values they were computed from);
`apply --plan FILE` reads it back. The file is the Plan model as JSON: token hashes, roles, images and
replica counts — never a key, a password or a URL (docs/design.md §9.3, §9.18 item 6: secret-safe by
construction; Terraform's plan files are not); world strings are scrubbed and escaped (``plan_json``)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from litemaas_state.errors import ConfigError
from litemaas_state.plan.model import FORMAT_VERSION, Plan
from litemaas_state.redact import scrub


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    return value


def plan_json(plan: Plan, state_text: str) -> str:
    """The saved plan's text: every string from the world (aliases, user ids, error text) through
    ``redact.scrub``, and all but printable ASCII escaped (``ensure_ascii``: no control, C1, DEL or bidi
    character reaches a terminal that shows the file). Apply matches keys by token hash and rows by id, so
    a masked alias changes nothing it does. ``state_text`` is embedded as it is (a state file holds no
    secret, and apply checks it against ``state_digest``).
    """
    data = _scrubbed(plan.model_dump(mode="json"))
    data["state_text"] = state_text
    return json.dumps(data, indent=1, ensure_ascii=True)


def write_plan(plan: Plan, path: Path, state_text: str) -> None:
    """Write atomically (temp file + rename), mode 0600, with the state file's text embedded (apply
    re-plans it to check that every saved action is still what the state file asks; plan/compare.py).

    Raises:
        ConfigError: the file cannot be written (nothing is left behind).
    """
    if path.is_dir():
        raise ConfigError(f"cannot write the plan file {path}: it is a directory")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(plan_json(plan, state_text))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the plan file {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def read_plan(path: Path) -> Plan:
    """Read a saved plan.

    Raises:
        ConfigError: unreadable, not a plan, an older major format_version (1.x plans lack ``requires``,
            2.x plans have string preconditions, 3.x plans lack components: re-plan), or a newer format_version than this tool knows.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the saved plan {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a litemaas-state saved plan (not UTF-8 JSON)") from exc
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a litemaas-state saved plan (not JSON)") from exc
    if not isinstance(raw, dict) or "format_version" not in raw:
        raise ConfigError(f"{path} is not a litemaas-state saved plan (no format_version)")
    version = raw["format_version"]
    ours = tuple(int(x) for x in FORMAT_VERSION.split("."))
    if not isinstance(version, str) or not re.fullmatch(r"\d{1,6}\.\d{1,6}", version):
        shown = json.dumps(version)[:40] if not isinstance(version, str) else version[:40]
        raise ConfigError(f"{path}: unsupported format_version {shown} (this litemaas-state reads "
                          f"{ours[0]}.0 to {FORMAT_VERSION}, written as a \"MAJOR.MINOR\" string)")
    theirs = tuple(int(x) for x in version.split("."))
    if theirs[0] < ours[0]:
        why = ("actions now carry their requirements, e.g. the backup a LiteLLM image change needs" if theirs[0] < 2
               else "preconditions are now typed values, not field strings" if theirs[0] < 3
               else "Deployment actions now name their component, so both LiteMaaS layouts are understood")
        raise ConfigError(f"{path} has plan format {version}, written by an older litemaas-state; this one reads "
                          f"{ours[0]}.x only ({why}). Nothing was changed: make a new plan with `plan --out`")
    if theirs[0] != ours[0] or theirs > ours:
        raise ConfigError(f"{path}: unsupported format_version {version} (this litemaas-state reads {ours[0]}.0 "
                          f"to {FORMAT_VERSION}): use the litemaas-state that wrote it")
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        n = exc.error_count()
        raise ConfigError(f"{path} is not a litemaas-state saved plan ({n} problem{'s' if n != 1 else ''}, "
                          f"first: {exc.errors()[0]['msg']})") from exc
    return plan
