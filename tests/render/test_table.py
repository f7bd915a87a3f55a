"""render_table: kubectl-get style columns laid out by rich; world text escaped, never markup."""

from __future__ import annotations

from litemaas_state.render.table import Cell, TableColumn, render_table

COLUMNS = ["DEPLOYMENT", TableColumn("READY", align="right"), "ROLLOUT", TableColumn("IMAGE", cut=True)]


def test_plain_table() -> None:
    text = render_table(COLUMNS, [
        ["litellm", "5/5", "complete", "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0"],
        ["litellm-frontend", "1/3", Cell("waiting", "bold red"), "registry:5000/frontend:0.5.0"],
        ["litellm-redis", None, Cell("missing", "bold red")],
    ])
    assert text.splitlines() == [
        "DEPLOYMENT        READY  ROLLOUT   IMAGE",
        "litellm             5/5  complete  quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0",
        "litellm-frontend    1/3  waiting   registry:5000/frontend:0.5.0",
        "litellm-redis            missing",
    ]
    assert "\x1b" not in text


def test_color_styles_cells_only_when_asked() -> None:
    text = render_table(COLUMNS, [["litellm", "0/1", Cell("failed", "bold red"), "x"]], color=True)
    assert "\x1b[1;31mfailed" in text


def test_world_text_is_escaped_and_not_markup() -> None:
    text = render_table(["NAME"], [["[bold]evil[/bold]\x1b[2J\nnext"]])
    line = text.splitlines()[1]
    assert "[bold]evil[/bold]" in line and "\x1b" not in text and len(text.splitlines()) == 2


def test_a_cut_column_gives_way_to_fit_the_width() -> None:
    text = render_table(COLUMNS, [["litellm", "5/5", "complete", "i" * 200]], width=60)
    assert all(len(line) <= 60 for line in text.splitlines())
    assert text.splitlines()[1].endswith("…")
