"""Label and field selectors, parsed and matched as the apiserver does.

Source: k8s.io/apimachinery pkg/labels/selector.go (set-based and equality-based requirements) and
pkg/fields/selector.go (`=`, `==`, `!=`).
"""

from __future__ import annotations

import re
from typing import Any

from litemaas_state.sandbox.kubeapi.resources import Obj
from litemaas_state.sandbox.kubeapi.status import bad_request

_LABEL = r"[A-Za-z0-9][-A-Za-z0-9_./]*"


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse a label selector string (`a=b,c!=d,e in (f,g),!h`) into (key, op, values) requirements.

    Raises ApiError 400 on a syntax error. Source: k8s.io/apimachinery labels.Parse grammar.
    """
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        if m := re.fullmatch(rf"({_LABEL})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)", part):
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append((m.group(1), op, (m.group(3),)))
        elif m := re.fullmatch(rf"({_LABEL})\s+(in|notin)\s*\(([^)]*)\)", part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append((m.group(1), m.group(2), values))
        elif m := re.fullmatch(rf"(!?)\s*({_LABEL})", part):
            reqs.append((m.group(2), "!" if m.group(1) else "exists", ()))
        else:
            raise bad_request(f'unable to parse requirement: found "{part}"')
    return reqs


def labels_match(labels: dict[str, str], reqs: list[tuple[str, str, tuple[str, ...]]]) -> bool:
    """Whether `labels` satisfy every requirement."""
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """Parse `metadata.name=x,status.phase!=Running` into (path, equal, value) requirements."""
    reqs = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request(f'invalid field selector: "{part}"')
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return reqs


def fields_match(obj: Obj, reqs: list[tuple[str, bool, str]]) -> bool:
    for path, equal, value in reqs:
        cur: Any = obj
        for step in path.split("."):
            cur = cur.get(step) if isinstance(cur, dict) else None
        found = "" if cur is None else str(cur)
        if (found == value) != equal:
            return False
    return True


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector object (`matchLabels`/`matchExpressions`) as a selector string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{expr['key']} {op.lower()} ({','.join(expr.get('values') or [])})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append(f"!{expr['key']}")
    return ",".join(parts)
