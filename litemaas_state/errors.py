"""Errors and diagnostics: one tree, mapped to exit codes only in ``cli.py``.

::

    LitemaasStateError
     ├── StateFileError          the state file is unreadable or invalid (carries Diagnostics)
     ├── ConfigError             a flag, environment variable or discovery step is missing or wrong
     ├── ObserveError            reading the world failed (source, address)
     │    └── Forbidden          the API server answered 403 (verb, resource)
     ├── PlanError               the plan cannot be made or is not applyable
     └── ApplyError              a write failed; later actions were not run
          ├── PreconditionFailed a saved plan's live value no longer holds
          ├── RolloutFailed      a rollout exceeded its deadline or timed out
          ├── BackupFailed       a database dump failed or could not be verified
          └── LockHeld           another apply holds the environment's lock

Library exceptions (``ApiException``, ``psycopg.Error``, ``httpx.HTTPError``, ``redis.RedisError``) are
caught only at the ``live/`` and ``apply/`` boundaries and re-raised from these, with messages that never
contain a secret (style.md §6.4 #6). Findings that do not stop the tool are ``Diagnostic`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict


class ExitCode(IntEnum):
    """Process exit codes (Terraform's -detailed-exitcode, anchors.md §1.2)."""

    OK = 0
    ERROR = 1
    CHANGES = 2


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class SourceLocation(BaseModel):
    """Where in a state file a problem is: file, 1-based line and column, dotted field path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int | None = None
    column: int | None = None
    field_path: str = ""

    def __str__(self) -> str:
        pos = self.file
        if self.line is not None:
            pos += f":{self.line}"
            if self.column is not None:
                pos += f":{self.column}"
        return pos


class Diagnostic(BaseModel):
    """A finding: an error (blocks apply) or a warning/note (shown), with an optional location/address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Severity
    summary: str
    detail: str = ""
    location: SourceLocation | None = None
    address: str | None = None
    code: str | None = None
    """A stable identifier for findings a program branches on (e.g. ``rollout_failed``)."""

    def format(self, esc: Callable[[str], str] = str) -> str:
        """``severity: file:line:column: field: summary`` and the detail indented; ``esc`` is applied to
        each part that may hold input (the text output's escaping, render/escape.py ``terminal``)."""
        where = f"{esc(str(self.location))}: " if self.location else ""
        field = f"{esc(self.location.field_path)}: " if self.location and self.location.field_path else ""
        addr = f"{esc(self.address)}: " if self.address and not self.location else ""
        text = f"{self.severity.value}: {where}{field}{addr}{esc(self.summary)}"
        for line in self.detail.split("\n") if self.detail else ():
            text += f"\n  {esc(line)}"
        return text


class LitemaasStateError(Exception):
    """Root of every error the tool raises on purpose; its message is safe to print."""


class StateFileError(LitemaasStateError):
    """The state file cannot be used. ``diagnostics`` holds every problem found, each with file:line."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))


class ConfigError(LitemaasStateError):
    """A connection detail is missing or wrong (flag, environment, kubeconfig or discovery)."""


class ObserveError(LitemaasStateError):
    """Reading live state failed. ``source`` is e.g. "kubernetes", "litellm-api", "litemaas-db"."""

    def __init__(self, source: str, message: str, address: str | None = None) -> None:
        self.source = source
        self.address = address
        super().__init__(f"{source}{' ' + address if address else ''}: {message}")


class Forbidden(ObserveError):
    """The API server refused a request (HTTP 403): ``verb`` on ``resource`` (e.g. ``create``
    ``pods/portforward``). The message names both and the alternative that avoids the need."""

    def __init__(self, verb: str, resource: str, message: str, address: str | None = None) -> None:
        self.verb = verb
        self.resource = resource
        super().__init__("kubernetes", message, address)


class PlanError(LitemaasStateError):
    """The plan could not be made."""


class ApplyError(LitemaasStateError):
    """A write failed; ``done`` and ``not_done`` list action addresses for the report."""


class PreconditionFailed(ApplyError):
    """A saved plan's precondition no longer holds against live state."""


class RolloutFailed(ApplyError):
    """A Deployment rollout failed (ProgressDeadlineExceeded) or timed out."""


class BackupFailed(ApplyError):
    """A pre-upgrade database dump failed or did not verify."""


class LockHeld(ApplyError):
    """Another apply holds this environment's lock."""
