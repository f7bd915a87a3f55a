"""Tables for the terminal, kubectl-get style (a header row, columns padded, no borders), laid out by rich
(``rich.table.Table`` rendered to text through a ``rich.console.Console`` writing into a buffer; no I/O).

For ``status`` and any other verb that shows rows: ``render_table(columns, rows, color=…)``. Every cell is
a world value: it is escaped here (render/escape.py ``terminal``) and never read as rich markup.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """A cell with a style, e.g. ``Cell("failed", "bold red")`` (rich style syntax); shown plain without colour."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class TableColumn:
    """A column: its header, ``align`` ``left`` or ``right``, and whether it may be cut (``…``) to fit."""

    header: str
    align: str = "left"
    cut: bool = False


def render_table(columns: Sequence[TableColumn | str], rows: Sequence[Sequence[str | Cell | None]], *,
                 color: bool = False, width: int = 200) -> str:
    """The table as text, one line per row after the header line, each ending with a newline.

    Args:
        columns: a header string (left-aligned, never cut) or a TableColumn per column.
        rows: cells per row; None is an empty cell. A row shorter than ``columns`` is padded.
        color: write the cells' styles as SGR sequences (decide with commands/base.py ``use_color``).
        width: the line width to fit; columns marked ``cut`` give way first.
    Returns:
        The rendered text; without ``color`` it contains no escape sequence.
    """
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from litemaas_state.render.escape import terminal

    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0), header_style="",
                  highlight=False)
    cols = [TableColumn(c) if isinstance(c, str) else c for c in columns]
    grid = [[value if isinstance(value, Cell) else Cell(value or "") for value in [*row, *([None] * (len(cols) - len(row)))]]
            for row in rows]
    grid = [[Cell(terminal(c.text), c.style) for c in row] for row in grid]
    natural = [max([cell_len(col.header), *(cell_len(row[i].text) for row in grid)]) for i, col in enumerate(cols)]
    fixed = sum(n for n, col in zip(natural, cols, strict=True) if not col.cut) + 2 * (len(cols) - 1)
    n_cut = sum(col.cut for col in cols) or 1
    room = max(1, (width - fixed) // n_cut)  # only the cut columns give way, evenly
    for col, n in zip(cols, natural, strict=True):
        table.add_column(col.header, justify="right" if col.align == "right" else "left", no_wrap=True,
                         overflow="ellipsis", width=min(n, room) if col.cut else n)
    for row in grid:
        table.add_row(*(Text(c.text, style=c.style if color else "", overflow="ellipsis", no_wrap=True)
                        for c in row))
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      no_color=not color, highlight=False, emoji=False, markup=False, _environ={})
    console.print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
