"""The workbench's footer: Textual's, compact below 100 columns so that F1 (which lists every key) and
quit still show at 80 columns."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

NARROW = 100  # columns: below this the keys are packed closer


class WorkbenchFooter(Footer):
    """Footer that packs its keys closer on a narrow terminal (the less used keys are hidden from it by
    the screens; F1 lists them all)."""

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < NARROW
