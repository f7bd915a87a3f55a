"""The fleet envelope and its text (render/fleet.py): a frozen, versioned model whose exit code is the worst
of its environments'; the summary table, the section header, the approval prompt and the error comment,
snapshot-tested (syrupy)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from syrupy.assertion import SnapshotAssertion

from litemaas_state.errors import ExitCode, worst
from litemaas_state.plan.model import Plan
from litemaas_state.render.document import build_document
from litemaas_state.render.fleet import (
    FleetDocument,
    FleetEntry,
    approval_prompt,
    error_comment,
    section_header,
    summary_lines,
)
from tests.render.conftest import plan_of


def fleet(full_plan: Plan, *, interrupted: bool = False) -> FleetDocument:
    return FleetDocument(command="plan", interrupted=interrupted, environments=(
        FleetEntry(environment="litellm-rhpds", state_file="state/litellm-rhpds.yaml", exit_code=2,
                   document=build_document(full_plan)),
        FleetEntry(environment="staging", state_file="state/staging.yaml", exit_code=0,
                   document=build_document(plan_of())),
        FleetEntry(environment=None, state_file="state/broken\x1b[2J.yaml", exit_code=1,
                   error="state/broken.yaml:3:1: metadata: field required"),
    ))


@pytest.mark.parametrize(("codes", "expected"), [
    ((), ExitCode.OK),
    ((0, 0), ExitCode.OK),
    ((0, 2), ExitCode.CHANGES),
    ((2, 1, 0), ExitCode.ERROR),
    ((1, 130, 2), ExitCode.INTERRUPTED),
    ((0, 7), ExitCode.ERROR),  # not one of ours: an error
])
def test_the_worst_exit_code_wins(codes: tuple[int, ...], expected: ExitCode) -> None:
    assert worst(codes) is expected


def test_the_envelope_exit_code_is_the_worst_and_130_when_interrupted(full_plan: Plan) -> None:
    assert fleet(full_plan).exit_code == 1
    assert fleet(full_plan, interrupted=True).exit_code == 130
    only_changes = FleetDocument(command="plan", environments=fleet(full_plan).environments[:2])
    assert only_changes.exit_code == 2
    with pytest.raises(ValidationError):
        FleetDocument(command="plan", environments=(), bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        fleet(full_plan).environments[0].exit_code = 0  # type: ignore[misc]  # frozen


def test_the_envelope_json(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    data = json.loads(fleet(full_plan).model_dump_json())
    assert data["format_version"] == "1.0" and data["exit_code"] == 1
    assert [e["environment"] for e in data["environments"]] == ["litellm-rhpds", "staging", None]
    # each entry carries the very document `plan --json` prints for that environment alone
    assert data["environments"][0]["document"] == json.loads(build_document(full_plan).model_dump_json())
    assert {k: v for k, v in data.items() if k != "environments"} == snapshot


def test_the_summary_and_headers(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    text = "\n".join([
        section_header("litellm-rhpds", "state/litellm-rhpds.yaml"),
        section_header(None, "state/broken\x1b[2J.yaml"),
        *summary_lines(fleet(full_plan), parallelism=4),
        *summary_lines(fleet(full_plan, interrupted=True), parallelism=2, changes="drift"),
    ])
    assert "\x1b" not in text
    assert text == snapshot


def test_the_approval_prompt_names_each_environment(snapshot: SnapshotAssertion) -> None:
    assert approval_prompt(["litellm-rhpds", "staging"]) == snapshot
    assert "in 1 environment (litellm-rhpds)?" in approval_prompt(["litellm-rhpds"])


def test_the_error_comment_carries_the_marker_and_escapes(snapshot: SnapshotAssertion) -> None:
    body = error_comment("staging", "state/staging.yaml", "Error: cannot reach <b>@team</b> #12\nsecond line")
    assert body.startswith("<!-- litemaas-state:staging -->\n")
    assert "<b>" not in body and "@team" not in body
    assert body == snapshot
    huge = error_comment(None, "state/x y.yaml", "x" * 100_000)
    assert huge.startswith("<!-- litemaas-state:state-x-y.yaml -->\n") and len(huge) < 65536
