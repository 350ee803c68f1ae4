"""The screens' title bar: Textual's Header, with its title drawn only while the header still holds it.

Textual's Header (8.2.8, pinned) watches the app's and the screen's title and sub_title from its mount, and
each watch first runs at once, as a coroutine queued on the header: `self.query_one(HeaderTitle).update(...)`,
guarded against NoScreen only. A screen removed in the same moment it was pushed (a `run_test` ending right
after `open_run`, an app closing as a run screen opens) prunes the header's children before that queue is
flushed, and the four queued coroutines each raised `NoMatches: HeaderTitle` (tui9), which Textual reports
as the app's error. Here the title is drawn when the header still has its HeaderTitle, and nothing is done
when it has none: there is nothing left to draw it on.
"""

from __future__ import annotations

import contextlib

from textual.dom import NoScreen
from textual.events import Mount
from textual.widget import Widget
from textual.widgets import Header as TextualHeader
from textual.widgets._header import HeaderTitle


class Header(TextualHeader):
    """Textual's Header (same look, same CSS type), whose title watchers skip a header already emptied."""

    def _on_mount(self, event: Mount) -> None:
        event.prevent_default()  # (Textual's Header._on_mount would register its unguarded watchers)
        Widget._on_mount(self, event)  # what the default would have done next: the scrollbars' styles

        async def set_title() -> None:
            titles = self.query(HeaderTitle)
            if not titles:  # the header's children are gone (its screen removed as it opened)
                return
            with contextlib.suppress(NoScreen):  # (as Textual's: the header is off its screen)
                titles.first().update(self.format_title())

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
