"""A real GitHub-flavoured markdown renderer for tests: markdown-it-py's CommonMark parser with the GFM
table and strikethrough extensions, raw HTML allowed (as GitHub allows inline HTML before sanitising)."""

from __future__ import annotations

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def gfm_html(text: str) -> str:
    """``text`` rendered to HTML."""
    return _MD.render(text)
