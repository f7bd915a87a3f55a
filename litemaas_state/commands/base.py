"""The light half of the verbs' wiring: output, the clock, reading state files. Imports no client (no
kubernetes, psycopg, httpx), so `--help`, `validate` and `schema` start fast."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from litemaas_state.errors import Diagnostic, Severity, SourceLocation, StateFileError
from litemaas_state.redact import scrub
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import DesiredState


@dataclass
class Output:
    """Where commands write. Every write is scrubbed of secrets (redact.py)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False

    def echo(self, text: str = "", *, err: bool = False, nl: bool = True) -> None:
        click.echo(scrub(text), file=self.err if err else self.out, nl=nl, color=self.color)

    def stream(self, pieces: Iterable[str], block: int = 1 << 16) -> None:
        """Write ``pieces`` to stdout as they come, scrubbed in blocks of about ``block`` characters cut
        at line ends (a secret never spans a line of the documents written this way)."""
        buf: list[str] = []
        size = 0
        for piece in pieces:
            buf.append(piece)
            size += len(piece)
            if size >= block and "\n" in piece:
                text = "".join(buf)
                cut = text.rindex("\n") + 1
                click.echo(scrub(text[:cut]), file=self.out, nl=False, color=self.color)
                buf, size = [text[cut:]], len(text) - cut
        if buf:
            click.echo(scrub("".join(buf)), file=self.out, nl=False, color=self.color)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Dependencies of a command run: the clock and the output (tests pass their own)."""

    output: Output = field(default_factory=Output)
    now: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class StateFile:
    path: Path
    text: str
    digest: str
    desired: DesiredState


def read_state(path: Path) -> StateFile:
    """Read and validate a state file.

    Raises:
        StateFileError: unreadable file, or every validation problem with file:line and field path.
    """
    if path.is_dir():
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary="is a directory, not a state file", location=SourceLocation(file=str(path)),
        )])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"cannot read the state file: {exc.strerror or exc}",
            location=SourceLocation(file=str(path)),
        )]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"the state file is not UTF-8 text ({exc.reason})",
            location=SourceLocation(file=str(path), line=line, column=column),
        )]) from None
    return state_from_text(text, path)


def state_from_text(text: str, path: Path) -> StateFile:
    """Validate state-file text (e.g. the copy embedded in a saved plan). Raises StateFileError."""
    desired = parse_state(text, str(path))
    return StateFile(path=path, text=text, digest=hashlib.sha256(text.encode()).hexdigest(), desired=desired)


def use_color(flag: bool | None, stream: TextIO) -> bool:
    """Colour when asked, else when writing to a terminal and NO_COLOR is unset."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())
