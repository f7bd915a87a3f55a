"""YAML text → ``DesiredState``, with every problem reported as file:line:column and a field path.

Refuses, never with a traceback: YAML syntax errors, duplicate keys, an empty file, a top level that
is not a mapping, unknown keys (typos), wrong types, bad image references, negative replicas, and every
other model constraint (spec/model.py). Hostile or broken files are refused fast and with a position:
control characters (NUL, e.g. from UTF-16, other C0 but tab/LF/CR, DEL, C1 incl. NEL) and bidirectional
controls (they can make a reviewer read a different file, "Trojan Source") at file:line:column, and
the same plus every C0 control and zero-width character in a value written as a YAML escape
(``"a@b.c\\u202e"``); timestamps YAML reads but no calendar has (2026-02-30, +25:00); a file
longer than ``MAX_FILE_CHARS``, a scalar longer than ``MAX_SCALAR_CHARS`` or more than ``MAX_NODES``
values, each with the limit named, while parsing (before anything is built from it). All validation problems are reported at once (Terraform
``tfdiags``; docs/design.md §10.7). Pure: the caller reads the file and passes its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from litemaas_state.errors import Diagnostic, Severity, SourceLocation, StateFileError
from litemaas_state.spec.model import DesiredState

Path = tuple[str | int, ...]


#: Characters a state file may have: a real one has a few thousand (GitHub shows no diff above ~1 MB).
MAX_FILE_CHARS = 256 * 1024
#: Characters one value may have (the longest legitimate values, image references and paths, are < 4096).
MAX_SCALAR_CHARS = 4096
#: Most nodes a state file may expand to (aliases included): a real one has a few hundred. Guards against
#: "billion laughs" anchor bombs in pull-request content and against huge lists.
MAX_NODES = 10_000

# Characters refused anywhere in a state file (see the module docstring); a BOM only as the first one.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMES = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\x85": "NEL", "\ufeff": "byte order mark"}
# Characters refused in a value even when written as a YAML escape ("\u202e"): the above, every C0 control
# (no field holds multi-line text), zero-width and invisible format characters, line/paragraph separators.
_FORBIDDEN_IN_VALUE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


class _Refused(Exception):
    """The input is refused while parsing: a summary and the (1-based) position."""

    def __init__(self, summary: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(summary)
        self.summary, self.line, self.column = summary, line, column


class _Loader(yaml.SafeLoader):
    """SafeLoader that records the position of every node by field path and rejects duplicate keys,
    and refuses too many nodes or too long a scalar while composing (before anything is constructed)."""

    nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes += 1
        event = self.peek_event()
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        if self.nodes > MAX_NODES:
            raise _Refused(f"the state file has more than {MAX_NODES:,} values (the limit); refused", line, column)
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            raise _Refused(f"a value of {len(event.value):,} characters; at most {MAX_SCALAR_CHARS:,} are allowed",
                           line, column)
        return super().compose_node(parent, index)


def _mark_of(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


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
            key = _construct(key_node, path, {}, problems, file, loader)
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
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError as exc:  # a timestamp YAML recognises but datetime refuses (2026-02-30, +25:00)
        reason = "the UTC offset must be under 24 hours" if "offset" in str(exc) else str(exc)
        problems.append(_value_problem(f"{str(node.value)[:60]!r} is not a valid date and time ({reason})",
                                       node, path, file))
        return None
    if isinstance(value, str) and (refused := value_refusal(value)):
        problems.append(_value_problem(refused, node, path, file))
    return value


def value_refusal(value: str) -> str | None:
    """Why a state file refuses ``value`` as a string value even when written as a YAML escape, or None.

    Args:
        value: a string value (e.g. an image or e-mail read from the world, about to be written).
    Returns:
        ``"the value contains U+202E (bidirectional control); only printable text is allowed"`` for the first
        C0/C1 control, DEL, zero-width or invisible format character, line/paragraph separator or bidi
        control in it; None when it has none.
    Raises:
        Nothing.
    Source: this module's docstring ("Trojan Source" controls; no field holds multi-line text).
    """
    bad = _FORBIDDEN_IN_VALUE.search(value)
    if bad is None:
        return None
    c = bad.group(0)
    return f"the value contains U+{ord(c):04X} ({_char_name(c)}); only printable text is allowed"


def _char_name(c: str) -> str:
    if c in _NAMES:
        return _NAMES[c]
    if "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" or c in "\u200e\u200f\u061c":
        return "bidirectional control"
    return "control character" if c < "\xa0" else "invisible character"


def _value_problem(summary: str, node: yaml.Node, path: Path, file: str) -> Diagnostic:
    line, col = _mark_of(node)
    return Diagnostic(severity=Severity.ERROR, summary=summary,
                      location=SourceLocation(file=file, line=line, column=col, field_path=_dotted(path)))


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
        got = repr(err["input"])
        msg += f" (got {got if len(got) <= 80 else got[:80] + '…'})"
    return msg


#: A check the caller adds (e.g. one that needs the file system): the field path and a summary per problem.
ExtraCheck = Callable[[DesiredState], list[tuple[tuple[str | int, ...], str]]]


def parse_state(text: str, file: str, *, check: ExtraCheck | None = None) -> DesiredState:
    """Parse and validate one state file.

    Args:
        text: the file's content (UTF-8 text).
        file: the name to show in diagnostics (as the user gave it).
        check: more checks of the valid result; each problem (like each of ``DesiredState.cross_field_problems``)
            is reported at its field's line and column.
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

    if len(text) > MAX_FILE_CHARS:
        raise fail(f"the state file has {len(text):,} characters; at most {MAX_FILE_CHARS:,} are allowed")
    bad = _FORBIDDEN.search(text, 1 if text.startswith("\ufeff") else 0)
    if bad:
        c = bad.group(0)
        bad_line = text.count("\n", 0, bad.start()) + 1
        bad_column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        name = _NAMES.get(c) or ("bidirectional control" if "\u202a" <= c <= "\u2069" else "control character")
        hint = " (UTF-16 text? save the file as UTF-8)" if c == "\x00" else ""
        raise fail(f"the state file contains U+{ord(c):04X} ({name}){hint}; only printable text, tabs and "
                   "newlines are allowed", bad_line, bad_column)
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
    except _Refused as exc:
        raise fail(exc.summary, exc.line, exc.column) from exc
    except _TooLarge as exc:
        raise fail(f"the state file expands to more than {MAX_NODES:,} values (YAML aliases?); refused") from exc
    except RecursionError as exc:
        raise fail("the state file is nested too deeply") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise fail(f"YAML syntax error: {what}", line, col) from exc
    except yaml.reader.ReaderError as exc:  # a character the checks above let through
        pos = exc.position
        raise fail(f"the state file contains U+{exc.character:04X}, which YAML does not allow",
                   text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1) from exc
    except yaml.YAMLError as exc:
        raise fail(f"YAML error: {exc}") from exc
    finally:
        loader.dispose()
    if problems:
        raise StateFileError(problems)
    if not isinstance(data, dict):
        raise fail(f"the top level must be a mapping of keys, not a {type(data).__name__}", *marks.get((), (1, 1)))
    try:
        desired = DesiredState.model_validate(data)
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
        raise StateFileError(problems) from exc
    for loc, summary in [*desired.cross_field_problems(), *(check(desired) if check else ())]:
        line, col = _locate(loc, marks) or (None, None)
        problems.append(Diagnostic(severity=Severity.ERROR, summary=summary,
                                   location=SourceLocation(file=file, line=line, column=col, field_path=_dotted(loc))))
    if problems:
        raise StateFileError(problems)
    return desired
