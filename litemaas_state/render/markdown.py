"""A PlanDocument as one GitHub PR comment or drift issue body (Atlantis-style, docs/design.md §9.7, §9.18 "plan
posted as a PR comment that fits GitHub limits", §9.19 #1 and #9).

Pure: ``render_markdown(doc, *, title=None, limit=65536) -> str`` (docs/design.md §10.8); it sees only the
redacted document, so it cannot show a key or a whole token hash (docs/design.md §9.18 #6). Layout, top to
bottom, so that whatever is cut is never the verdict:

1. ``<!-- litemaas-state:ENV -->``: a hidden marker so CI finds and updates ONE comment per environment
   (docs/design.md §9.19 #10, tfaction's one-issue-per-target).
2. The verdict heading (✅ no changes / ⚠️ N actions / ❌ planning failed) and the Terraform summary
   counts (docs/design.md §9.1), then the diagnostics: errors, warnings, notes.
3. A table of counts per phase, then one table of actions per phase, destructive ones flagged.
4. Long lists (the keys of ``delete_keys``, the rows of ``revoke_rows``) as tables inside
   ``<details>``.

Size: the result is always shorter than ``limit`` characters (GitHub's comment limit is 65,536). Cutting
is deterministic: the skeleton (headings, summary, table headers, cut notices) is laid out first; the
room left is filled row by row in priority order (diagnostics, then action rows, then list rows), in
document order within each, stopping at the first row that does not fit; every cut list says how many
rows were left out and where the whole list is (``litemaas-state plan --json``).

Escaping: every string from the document that may come from users or the cluster (key aliases, owners,
addresses, values, diagnostics) goes through ``_esc`` (render/escape.py ``markdown``): control
characters made visible, ``& < > |`` and backticks as character references, markdown's emphasis and
link characters backslash-escaped, ``@mentions``, ``#123``/``GH-123`` references and URL autolinks
neutralised, so an alias like ``a|b</details><script> @team #1`` is shown literally and can neither
split a table cell, close a block nor notify anyone. Text inside ``<summary>`` (raw HTML, where
markdown is not parsed) goes through ``_html`` (``html_text``) instead; the marker keeps only
``[A-Za-z0-9._-]``. Every cell is one line of at most CELL_MAX characters (longer ones are cut with a
marker).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.render import escape
from litemaas_state.render.document import (
    DOCUMENT_FORMAT_VERSION,
    ActionDoc,
    KeyDoc,
    PlanDocument,
    RowDoc,
)
from litemaas_state.render.symbols import HEADER, LEGEND, SYMBOL
from litemaas_state.render.text import connection_line

GITHUB_COMMENT_LIMIT = 65536
#: Rows shown per list at most, even when more would fit (a reviewer reads a sample; --json has all).
LIST_ROWS_MAX = 1000
#: Characters kept of any one cell value (user input can be arbitrarily long).
CELL_MAX = escape.MARKDOWN_MAX
JSON_HINT = "see `litemaas-state plan --json`"

_ICON = {"no_changes": "✅", "changes": "⚠️", "errored": "❌"}
_SEVERITY = {
    Severity.ERROR: ("❌", "Error", "errors"),
    Severity.WARNING: ("⚠️", "Warning", "warnings"),
    Severity.NOTE: ("ℹ️", "Note", "notes"),
}
_SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.NOTE)



def _esc(text: str, max_len: int = CELL_MAX) -> str:
    """``text`` safe in a table cell, list item or heading (render/escape.py ``markdown``)."""
    return escape.markdown(text, max_len)


def _html(text: str, max_len: int = CELL_MAX) -> str:
    """``text`` safe inside a raw HTML block such as ``<summary>`` (render/escape.py ``html_text``)."""
    return escape.html_text(text, max_len)


def marker(environment: str) -> str:
    """The hidden line CI searches for; only ``[A-Za-z0-9._-]`` so it can never end the comment early."""
    return f"<!-- litemaas-state:{re.sub(r'[^A-Za-z0-9._-]', '-', environment)[:200]} -->"


def _code(text: str) -> str:
    return f"<code>{_esc(text)}</code>"


def _value(v: Any) -> str:
    if v is None:
        return "(none)"
    return _code(json.dumps(v, sort_keys=True, default=str, ensure_ascii=False))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _date(d: Any, missing: str) -> str:
    return d.strftime("%Y-%m-%d") if d is not None else missing


@dataclass
class _Rows:
    """Droppable rows of one list, laid out as ``header + rows[:shown] + cut notice + closer``.

    ``total`` is the list's full length; ``rows`` holds at most LIST_ROWS_MAX of them, pre-rendered.
    """

    priority: int
    rows: list[str]
    total: int
    noun: tuple[str, str]
    header: list[str] = field(default_factory=list)
    closer: list[str] = field(default_factory=list)
    shown: int = 0

    def notice(self, shown: int) -> list[str]:
        left = self.total - shown
        if not left:
            return []
        return ([""] if shown else []) + [f"… {_plural(left, *self.noun)} not shown; {JSON_HINT}"]

    def lines(self) -> list[str]:
        head = list(self.header) if self.shown else []
        return head + self.rows[: self.shown] + self.notice(self.shown) + self.closer


_Part = str | _Rows


def _verdict(doc: PlanDocument, title: str | None) -> str:
    name = _esc(title if title is not None else doc.environment, 200)
    s = doc.summary
    if doc.verdict == "errored":
        what = "planning failed"
    elif doc.verdict == "no_changes":
        what = "no changes"
    else:
        what = f"{_plural(s.actions, 'action')}: {s.add:,} to add, {s.change:,} to change, {s.destroy:,} to destroy"
    return f"### {_ICON[doc.verdict]} {name}: {what}"


def _meta(doc: PlanDocument) -> str:
    bits = [
        f"Environment {_code(doc.environment)}",
        f"namespace {_code(doc.namespace)}",
        f"planned {doc.created_at.strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    if doc.key_source is not None:
        bits.append(f"{doc.key_source.count:,} virtual keys read from {_code(doc.key_source.origin)}")
    if doc.summary.rows_revoked:
        bits.append(f"{_plural(doc.summary.rows_revoked, 'LiteMaaS row')} to mark revoked")
    if doc.verdict == "changes" and not doc.applyable:
        bits.append("**not applyable**")
    line = " · ".join(bits)
    if doc.key_source is not None:
        line += f"<br>Key source: {_esc(doc.key_source.detail)}"
    return line


def _diagnostic_line(d: Diagnostic) -> str:
    icon, label, _ = _SEVERITY[d.severity]
    where = f"{_code(d.address)}: " if d.address else ""
    if d.location:
        path = f" {_code(d.location.field_path)}" if d.location.field_path else ""
        where = f"{_code(str(d.location))}{path}: "
    line = f"- {icon} **{label}** {where}{_esc(d.summary)}"
    for detail in d.detail.split("\n"):
        if detail.strip():
            line += f"<br>{_esc(detail)}"
    return line


def _diagnostics(doc: PlanDocument) -> list[_Part]:
    diags = list(doc.diagnostics)
    if doc.targets:
        diags.insert(
            0,
            Diagnostic(
                severity=Severity.WARNING,
                summary=f"Resource targeting is in effect ({', '.join(doc.targets)})",
                detail="Only the targeted actions are planned; the rest of the state file is NOT applied.\n"
                "Run a plan without --target afterwards to verify nothing else is pending.",
            ),
        )
    major = DOCUMENT_FORMAT_VERSION.split(".")[0]
    if doc.format_version.split(".")[0] != major:
        diags.insert(
            0,
            Diagnostic(
                severity=Severity.WARNING,
                summary=f"Document format {doc.format_version} is not the {major}.x this renderer knows; "
                "some fields may not be shown",
            ),
        )
    if not diags:
        return []
    diags.sort(key=lambda d: _SEVERITY_ORDER.index(d.severity))  # stable: document order within a severity
    counts = [
        _plural(n, _SEVERITY[sev][1].lower(), _SEVERITY[sev][2])
        for sev in _SEVERITY_ORDER
        if (n := sum(d.severity == sev for d in diags))
    ]
    return [
        "",
        f"**{', '.join(counts)}**",
        "",
        _Rows(
            priority=0,
            rows=[_diagnostic_line(d) for d in diags],
            total=len(diags),
            noun=("more diagnostic", "more diagnostics"),
        ),
    ]


def _weight(a: ActionDoc) -> tuple[int, int, int]:
    """(add, change, destroy) of one action, counted as ``document.build_document`` counts them."""
    if "create" in a.actions:
        return len(a.files), 0, 0
    if "delete" in a.actions:
        return 0, a.rows_revoked, len(a.keys)
    if a.kind == "revoke_rows":
        return 0, a.rows_revoked, 0
    return 0, 1, 0


def _summary_table(doc: PlanDocument) -> list[_Part]:
    out: list[_Part] = ["", "| Phase | Actions | Add | Change | Destroy |", "|:--|--:|--:|--:|--:|"]
    for p in doc.phases:
        add, change, destroy = (sum(w) for w in zip(*(_weight(a) for a in p.actions), strict=True))
        out.append(f"| {_esc(p.phase)} | {len(p.actions):,} | {add:,} | {change:,} | {destroy:,} |")
    s = doc.summary
    out.append(f"| **Total** | **{s.actions:,}** | **{s.add:,}** | **{s.change:,}** | **{s.destroy:,}** |")
    return out


def _action_row(a: ActionDoc) -> str:
    verb = a.actions[0]
    changes = []
    for c in a.changes:
        if c.field == "files" and a.files:
            continue
        changes.append(f"{_esc(c.field)}: {_value(c.before)} → {_value(c.after)}")
    changes += [f"+ file: {_code(f)}" for f in a.files[:20]]
    if len(a.files) > 20:
        changes.append(f"… {_plural(len(a.files) - 20, 'more file')}")
    notes = [_esc(HEADER.get(a.kind, "will change"))]
    notes += [f"requires {_code(r)}: runs only if it succeeded" for r in a.requires]
    notes += [f"required by {_code(r)}" for r in a.required_by]
    notes += [_esc(n) for n in a.notes[:10]]
    if a.destructive:
        notes[0] = f"**destructive**: {notes[0]}"
    return (
        f"| `{SYMBOL[verb]}` {LEGEND[verb]} | {_code(a.address)} | {'<br>'.join(changes) or '—'} "
        f"| {'<br>'.join(notes)} |"
    )


def _key_row(k: KeyDoc) -> str:
    alias = _esc(k.alias) if k.alias is not None else "_(no alias)_"
    return (
        f"| {alias} | {_code(k.token_prefix + '…')} | {_esc(k.owner or '-')} "
        f"| {_date(k.created_at, '?')} | {_date(k.expires, 'never')} | {_esc(k.rule)} |"
    )


def _row_row(r: RowDoc) -> str:
    alias = _esc(r.alias) if r.alias is not None else "_(no alias)_"
    return f"| {_esc(r.id)} | {_code(r.key_hash_prefix + '…')} | {alias} | {_esc(r.owner or '-')} |"


def _details(
    summary: str, header: list[str], rows: list[str], total: int, noun: tuple[str, str]
) -> list[_Part]:
    return [
        "",
        f"<details><summary>{summary}</summary>",
        "",
        _Rows(priority=2, rows=rows, total=total, noun=noun, header=header, closer=["", "</details>"]),
    ]


def _phases(doc: PlanDocument) -> list[_Part]:
    out: list[_Part] = []
    for p in doc.phases:
        out += ["", f"#### Phase: {_esc(p.phase)}", ""]
        if p.phase == "images" and doc.order:
            out += [f"_{_esc(doc.order[0].upper() + doc.order[1:], 1000)}._", ""]
        out.append(
            _Rows(
                priority=1,
                rows=[_action_row(a) for a in p.actions],
                total=len(p.actions),
                noun=("more action", "more actions"),
                header=["| | Address | Change | Notes |", "|:--|:--|:--|:--|"],
            )
        )
        for a in p.actions:
            if a.keys:
                out += _details(
                    f"{_html(a.address)}: {_plural(len(a.keys), 'key')} to delete",
                    [
                        "| Alias | Token prefix | Owner | Created | Expires | Rule |",
                        "|:--|:--|:--|:--|:--|:--|",
                    ],
                    [_key_row(k) for k in a.keys[:LIST_ROWS_MAX]],
                    len(a.keys),
                    ("more key", "more keys"),
                )
            if a.rows:
                out += _details(
                    f"{_html(a.address)}: {_plural(len(a.rows), 'row')} to mark revoked",
                    ["| Row ID | Key hash prefix | Alias | Owner |", "|:--|:--|:--|:--|"],
                    [_row_row(r) for r in a.rows[:LIST_ROWS_MAX]],
                    len(a.rows),
                    ("more row", "more rows"),
                )
    return out


def _join(parts: Iterable[_Part]) -> str:
    lines: list[str] = []
    for p in parts:
        lines += p.lines() if isinstance(p, _Rows) else [p]
    return "\n".join(lines) + "\n"


def _size(lines: Iterable[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fill(lists: list[_Rows], room: int) -> None:
    """Show rows in priority order while they fit in ``room`` characters; stop at the first that doesn't.

    ``room`` is what is left after laying out every list with no rows (header omitted, full cut notice).
    """
    for r in sorted(lists, key=lambda r: r.priority):  # stable: document order within a priority
        used = _size(r.notice(0))
        for row in r.rows:
            size = used - _size(r.notice(r.shown)) + len(row) + 1 + _size(r.notice(r.shown + 1))
            if r.shown == 0:
                size += _size(r.header)
            if size - used > room:
                return
            room -= size - used
            used = size
            r.shown += 1


def render_markdown(doc: PlanDocument, *, title: str | None = None, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The plan as GitHub-flavoured markdown for one PR comment or issue body, ending with a newline.

    Args:
        doc: the redacted plan document.
        title: replaces the environment name in the verdict heading, e.g. "Drift detected in
            litellm-rhpds"; the hidden marker always names ``doc.environment``.
        limit: the result has fewer than ``limit`` characters (GitHub's comment limit: 65,536).
    Returns:
        Markdown starting with ``<!-- litemaas-state:ENV -->`` and the verdict heading.
    Raises:
        Nothing.
    Source: docs/design.md §9.7–§9.8 (Atlantis PR comments, tfaction's one issue per target), §9.1 (summary counts).
    """
    parts: list[_Part] = [marker(doc.environment), _verdict(doc, title), "", _meta(doc)]
    if doc.connections:
        parts += ["", "Connections: " + " · ".join(_esc(connection_line(c), 200) for c in doc.connections)]
    if doc.verdict == "no_changes":
        parts += ["", "No changes. The deployment matches the state file."]
    parts += _diagnostics(doc)
    if doc.phases:
        parts += _summary_table(doc) + _phases(doc)
    if doc.verdict == "errored":
        parts += ["", "**Planning failed**: the errors above must be fixed before apply."]
    parts += [
        "",
        "---",
        f"<sub>litemaas-state · plan document format {_esc(doc.format_version, 20)} · "
        f"the whole plan: `litemaas-state plan --json`</sub>",
    ]
    lists = [p for p in parts if isinstance(p, _Rows)]
    _fill(lists, limit - 1 - len(_join(parts)))
    out = _join(parts)
    if len(out) >= limit:  # only when even the skeleton is too long (a tiny limit): cut the text itself
        cut = f"\n… output cut at {limit:,} characters; {JSON_HINT}\n"
        out = (out[: max(0, limit - 1 - len(cut))] + cut)[: max(0, limit - 1)]
    return out
