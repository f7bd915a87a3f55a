"""A warm interpreter for the tests' processes: `python -m litemaas_state ARGS` (the CLI) and `python -m
litemaas_state.sandbox.daemon ARGS` (a sandbox) without paying, every time, for Python's start-up and the
imports (click, pydantic, the kubernetes client, psycopg, httpx, redis, fastapi: about 1.1 s of CPU of the
1.5 s a plan on the sandbox costs, and 1 s per sandbox).

The server (``python -m tests.forkserver SOCKET``, started once per pytest worker by ``ForkServer.start``,
tests/conftest.py) imports those modules, then serves a Unix socket. Per request it forks a middle
process, which forks the CLI process and reports its pid and then its exit status. The CLI process is a
fresh `python -m litemaas_state` in every way a test can see: its own pid, stdin (/dev/null), stdout,
stderr (the request's file descriptors, passed with SCM_RIGHTS), working directory, environment
(replaced wholesale, so libpq and the kubernetes client read the request's), ``sys.argv`` and
``sys.path[0]``, ``__main__`` run by ``runpy`` as ``-m`` does; at its end, non-daemon threads are joined
and atexit handlers run before it exits with the code Python would give. Module state is what a fresh
import leaves: the server only imports, and nothing in litemaas_state reads the environment or the
working directory at import time (tests/e2e/test_forkserver.py holds runs through it to runs in a real
subprocess). A daemon (``ForkServer.spawn``) also gets a session of its own, as `start_new_session`.

What needs a real process of its own (a terminal, signals sent by the test, kill -9 mid-apply, the
lazy-import checks of tests/cli/test_startup.py) still runs `subprocess` directly.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import locale
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parent.parent

#: What the CLI imports for plan/apply/status/drift/init on the sandbox (the rest is imported on use).
PRELOAD = (
    "litemaas_state.cli",
    "litemaas_state.commands.plan",
    "litemaas_state.commands.apply",
    "litemaas_state.commands.status",
    "litemaas_state.commands.drift",
    "litemaas_state.commands.fleet",
    "litemaas_state.commands.init",
    "litemaas_state.commands.manifests",
    "litemaas_state.live.observe",
    "litemaas_state.apply.runner",
    "kubernetes.client",
    "kubernetes.config",
    "kubernetes.stream",
    "psycopg",
    "httpx",
    "httpcore",  # imported by httpx's first client, h11 with it
    "redis",
    "yaml",
    "litemaas_state.live.tunnel",  # imported at a run's first port-forward
    "litemaas_state.sandbox.manage",
    "litemaas_state.sandbox.kubeapi",  # what the daemon imports; not the daemon itself, which runs as __main__
    "litemaas_state.sandbox.controller",
    "litemaas_state.sandbox.dataplane",
    # what a daemon imports only once it serves: uvicorn's protocols and loop, and the pydantic.v1 that
    # fastapi's route building imports (≈ 0.2 s of CPU per daemon)
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.wsproto_impl",
    "uvicorn.loops.asyncio",
    "uvicorn.lifespan.off",
    "pydantic.v1",
)
HEADER = struct.Struct("!Q")  # the request's JSON length, sent with the three file descriptors


def _exit_code(exc: SystemExit) -> int:
    """The exit status Python gives for an uncaught SystemExit (None → 0, int → itself, else print it, 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _run_cli(request: dict, fds: list[int]) -> None:
    """In the CLI process: become `python -m litemaas_state ARGS` as the request says, run it, exit."""
    try:
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("new_session"):
            os.setsid()
        if os.environ.get("PYTHONUNBUFFERED"):  # what a new interpreter would do with it
            for fd, name in ((1, "stdout"), (2, "stderr")):
                old = getattr(sys, name)
                setattr(sys, name, io.TextIOWrapper(open(fd, "wb", buffering=0, closefd=False),  # noqa: SIM115
                                                    encoding=old.encoding, errors=old.errors, write_through=True))
        sys.argv = ["-m", *request["args"]]
        sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    code = 1
    try:
        sys.modules.pop(request.get("module", "litemaas_state"), None)  # runs as __main__, not the preloaded copy
        code = 0
        runpy.run_module(request.get("module", "litemaas_state"), run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        shutdown = getattr(threading, "_shutdown", None)  # the interpreter joins non-daemon threads at exit
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
        code = code or 1
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _middle(conn: socket.socket) -> None:
    """In the middle process: read the request, fork the CLI process, report its pid and exit status."""
    try:
        head, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
        (length,) = HEADER.unpack(head)
        data = b""
        while len(data) < length:
            chunk = conn.recv(length - len(data))
            if not chunk:
                os._exit(1)
            data += chunk
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            conn.close()
            _run_cli(request, fds)
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """Import PRELOAD, listen on ``path``, print ``ready``; fork a middle process per connection. Exits when
    the parent (the pytest worker) is gone."""
    for name in PRELOAD:
        importlib.import_module(name)
    if threading.active_count() != 1:  # forking a process with threads would copy locks held by them
        raise SystemExit(f"forkserver: imports started threads: {threading.enumerate()}")
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    print("ready", flush=True)
    while os.getppid() == parent:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:  # reap finished middle processes
                pass
        except ChildProcessError:
            pass
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            conn.settimeout(None)
            _middle(conn)
        conn.close()


# -- the client (in the pytest worker) ------------------------------------------------------------------


def _text(data: bytes) -> str:
    """Bytes as `subprocess.run(text=True)` decodes them: the locale's encoding, universal newlines."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


class _Replies:
    """The middle process's reply lines on ``conn`` (JSON, one per line), read with a deadline."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buf = conn, b""

    def next(self, timeout_s: float | None) -> dict | None:
        """The next reply; None if none came within ``timeout_s``; ``{}`` at end of stream."""
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.conn], [], [], timeout_s)
            if not ready:
                return None
            chunk = self.conn.recv(4096)
            if not chunk:
                return {}
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        reply: dict = json.loads(line)
        return reply


class ForkedProcess:
    """A process started by ``ForkServer.spawn``: the part of subprocess.Popen that manage.up uses
    (``pid``, ``returncode``, ``poll``, ``wait``, ``terminate``); its exit status comes from the middle
    process over the connection (-9 if the middle process is gone without saying)."""

    def __init__(self, conn: socket.socket, pid: int, replies: _Replies) -> None:
        self.conn, self.pid, self._replies = conn, pid, replies
        self.returncode: int | None = None

    def _read(self, timeout_s: float | None) -> int | None:
        if self.returncode is None:
            reply = self._replies.next(timeout_s)
            if reply is None:
                return None
            self.returncode = reply.get("returncode", -signal.SIGKILL)
            self.conn.close()
        return self.returncode

    def poll(self) -> int | None:
        return self._read(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._read(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        return code

    def terminate(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGTERM)


class ForkServer:
    """The client: one server per pytest worker (tests/conftest.py ``fork_server``)."""

    def __init__(self, proc: subprocess.Popen[bytes], socket_dir: Path) -> None:
        self.proc = proc
        self.socket_dir = socket_dir
        self.path = str(socket_dir / "s")

    @classmethod
    def start(cls) -> ForkServer:
        """Start the server and wait until it has imported what it preloads and listens."""
        socket_dir = Path(tempfile.mkdtemp(prefix="lms-fork-", dir="/tmp"))
        proc = subprocess.Popen([sys.executable, "-m", "tests.forkserver", str(socket_dir / "s")], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != b"ready\n":
            proc.kill()
            raise RuntimeError(f"the fork server did not start (exit {proc.wait()})")
        return cls(proc, socket_dir)

    def _request(self, fds: list[int], **request: object) -> tuple[socket.socket, int, _Replies]:
        data = json.dumps(request).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        socket.send_fds(conn, [HEADER.pack(len(data))], fds)
        conn.sendall(data)
        replies = _Replies(conn)
        first = replies.next(60)
        if not first:
            conn.close()
            raise RuntimeError("the fork server did not start the process")
        return conn, first["pid"], replies

    def run(self, args: list[str], env: dict[str, str], cwd: Path, timeout_s: float, module: str = "litemaas_state",
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `python -m MODULE ARGS` (the CLI) with ``input`` on stdin (else nothing), as
        `subprocess.run(capture_output=True, text=True)`; raises subprocess.TimeoutExpired (after killing
        it) past ``timeout_s``."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as stdin:
            stdin.write((input or "").encode())
            stdin.seek(0)
            conn, pid, replies = self._request([stdin.fileno(), out.fileno(), err.fileno()], args=args, env=env,
                                               cwd=str(cwd), module=module)
            with conn:
                reply = replies.next(timeout_s)
                if reply is None:
                    os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired([module, *args], timeout_s)
                returncode = reply.get("returncode", -signal.SIGKILL)
            out.seek(0)
            err.seek(0)
            stdout, stderr = _text(out.read()), _text(err.read())
        return subprocess.CompletedProcess([sys.executable, "-m", module, *args], returncode, stdout, stderr)

    def spawn(self, module: str) -> Callable[[list[str], dict[str, str], BinaryIO], ForkedProcess]:
        """A manage.up ``spawn``: `python -m MODULE ARGS` in a session of its own, stdin /dev/null, stdout
        and stderr to the log, working directory this process's."""
        def start(args: list[str], env: dict[str, str], log: BinaryIO) -> ForkedProcess:
            with open(os.devnull, "rb") as null:
                conn, pid, replies = self._request([null.fileno(), log.fileno(), log.fileno()], args=args, env=env,
                                                   cwd=os.getcwd(), module=module, new_session=True)
            return ForkedProcess(conn, pid, replies)
        return start

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1])
