"""Run by tests/e2e/test_forkserver.py through the fork server: never ends on its own (its timeout kills it)."""

import threading

threading.Event().wait()
