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


def rollout(done: int, total: int, message: str, elapsed: float) -> ApplyEvent:
    return ApplyEvent(kind=EventKind.PROGRESS, action_id="images/litellm", address="deployment/litellm",
                      message=message, elapsed_s=elapsed, done=done, total=total, rollout=True)


WAITING = 'Waiting for deployment "litellm" rollout to finish: 2 out of 5 new replicas have been updated...'


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rollout_off_a_terminal_prints_each_status_line_as_before() -> None:
    buf = io.StringIO()
    progress = CountedProgress(Output(out=buf, err=buf))
    progress.update(rollout(0, 5, WAITING, 0.4))
    progress.update(rollout(5, 5, 'deployment "litellm" successfully rolled out', 12.2))
    assert buf.getvalue().splitlines() == [
        f"deployment/litellm: {WAITING} [0s elapsed]",
        'deployment/litellm: deployment "litellm" successfully rolled out [12s elapsed]',
    ]


def test_rollout_on_a_terminal_is_a_bar_of_replicas(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("TTY_INTERACTIVE", raising=False)
    buf = Terminal()
    progress = CountedProgress(Output(out=buf, err=buf))
    assert progress.tty
    progress.update(rollout(2, 5, "[bold]x[/bold] waiting", 1.0))
    progress.stop()
    shown = buf.getvalue()
    assert "deployment/litellm" in shown and "2/5" in shown
    assert "[bold]x[/bold] waiting" in shown  # world text is never rich markup
    assert "elapsed]" not in shown  # no plain line


def test_a_dumb_terminal_gets_plain_lines(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TERM", "dumb")
    buf = Terminal()
    progress = CountedProgress(Output(out=buf, err=buf))
    assert not progress.tty
    progress.update(rollout(2, 5, WAITING, 1.0))
    assert buf.getvalue() == f"deployment/litellm: {WAITING} [1s elapsed]\n"
