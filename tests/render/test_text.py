"""Rendered output, snapshot-tested (syrupy): text with colour off, and the JSON document."""

from __future__ import annotations

import json

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ConnectionPath, PathKind, Source
from litemaas_state.plan.model import Plan
from litemaas_state.render.document import build_document
from litemaas_state.render.markdown import render_markdown
from litemaas_state.render.text import DRIFT_INTRO, iter_json, render_json, render_text
from tests.render.conftest import plan_of


def test_empty_plan(snapshot: SnapshotAssertion) -> None:
    text = render_text(build_document(plan_of()))
    assert text.startswith("No changes.")
    assert text == snapshot


def test_full_plan_text(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    text = render_text(build_document(full_plan))
    assert "Plan: 2 to add, 5 to change, 12 to destroy." in text
    # the backup phase runs first, and the dependency is shown on both sides
    assert text.index("Phase backup:") < text.index("+ backup/litellm-rhpds") < text.index("Phase images:") < \
        text.index("~ deployment/litellm-frontend") < text.index("~ deployment/litellm\n")
    assert "# requires backup/litellm-rhpds: runs only if it succeeded in this apply" in text
    assert "# required by images/litellm" in text
    assert "# order (the runbook's): images of backend, frontend first" in text
    assert "… and 2 more keys" in text
    assert text == snapshot


def test_drift_text_has_its_own_header(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    text = render_text(build_document(full_plan), intro=DRIFT_INTRO)
    assert "will perform" not in text
    assert text.startswith("Drift: the live deployment differs from the state file; apply would perform these "
                           "actions (environment")
    assert text == snapshot


def test_full_plan_json(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    doc = json.loads(render_json(build_document(full_plan)))
    assert doc["format_version"] == "2.1" and doc["verdict"] == "changes"
    assert len(doc["phases"][-1]["actions"][0]["keys"]) == 12  # whole list in JSON
    assert doc == snapshot(extension_class=JSONSnapshotExtension)


def test_streamed_json_is_the_same_text(full_plan: Plan) -> None:
    doc = build_document(full_plan)
    pieces = list(iter_json(doc, chunk=5))  # 12 keys: three chunks
    assert len(pieces) > 5 and "".join(pieces) == render_json(doc)
    assert "".join(iter_json(build_document(plan_of()))) == render_json(build_document(plan_of()))


def test_no_token_hash_is_printed_whole(full_plan: Plan) -> None:
    doc = build_document(full_plan)
    out = render_text(doc) + render_json(doc)
    for a in full_plan.actions:
        for k in getattr(a, "keys", ()):
            assert k.token_hash not in out


def test_errored_plan(snapshot: SnapshotAssertion) -> None:
    err = Diagnostic(severity=Severity.ERROR, address="keys/expired",
                     summary="57 keys are prunable, more than max_deletions (50)")
    text = render_text(build_document(plan_of(diagnostics=(err,))))
    assert "Planning failed." in text
    assert text == snapshot


def test_targeting_warning(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    plan = plan_of(*full_plan.actions[3:4], targets=("scaling",))
    text = render_text(build_document(plan))
    assert "Resource targeting is in effect" in text and "NOT applied" in text
    assert text == snapshot


def test_the_key_source_is_in_the_header(full_plan: Plan) -> None:
    from litemaas_state.live.model import KeySource
    from litemaas_state.render.markdown import render_markdown

    src = KeySource(origin="key-list", detail="LiteLLM's database not used: 8 of the 8 newest keys <b>x</b>", count=8)
    doc = build_document(full_plan.model_copy(update={"key_source": src}))
    text = render_text(doc)
    assert text.splitlines()[0] == ("Virtual keys: 8 read from GET /key/list (LiteLLM's database not used: 8 of the "
                                    "8 newest keys <b>x</b>).")
    md = render_markdown(doc)
    assert "8 virtual keys read from <code>key-list</code>" in md and "<b>x</b>" not in md
    assert json.loads(render_json(doc))["key_source"]["origin"] == "key-list"
def test_connections_header(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    paths = (
        ConnectionPath(source=Source.LITEMAAS_DB, kind=PathKind.KUBERNETES, host="litellm-postgres", port=5432,
                       pod="litellm-postgres-0", reason="auto: litellm-postgres:5432 does not resolve"),
        ConnectionPath(source=Source.LITELLM_API, kind=PathKind.DIRECT, host="litellm.apps.example.com", port=443),
    )
    doc = build_document(full_plan.model_copy(update={"connections": paths}))
    text = render_text(doc)
    assert text.startswith("Connections:\n  LiteMaaS DB: port-forward pod/litellm-postgres-0:5432\n"
                           "  LiteLLM API: direct litellm.apps.example.com:443\n\n")
    assert json.loads(render_json(doc))["connections"][0]["pod"] == "litellm-postgres-0"
    assert ("Connections: LiteMaaS DB: port-forward pod/litellm-postgres-0:5432 · LiteLLM API: direct "
            "litellm.apps.example.com:443") in render_markdown(doc)
    assert text == snapshot
