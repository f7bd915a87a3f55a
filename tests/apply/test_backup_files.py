"""Dump files: unfinished dumps are removed on interrupt and by the next backup (own names only); a dump
is never written inside a git work tree unless git ignores it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from litemaas_state import interrupts
from litemaas_state.apply import backup
from litemaas_state.errors import BackupFailed
from litemaas_state.plan.backup import dump_prefix

PREFIX = dump_prefix("env", "litellm")


def test_stale_partials_of_this_database_are_removed_and_nothing_else(tmp_path: Path) -> None:
    mine = [tmp_path / f"{PREFIX}20261101T000000Z.sql.gz.partial", tmp_path / f"{PREFIX}20261102T000000Z.sql.gz.partial"]
    others = [tmp_path / "env-litellm_db-20261101T000000Z.sql.gz.partial",  # another database
              tmp_path / f"{PREFIX}20261101T000000Z.sql.gz",  # a finished dump
              tmp_path / f"{PREFIX}notes.partial", tmp_path / "unrelated.partial"]
    for p in mine + others:
        p.write_bytes(b"")
    assert backup.remove_stale_partials(tmp_path, PREFIX) == sorted(mine)
    assert all(not p.exists() for p in mine) and all(p.exists() for p in others)
    assert backup.remove_stale_partials(tmp_path / "missing", PREFIX) == []


def test_an_interrupted_dump_leaves_no_partial_and_no_pg_dump(tmp_path: Path) -> None:
    # pg_dump stand-in (an external program): writes a little, then hangs as a slow dump would
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pg_dump"
    fake.write_text("#!/bin/sh\nprintf 'CREATE TABLE x();\\n'\necho $$ > \"$PIDFILE\"\nexec sleep 60\n")
    fake.chmod(0o755)
    dest = tmp_path / "dumps" / f"{PREFIX}20261101T000000Z.sql.gz"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from litemaas_state.apply.backup import dump_database
        from litemaas_state.live.connect import describe_database
        try:
            dump_database(describe_database("postgresql://u:p@127.0.0.1:1/x", "litellm", "test"), Path({str(dest)!r}))
        except KeyboardInterrupt:
            print("interrupted")
    """)
    pidfile = tmp_path / "pg_dump.pid"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PIDFILE": str(pidfile)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    partial = dest.with_name(dest.name + ".partial")
    deadline = time.monotonic() + 20
    while not (partial.exists() and pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the dump never started"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does; the CLI turns SIGTERM into the same
    out, _ = proc.communicate(timeout=20)
    assert "interrupted" in out
    assert not partial.exists() and not dest.exists()
    child = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # pg_dump did not outlive the interrupted apply


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_pg_dump_starts_is_acted_on_once_it_is_held(signum: int) -> None:
    # what guards the window between Popen's fork and its return (dump_database): the signal comes in the
    # block, the block finishes, and only then the handler runs
    handled: list[int] = []

    def handler(got: int, _frame: object) -> None:
        handled.append(got)
        raise KeyboardInterrupt

    before = signal.signal(signum, handler)
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.held():
                os.kill(os.getpid(), signum)
                time.sleep(0.01)  # a handler would run here, between bytecodes, were it not held
                finished = True
        assert finished and handled == [signum]
        assert signal.getsignal(signum) is handler  # and the handler is back in place
    finally:
        signal.signal(signum, before)


def test_an_ignored_stop_signal_stays_ignored_for_pg_dump() -> None:
    # `litemaas-state apply … &` in a script or cron ignores SIGINT: pg_dump must inherit that (exec keeps
    # SIG_IGN but resets a Python handler to the default), or a Ctrl-C to the group kills the dump alone
    def ignored_by_a_child() -> set[int]:
        status = subprocess.run(["grep", "SigIgn", "/proc/self/status"], capture_output=True, text=True).stdout
        mask = int(status.split()[1], 16)
        return {s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if mask & (1 << (s - 1))}

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert signal.SIGINT in ignored_by_a_child()
        with interrupts.held():
            assert signal.SIGINT in ignored_by_a_child()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_fleet_interrupt_while_pg_dump_starts_leaves_no_child() -> None:
    # a fleet run stops an environment's thread with an asynchronous KeyboardInterrupt (interrupts.
    # interrupt_thread); sent while the thread is inside Popen, it would leave the child running with no owner
    children: list[subprocess.Popen[bytes]] = []

    def produce() -> None:  # dump_database's produce(), with `sleep` for pg_dump
        proc: subprocess.Popen[bytes] | None = None
        try:
            try:
                with interrupts.held():
                    proc = subprocess.Popen(["sleep", "30"])
                    children.append(proc)
                while proc.poll() is None:
                    time.sleep(0.005)
            finally:
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        except KeyboardInterrupt:
            pass

    before = set(_sleeping_children())
    for i in range(150):
        t = threading.Thread(target=produce)
        t.start()
        time.sleep((i % 5) * 0.001)  # the interrupt lands before, inside and after the start
        assert t.ident is not None
        interrupts.interrupt_thread(t.ident)
        t.join(timeout=20)
        assert not t.is_alive()
    orphans = [pid for pid in _sleeping_children() if pid not in before]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"{len(orphans)} of 150 interrupted starts left `sleep 30` running"
    assert children, "no start was reached: the test proves nothing"


def _sleeping_children() -> list[int]:
    """This process's children running `sleep 30` (from /proc: a Popen that never returned is not known)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and cmd == b"sleep\x0030\x00":
            found.append(int(entry))
    return found


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_dump_inside_a_git_work_tree_must_be_ignored(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "state").mkdir(parents=True)
    git(repo, "init", "-q")
    dest = repo / "state" / "backups" / f"{PREFIX}20261101T000000Z.sql.gz"
    with pytest.raises(BackupFailed, match="inside the git work tree .* git does not ignore it"):
        backup.check_destination(dest)
    (repo / ".gitignore").write_text("backups/\n")
    backup.check_destination(dest)  # ignored: fine
    backup.check_destination(tmp_path / "elsewhere" / dest.name)  # not in a work tree: fine


def test_a_dump_is_never_written_into_a_system_directory_even_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "backups_link").symlink_to("/etc")
    for dest in (tmp_path / "backups_link" / "env-litellm.sql.gz",
                 tmp_path / "ok" / ".." / ".." / ".." / ".." / ".." / ".." / "etc" / "cron.d" / "env.sql.gz",
                 Path("/proc/self/env.sql.gz")):
        with pytest.raises(BackupFailed, match="system directory"):
            backup.check_destination(dest)
    backup.check_destination(tmp_path / "backups" / "env-litellm.sql.gz")

