"""Terraform-like human text of a PlanDocument (docs/design.md §9.1): legend, a header per address,
``~ image: a -> b``, a summary line, ``No changes.`` with a sentence when empty; warnings and errors after.

Pure: ``render_text(doc, color=...) -> str``. Long key lists are cut in text (the whole list is in
``--json``). Every value that may come from the world (aliases, owners, ids, values, notes, diagnostic
text) goes through render/escape.py ``terminal``: one line, control characters visible, long values cut
with a marker, so no value can forge a plan line or drive the terminal.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import click
from pydantic import TypeAdapter

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ConnectionPath, PathKind
from litemaas_state.render.document import ActionDoc, KeyDoc, PlanDocument, RowDoc
from litemaas_state.render.escape import TERMINAL_MAX, cut, terminal
from litemaas_state.render.symbols import COLOR, HEADER, LEGEND, SYMBOL

KEYS_SHOWN = 10
#: The apply-order sentence under "Phase images:" is wrapped at this many characters.
ORDER_WIDTH = 100
#: Characters kept of one diagnostic line (our sentences can be long; world text inside them is bounded).
DIAGNOSTIC_MAX = 2000
#: The sentence before the actions: apply's promise, or drift's read-only finding.
APPLY_INTRO = "litemaas-state will perform the following actions"
DRIFT_INTRO = "Drift: the live deployment differs from the state file; apply would perform these actions"
_KEYS: TypeAdapter[Any] = TypeAdapter(list[KeyDoc])
_ROWS: TypeAdapter[Any] = TypeAdapter(list[RowDoc])


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def _value(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, str):
        return json.dumps(cut(v, TERMINAL_MAX))
    return terminal(json.dumps(v, sort_keys=True, default=str))


def change_text(field: str, before: Any, after: Any) -> str:
    """One change as the plan shows it: ``is_active: true -> false``, ``roles: ["user"] -> ["user", "admin"]``
    (values as JSON, world text escaped and cut)."""
    return f"{terminal(field)}: {_value(before)} -> {_value(after)}"


def _key_line(k: KeyDoc) -> str:
    created = k.created_at.strftime("%Y-%m-%d") if k.created_at else "?"
    expires = k.expires.strftime("%Y-%m-%d") if k.expires else "never"
    alias = terminal(k.alias) if k.alias is not None else "(no alias)"
    owner = terminal(k.owner or "-")
    return (f"{alias}  token {terminal(k.token_prefix)}…  owner {owner}  created {created}  expires {expires}  "
            f"[{terminal(k.rule)}]")


def render_action(a: ActionDoc, color: bool) -> list[str]:
    verb = a.actions[0]
    sym = SYMBOL[verb]
    address = terminal(a.address)
    lines = [_style(f"  # {address} {HEADER.get(a.kind, 'will change')}", color, bold=True)]
    lines.append(_style(f"  {sym} {address}", color, fg=COLOR[verb]))
    for c in a.changes:
        if c.field == "files" and a.files:
            continue  # listed one per line below
        lines.append(f"      ~ {change_text(c.field, c.before, c.after)}")
    for f in a.files:
        lines.append(f"      + file: {terminal(f)}")
    for k in a.keys[:KEYS_SHOWN]:
        lines.append(_style(f"      - {_key_line(k)}", color, fg="red"))
    if len(a.keys) > KEYS_SHOWN:
        lines.append(f"      # … and {len(a.keys) - KEYS_SHOWN} more keys (the whole list: --json)")
    for r in a.rows[:KEYS_SHOWN]:
        alias = terminal(r.alias) if r.alias is not None else "(none)"
        lines.append(f"      ~ api_keys {terminal(r.id)}: alias {alias} key_hash {terminal(r.key_hash_prefix)}… "
                     f"owner {terminal(r.owner or '-')}")
    if len(a.rows) > KEYS_SHOWN:
        lines.append(f"      # … and {len(a.rows) - KEYS_SHOWN} more rows (the whole list: --json)")
    for req in a.requires:
        lines.append(_style(f"        # requires {req}: runs only if it succeeded in this apply", color, dim=True))
    for dep in a.required_by:
        lines.append(_style(f"        # required by {dep}", color, dim=True))
    for n in a.notes:
        lines.append(_style(f"        # {terminal(n)}", color, dim=True))
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
    where = f"{terminal(d.address)}: " if d.address else ""
    if d.location:
        where = terminal(f"{d.location}: {d.location.field_path + ': ' if d.location.field_path else ''}")
    lines = [_style(f"{label}: ", color, fg=fg, bold=True) + f"{where}{terminal(d.summary, DIAGNOSTIC_MAX)}"]
    if d.detail:
        lines += [f"  {terminal(line, DIAGNOSTIC_MAX)}" for line in d.detail.split("\n")]
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
            rows = sum(a.rows_revoked for a in p.actions)
            text = f"keys: {keys} virtual key{'s' if keys != 1 else ''} deleted"
            if rows:
                text += f", {rows} LiteMaaS row{'s' if rows != 1 else ''} revoked"
            parts.append(text)
        elif p.phase == "admins":
            parts.append(f"admins: {len(p.actions)} user{'s' if len(p.actions) != 1 else ''}")
        else:
            n = len(p.actions)
            parts.append(f"{p.phase}: {n} Deployment change{'s' if n != 1 else ''}")
    return " · ".join(parts)


def render_errors(doc: PlanDocument, *, color: bool = False) -> str:
    """The plan's errors and the "Planning failed" line, ending with a newline ("" without errors): what
    the commands print to stderr when the rest of the plan goes to stdout (``render_text(errors=False)``).
    """
    errors = [d for d in doc.diagnostics if d.severity == Severity.ERROR]
    if doc.verdict != "errored":
        return ""
    out: list[str] = []
    for d in errors:
        out += render_diagnostic(d, color)
        out.append("")
    out.append(_style("Planning failed: the errors above must be fixed before apply.", color, fg="red"))
    return "\n".join(out) + "\n"


def render_text(doc: PlanDocument, *, color: bool = False, errors: bool = True, intro: str = APPLY_INTRO) -> str:
    """The whole plan as text, ending with a newline; with ``errors=False`` without its error
    diagnostics and "Planning failed" lines (see ``render_errors``). ``intro`` opens the list of actions
    (``DRIFT_INTRO`` for the read-only drift check).

    Raises:
        Nothing.
    """
    out: list[str] = connection_lines(doc.connections)
    if doc.key_source is not None:
        ks = doc.key_source
        where = "LiteLLM's database" if ks.origin == "litellm-db" else "GET /key/list"
        out.append(_style(f"Virtual keys: {ks.count} read from {where} ({terminal(ks.detail)}).", color, dim=True))
        out.append("")
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
            if errors:
                out.append(_style("Planning failed.", color, fg="red", bold=True))
        elif doc.targets:
            out.append(_style("No changes", color, fg="green", bold=True)
                       + " in the targeted part of the state file; the rest was not compared.")
        else:
            out.append(_style("No changes.", color, fg="green", bold=True)
                       + " The deployment matches the state file.")
    else:
        verbs = sorted({a.actions[0] for a in actions}, key=list(LEGEND).index)
        out.append(f"{intro} "
                   f"(environment {terminal(doc.environment)}, namespace {terminal(doc.namespace)}). Legend:")
        for v in verbs:
            out.append("  " + _style(SYMBOL[v], color, fg=COLOR[v]) + f" {LEGEND[v]}")
        for p in doc.phases:
            out.append("")
            out.append(_style(f"Phase {terminal(p.phase)}:", color, bold=True))
            if p.phase == "images" and doc.order:
                out += [_style(f"  # {line}", color, dim=True)
                        for line in textwrap.wrap(doc.order, ORDER_WIDTH, break_on_hyphens=False)]
            for a in p.actions:
                out += render_action(a, color)
        out.append("")
        out.append(_style(summary_line(doc), color, bold=True))
        out.append(_style(f"  ({breakdown(doc)})", color, dim=True))
    notes = [d for d in doc.diagnostics if d.severity == Severity.NOTE]
    others = [d for d in doc.diagnostics if d.severity != Severity.NOTE and (errors or d.severity != Severity.ERROR)]
    for d in notes + others:
        out.append("")
        out += render_diagnostic(d, color)
    if doc.verdict == "errored" and actions and errors:
        out.append("")
        out.append(_style("Planning failed: the errors above must be fixed before apply.", color, fg="red"))
    return "\n".join(out) + "\n"


def render_json(doc: PlanDocument) -> str:
    """The PlanDocument as indented JSON (the ``--json`` output), as one string."""
    return doc.model_dump_json(indent=2) + "\n"


_ACTION_FIELD = "\n" + " " * 10  # the indent of an action's fields in the document (phases → actions)


def iter_json(doc: PlanDocument, chunk: int = 2000) -> Iterator[str]:
    """The same text as ``render_json``, in pieces of about ``chunk`` list items (``plan --json`` writes
    them as they come, so 40,000 keys are never one string): the document without its key and row
    lists, with each list spliced in where pydantic wrote it empty, item chunks serialized by pydantic.

    A raw newline cannot occur inside a JSON string, so ``"keys": []`` at the action fields' indent is
    always the field itself, once per action, in document order.
    """
    actions = [a for p in doc.phases for a in p.actions]
    skeleton = doc.model_copy(update={"phases": tuple(
        p.model_copy(update={"actions": tuple(a.model_copy(update={"keys": (), "rows": ()}) for a in p.actions)})
        for p in doc.phases)})
    text = skeleton.model_dump_json(indent=2)
    pos = search = 0  # written up to pos; the next marker is after search
    for a in actions:
        lists: tuple[tuple[str, tuple[Any, ...], TypeAdapter[Any]], ...] = (("keys", a.keys, _KEYS), ("rows", a.rows, _ROWS))
        for name, items, adapter in lists:
            marker = f'{_ACTION_FIELD}"{name}": []'
            at = text.index(marker, search)
            search = at + len(marker)
            if not items:
                continue
            yield text[pos:at]
            yield f'{_ACTION_FIELD}"{name}": [\n'
            for start in range(0, len(items), chunk):
                part = adapter.dump_json(list(items[start:start + chunk]), indent=2).decode()
                body = part[2:-2]  # without "[\n" and "\n]"
                if start:
                    yield ",\n"
                yield " " * 10 + body.replace("\n", _ACTION_FIELD)
            yield f"{_ACTION_FIELD}]"
            pos = search
    yield text[pos:]
    yield "\n"
