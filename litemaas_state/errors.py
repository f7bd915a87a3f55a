"""Errors and diagnostics: one tree, mapped to exit codes only in ``cli.py``.

::

    LitemaasStateError
     ├── StateFileError          the state file is unreadable or invalid (carries Diagnostics)
     ├── ConfigError             a flag, environment variable or discovery step is missing or wrong
     ├── ObserveError            reading the world failed (source, address, status)
     │    ├── KubeApiError       the API server answered an HTTP error (status, reason)
     │    └── Forbidden          the API server answered 403 (verb, resource)
     └── ApplyError              a write failed; later actions were not run (status)
          ├── PreconditionFailed a saved plan's live value no longer holds
          ├── RolloutFailed      a rollout exceeded its deadline or timed out
          ├── BackupFailed       a database dump failed or could not be verified
          └── LockHeld           another apply holds the environment's lock

Library exceptions (``ApiException``, ``psycopg.Error``, ``httpx.HTTPError``, ``redis.RedisError``) are
caught only at the ``live/`` and ``apply/`` boundaries and re-raised from these (``raise … from exc``: the
library exception is the ``__cause__``), with messages that never contain a secret or a response body.
Kubernetes ``ApiException`` s are translated in one place, ``live/kube.py`` ``api_error``. ``cause_chain``
gives the causes as lines the CLI shows with ``LITEMAAS_STATE_DEBUG=1`` (scrubbed there). Findings that do
not stop the tool are ``Diagnostic`` values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict


class ExitCode(IntEnum):
    """Process exit codes (Terraform's -detailed-exitcode, docs/design.md §9.2)."""

    OK = 0
    ERROR = 1
    CHANGES = 2
    INTERRUPTED = 130
    """SIGINT, SIGTERM or SIGHUP stopped the run: 128 + SIGINT (2), as a shell reports a process killed by
    Ctrl-C (bash(1), EXIT STATUS)."""

    @property
    def badness(self) -> int:
        """How bad the outcome is, for the worst of several environments (``worst``): OK < CHANGES
        (changes or drift: the run worked) < ERROR < INTERRUPTED (the run itself was stopped, so even
        the environments that finished are not the whole answer)."""
        return _BADNESS[self]


_BADNESS = {ExitCode.OK: 0, ExitCode.CHANGES: 1, ExitCode.ERROR: 2, ExitCode.INTERRUPTED: 3}


def worst(codes: Iterable[int]) -> ExitCode:
    """The worst of ``codes`` by ``ExitCode.badness`` (``OK`` for none): a fleet run's exit code, as
    Terraform's ``-detailed-exitcode`` lets an error win over changes (docs/design.md §9.2). A code that
    is not an ``ExitCode`` counts as ``ERROR``.

    Raises: nothing."""
    found = [ExitCode(c) if c in _BADNESS else ExitCode.ERROR for c in codes]
    return max(found, key=lambda c: c.badness, default=ExitCode.OK)


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
    """Reading live state failed. ``source`` is e.g. "kubernetes", "litellm-api", "litemaas-db";
    ``address`` the object or endpoint when known; ``status`` the HTTP status of the answer when the
    source answered one (None otherwise: unreachable, refused connection, a database error)."""

    def __init__(self, source: str, message: str, address: str | None = None, *, status: int | None = None) -> None:
        self.source = source
        self.address = address
        self.status = status
        super().__init__(f"{source}{' ' + address if address else ''}: {message}")


class KubeApiError(ObserveError):
    """The Kubernetes API server answered an HTTP error other than 403 (which is ``Forbidden``).

    ``status``: the HTTP status (404 not found, 409 conflict, 422 invalid, 5xx server error; 0 when the
    WebSocket upgrade failed without an HTTP answer); ``reason``: the Status ``reason`` (``NotFound``,
    ``Conflict``, ``Invalid``, ``InternalError`` …) or the HTTP reason phrase, never the response body.
    Source: Kubernetes API conventions, "HTTP Status codes" and ``metav1.StatusReason``
    (kubernetes/community contributors/devel/sig-architecture/api-conventions.md).
    """

    def __init__(self, message: str, *, status: int, reason: str, address: str | None = None) -> None:
        self.reason = reason
        super().__init__("kubernetes", message, address, status=status)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def invalid(self) -> bool:
        return self.status == 422

    @property
    def server_error(self) -> bool:
        return self.status is not None and self.status >= 500


class Forbidden(ObserveError):
    """The API server refused a request (HTTP 403): ``verb`` on ``resource`` (e.g. ``create``
    ``pods/portforward``). The message names both and the alternative that avoids the need;
    ``status`` is 403."""

    def __init__(self, verb: str, resource: str, message: str, address: str | None = None) -> None:
        self.verb = verb
        self.resource = resource
        super().__init__("kubernetes", message, address, status=403)


class ApplyError(LitemaasStateError):
    """A write failed. apply/runner.py stops there: the action is reported failed and every later one
    not run (``ApplyResult``). ``status`` is the HTTP status when the failed write got an HTTP answer
    (e.g. 409 when the object changed, 422 when it was refused as invalid), else None."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class PreconditionFailed(ApplyError):
    """A saved plan's precondition no longer holds against live state."""


class RolloutFailed(ApplyError):
    """A Deployment rollout failed (ProgressDeadlineExceeded) or timed out."""


class BackupFailed(ApplyError):
    """A pre-upgrade database dump failed or did not verify."""


class LockHeld(ApplyError):
    """Another apply holds this environment's lock."""


def cause_chain(exc: BaseException, limit: int = 8) -> list[str]:
    """The causes of ``exc`` (``__cause__``, else an implicit ``__context__``), outermost first, one line
    each: ``TypeName: message`` (first line, at most 300 characters). An exception that has ``status``
    and ``body`` attributes (``kubernetes`` ``ApiException``) shows only its status and reason, never its
    body. Not scrubbed: the caller prints them through ``redact.scrub``.
    """
    out: list[str] = []
    seen = {id(exc)}
    cur = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cur is not None and id(cur) not in seen and len(out) < limit:
        seen.add(id(cur))
        if hasattr(cur, "status") and hasattr(cur, "body"):
            reason = str(getattr(cur, "reason", "") or "").split(" -+-+- ")[0]  # a WebSocket's: headers, body
            text = f"HTTP {getattr(cur, 'status', '?')} {reason[:120]}".rstrip()
        else:
            lines = str(cur).strip().splitlines()
            text = lines[0][:300] if lines else ""
        out.append(f"{type(cur).__name__}: {text}" if text else type(cur).__name__)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return out
