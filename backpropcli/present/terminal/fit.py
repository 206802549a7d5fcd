"""Tables at any width: a table that does not fit is shown with its cells stacked, never cut."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

# ---- tables at any width ---------------------------------------------------------------------------
# A table that does not fit is never cut: rich would shorten a number to "5.6e…" (or crop its
# exponent at a very narrow width, a wrong number on screen). Below the width a table needs,
# the same cells are shown stacked: each row's label, then one "column  value" line per cell.


def _plain(cell) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return ""


def _words(table: Table) -> list[str]:
    words = _plain(table.title or "").split()
    for column in table.columns:
        if table.show_header:
            words += _plain(column.header).split()
        for cell in column._cells:
            words += _plain(cell).split()
    return words


def _fits(console, width: int, table: Table) -> bool:
    """Every word of every cell comes out whole when `table` is drawn `width` columns wide."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    probe = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                    highlight=False, legacy_windows=False, emoji=False)
    probe.print(table)
    drawn = buffer.getvalue()
    return all(word in drawn for word in _words(table))


def stacked(table: Table, label_columns: int = 1, named: bool | int = False) -> Group:
    """The cells of `table` as a list: the first `label_columns` cells of a row as its heading
    (blank leading cells repeat the ones above: a point's second row, ∂f/∂y, is still headed by
    its x and y; `named`: "x = 2", not a bare 2; a number: only that many leading columns are
    named, the derivative after the inputs reads ∂f/∂y by itself), then one "header  value" line for
    every other cell."""
    names = label_columns if named is True else int(named)
    parts: list[RenderableType] = []
    if table.title:
        title = table.title if isinstance(table.title, Text) else Text.from_markup(table.title)
        parts.append(Text.assemble(title, style="bold"))
    columns = table.columns
    above = [""] * label_columns
    for row in range(table.row_count):
        cells = [column._cells[row] for column in columns]
        label = []
        leading = True  # still in the blank cells that start a continuation row
        for i in range(min(label_columns, len(cells))):
            leading = leading and not _plain(cells[i])
            text = _plain(cells[i]) or (above[i] if leading else "")
            above[i] = text
            if text:
                header = _plain(columns[i].header) if table.show_header else ""
                if i < names and header:  # x = 2, and the derivative column's ∂f/∂ + y reads ∂f/∂y
                    text = f"{header}{text}" if header.endswith("∂") else f"{header} = {text}"
                label.append(text)
        fields = Table.grid(padding=(0, 2), pad_edge=False)
        fields.add_column(style="dim")
        fields.add_column(overflow="fold")  # the last resort: digits continue below, none lost
        for column, cell in list(zip(columns, cells))[label_columns:]:
            if _plain(cell):
                fields.add_row(_plain(column.header) if table.show_header else "", cell,
                               style=table.rows[row].style)
        heading = Text(" · ".join(label), style="bold")
        if fields.row_count:
            from rich.padding import Padding

            # narrower still: each value on a line of its own, under its column's name
            items: list[RenderableType] = [
                item for column, cell in list(zip(columns, cells))[label_columns:] if _plain(cell)
                for item in (Text(_plain(column.header) if table.show_header else "", style="dim"),
                             Padding(cell, (0, 0, 0, 2)))]
            lines = Group(*items)
            parts += [heading, Padding(Fit(fields, narrow=lines), (0, 0, 0, 2))]
        else:
            parts.append(heading)
    return Group(*parts)


class Fit:
    """`table` when it fits the width it is given, else the first of `shorter` (the same table with
    shorter cells, e.g. vectors cut to their first entries) that fits, else the cells stacked."""

    def __init__(self, table: Table, label_columns: int = 1, narrow=None, named: bool | int = False,
                 shorter: tuple[Table, ...] = ()):
        self.table, self.label_columns, self.narrow, self.named = table, label_columns, narrow, named
        self.shorter = shorter

    def __rich_console__(self, console, options):
        for table in (self.table, *self.shorter):
            if _fits(console, options.max_width, table):
                yield table
                return
        yield self.narrow if self.narrow is not None else stacked(self.table, self.label_columns, self.named)
