"""The drift document (render/drift.py): a frozen, versioned model whose verdict an error wins, rendered
from the model as text and markdown and dumped as JSON; snapshot-tested (syrupy)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from syrupy.assertion import SnapshotAssertion

from litemaas_state.plan.model import Plan
from litemaas_state.render.document import build_document
from litemaas_state.render.drift import (
    DriftDocument,
    EnvironmentDrift,
    Verdict,
    render_drift_markdown,
    render_drift_text,
)
from tests.render.conftest import plan_of


def doc(full_plan: Plan) -> DriftDocument:
    return DriftDocument(environments=(
        EnvironmentDrift(state_file="state/a.yaml", environment="litellm-rhpds", verdict=Verdict.DRIFT,
                         plan=build_document(full_plan)),
        EnvironmentDrift(state_file="state/b.yaml", environment="staging", verdict=Verdict.IN_SYNC,
                         plan=build_document(plan_of())),
        EnvironmentDrift(state_file="state/c.yaml", environment=None, verdict=Verdict.ERROR,
                         error="state/c.yaml:3:1: metadata: field required\x1b[2J"),
    ))


def test_an_error_wins_over_drift(full_plan: Plan) -> None:
    d = doc(full_plan)
    assert d.verdict == Verdict.ERROR
    assert DriftDocument(environments=d.environments[:2]).verdict == Verdict.DRIFT
    assert DriftDocument(environments=d.environments[1:2]).verdict == Verdict.IN_SYNC
    with pytest.raises(ValidationError):
        d.environments[0].verdict = Verdict.IN_SYNC  # type: ignore[misc]  # frozen


def test_drift_json(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    text = doc(full_plan).model_dump_json(indent=2)
    data = json.loads(text)
    assert data["format_version"] == "1.0"
    assert [e["verdict"] for e in data["environments"]] == ["drift", "in_sync", "error"]
    assert DriftDocument.model_validate_json(text) == doc(full_plan)
    assert text == snapshot


def test_drift_text(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    pieces = render_drift_text(doc(full_plan))
    assert [err for _, err in pieces][-1] is True  # the error goes to stderr
    assert "\n".join(f"{'E' if err else 'O'}| {text}" for text, err in pieces) == snapshot


def test_drift_markdown(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    sections = render_drift_markdown(doc(full_plan))
    assert sections[2].startswith("### ❌ Drift check failed for state/c.yaml")
    assert "\x1b" not in sections[2]
    assert "\n\n".join(sections) == snapshot
