"""The fan-out of a fleet run (commands/fleet.py) without a cluster: sections printed whole, bounded
parallelism, one approval for all, interrupts reaching every environment, duplicate names refused, and the
CLI's shape for several state files (the envelope, the exit code) when no cluster can be reached."""

from __future__ import annotations

import _thread
import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from litemaas_state import cli, redact
from litemaas_state.commands.base import Deps, Output
from litemaas_state.commands.fleet import EnvRun, Fleet, expand, is_fleet
from litemaas_state.errors import ConfigError, ExitCode
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "state" / "litellm-rhpds.yaml"


def states(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for n in names:
        p = tmp_path / f"{n}.yaml"
        p.write_text(STATE.read_text().replace("name: litellm-rhpds\n", f"name: {n}\n", 1))
        out.append(p)
    return out


def fleet(paths: list[Path], **kw: object) -> tuple[Fleet, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    f = Fleet(paths=paths, deps=Deps(output=Output(out=out, err=err)), guard=cli._guard, **kw)  # type: ignore[arg-type]
    return f, out, err


def test_paths_expand_in_order_without_duplicates(tmp_path: Path) -> None:
    a, b = states(tmp_path, "a", "b")
    (tmp_path / "c.yml").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    assert expand([b, tmp_path, a]) == [b, a, tmp_path / "c.yml"]
    assert is_fleet([tmp_path]) and is_fleet([a, b]) and not is_fleet([a])


def test_sections_are_whole_and_each_environment_runs_alone(tmp_path: Path) -> None:
    paths = states(tmp_path, "a", "b", "c")
    both_running = threading.Barrier(2, timeout=30)
    running = 0
    most = 0
    lock = threading.Lock()

    def work(env: EnvRun, deps: Deps, confirm: object) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if env.index < 2:
            both_running.wait()  # the first two run at the same time, writing line by line in turn
        for i in range(3):
            deps.output.echo(f"{env.environment} line {i}")
            deps.output.echo(f"{env.environment} warning {i}", err=True)
            time.sleep(0.001)
        with lock:
            running -= 1
        return ExitCode.CHANGES if env.index == 1 else ExitCode.OK

    f, out, err = fleet(paths, parallelism=2)
    f.run(work)
    assert most == 2  # bounded by parallelism
    assert [e.code for e in f.envs] == [0, 2, 0] and f.document("plan").exit_code == 2
    for name in ("a", "b", "c"):  # each environment's lines together, under its header
        block = re.search(rf"== env {name} \(\S+{name}\.yaml\) ==\n((?:{name} line \d\n)+)", out.getvalue())
        assert block is not None and block.group(1) == "".join(f"{name} line {i}\n" for i in range(3))
        assert f"{name} warning 0\n{name} warning 1\n{name} warning 2\n" in err.getvalue()


def test_one_failure_never_stops_the_others(tmp_path: Path) -> None:
    paths = states(tmp_path, "a", "b", "c")

    def work(env: EnvRun, deps: Deps, confirm: object) -> int:
        if env.environment == "b":
            raise ConfigError("b cannot be reached with password=hunter2")
        if env.environment == "c":
            raise RuntimeError("a bug")
        return ExitCode.OK

    f, out, err = fleet(paths, parallelism=1)
    f.run(work)
    assert [e.code for e in f.envs] == [0, 1, 1]
    assert f.envs[1].errors == ("Error: b cannot be reached with password=(sensitive value)",)
    assert f.envs[2].errors[0] == "Error: unexpected internal error: RuntimeError: a bug"
    assert "hunter2" not in err.getvalue() and "Traceback" not in err.getvalue()
    assert f.document("plan").exit_code == 1


def test_one_approval_for_every_environment(tmp_path: Path) -> None:
    paths = states(tmp_path, "a", "b", "c")
    asked: list[str] = []
    answers: dict[str, str | None] = {}

    def work(env: EnvRun, deps: Deps, confirm: Callable[[str], str | None]) -> int:
        deps.output.echo(f"plan of {env.environment}")
        if env.environment == "c":
            return ExitCode.OK  # no changes: nothing to approve
        answers[str(env.environment)] = confirm("ignored: the fleet asks once")
        deps.output.echo(f"applied {env.environment}")
        return ExitCode.OK

    def confirm(prompt: str) -> str:
        asked.append(prompt)
        return "yes"

    f, out, _ = fleet(paths, confirm=confirm)
    f.run(work)
    assert len(asked) == 1 and "in 2 environments (a, b)?" in asked[0]
    assert answers == {"a": "yes", "b": "yes"}
    text = out.getvalue()
    assert max(text.index("plan of a"), text.index("plan of b")) < min(text.index("applied a"),
                                                                        text.index("applied b"))


def test_duplicate_environment_names_are_refused(tmp_path: Path) -> None:
    a = states(tmp_path, "same")[0]
    other = tmp_path / "sub"
    other.mkdir()
    b = states(other, "same")[0]
    ran: list[Path] = []
    f, _, err = fleet([a, b])
    f.run(lambda env, deps, confirm: ran.append(env.state_file) or 0)
    assert ran == [] and [e.code for e in f.envs] == [1, 1]
    assert "environment same is named by 2 state files" in err.getvalue()


def test_weak_secrets_are_warned_about_per_environment(tmp_path: Path) -> None:
    paths = states(tmp_path, "a", "b")
    seen: dict[str, list[str]] = {}

    def work(env: EnvRun, deps: Deps, confirm: object) -> int:
        redact.register(f"pw{env.index}", what=f"the password of {env.environment}")
        seen[str(env.environment)] = redact.weak_secrets()
        return 0

    f, _, _ = fleet(paths, parallelism=1)
    f.run(work)
    assert seen == {"a": ["the password of a"], "b": ["the password of b"]}


def test_an_interrupt_stops_every_running_environment_and_starts_no_other(tmp_path: Path) -> None:
    paths = states(tmp_path, "a", "b", "c")
    started = threading.Barrier(3, timeout=30)  # two environments and the interrupter
    unwound: list[str] = []

    def work(env: EnvRun, deps: Deps, confirm: object) -> int:
        try:  # the interrupt may arrive while this thread still leaves the barrier
            started.wait()
            while True:  # a long wait in Python code, as a rollout's poll loop
                time.sleep(0.01)
        finally:
            unwound.append(str(env.environment))  # a lease released, a partial dump removed

    def interrupt() -> None:
        started.wait()
        _thread.interrupt_main()  # what SIGINT does (cli.py turns SIGTERM and SIGHUP into the same)

    threading.Thread(target=interrupt).start()
    f, _, err = fleet(paths, parallelism=2)
    f.run(work)
    assert sorted(unwound) == ["a", "b"]
    assert [e.code for e in f.envs] == [130, 130, 130] and f.interrupted
    assert f.envs[2].errors == ("Not started: the fleet run was interrupted.",)
    assert f.document("plan").exit_code == 130
    assert "Interrupt received: stopping every environment" in err.getvalue()


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"}, timeout_s=120)


def test_the_envelope_of_unreachable_environments(tmp_path: Path) -> None:
    good = states(tmp_path, "a")[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(STATE.read_text().replace("replicas: 5", "replicas: -1"))
    proc = run("plan", "--json", str(good), str(bad))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 1 and [e["state_file"] for e in doc["environments"]] == [str(good), str(bad)]
    a, b = doc["environments"]
    assert a["environment"] == "a" and "no Kubernetes configuration" in a["error"] and a["document"] is None
    assert b["environment"] is None and f"{bad}:" in b["error"] and "deployments.litellm.replicas" in b["error"]
    assert f"== env a ({good}) ==" in proc.stderr and f"== {bad} ==" in proc.stderr  # stdout is the document


def test_a_fleet_refuses_what_names_one_file(tmp_path: Path) -> None:
    a, b = states(tmp_path, "a", "b")
    proc = run("plan", str(a), str(b), "--out", str(tmp_path / "p.json"))
    assert proc.returncode == 1 and "--out saves the plan of one state file" in proc.stderr
    proc = run("apply", str(a), str(b), "--plan", str(a))
    assert proc.returncode == 1 and "not both" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run("status", str(empty))
    assert proc.returncode == 1 and "no state files" in proc.stderr and "Traceback" not in proc.stderr
