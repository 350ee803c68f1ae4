"""The base of every workbench screen: `self.app` typed as the workbench, not as any Textual app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events
from textual.screen import Screen, ScreenResultType
from textual.widgets import DataTable, Footer

if TYPE_CHECKING:
    from textual import getters

    from magnus_tui.app import MagnusApp


NARROW = 100  # columns: below this the footer is drawn compact, so its keys (F1 Help last) are not cut


class WorkbenchScreen(Screen[ScreenResultType]):
    """A screen of the magnus workbench; `app` is the MagnusApp (its project, live runs, actions)."""

    if TYPE_CHECKING:  # Textual's own typed getter; at run time the inherited property does the work
        app = getters.app(MagnusApp)

    async def _on_key(self, event: events.Key) -> None:
        """Note the screen a key went through: the app checks a key's bindings only once it has bubbled up,
        and by then a key typed right after `s` may find the start form on top (MagnusApp._on_key)."""
        event.typed_on = self  # type: ignore[attr-defined]

    def on_resize(self, event: events.Resize) -> None:
        """At 80 columns the footer's keys ran off its end (`F1 Hel▏`): compact below NARROW columns."""
        for footer in self.query(Footer):
            footer.compact = event.size.width < NARROW


def row_at_cursor(table: DataTable[Any]) -> str | None:
    """The key of the row under a DataTable's cursor (None when the table is empty)."""
    if table.row_count == 0:
        return None
    try:
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    except Exception:
        return None
    return str(key.value)
