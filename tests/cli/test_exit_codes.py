"""Exit codes and messages that need no cluster: usage errors are 1 (never 2, which means changes)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"})


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--parallelism", "0", "state"),
        ("plan", "--detailed-exitcode", "--format", "xml", str(STATE)),
        ("drift", "missing.yaml"),
        ("validate", "missing-dir/"),
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
    assert "/nonexistent" in proc.stderr  # the path tried is named


def test_a_missing_kubeconfig_is_named_by_status() -> None:
    proc = run("status", str(STATE))
    assert proc.returncode == 1
    assert "tried KUBECONFIG=/nonexistent" in proc.stderr and "Traceback" not in proc.stderr


def test_usage_errors_are_scrubbed() -> None:
    proc = run("plan", str(STATE), "sk-abcdefghijklmnopqrstuv")  # a second state file that does not exist
    assert proc.returncode == 1
    assert "sk-abcdefghijklmnopqrstuv" not in proc.stderr and "does not exist" in proc.stderr


def test_no_arguments_prints_help_and_exits_0() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "Usage: litemaas-state" in proc.stdout and "Commands:" in proc.stdout and proc.stderr == ""


def test_validate_a_directory_validates_every_state_file_in_it(tmp_path: Path) -> None:
    good = STATE.read_text()
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yml").write_text(good.replace("replicas: 5", "replicas: -1"))
    (tmp_path / "notes.txt").write_text("not a state file")
    proc = run("validate", str(tmp_path))
    assert proc.returncode == 1
    assert f"{tmp_path / 'a.yaml'}: valid" in proc.stdout
    assert f"{tmp_path / 'b.yml'}:" in proc.stderr and "deployments.litellm.replicas" in proc.stderr
    assert "notes.txt" not in proc.stdout + proc.stderr
    (tmp_path / "b.yml").unlink()
    assert run("validate", str(tmp_path)).returncode == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run("validate", str(empty))
    assert proc.returncode == 1 and "no state files" in proc.stderr
    assert run("validate", str(ROOT / "state")).returncode == 0
    (tmp_path / "c.yaml").write_text(good)  # valid alone, but a second file naming environment litellm-rhpds
    proc = run("validate", str(tmp_path))
    assert proc.returncode == 1 and f"{tmp_path / 'c.yaml'}: valid" in proc.stdout
    assert "Error: environment litellm-rhpds is named by 2 state files" in proc.stderr


@pytest.mark.parametrize(("flag", "env", "tty", "expected"), [
    (None, {}, True, True),
    (None, {}, False, False),
    (None, {"TERM": "dumb"}, True, False),
    (None, {"FORCE_COLOR": "1"}, False, True),
    (None, {"FORCE_COLOR": "1", "TERM": "dumb"}, False, False),  # rich: a dumb terminal wins
    (None, {"TTY_COMPATIBLE": "0"}, True, False),
    (None, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    (None, {"NO_COLOR": ""}, True, True),
    (True, {"NO_COLOR": "1", "TERM": "dumb"}, False, True),
    (False, {"FORCE_COLOR": "1"}, True, False),
])
def test_use_color(flag: bool | None, env: dict[str, str], tty: bool, expected: bool) -> None:
    from litemaas_state.commands.common import use_color

    class Stream:
        def isatty(self) -> bool:
            return tty

    assert use_color(flag, Stream(), env) is expected  # type: ignore[arg-type]


def test_status_has_color_flags() -> None:
    proc = run("status", "--help")
    assert "--color / --no-color" in proc.stdout


@pytest.mark.parametrize(("version", "message"), [
    (99, "unsupported format_version 99 (this litemaas-state reads 4.0 to"),
    ("99.0", "unsupported format_version 99.0 (this litemaas-state reads 4.0 to"),
    ("2.1", "has plan format 2.1, written by an older litemaas-state; this one reads 4.x only (preconditions are "
            "now typed values, not field strings). Nothing was changed"),
    ("1.3", "this one reads 4.x only (actions now carry their requirements"),
    ("3.0", "this one reads 4.x only (Deployment actions now name their component, so both LiteMaaS layouts"),
    ("2", "unsupported format_version 2 (this litemaas-state reads"),
    (None, "unsupported format_version null"),
])
def test_a_saved_plan_of_an_unknown_format_is_refused_naming_the_version(tmp_path: Path, version: object,
                                                                          message: str) -> None:
    import json

    from litemaas_state.commands.planfile import read_plan
    from litemaas_state.errors import ConfigError

    f = tmp_path / "p.json"
    f.write_text(json.dumps({"format_version": version, "actions": []}))
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_plan(f)
    f.write_text(json.dumps({"actions": []}))
    with pytest.raises(ConfigError, match="no format_version"):
        read_plan(f)


def test_debug_mode_shows_the_cause_chain_scrubbed() -> None:
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"}
    plain = run_cli(["plan", str(STATE)], env=env)
    debug = run_cli(["plan", str(STATE)], env={**env, "LITEMAAS_STATE_DEBUG": "1"})
    assert plain.returncode == debug.returncode == 1
    assert "caused by" not in plain.stderr
    assert "no Kubernetes configuration" in debug.stderr
    assert "  caused by ConfigException: " in debug.stderr and "Traceback" not in debug.stderr


def test_exit_codes_spelled_once() -> None:
    from litemaas_state import cli
    from litemaas_state.errors import ExitCode

    assert (cli.ERROR_EXIT, cli.INTERRUPTED_EXIT) == (ExitCode.ERROR, ExitCode.INTERRUPTED) == (1, 130)
@pytest.mark.parametrize("verb", ["plan", "apply"])
def test_an_unknown_target_is_refused_before_any_cluster_read(verb: str) -> None:
    # KUBECONFIG points nowhere: reaching the cluster would fail with "no Kubernetes configuration"
    proc = run(verb, str(STATE), "--target", "bogus", "--target", "deployment/litellm")
    assert proc.returncode == 1
    assert "--target 'bogus' matches no phase, address or action" in proc.stderr
    assert "no Kubernetes configuration" not in proc.stderr and "Resource targeting" not in proc.stdout + proc.stderr


def test_known_targets_pass_the_early_check() -> None:
    from litemaas_state.commands.base import read_state
    from litemaas_state.plan.planner import unknown_targets

    desired = read_state(STATE).desired
    assert unknown_targets(desired, ["deployment/*", "images/litellm/restart", "scaling/litellm", "keys", "backup",
                                     "admin/not-listed@example.com", "litemaas/api_keys", "bogus"]) == ["bogus"]


@pytest.mark.parametrize(("layout", "names", "foreign"), [
    ("rhpds", ["deployment/litellm-backend", "deployment/litellm-frontend", "images/backend"], "deployment/backend"),
    ("kustomize", ["deployment/backend", "deployment/frontend", "images/frontend"], "deployment/litellm-backend"),
])
def test_targets_name_the_layouts_objects(layout: str, names: list[str], foreign: str) -> None:
    from litemaas_state.commands.base import read_state
    from litemaas_state.plan.planner import unknown_targets

    desired = read_state(STATE).desired
    desired = desired.model_copy(update={"target": desired.target.model_copy(update={"layout": layout})})
    assert unknown_targets(desired, [*names, foreign]) == [foreign]
