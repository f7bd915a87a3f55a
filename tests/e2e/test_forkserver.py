"""The fork server (tests/forkserver.py) is held to a real `python -m litemaas_state` subprocess: the
same commands on the same sandbox give the same exit code, stdout and stderr, and what a fresh process has
of its own (pid, environment, working directory, stdin) is the request's, not the server's."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox
from tests.forkserver import ForkServer

pytestmark = pytest.mark.slow


def both(sb: Sandbox, server: ForkServer, *args: str,
         extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], ...]:
    real = dataclasses.replace(sb, server=None).cli(*args, extra_env=extra_env)
    forked = dataclasses.replace(sb, server=server).cli(*args, extra_env=extra_env)
    return real, forked


def same(real: subprocess.CompletedProcess[str], forked: subprocess.CompletedProcess[str]) -> None:
    """Equal but for the time of day: a backup's file name holds the plan's UTC second."""
    def timeless(text: str) -> str:
        return re.sub(r"\d{8}T\d{6}Z|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", "<time>", text)

    assert ((forked.returncode, timeless(forked.stdout), timeless(forked.stderr))
            == (real.returncode, timeless(real.stdout), timeless(real.stderr)))


def test_runs_through_the_fork_server_are_what_a_real_process_prints(make_sandbox, tmp_path: Path) -> None:
    server = ForkServer.start()
    try:
        sb = make_sandbox()
        state = sb.state_copy()
        reals = []
        for args in (["plan", state, "--detailed-exitcode"], ["status", state],
                     ["plan", str(tmp_path / "missing.yaml")], ["plan", "--no-such-flag"]):
            real, forked = both(sb, server, *args)
            same(real, forked)
            reals.append(real)
        # positive evidence: a plan with changes and errors, not only "nothing" on both sides
        assert reals[0].returncode == 2 and "will perform the following actions" in reals[0].stdout
        assert reals[3].returncode == 1 and "No such option" in reals[3].stderr
        real, forked = both(sb, server, "plan", state, extra_env={"KUBECONFIG": str(tmp_path / "none")})
        assert real.returncode == 1 and "no Kubernetes configuration" in real.stderr
        same(real, forked)
    finally:
        server.stop()


def test_each_run_has_its_own_pid_environment_directory_stdin_and_exit_code(tmp_path: Path) -> None:
    server = ForkServer.start()
    try:
        env = {"PATH": os.environ["PATH"], "PROBE": "ünï"}  # the server's own variables (PYTEST_*) must be gone
        seen = []
        for code in (0, 3):
            proc = server.run([str(code), "an arg"], env, tmp_path, timeout_s=60, module="tests.forkprobe")
            assert (proc.returncode, proc.stderr) == (code, "to stderr\n")
            seen.append(json.loads(proc.stdout))
        for probe in seen:
            assert probe["env"] == env and probe["cwd"] == str(tmp_path) == probe["path0"]
            assert probe["stdin"] == "" and probe["threads"] == 1 and probe["main"] == "__main__"
            assert probe["pid"] not in (os.getpid(), server.proc.pid) and probe["ppid"] != server.proc.pid
        assert seen[0]["argv"] == ["0", "an arg"] and seen[0]["pid"] != seen[1]["pid"]
        with pytest.raises(subprocess.TimeoutExpired):  # a run past its timeout is killed
            server.run(["0"], {"PATH": os.environ["PATH"]}, tmp_path, timeout_s=0.5, module="tests.forkhang")
    finally:
        server.stop()


def test_a_daemon_forked_by_the_server_is_detached_logs_unbuffered_and_its_failure_is_reported(
        tmp_path: Path) -> None:
    from litemaas_state.sandbox import manage

    server = ForkServer.start()
    try:
        spawn = server.spawn(manage.DAEMON_MODULE)
        d = tmp_path / "sb"
        manage.up(d, manage.SandboxOptions(pod_ready_s=0.15, progress_deadline_s=3, data_plane=False), spawn=spawn)
        pid = int((d / "daemon.pid").read_text())
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid  # a session of its own, as start_new_session
        log = (d / "daemon.log").read_text()  # written while it runs (PYTHONUNBUFFERED), the daemon run once
        assert "sandbox ready in" in log and "RuntimeWarning" not in log and log.count("Kubernetes API serving") == 1
        manage.down(d)
        assert not d.exists()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        # a daemon that exits at once: up says so with its exit code, as with a real subprocess
        bad = manage.SandboxOptions(secrets_file=tmp_path / "missing.json", data_plane=False)
        with pytest.raises(manage.SandboxError, match="exited with code [1-9]"):
            manage.up(tmp_path / "sb2", bad, spawn=spawn)
    finally:
        server.stop()
