"""Terminal tables that stay readable at any width (80 columns included).

A rich table squeezed into a narrow terminal cuts every cell to a few letters ("bac…").
`fit_table` never cuts: when the columns do not fit in `width`, it splits them into several
tables that each repeat the key columns (those that say which row is which: backend, batch,
model), and when even one column beside the keys would not fit, it shows each row as a
vertical list of "header  value" lines. Only terminal output goes through here; `--format`
files (Markdown, CSV, JSON, HTML) never depend on the terminal's width.

Light: rich is imported when a table is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

# Rich's default box with padding 1: "│ a │ b │" takes 3 characters per column, plus 1.
BORDER_PER_COLUMN = 3
EDGE = 2  # the outer border's "│" on either side, which `show_edge=False` leaves out
MIN_WRAPPED = 20  # narrower than this beside the keys, prose goes to the one-list-per-row layout


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "right"  # "left" for text (names), "right" for numbers
    key: bool = False  # says which row is which: repeated in every part of a split table


def text_width(cell: str) -> int:
    """Terminal cells `cell` takes once its rich markup ("[red]failed[/]") is applied."""
    from rich.text import Text

    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def natural_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width when nothing is cut: its header or its widest cell."""
    return [
        max([text_width(column.header), *(text_width(row[i]) for row in rows)])
        for i, column in enumerate(columns)
    ]


def table_width(widths: Sequence[int]) -> int:
    return sum(widths) + BORDER_PER_COLUMN * len(widths) + 1


def column_groups(widths: Sequence[int], keys: Sequence[int], width: int) -> list[list[int]] | None:
    """Columns (by index) packed into tables that fit `width`, each starting with the keys;
    None when a key set plus any one other column is already wider than `width`.

    >>> column_groups([10, 6, 6, 6], keys=[0], width=32)  # 10 + 6 + 6, and 3 per column + 1
    [[0, 1, 2], [0, 3]]
    >>> column_groups([10, 6, 6, 6], keys=[0], width=80)
    [[0, 1, 2, 3]]
    >>> column_groups([70, 6], keys=[0], width=80) is None
    True
    """
    others = [i for i in range(len(widths)) if i not in keys]
    groups: list[list[int]] = []
    for i in others:
        if groups and table_width([widths[j] for j in [*groups[-1], i]]) <= width:
            groups[-1].append(i)
        elif table_width([widths[j] for j in [*keys, i]]) <= width:
            groups.append([*keys, i])
        else:
            return None
    return groups or [list(keys)]


def fit_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    caption: str | None = None,
    row_styles: Sequence[str | None] | None = None,
    edge: bool = True,
) -> RenderableType:
    """`rows` under `columns` as one rich renderable no wider than `width`, no cell cut;
    `edge=False` leaves out the outer border (two characters more for the cells)."""
    from rich.console import Group

    if not edge:
        width += EDGE
    widths = natural_widths(columns, rows)
    keys = [i for i, column in enumerate(columns) if column.key]
    # A column of prose wider than the room beside the keys (a row's notes, what its latency
    # includes) wraps at its words in that room rather than forcing every row into a list.
    room = width - table_width([widths[i] for i in keys]) - BORDER_PER_COLUMN
    wrapped = {i for i, w in enumerate(widths) if i not in keys and w > room >= MIN_WRAPPED}
    widths = [room if i in wrapped else w for i, w in enumerate(widths)]
    groups = column_groups(widths, keys, width)
    if groups is None:
        return _vertical(title, columns, rows, width, caption)
    styles = list(row_styles or [None] * len(rows))
    tables = []
    for number, group in enumerate(groups):
        table = _table(
            title if number == 0 else None,
            [columns[i] for i in group],
            [[row[i] for i in group] for row in rows],
            styles,
            [room if i in wrapped else None for i in group],
            edge,
        )
        if number == len(groups) - 1:
            table.caption = caption
        tables.append(table)
    return tables[0] if len(tables) == 1 else Group(*tables)


def _table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None],
    wrap_at: Sequence[int | None],
    edge: bool = True,
) -> Table:
    from rich.table import Table

    table = Table(title=title, show_edge=edge)
    for column, most in zip(columns, wrap_at, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=most is None,
            max_width=most,
        )
    for cells, style in zip(rows, styles, strict=True):
        table.add_row(*cells, style=style)
    return table


def _vertical(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    caption: str | None,
) -> RenderableType:
    """One "header  value" list per row: the layout of last resort, for very narrow terminals."""
    from rich.console import Group
    from rich.table import Table

    parts: list[RenderableType] = []
    for number, row in enumerate(rows):
        part = Table(
            title=title if number == 0 else None,
            show_header=False,
            width=width,
            caption=caption if number == len(rows) - 1 else None,
        )
        part.add_column(no_wrap=True)
        part.add_column(overflow="fold")
        for column, cell in zip(columns, row, strict=True):
            part.add_row(column.header, cell)
        parts.append(part)
    return Group(*parts)


def console_width() -> int:
    """The width of the terminal kdbench prints to (rich's answer: COLUMNS, the terminal,
    or 80 when output goes to a file or a pipe)."""
    from rich.console import Console

    return Console().width
