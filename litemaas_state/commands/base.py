"""The light half of the verbs' wiring: output, errors for the terminal, the clock, reading state files.
Imports no client (no kubernetes, psycopg, httpx), so `--help`, `validate` and `schema` start fast
(tests/cli/test_startup.py)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from litemaas_state.errors import Diagnostic, Severity, SourceLocation, StateFileError
from litemaas_state.redact import scrub
from litemaas_state.render.escape import terminal, visible_controls
from litemaas_state.spec.load import MAX_FILE_CHARS, parse_state
from litemaas_state.spec.model import DesiredState, system_directory


@dataclass
class Output:
    """Where commands write. Every write is scrubbed of secrets (redact.py) and has its control
    characters made visible (render/escape.py ``visible_controls``; colour sequences kept with ``color``):
    the belt to each renderer's own escaping of world values."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False

    def echo(self, text: str = "", *, err: bool = False, nl: bool = True) -> None:
        click.echo(self.clean(text), file=self.err if err else self.out, nl=nl, color=self.color)

    def clean(self, text: str) -> str:
        """``text`` as this output writes it: scrubbed, control characters visible."""
        return visible_controls(scrub(text), keep_sgr=self.color)

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
                click.echo(self.clean(text[:cut]), file=self.out, nl=False, color=self.color)
                buf, size = [text[cut:]], len(text) - cut
        if buf:
            click.echo(self.clean("".join(buf)), file=self.out, nl=False, color=self.color)


#: Characters kept of one error message (errors can quote world text: API messages, names).
ERROR_MAX = 2000


def error_text(exc: BaseException | str) -> str:
    """An error message for the terminal: one line, control characters visible, bounded."""
    return terminal(str(exc), ERROR_MAX)


def diagnostic_text(d: Diagnostic) -> str:
    """``Diagnostic.format()`` with every part escaped for the terminal."""
    return d.format(lambda s: terminal(s, ERROR_MAX))


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


def state_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.yaml`` and ``*.yml`` files in it when it is a directory (sorted)."""
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


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
        size = path.stat().st_size
        if size > MAX_FILE_CHARS:
            raise StateFileError([Diagnostic(
                severity=Severity.ERROR, location=SourceLocation(file=str(path)),
                summary=f"the state file has {size:,} bytes; at most {MAX_FILE_CHARS:,} are allowed",
            )])
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"cannot read the state file: {exc.strerror or exc}",
            location=SourceLocation(file=str(path)),
        )]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        utf16 = " (UTF-16? save the file as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=f"the state file is not UTF-8 text ({exc.reason}){utf16}",
            location=SourceLocation(file=str(path), line=line, column=column),
        )]) from exc
    return state_from_text(text, path)


def state_from_text(text: str, path: Path) -> StateFile:
    """Validate state-file text (e.g. the copy embedded in a saved plan). Raises StateFileError.

    A relative ``backup.directory`` is resolved against the state file's directory (``state/x.yaml`` with
    ``directory: backups`` → ``state/backups``), so where dumps go does not depend on the current
    directory; the result stays relative when the state file's path is. Refused at its line: a directory
    that, with ``..`` and symlinks resolved (``os.path.realpath``), is a system directory.
    """
    def check(d: DesiredState) -> list[tuple[tuple[str | int, ...], str]]:
        real = os.path.realpath(os.path.join(path.parent, d.backup.directory))
        system = system_directory(real)
        if system is None:
            return []
        return [(("backup", "directory"), f"{d.backup.directory!r} is {real}, in the system directory {system}; "
                 "database dumps hold keys and user data: use a directory of their own, e.g. backups")]

    desired = parse_state(text, str(path), check=check)
    directory = desired.backup.directory
    if not os.path.isabs(directory):
        resolved = os.path.normpath(os.path.join(path.parent, directory))
        desired = desired.model_copy(update={"backup": desired.backup.model_copy(update={"directory": resolved})})
    return StateFile(path=path, text=text, digest=hashlib.sha256(text.encode()).hexdigest(), desired=desired)


def use_color(flag: bool | None, stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour ``stream``: ``--color``/``--no-color`` when given, else rich's ``Console`` decides
    (rich/console.py ``is_terminal``, ``is_dumb_terminal``, ``no_color``): ``NO_COLOR`` set and non-empty →
    no (no-color.org); ``TERM=dumb`` (or ``unknown``) → no, even with FORCE_COLOR (a dumb terminal shows
    escape codes as text); ``FORCE_COLOR`` set → yes when non-empty, also in CI logs, which are no terminal
    (force-color.org); ``TTY_COMPATIBLE=1|0`` → yes|no; else colour when ``stream`` is a terminal.
    ``environ`` replaces ``os.environ`` (tests)."""
    if flag is not None:
        return flag
    from rich.console import Console  # not at import: `--help` stays light

    console = Console(file=stream, _environ=environ)
    return console.color_system is not None and not console.no_color
