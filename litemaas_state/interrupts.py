"""Stops held across a section that must not be cut in two: starting a child process (apply/backup.py's
pg_dump), which only its ``Popen`` object can stop. ``subprocess.Popen`` can be interrupted after its fork
and before it returns, and the child then runs on with nobody to kill it.

Two kinds of stop reach a section:

* in the main thread, Ctrl-C, SIGTERM and SIGHUP (cli.py turns them into KeyboardInterrupt): ``held()``
  swaps their handlers for a recorder and re-raises the first one that came once the section ends;
* in another thread (one environment of a fleet run, commands/fleet.py), the KeyboardInterrupt the fleet
  raises in it with CPython's ``PyThreadState_SetAsyncExc`` (Include/cpython/pystate.h). The fleet sends it
  through ``interrupt_thread``, which records it instead while that thread is inside ``held()``; the
  section raises it when it ends.

An ignored signal stays ignored (a child inherits SIG_IGN across exec, but a Python handler is reset to the
default there).
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_lock = threading.Lock()
_held: dict[int, bool] = {}  # thread id -> a stop came while it was in held()


def raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in the thread ``thread_id`` when it next runs Python code, or (None) withdraw one not
    yet raised. A NULL exception clears the pending one (``PyThreadState_SetAsyncExc``)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc is not None else None)


def interrupt_thread(thread_id: int) -> None:
    """Raise KeyboardInterrupt in ``thread_id`` now, or, while it is inside ``held()``, when it leaves."""
    with _lock:
        if thread_id in _held:
            _held[thread_id] = True
            return
        raise_in(thread_id, KeyboardInterrupt)


@contextmanager
def held() -> Iterator[None]:
    """Hold stops for the block (see the module docstring), then act on the first that came meanwhile.

    Raises:
        KeyboardInterrupt: when the block ends, if a stop came during it (main thread: the restored
            handler's own exception).
    """
    if threading.current_thread() is threading.main_thread():
        with _signals_held():
            yield
        return
    tid = threading.get_ident()
    try:
        with _lock:  # a stop sent before this point is raised here, before the block starts
            _held[tid] = False
        yield
    finally:
        with _lock:
            pending = _held.pop(tid, False)
    if pending:
        raise KeyboardInterrupt


@contextmanager
def _signals_held() -> Iterator[None]:
    pending: list[int] = []
    previous: dict[signal.Signals, Any] = {}
    try:
        for s in STOP_SIGNALS:
            current = signal.getsignal(s)
            # an ignored signal stays ignored, and one whose handler Python did not install (None) could not
            # be put back
            if current is not signal.SIG_IGN and current is not None:
                previous[s] = current
                signal.signal(s, lambda signum, _frame: pending.append(signum))
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])  # the restored handler runs now (KeyboardInterrupt, cli.main)
