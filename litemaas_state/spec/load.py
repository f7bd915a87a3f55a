"""YAML text → ``DesiredState``, with every problem reported as file:line:column and a field path.

Refuses, never with a traceback: YAML syntax errors, duplicate keys, an empty file, a top level that
is not a mapping, unknown keys (typos), wrong types, bad image references, negative replicas, and every
other model constraint (spec/model.py). All validation problems are reported at once (Terraform
``tfdiags``; style.md §6.4 #7). Pure: the caller reads the file and passes its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from litemaas_state.errors import Diagnostic, Severity, SourceLocation, StateFileError
from litemaas_state.spec.model import DesiredState

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that records the position of every node by field path and rejects duplicate keys."""


def _mark_of(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


#: Most nodes a state file may expand to (aliases included): a real one has a few hundred. Guards against
#: "billion laughs" anchor bombs in pull-request content.
MAX_NODES = 100_000


class _TooLarge(Exception):
    pass


def _construct(node: yaml.Node, path: Path, marks: dict[Path, tuple[int, int]], problems: list[Diagnostic],
               file: str, loader: _Loader) -> Any:
    if len(marks) > MAX_NODES:
        raise _TooLarge
    marks[path] = _mark_of(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                key = str(key)
            kpath = (*path, key) if isinstance(key, str | int) else (*path, str(key))
            if key in out:
                line, col = _mark_of(key_node)
                first = marks.get((*kpath, "__key__"), (None, None))
                problems.append(Diagnostic(
                    severity=Severity.ERROR,
                    summary=f"duplicate key {key!r} (first defined on line {first[0]})",
                    location=SourceLocation(file=file, line=line, column=col, field_path=_dotted(kpath)),
                ))
                continue
            marks[(*kpath, "__key__")] = _mark_of(key_node)
            out[key] = _construct(value_node, kpath, marks, problems, file, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), marks, problems, file, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _locate(loc: Sequence[str | int], marks: dict[Path, tuple[int, int]]) -> tuple[int, int] | None:
    """The position of the deepest node along ``loc`` that exists in the file."""
    path = tuple(loc)
    while True:
        if path in marks:
            return marks[path]
        if not path:
            return None
        path = path[:-1]


def _message(err: dict[str, Any]) -> str:
    typ = err.get("type", "")
    if typ == "extra_forbidden":
        return "unknown key (not part of the state file schema; check the spelling)"
    if typ == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if typ == "literal_error" and "input" in err:
        msg += f" (got {err['input']!r})"
    return msg


def parse_state(text: str, file: str) -> DesiredState:
    """Parse and validate one state file.

    Args:
        text: the file's content (UTF-8 text).
        file: the name to show in diagnostics (as the user gave it).
    Returns:
        The frozen ``DesiredState``.
    Raises:
        StateFileError: with one ``Diagnostic`` per problem, each naming file, line, column and the
            field path (e.g. ``deployments.litellm.replicas``).
    """
    def fail(summary: str, line: int | None = 1, column: int | None = None, field: str = "") -> StateFileError:
        return StateFileError([Diagnostic(
            severity=Severity.ERROR, summary=summary,
            location=SourceLocation(file=file, line=line, column=column, field_path=field),
        )])

    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise fail("the state file is empty (expected apiVersion, kind, metadata, target, ...)")
    loader = _Loader(text)
    marks: dict[Path, tuple[int, int]] = {}
    problems: list[Diagnostic] = []
    try:
        root = loader.get_single_node()
        if root is None:
            raise fail("the state file is empty (expected apiVersion, kind, metadata, target, ...)")
        data = _construct(root, (), marks, problems, file, loader)
    except _TooLarge:
        raise fail(f"the state file expands to more than {MAX_NODES} values (YAML aliases?); refused") from None
    except RecursionError:
        raise fail("the state file is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise fail(f"YAML syntax error: {what}", line, col) from None
    except yaml.YAMLError as exc:
        raise fail(f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if problems:
        raise StateFileError(problems)
    if not isinstance(data, dict):
        raise fail(f"the top level must be a mapping of keys, not a {type(data).__name__}", *marks.get((), (1, 1)))
    try:
        return DesiredState.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            pos = _locate(loc, marks)
            if err.get("type") == "extra_forbidden" and (*loc, "__key__") in marks:
                pos = marks[(*loc, "__key__")]
            line, col = pos if pos else (None, None)
            problems.append(Diagnostic(
                severity=Severity.ERROR, summary=_message(dict(err)),
                location=SourceLocation(file=file, line=line, column=col, field_path=_dotted(loc)),
            ))
        problems.sort(key=lambda d: (d.location.line or 0, d.location.column or 0) if d.location else (0, 0))
        raise StateFileError(problems) from None
