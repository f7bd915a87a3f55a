"""A warm interpreter for the end-to-end tests' CLI runs: `python -m litemaas_state ARGS` without paying,
every time, for Python's start-up and the imports (click, pydantic, the kubernetes client, psycopg, httpx,
redis: about 1.1 s of CPU of the 1.5 s a plan on the sandbox costs).

The server (``python -m tests.e2e.forkserver SOCKET``, started once per pytest worker by
``CliServer.start``) imports those modules, then serves a Unix socket. Per request it forks a middle
process, which forks the CLI process and reports its pid and then its exit status. The CLI process is a
fresh `python -m litemaas_state` in every way a test can see: its own pid, stdin (/dev/null), stdout,
stderr (the request's file descriptors, passed with SCM_RIGHTS), working directory, environment
(replaced wholesale, so libpq and the kubernetes client read the request's), ``sys.argv`` and
``sys.path[0]``, ``__main__`` run by ``runpy`` as ``-m`` does; at its end, non-daemon threads are joined
and atexit handlers run before it exits with the code Python would give. Module state is what a fresh
import leaves: the server only imports, and nothing in litemaas_state reads the environment or the
working directory at import time (tests/e2e/test_forkserver.py holds runs through it to runs in a real
subprocess).

What needs a real process of its own (a terminal, signals sent by the test, kill -9 mid-apply, the
lazy-import checks of tests/cli/test_startup.py) still runs `subprocess` directly.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import socket
import struct
import sys
import threading
import traceback

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
    "redis",
    "yaml",
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
        sys.argv = ["-m", *request["args"]]
        sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    code = 0
    try:
        runpy.run_module(request.get("module", "litemaas_state"), run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    shutdown = getattr(threading, "_shutdown", None)  # the interpreter joins non-daemon threads at exit
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
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


if __name__ == "__main__":
    serve(sys.argv[1])
