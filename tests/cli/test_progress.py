"""Prune progress: off a terminal, a plain line at most every few seconds and always the last one."""

from __future__ import annotations

import io

from litemaas_state.apply.model import ApplyEvent, EventKind
from litemaas_state.commands.apply import CountedProgress
from litemaas_state.commands.base import Output


def event(done: int, total: int = 1000) -> ApplyEvent:
    return ApplyEvent(kind=EventKind.PROGRESS, action_id="keys/expired", address="keys/expired",
                      message=f"{done} of {total} keys done (500 keys/s)", done=done, total=total)


def test_plain_lines_are_throttled_and_the_last_is_shown() -> None:
    buf = io.StringIO()
    progress = CountedProgress(Output(out=buf, err=buf))
    assert not progress.tty
    for done in range(50, 1001, 50):  # 20 batches in well under EVERY_S
        progress.update(event(done))
    lines = buf.getvalue().splitlines()
    assert lines == ["keys/expired: 50 of 1000 keys done (500 keys/s)",
                     "keys/expired: 1000 of 1000 keys done (500 keys/s)"]
