"""The drift document: a frozen, versioned report of one ``drift`` run over one or more state files,
and its text and markdown renderings. ``--json`` prints the model.

Each environment has a verdict (``in_sync``, ``drift``, ``error``), its plan document when one was made
(render/document.py ``PlanDocument``) and the error text when it failed. Format 1.0: the shape has not
changed since the document was typed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from litemaas_state.render.document import PlanDocument
from litemaas_state.render.text import DRIFT_INTRO, render_diagnostic, render_text

DRIFT_FORMAT_VERSION: Final = "1.0"


class Verdict(StrEnum):
    IN_SYNC = "in_sync"
    DRIFT = "drift"
    ERROR = "error"


class EnvironmentDrift(BaseModel):
    """One state file's result. ``environment`` is None when the state file could not be read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_file: str
    environment: str | None
    verdict: Verdict
    error: str | None = None
    plan: PlanDocument | None = None

    @property
    def name(self) -> str:
        return self.environment or self.state_file


class DriftDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal["1.0"] = DRIFT_FORMAT_VERSION
    environments: tuple[EnvironmentDrift, ...]

    @property
    def verdict(self) -> Verdict:
        """``error`` when any environment errored (an error wins over drift), else ``drift`` when any
        drifted, else ``in_sync``."""
        found = {e.verdict for e in self.environments}
        return next((v for v in (Verdict.ERROR, Verdict.DRIFT) if v in found), Verdict.IN_SYNC)


def render_drift_text(doc: DriftDocument, color: bool = False) -> list[tuple[str, bool]]:
    """(text, to stderr) pieces: each environment's verdict line and, for drift, its plan."""
    out: list[tuple[str, bool]] = []
    for r in doc.environments:
        if r.verdict == Verdict.IN_SYNC:
            out.append((f"{r.name}: in sync with {r.state_file}.", False))
            for d in (r.plan.diagnostics if r.plan else ()):
                if d.severity != "note":
                    out.append(("\n".join("  " + line for line in render_diagnostic(d, color)), False))
        elif r.verdict == Verdict.DRIFT:
            assert r.plan is not None
            out.append((f"{r.name}: DRIFT — live state differs from {r.state_file}:\n", False))
            out.append((render_text(r.plan, color=color, intro=DRIFT_INTRO), False))
        else:
            out.append((f"{r.name}: {r.error}" if r.environment else str(r.error), True))
    return out


def render_drift_markdown(doc: DriftDocument) -> list[str]:
    """One markdown section per environment (an issue body each)."""
    from litemaas_state.render.escape import markdown
    from litemaas_state.render.markdown import render_markdown

    out = []
    for r in doc.environments:
        if r.plan is not None:
            title = {Verdict.IN_SYNC: f"No drift in {r.name}", Verdict.DRIFT: f"Drift detected in {r.name}",
                     Verdict.ERROR: f"Drift check failed for {r.name}"}[r.verdict]
            out.append(render_markdown(r.plan, title=title))
        else:
            lines = "\n".join(f"- {markdown(line, 2000)}" for line in str(r.error).split("\n"))
            out.append(f"### ❌ Drift check failed for {markdown(r.name)}\n\n{lines}\n")
    return out
