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


class KeysFooter(Footer):
    """Textual's Footer, built again only when what it shows changed.

    Textual's footer rebuilds all its keys after every change of focus or of the screen stack, one rebuild
    per change even when several come in one frame (opening a run's screen made three), and each key it
    builds restyles itself twice (a compact class set, then cleared): 50-70 ms of CPU a rebuild, a quarter of
    opening a screen. The keys shown depend only on the screen's active bindings, so a rebuild that would
    draw the same keys is skipped."""

    _shown: tuple[object, ...] | None = None

    def _keys(self) -> tuple[object, ...]:
        """What a rebuild would draw: each binding shown (key, action, text, enabled, tooltip)."""
        keys = tuple(
            (binding.key, binding.key_display, binding.action, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show or binding.key == self.app.COMMAND_PALETTE_BINDING
        )
        return (*keys, self.show_command_palette, self.combine_groups)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        keys = self._keys()
        if keys == self._shown and self._bindings_ready:
            return
        self._shown = keys
        await super().recompose()


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
        for footer in self.query(Footer):  # KeysFooter, or Textual's
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
