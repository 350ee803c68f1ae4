"""Lists that move like every list of the workbench: arrows and j/k, g/Home to the first row, G/End to the
last, PgUp/PgDn; a click selects the row under the pointer, a click on the selected row opens it."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.widgets import DataTable, OptionList
from textual.widgets.data_table import ColumnKey, RowKey

from magnus_tui.widgets.keys import KeysInOrder

# What the help screen calls the keys every list shares (one line per action, whichever list defines it).
NAVIGATION = {
    "cursor_up": "Up",
    "cursor_down": "Down",
    "first": "First row",
    "last": "Last row",
    "page_up": "Page up",
    "page_down": "Page down",
    "cursor_left": "Left",
    "cursor_right": "Right",
    "select_cursor": "Open",
    "select": "Open",
    "scroll_up": "Up",
    "scroll_down": "Down",
    # (sideways in a view that scrolls: Textual's own texts are `Scroll Left`, `Page Right`, title case)
    "scroll_left": "Scroll left",
    "scroll_right": "Scroll right",
    "page_left": "Page left",
    "page_right": "Page right",
    "scroll_home": "First line",
    "scroll_end": "Last line",
    "scroll_top": "First row",
    "scroll_bottom": "Last row",
    "jump(0)": "First line",
    "jump(-1)": "Last line",
}

LIST_BINDINGS: list[BindingType] = [
    Binding("k", "cursor_up", "Up", show=False),
    Binding("j", "cursor_down", "Down", show=False),
    Binding("g,home,ctrl+home", "first", "First row", show=False),
    Binding("G,end,ctrl+end", "last", "Last row", show=False),
]

# The same keys for a view that scrolls (a step's output, the Run and Step tabs): vim-style keys wherever
# Home/End work (trial 5: `g`/`G` did nothing in the Output tab, Home/End did).
SCROLL_BINDINGS: list[BindingType] = [
    Binding("k", "scroll_up", "Up", show=False),
    Binding("j", "scroll_down", "Down", show=False),
    Binding("g", "scroll_home", "First line", show=False),
    Binding("G", "scroll_end", "Last line", show=False),
]


class VimTable(DataTable[Any]):
    """A plain DataTable (a step's attempts, the run's parameters and metrics, the experiments table) with
    `j`/`k` as ↑/↓ and `g`/`G` as ctrl+Home/ctrl+End (first and last row; its Home/End scroll sideways)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]


class CellTable(DataTable[Any]):
    """A DataTable whose `set_cell` redraws one row, not the whole table."""

    _whole = True  # refresh() redraws the whole table (False: only the row set_cell asked for)

    def set_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: Any) -> None:
        """update_cell, redrawing only that row: DataTable.update_cell redraws every visible row (a running
        run's duration moving once drew the whole runs list: 25 rows, 30-40 ms). The other rows' lines
        drawn before stay right (only this cell changed); a value wider than its column widens it, and
        then the whole table is drawn again."""
        column = self.columns.get(column_key if isinstance(column_key, ColumnKey) else ColumnKey(column_key))
        text = value if isinstance(value, Text) else Text.from_markup(str(value))  # as DataTable reads it
        wider = column is not None and text.cell_len > column.content_width
        self._whole = wider
        try:
            self.update_cell(row_key, column_key, value, update_width=wider)
        finally:
            self._whole = True
        if not wider:
            self.refresh_row(self.get_row_index(row_key))

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if not (self._whole or regions or layout or recompose):
            return self  # set_cell: refresh_row marks the row's line
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


class ListTable(KeysInOrder, CellTable):
    """A DataTable of rows (row cursor) with the workbench's list keys; Home/End go to the first/last row
    (DataTable's own scroll sideways, which a list of runs never needs: ←/→ still do). Its keys act in the
    order typed (widgets/keys.py)."""

    BINDINGS: ClassVar[list[BindingType]] = LIST_BINDINGS

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)

    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        """The cursor's row stays in view when the list gets shorter: a panel under it grows when the row
        is highlighted (a failed run's reason, two lines at 80 columns), after the list scrolled to it, and
        G/End left the last run under the horizontal scrollbar (trial 4).
        (DataTable's own handler runs too.)"""
        if self.row_count and self.cursor_type == "row":
            self.call_after_refresh(self._scroll_cursor_into_view)

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def action_cursor_right(self) -> None:
        """←/→ on a row cursor: the columns that do not fit come into view, a third of the width a press
        (the fixed columns, such as a run's status and id, stay put)."""
        if self.cursor_type == "row":
            self.scroll_to(x=self.scroll_x + max(4, self.size.width // 3), animate=False)
        else:
            super().action_cursor_right()

    def action_cursor_left(self) -> None:
        if self.cursor_type == "row":
            self.scroll_to(x=max(0, self.scroll_x - max(4, self.size.width // 3)), animate=False)
        else:
            super().action_cursor_left()

    @property
    def cut_columns(self) -> bool:
        """Columns past the right edge that → would bring into view."""
        return self.virtual_size.width > self.scroll_x + self.scrollable_content_region.width


class ListOptions(OptionList):
    """An OptionList with the workbench's list keys; a click highlights the option under the pointer and
    opens it only when it was already highlighted (as a DataTable does)."""

    BINDINGS: ClassVar[list[BindingType]] = LIST_BINDINGS

    def action_first(self) -> None:
        if self.option_count:
            self.highlighted = 0

    def action_last(self) -> None:
        if self.option_count:
            self.highlighted = self.option_count - 1

    async def _on_click(self, event: events.Click) -> None:
        event.prevent_default()  # instead of OptionList's (which opens whatever is clicked)
        clicked: int | None = event.style.meta.get("option")
        if clicked is None or self.get_option_at_index(clicked).disabled:
            return
        if clicked == self.highlighted:
            self.action_select()
        else:
            self.highlighted = clicked
