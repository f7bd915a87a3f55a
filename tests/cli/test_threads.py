"""A background thread that dies (e.g. a port-forward proxy of kubernetes.stream) prints one scrubbed line."""

from __future__ import annotations

import threading

import pytest

from litemaas_state import cli, redact


def test_a_failed_thread_prints_one_scrubbed_line(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "excepthook", cli._thread_failed)
    redact.register("hunter2-db-password")

    def boom() -> None:
        raise RuntimeError("Unexpected channel number: 7 (password hunter2-db-password)")

    t = threading.Thread(target=boom, name="Kubernetes port forward proxy: 5432")
    t.start()
    t.join()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "hunter2-db-password" not in err
    assert err.startswith("Warning: Kubernetes port forward proxy: 5432 failed: RuntimeError: Unexpected channel")
