"""schemas/state.schema.json is generated from the model; this test fails when it is stale."""

from __future__ import annotations

from pathlib import Path

from litemaas_state.commands.validate import schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "schemas" / "state.schema.json").read_text()
    assert committed == schema_text(), (
        "schemas/state.schema.json is stale: run `litemaas-state schema > schemas/state.schema.json`"
    )
