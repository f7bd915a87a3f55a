"""The PR-comment markdown (docs/design.md §9.7, §9.19 #9): syrupy snapshots of hand-built plans (docs/design.md §10.9),
the 65,536-character bound with deterministic cuts, redaction and escaping of user input."""

from __future__ import annotations

import re

from syrupy.assertion import SnapshotAssertion

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.plan.model import DeleteKeysAction, KeyRef, Plan, RevokeRowsAction, RowRef
from litemaas_state.render.document import build_document
from litemaas_state.render.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from tests.render.conftest import NOW, keys, plan_of

MARKER = "<!-- litemaas-state:litellm-rhpds -->"
KEY_ROW = re.compile(r"^\| workshop-\d+ \|", re.MULTILINE)


def _delete(ks: tuple[KeyRef, ...]) -> DeleteKeysAction:
    return DeleteKeysAction(
        id="keys/expired",
        address="keys/expired",
        rule="expired",
        keys=ks,
        destructive=True,
    )


def test_empty_plan(snapshot: SnapshotAssertion) -> None:
    md = render_markdown(build_document(plan_of()))
    assert md.splitlines()[:2] == [MARKER, "### ✅ litellm-rhpds: no changes"]
    assert md == snapshot


def test_full_plan(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    md = render_markdown(build_document(full_plan))
    assert md.splitlines()[1] == "### ⚠️ litellm-rhpds: 7 actions: 2 to add, 5 to change, 12 to destroy"
    # the dependency and the order are shown: the LiteLLM image change requires the backup
    assert "requires <code>backup/litellm-rhpds</code>: runs only if it succeeded" in md
    assert "required by <code>images/litellm</code>" in md
    assert "_Order (the runbook's): images of backend, frontend first" in md
    assert "not shown" not in md  # 12 keys fit whole
    assert len(KEY_ROW.findall(md)) == 12
    assert md == snapshot


def test_phase_counts_add_up_to_the_summary(full_plan: Plan) -> None:
    md = render_markdown(build_document(full_plan))
    rows = re.findall(
        r"^\| (backup|images|scaling|admins|keys) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", md, re.M
    )
    assert [r[0] for r in rows] == ["backup", "images", "scaling", "admins", "keys"]
    assert [sum(int(r[i]) for r in rows) for i in (1, 2, 3, 4)] == [7, 2, 5, 12]
    assert "| **Total** | **7** | **2** | **5** | **12** |" in md


def test_drift_title(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    md = render_markdown(build_document(full_plan), title="Drift detected in litellm-rhpds")
    assert md.splitlines()[0] == MARKER  # the marker always names the environment
    assert md.splitlines()[1].startswith("### ⚠️ Drift detected in litellm-rhpds: 7 actions")
    assert md.split("\n", 2)[2] == snapshot


def test_errored_plan(snapshot: SnapshotAssertion) -> None:
    err = Diagnostic(
        severity=Severity.ERROR,
        address="keys/expired",
        summary="57 keys are prunable, more than max_deletions (50)",
        detail="Raise keys.max_deletions or prune in smaller steps.",
    )
    warn = Diagnostic(severity=Severity.WARNING, summary="litellm-backend at 3 replicas")
    md = render_markdown(build_document(plan_of(diagnostics=(warn, err))))
    lines = md.splitlines()
    assert lines[1] == "### ❌ litellm-rhpds: planning failed"
    assert lines.index("**1 error, 1 warning**") < 8  # diagnostics near the top, errors first
    assert md.index("**Error**") < md.index("**Warning**")
    assert md == snapshot


def test_errored_plan_with_actions_and_targeting(full_plan: Plan, snapshot: SnapshotAssertion) -> None:
    err = Diagnostic(severity=Severity.ERROR, address="keys/expired", summary="max_deletions exceeded")
    md = render_markdown(
        build_document(plan_of(*full_plan.actions[2:3], diagnostics=(err,), targets=("scaling",)))
    )
    assert md.splitlines()[1] == "### ❌ litellm-rhpds: planning failed"
    assert "Resource targeting is in effect (scaling)" in md
    assert md.splitlines()[-4] == "**Planning failed**: the errors above must be fixed before apply."
    assert md == snapshot


def test_50000_prunable_keys_fit_one_github_comment() -> None:
    total = 50_000
    warn = Diagnostic(severity=Severity.WARNING, address="keys/expired", summary="50,000 keys is a lot")
    md = render_markdown(build_document(plan_of(_delete(keys(total)), diagnostics=(warn,))))
    assert len(md) < GITHUB_COMMENT_LIMIT
    assert len(md) > GITHUB_COMMENT_LIMIT - 500  # the room is used, not thrown away
    lines = md.splitlines()
    assert lines[:2] == [MARKER, "### ⚠️ litellm-rhpds: 1 action: 0 to add, 0 to change, 50,000 to destroy"]
    assert "**1 warning**" in lines and "50,000 keys is a lot" in md  # diagnostics kept
    assert "| **Total** | **1** | **0** | **0** | **50,000** |" in md  # summary kept
    shown = len(KEY_ROW.findall(md))
    assert 100 < shown < 1000
    assert f"… {total - shown:,} more keys not shown; see `litemaas-state plan --json`" in lines
    assert lines[-2] == "---" and md.endswith("</sub>\n")  # the footer kept
    assert md.count("<details>") == md.count("</details>") == 1


def test_cut_is_deterministic_and_honours_any_limit() -> None:
    doc = build_document(plan_of(_delete(keys(3000))))
    assert render_markdown(doc) == render_markdown(doc)
    for limit in (20_000, 4_000, 1_500, 200, 10):
        md = render_markdown(doc, limit=limit)
        assert len(md) < limit
    md = render_markdown(doc, limit=4_000)
    assert md.startswith(MARKER + "\n### ⚠️ litellm-rhpds")
    assert f"… {3000 - len(KEY_ROW.findall(md)):,} more keys not shown" in md


def test_rows_beyond_the_row_cap_are_counted() -> None:
    md = render_markdown(build_document(plan_of(_delete(keys(1200)))), limit=10_000_000)
    assert len(KEY_ROW.findall(md)) == 1000
    assert "… 200 more keys not shown; see `litemaas-state plan --json`" in md


def test_no_token_hash_is_printed_whole() -> None:
    ks = tuple(k.model_copy(update={"token_hash": f"{i:02x}" * 32}) for i, k in enumerate(keys(30)))
    rows = (RowRef(id="r1", key_hash="ab" * 32, alias="x", owner="o@example.com"),)
    revoke = RevokeRowsAction(
        id="keys/orphans",
        address="litemaas/api_keys",
        rows=rows,
        sync_error="orphan",
    )
    md = render_markdown(build_document(plan_of(_delete(ks), revoke)))
    assert not re.search(r"[0-9a-f]{64}", md)
    assert "0000000000…" in md and "abababab" in md  # only the prefix
    for k in ks:
        assert k.token_hash not in md


def test_user_input_is_escaped(snapshot: SnapshotAssertion) -> None:
    evil = "a|b</details><script>alert(1)</script>`x` *y* [z](http://e) _u_ \\"
    key = KeyRef(
        token_hash="1" * 64, alias=evil, owner="o|w<n>er@example.com", created_at=NOW, rule="expired"
    )
    rows = (RowRef(id="r|1", key_hash="2" * 64, alias=evil, owner=None),)
    revoke = RevokeRowsAction(
        id="keys/orphans",
        address="litemaas/api_keys",
        rows=rows,
        sync_error="orphan",
    )
    diag = Diagnostic(
        severity=Severity.WARNING, address="keys/</details>", summary=evil, detail="two\nlines|x"
    )
    md = render_markdown(
        build_document(plan_of(_delete((key,)), revoke, diagnostics=(diag,))), title="Drift <b>in</b> | prod"
    )
    for raw in ("<script>", "</script>", "a|b", "`x`", "*y*", "[z]", "o|w", "<n>", "r|1", "<b>", "lines|x"):
        assert raw not in md
    assert md.count("</details>") == 2 == md.count("<details>")  # only our own blocks
    table_lines = [line for line in md.splitlines() if line.startswith("|") and "a&#124;b" in line]
    assert len(table_lines) == 2
    key_line = next(line for line in table_lines if "1111111111" in line)
    assert key_line.count("|") == 7  # six cells
    row_line = next(line for line in table_lines if "2222222222" in line)
    assert row_line.count("|") == 5  # four cells
    assert md == snapshot


def test_marker_cannot_end_the_html_comment() -> None:
    doc = build_document(plan_of()).model_copy(update={"environment": "x --><script>"})
    first = render_markdown(doc).splitlines()[0]
    assert first.startswith("<!-- litemaas-state:") and first.endswith(" -->") and first.count("-->") == 1
    assert "<script>" not in first
