"""The escaping functions for values from the world, one per output format.

Every alias, email, user id, image name, row id and error text shown to a person is hostile input: a
key alias can carry a newline that forges a plan line, an ESC that starts an OSC-8 hyperlink or moves
the cursor, a backspace or CR that overwrites what the reviewer reads, a bidi override that reorders
it, or 10,000 characters. Each function below returns one line, bounded, safe in its format:

* ``terminal(text)``: text output (plan, drift, status, apply progress, errors). Control and format
  characters are shown as JSON-style escapes (``\\n``, ``\\r``, ``\\b``, ``\\u001b``, ``\\u202e``), so
  what is printed is exactly what a JSON reader of ``--json`` sees.
* ``markdown(text)``: a GitHub PR comment or issue body (markdown context: table cells, list items,
  headings). The same visible escapes, then HTML and table syntax as character references, markdown
  punctuation backslash-escaped, and GitHub's autolinks neutralised with a zero-width space
  (``&#8203;``) after ``@`` (user/team mentions and e-mail autolinks), after ``#`` before a digit and
  in ``GH-123`` (issue references), and in ``://`` and ``www.`` (URL autolinks). GitHub's mention filter
  matches ``@`` directly followed by a name (gjtorikian/html-pipeline
  ``lib/html/pipeline/mention_filter.rb``, ``MENTION_PATTERNS``), its issue references ``#`` or ``GH-``
  directly followed by digits, and GFM's autolink extension ``www.`` and ``scheme://``; the zero-width
  space breaks each match while the text reads the same. Renovate neutralises ``@`` and ``#<digit>`` in
  its PR bodies the same way (renovatebot/renovate ``lib/util/markdown.ts``, ``sanitizeMarkdown``).
* ``html_text(text)``: inside raw HTML where markdown is not parsed (``<summary>``): visible escapes,
  ``html.escape`` and the same autolink neutralisation.

``visible_controls(text)`` is the last-line belt used on every write (commands/common.py ``Output``):
no raw control byte reaches a terminal, whatever a caller forgot.

Cutting: a value longer than ``max_len`` characters keeps its first ``max_len`` and ends with the
marker ``…[N more characters]``.
"""

from __future__ import annotations

import html
import re

#: Characters kept of one value in text output (an image reference has at most 255, an e-mail 254).
TERMINAL_MAX = 300
#: Characters kept of one value in markdown (a table cell).
MARKDOWN_MAX = 300

_SHORT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters that could split a table cell, open/close HTML or a code span: character references.
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;"}
# Markdown emphasis/link/escape characters: a backslash escape (valid for any ASCII punctuation).
_BACKSLASHED = set("\\*_~[]")
ZWSP = "&#8203;"
_AUTOLINK = re.compile(r"(@)|(#)(?=\d)|\b(GH)(-)(?=\d)|(:)(//)|\b(www)(\.)", re.IGNORECASE)
# Every character of Unicode categories Cc, Cf, Zl, Zp except LF (C0, DEL, C1, soft hyphen, bidi controls,
# zero-widths, line/paragraph separators, tag characters), as one character class for speed; a test
# checks it against unicodedata (tests/render/test_escape.py).
_CONTROL_CLASS = "\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
_CONTROL = re.compile(f"[{_CONTROL_CLASS}]")
_CONTROL_OR_LF = re.compile(f"[{_CONTROL_CLASS}\\n]")
# An SGR sequence (colour/bold) as click.style writes it: the only escape sequence our own output has.
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _visible(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def make_visible(text: str) -> str:
    """Every control/format character as a JSON-style escape; everything else unchanged."""
    return _CONTROL_OR_LF.sub(lambda m: _visible(m.group(0)), text)


def cut(text: str, max_len: int) -> str:
    """``text`` itself, or its first ``max_len`` characters and ``…[N more characters]``."""
    if len(text) <= max_len:
        return text
    return f"{text[:max_len]}…[{len(text) - max_len:,} more characters]"


def terminal(text: object, max_len: int = TERMINAL_MAX) -> str:
    """A world value for text output: one line, controls visible, at most ``max_len`` characters kept."""
    return make_visible(cut(str(text), max_len))


_MARK = "\u200b"  # never left in a made-visible text (it is Cf), so it can stand for ZWSP until escaping


def _neutralise(text: str) -> str:
    """Insert a zero-width space where GitHub would make a mention, reference or autolink."""
    def sub(m: re.Match[str]) -> str:
        groups = [g for g in m.groups() if g is not None]
        return groups[0] + _MARK + "".join(groups[1:])
    return _AUTOLINK.sub(sub, text)


def markdown(text: object, max_len: int = MARKDOWN_MAX) -> str:
    """A world value for GitHub markdown (table cell, list item, heading): one line, no markup, no
    mention/reference/autolink, no raw HTML, at most ``max_len`` characters kept."""
    shown = _neutralise(make_visible(cut(str(text), max_len)))
    return "".join(_ENTITY.get(c) or (f"\\{c}" if c in _BACKSLASHED else c) for c in shown).replace(_MARK, ZWSP)


def html_text(text: object, max_len: int = MARKDOWN_MAX) -> str:
    """A world value inside raw HTML (e.g. ``<summary>``), where markdown is not parsed."""
    return html.escape(_neutralise(make_visible(cut(str(text), max_len))), quote=True).replace(_MARK, ZWSP)


def visible_controls(text: str, *, keep_sgr: bool = False) -> str:
    """The belt on every write: control characters except newline made visible; with ``keep_sgr``
    the colour sequences our renderers write are kept (nothing else starting with ESC is)."""
    if not _CONTROL.search(text):
        return text
    if not keep_sgr:
        return _CONTROL.sub(lambda m: _visible(m.group(0)), text)
    out: list[str] = []
    pos = 0
    for m in _SGR.finditer(text):
        out.append(visible_controls(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(visible_controls(text[pos:]))
    return "".join(out)
