"""One group of a run diff as a list: the rows `magnus diff` prints (magnus_core.diff_render's model), one
option each, long values wrapped, an added or removed dag step as YAML."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets.option_list import Option

from magnus_core.diff_render import DiffRow
from magnus_tui.widgets.lists import ListOptions

MAX_ROWS = 2000  # rows drawn per group; `magnus diff --all` prints them all
MAX_KEY = 40  # the item column's width at most (longer keys wrap)


def row_prompt(row: DiffRow, key_width: int) -> Table:
    """The option of one row: mark, item, what happened (and the detail), the YAML block under it."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(width=key_width, overflow="fold")
    grid.add_column(ratio=1, overflow="fold")
    text = Text(row.text, style="dim" if row.equal else "")
    if row.detail:
        text.append("  ")
        text.append(row.detail, style="dim")
    for line in row.block:
        text.append(f"\n{line}", style="dim")
    grid.add_row(Text(row.mark, style=row.style), Text(row.key, style="dim" if row.equal else ""), text)
    return grid


class DiffList(ListOptions):
    """The rows of one group; `show(rows)` refills it and keeps the highlight on the same item."""

    DEFAULT_CSS = """
    DiffList { height: 1fr; border: none; padding: 0; }
    DiffList:focus { border: none; }
    """

    def __init__(self, group: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group = group
        self.rows: list[DiffRow] = []

    def show(self, rows: list[DiffRow]) -> None:
        keep = self.highlighted_row()
        self.rows = rows[:MAX_ROWS]
        width = min(MAX_KEY, max((len(r.key) for r in self.rows), default=1))
        options: list[Option | None] = [
            Option(row_prompt(row, width), id=str(i)) for i, row in enumerate(self.rows)
        ]
        if len(rows) > MAX_ROWS:
            options.append(
                Option(
                    Text(f"… {len(rows) - MAX_ROWS} more: magnus diff --all prints them all", style="dim"),
                    disabled=True,
                )
            )
        self.clear_options()
        self.add_options(options)
        if not self.rows:
            return
        keys = [r.change.key + r.change.field for r in self.rows]
        at = (
            keys.index(keep.change.key + keep.change.field)
            if keep and keep.change.key + keep.change.field in keys
            else 0
        )
        self.highlighted = at

    def highlighted_row(self) -> DiffRow | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.rows):
            return None
        return self.rows[self.highlighted]

    def highlighted_change(self) -> Any:
        row = self.highlighted_row()
        return row.change if row is not None else None
