"""Terminal tables that never cut what a user must copy.

A rich table squeezed into a narrow terminal folds or ellipsizes its cells: a tensor name that
``--float-layer`` needs whole ends in ``…``, a reason stops mid-word. :func:`table` prints the table
when it fits the console at its natural width, and otherwise the same rows as lists, one
``column: value`` line per cell, each printed whole (the terminal may wrap a long line, but
nothing is dropped and a copied line is the full value).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

Cell = Any  # str, or a rich Text for a styled cell (never read as markup)


def table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[str] | None = None,
) -> None:
    """``rows`` as a table when it fits ``console.width``, else as lists (see the module docstring).

    Cells are plain text (never read as rich markup); ``styles`` gives each row's style."""
    from rich.table import Table

    styles = list(styles) if styles is not None else [""] * len(rows)
    t = Table(title=title or None, title_justify="left", show_edge=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row, style in zip(rows, styles, strict=True):
        t.add_row(*[_text(c) for c in row], style=style)
    if fits(console, t):
        console.print(t)
        return
    as_lists(console, title, columns, rows, styles)


def fits(console: Console, renderable: object) -> bool:
    """Whether ``renderable`` prints at its natural width (no cell folded or cut) in ``console``."""
    from rich.measure import Measurement

    wide = console.options.update_width(1_000_000)
    return Measurement.get(console, wide, renderable).maximum <= console.width  # type: ignore[arg-type]


def as_lists(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    styles: Sequence[str] | None = None,
) -> None:
    """Each row as a block: its first cell as the heading, then ``column: value`` for the others that
    say something (a ``-`` or empty cell is left out). Lines are printed whole (soft wrap)."""
    from rich.text import Text

    styles = list(styles) if styles is not None else [""] * len(rows)
    if title:
        console.print(Text(title, style="italic"), soft_wrap=True)
    for row, style in zip(rows, styles, strict=True):
        name = columns[0] if columns and columns[0] else ""
        head = _text(row[0]) if row else Text("-")
        console.print(Text.assemble(f"- {name}: " if name else "- ", head, style=style), soft_wrap=True)
        for col, cell in zip(columns[1:], row[1:], strict=True):
            text = _text(cell)
            if text.plain in ("", "-"):
                continue
            lines = text.split("\n")
            console.print(Text.assemble(f"    {col or 'mark'}: ", lines[0], style=style), soft_wrap=True)
            for more in lines[1:]:
                console.print(Text.assemble(" " * (6 + len(col or "mark")), more, style=style), soft_wrap=True)


def _text(cell: Cell) -> Any:
    from rich.text import Text

    return cell if isinstance(cell, Text) else Text(str(cell))
