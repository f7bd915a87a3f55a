"""World values through the renderers: no forged lines, no terminal control, no live GitHub markup.

The markdown is rendered with a real GFM renderer (tests/render/gfm.py) and asserted on as HTML."""

from __future__ import annotations

import re

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.plan.model import DeleteKeysAction, KeyRef, RevokeRowsAction, RowRef
from litemaas_state.render import escape
from litemaas_state.render.document import build_document
from litemaas_state.render.markdown import render_markdown
from litemaas_state.render.text import render_text
from tests.render.conftest import NOW, plan_of
from tests.render.gfm import gfm_html

FORGED = "x\n+ deployment/evil will be created"
OSC8 = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"
NASTY = [
    FORGED,
    f"osc {OSC8} cr\rover bs\b\b del\x7f c1\x9b2J nel\x85 bidi\u202etxt.exe ls\u2028x",
    "@octo-org/admins @alice please approve #123 and GH-45, see https://evil.example www.evil.example",
    "<img src=x onerror=alert(1)> </details><script>alert(1)</script> | forged | row |",
    "a" * 10_000,
]


def hostile_plan():  # type: ignore[no-untyped-def]
    keys = tuple(KeyRef(token_hash=f"{i:064x}", alias=alias, user_id=f"u{i}", owner=f"@mallory{i} #9\n+ x",
                        created_at=NOW, expires=NOW, rule="expired") for i, alias in enumerate(NASTY))
    rows = tuple(RowRef(id=f"row{i}\x1b[2J", key_hash=f"{i:064x}", alias=alias, owner="GH-1 @bob")
                 for i, alias in enumerate(NASTY))
    delete = DeleteKeysAction(id="keys/delete", address="keys/litellm", rule="expired", keys=keys,
                              destructive=True)
    revoke = RevokeRowsAction(id="keys/revoke", address="keys/litemaas", rows=rows, sync_error="")
    diag = Diagnostic(severity=Severity.WARNING, summary=f"LiteLLM said: {FORGED} {OSC8}",
                      detail=f"line one\n{OSC8} @here #77")
    return plan_of(delete, revoke, diagnostics=(diag,))


def test_text_plan_has_no_forged_line_and_no_control_character() -> None:
    for color in (False, True):
        text = render_text(build_document(hostile_plan()), color=color)
        lines = text.splitlines()
        assert not [ln for ln in lines if re.match(r"\s*\+ (deployment/evil|x$)", ln)], text
        assert "x\\n+ deployment/evil will be created" in text
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text) if color else text
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", plain), \
            repr([ln for ln in lines if re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", ln)])
        assert "\\u001b]8;;https://evil.example/\\u0007" in text
        assert "a" * 301 not in text and "…[9,700 more characters]" in text


def test_markdown_renders_without_links_tags_or_forged_rows() -> None:
    md = render_markdown(build_document(hostile_plan()))
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", md)
    html = gfm_html(md)
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert html.count("<details>") == html.count("</details>") == 2
    text = re.sub(r"<[^>]+>", "", html)
    assert not re.search(r"(?:^|\W)@[A-Za-z0-9]", text), re.findall(r".{20}@[A-Za-z0-9].{10}", text)
    assert not re.search(r"#\d|\bGH-\d", text, re.I)
    assert not re.search(r"https?://|www\.", text)
    tables = re.findall(r"<table>(.*?)</table>", html, re.S)
    key_table = next(t for t in tables if "Token prefix" in t)
    row_table = next(t for t in tables if "Row ID" in t)
    for table, cells, rows in ((key_table, 6, len(NASTY)), (row_table, 4, len(NASTY))):
        trs = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        assert len(trs) == rows + 1  # no forged row
        assert all(len(re.findall(r"<t[dh][ >]", tr)) == cells for tr in trs)  # no forged cell
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "…[9,700 more characters]" in html


def test_escape_functions() -> None:
    assert escape.terminal(FORGED) == "x\\n+ deployment/evil will be created"
    assert escape.terminal("e\u0301 ok – ünïcode") == "e\u0301 ok – ünïcode"  # printable text is unchanged
    assert escape.terminal("b" * 20, 5) == "bbbbb…[15 more characters]"
    assert escape.markdown("@a #1 GH-2 a|b") == "@&#8203;a #&#8203;1 GH&#8203;-2 a&#124;b"
    assert escape.visible_controls("\x1b[1mok\x1b[0m\x1b]8;;x\x07\n", keep_sgr=True) == \
        "\x1b[1mok\x1b[0m\\u001b]8;;x\\u0007\n"
    assert escape.visible_controls("\x1b[1mok\x1b[0m") == "\\u001b[1mok\\u001b[0m"


def test_the_control_class_is_every_cc_cf_zl_zp_character() -> None:
    import sys
    import unicodedata

    expected = {cp for cp in range(sys.maxunicode + 1)
                if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp") and cp != 10}
    found = {cp for cp in range(sys.maxunicode + 1) if escape._CONTROL.match(chr(cp))}
    assert found == expected
