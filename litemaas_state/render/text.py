"""Terraform-like human text of a PlanDocument (anchors.md §1.1): legend, a header per address,
``~ image: a -> b``, a summary line, ``No changes.`` with a sentence when empty; warnings and errors after.

Pure: ``render_text(doc, color=...) -> str``. Long key lists are cut in text (the whole list is in
``--json``).
"""

from __future__ import annotations

import json
from typing import Any

import click

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ConnectionPath, PathKind
from litemaas_state.render.document import ActionDoc, KeyDoc, PlanDocument
from litemaas_state.render.symbols import COLOR, HEADER, LEGEND, SYMBOL

KEYS_SHOWN = 10


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def _value(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return json.dumps(v)
    return json.dumps(v, sort_keys=True, default=str)


def _key_line(k: KeyDoc) -> str:
    created = k.created_at.strftime("%Y-%m-%d") if k.created_at else "?"
    expires = k.expires.strftime("%Y-%m-%d") if k.expires else "never"
    alias = k.alias if k.alias is not None else "(no alias)"
    owner = k.owner or "-"
    return f"{alias}  token {k.token_prefix}…  owner {owner}  created {created}  expires {expires}  [{k.rule}]"


def render_action(a: ActionDoc, color: bool) -> list[str]:
    verb = a.actions[0]
    sym = SYMBOL[verb]
    lines = [_style(f"  # {a.address} {HEADER.get(a.kind, 'will change')}", color, bold=True)]
    lines.append(_style(f"  {sym} {a.address}", color, fg=COLOR[verb]))
    for c in a.changes:
        if c.field == "files" and a.files:
            continue  # listed one per line below
        lines.append(f"      ~ {c.field}: {_value(c.before)} -> {_value(c.after)}")
    for f in a.files:
        lines.append(f"      + file: {f}")
    for k in a.keys[:KEYS_SHOWN]:
        lines.append(_style(f"      - {_key_line(k)}", color, fg="red"))
    if len(a.keys) > KEYS_SHOWN:
        lines.append(f"      # … and {len(a.keys) - KEYS_SHOWN} more keys (the whole list: --json)")
    for r in a.rows[:KEYS_SHOWN]:
        lines.append(f"      ~ api_keys {r.id}: alias {r.alias or '(none)'} key_hash {r.key_hash_prefix}… "
                     f"owner {r.owner or '-'}")
    if len(a.rows) > KEYS_SHOWN:
        lines.append(f"      # … and {len(a.rows) - KEYS_SHOWN} more rows (the whole list: --json)")
    for n in a.notes:
        lines.append(_style(f"        # {n}", color, dim=True))
    return lines


def connection_line(c: ConnectionPath) -> str:
    """``LiteMaaS DB: port-forward pod/litellm-postgres-0:5432`` or ``LiteMaaS DB: direct litellm-postgres:5432``."""
    if c.kind == PathKind.KUBERNETES:
        return f"{c.source.value}: port-forward pod/{c.pod}:{c.port}"
    return f"{c.source.value}: direct {c.host}:{c.port}"


def connection_lines(connections: tuple[ConnectionPath, ...]) -> list[str]:
    """The header block naming each source's path; [] when no data-plane source was used."""
    if not connections:
        return []
    return ["Connections:", *(f"  {connection_line(c)}" for c in connections), ""]


def render_diagnostic(d: Diagnostic, color: bool) -> list[str]:
    label = {Severity.ERROR: "Error", Severity.WARNING: "Warning", Severity.NOTE: "Note"}[d.severity]
    fg = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}[d.severity]
    where = f"{d.address}: " if d.address else ""
    if d.location:
        where = f"{d.location}: {d.location.field_path + ': ' if d.location.field_path else ''}"
    lines = [_style(f"{label}: ", color, fg=fg, bold=True) + f"{where}{d.summary}"]
    if d.detail:
        lines += [f"  {line}" for line in d.detail.splitlines()]
    return lines


def summary_line(doc: PlanDocument) -> str:
    s = doc.summary
    return f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy."


def breakdown(doc: PlanDocument) -> str:
    """What the summary counts are made of, per phase (files, Deployments, users, keys, rows)."""
    parts = []
    for p in doc.phases:
        if p.phase == "backup":
            n = sum(len(a.files) for a in p.actions)
            parts.append(f"backup: {n} dump file{'s' if n != 1 else ''}")
        elif p.phase == "keys":
            keys = sum(len(a.keys) for a in p.actions)
            rows = sum(len(a.rows) for a in p.actions)
            text = f"keys: {keys} virtual key{'s' if keys != 1 else ''} deleted"
            if rows:
                text += f", {rows} LiteMaaS row{'s' if rows != 1 else ''} revoked"
            parts.append(text)
        elif p.phase == "admins":
            parts.append(f"admins: {len(p.actions)} user{'s' if len(p.actions) != 1 else ''}")
        else:
            parts.append(f"{p.phase}: {len(p.actions)} Deployment change{'s' if len(p.actions) != 1 else ''}")
    return " · ".join(parts)


def render_text(doc: PlanDocument, *, color: bool = False) -> str:
    """The whole plan as text, ending with a newline.

    Raises:
        Nothing.
    """
    out: list[str] = connection_lines(doc.connections)
    if doc.targets:
        out += render_diagnostic(Diagnostic(
            severity=Severity.WARNING,
            summary=f"Resource targeting is in effect ({', '.join(doc.targets)})",
            detail="Only the targeted actions are planned; the rest of the state file is NOT applied.\n"
                   "Run a plan without --target afterwards to verify nothing else is pending.",
        ), color)
        out.append("")
    actions = [a for p in doc.phases for a in p.actions]
    if not actions:
        if doc.verdict == "errored":
            out.append(_style("Planning failed.", color, fg="red", bold=True))
        elif doc.targets:
            out.append(_style("No changes", color, fg="green", bold=True)
                       + " in the targeted part of the state file; the rest was not compared.")
        else:
            out.append(_style("No changes.", color, fg="green", bold=True)
                       + " The deployment matches the state file.")
    else:
        verbs = sorted({a.actions[0] for a in actions}, key=list(LEGEND).index)
        out.append("litemaas-state will perform the following actions "
                   f"(environment {doc.environment}, namespace {doc.namespace}). Legend:")
        for v in verbs:
            out.append("  " + _style(SYMBOL[v], color, fg=COLOR[v]) + f" {LEGEND[v]}")
        for p in doc.phases:
            out.append("")
            out.append(_style(f"Phase {p.phase}:", color, bold=True))
            for a in p.actions:
                out += render_action(a, color)
        out.append("")
        out.append(_style(summary_line(doc), color, bold=True))
        out.append(_style(f"  ({breakdown(doc)})", color, dim=True))
    notes = [d for d in doc.diagnostics if d.severity == Severity.NOTE]
    others = [d for d in doc.diagnostics if d.severity != Severity.NOTE]
    for d in notes + others:
        out.append("")
        out += render_diagnostic(d, color)
    if doc.verdict == "errored" and actions:
        out.append("")
        out.append(_style("Planning failed: the errors above must be fixed before apply.", color, fg="red"))
    return "\n".join(out) + "\n"


def render_json(doc: PlanDocument) -> str:
    """The PlanDocument as indented JSON (the ``--json`` output)."""
    return doc.model_dump_json(indent=2) + "\n"
