"""A fleet run (one verb over several state files, commands/fleet.py): the versioned JSON envelope and the
text that frames each environment's section.

Pure (docs/design.md §10.8): functions of the envelope or of the names they are given.

* ``FleetDocument`` (``--json``): ``format_version``, the ``command``, the fleet's ``exit_code`` (the worst
  of its environments, errors.py ``worst``) and one ``FleetEntry`` per state file, in the order given:
  the environment's name (None when its state file could not be read), its state file, its exit code,
  its error when it failed, and the document the command prints for one environment (``plan --json``'s
  ``PlanDocument``, ``status --json``'s ``StatusDocument``), None when none was made. Format 1.0.
* ``section_header``: ``== env litellm-rhpds (state/litellm-rhpds.yaml) ==``, printed above each
  environment's output, which is printed whole (never interleaved with another environment's lines).
* ``summary_lines``: the closing table, one line per environment with its outcome.
* ``error_comment``: the markdown comment of an environment that produced no plan (Atlantis posts a
  failed project's error as that project's comment, docs/design.md §9.7), under the same hidden marker
  as its plan comment would carry, so CI updates the one comment per environment in place.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from litemaas_state.errors import ExitCode, worst
from litemaas_state.render.document import PlanDocument
from litemaas_state.render.escape import markdown, terminal
from litemaas_state.render.markdown import marker
from litemaas_state.render.status import StatusDocument

FLEET_FORMAT_VERSION: Final = "1.0"
#: Characters of an environment's error kept in its markdown comment (the comment stays far below 65,536).
ERROR_COMMENT_MAX = 20000

Command = Literal["plan", "status", "apply", "drift"]


class FleetEntry(BaseModel):
    """One state file's result in a fleet run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str | None
    """``metadata.name``; None when the state file could not be read."""
    state_file: str
    exit_code: int
    """What the command alone would have exited with for this state file."""
    error: str | None = None
    """Why it failed (the lines the command printed on stderr, scrubbed), when it did."""
    document: PlanDocument | StatusDocument | None = None
    """The command's own document for this environment (``plan --json``, ``status --json``)."""


class FleetDocument(BaseModel):
    """``plan --json`` / ``status --json`` over several state files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal["1.0"] = FLEET_FORMAT_VERSION
    command: Command
    environments: tuple[FleetEntry, ...]
    interrupted: bool = False
    """The run was interrupted (SIGINT, SIGTERM, SIGHUP): environments may have been stopped or not started."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        """The fleet's exit code: the worst of its environments' (errors.py ``worst``), 130 when interrupted."""
        return int(worst([*(e.exit_code for e in self.environments),
                          *([ExitCode.INTERRUPTED] if self.interrupted else [])]))


def section_header(environment: str | None, state_file: str) -> str:
    """``== env NAME (FILE) ==``; ``== FILE ==`` when the state file could not be read. Escaped for the
    terminal (render/escape.py ``terminal``)."""
    if environment is None:
        return f"== {terminal(state_file)} =="
    return f"== env {terminal(environment)} ({terminal(state_file)}) =="


def outcome_word(code: int, changes: str = "changes") -> str:
    """``ok`` (0), ``changes`` (2; or the word given, e.g. ``drift``), ``interrupted`` (130), else ``failed``."""
    if code == ExitCode.CHANGES:
        return changes
    words: dict[int, str] = {ExitCode.OK: "ok", ExitCode.INTERRUPTED: "interrupted"}
    return words.get(code, "failed")


def summary_lines(doc: FleetDocument, *, parallelism: int, changes: str = "changes") -> list[str]:
    """The closing table of a fleet run's text output, environments in the order given::

        Fleet: 2 environments (parallelism 4): 1 ok, 1 failed. Exit code 1.
          litellm-rhpds  state/litellm-rhpds.yaml  ok (exit 0)
          ghost          state/ghost.yaml          failed (exit 1)
    """
    entries = doc.environments
    words = [outcome_word(e.exit_code, changes) for e in entries]
    counts = [f"{words.count(w)} {w}" for w in ("ok", changes, "failed", "interrupted") if w in words]
    n = len(entries)
    stopped = " Interrupted." if doc.interrupted else ""
    lines = [f"Fleet: {n} environment{'s' if n != 1 else ''} (parallelism {parallelism}): {', '.join(counts)}."
             f"{stopped} Exit code {doc.exit_code}."]
    names = [terminal(e.environment) if e.environment is not None else "?" for e in entries]
    files = [terminal(e.state_file) for e in entries]
    wn, wf = max(map(len, names), default=0), max(map(len, files), default=0)
    lines += [f"  {name:<{wn}}  {file:<{wf}}  {word} (exit {e.exit_code})"
              for name, file, word, e in zip(names, files, words, entries, strict=True)]
    return lines


def approval_prompt(environments: list[str]) -> str:
    """The one confirmation of a fleet apply, naming the environments it would change (Terraform's
    wording, docs/design.md §9.5; one answer for all, as ``terragrunt run-all apply`` asks once)."""
    n = len(environments)
    names = ", ".join(terminal(e) for e in environments)
    return (f"\nDo you want to perform these actions in {n} environment{'s' if n != 1 else ''} ({names})?\n"
            "  litemaas-state will perform the actions described above in each of them, in parallel.\n"
            "  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")


def error_comment(environment: str | None, state_file: str, error: str, *, command: str = "plan") -> str:
    """The markdown comment for an environment whose ``command`` failed before producing a document:
    the hidden marker (the environment's, else the state file's), a heading, the error lines escaped
    (render/escape.py ``markdown``), at most ``ERROR_COMMENT_MAX`` characters of them."""
    name = environment if environment is not None else state_file
    lines = "\n".join(f"- {markdown(line, 2000)}" for line in error[:ERROR_COMMENT_MAX].split("\n") if line.strip())
    return (f"{marker(name)}\n### ❌ {markdown(name)}: {command} failed\n\n"
            f"State file: {markdown(state_file)}\n\n{lines}\n")
