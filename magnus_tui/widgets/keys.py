"""Keys run in the order they were typed.

Textual runs a key's bindings (backspace in a text box, escape, a list's `d` or `j`) only when the key has
bubbled up from the focused widget to the app, through the screen's queue of messages, while the widget goes
on with the next keys. A printable key is inserted at once, so in a burst of keys (a fast typist, a paste)
the bindings ran after the letters typed after them: `2026113⌫⌫⌫abc` in the runs filter gave `2026abc`'s
letters first and then deleted them, and an escape typed before `/` moved the focus back to the list after
`/` had opened the filter (trial 4, finding 2). The widgets here run the bindings of a key when they get
it, so keys act in order whatever is queued on the screen (a filter over 2,000 runs)."""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Input


async def run_bindings_now(widget: Widget, event: events.Key) -> bool:
    """Act on a key `widget` got as the focused widget would have at the moment it was typed; True when
    done (the key is then stopped): a key that reaches it after the focus moved on (the app sends each key
    to the widget focused when the app reads it, which can be before an earlier key's Enter or `/` moved
    the focus) goes on to the widget focused now; else the bindings the key has from `widget` up to the app
    run now (what Textual would run once the key bubbled up). Nothing is done for a widget that is not on
    the screen on top (MagnusApp._on_key sends such keys to the top screen)."""
    app = widget.app
    screen = app.screen
    if widget.screen is not screen:
        return False
    focused = screen.focused
    if focused is not None and focused is not widget:
        event.stop()
        event.prevent_default()
        focused._forward_event(events.Key(event.key, event.character))
        return True
    if focused is widget and await app._check_bindings(event.key):  # Textual's own lookup (App._on_key)
        event.stop()
        event.prevent_default()
        return True
    return False


class KeysInOrder:
    """Mixed in before a Textual widget class: the widget's keys' bindings run when it gets each key. (A
    plain class: a Widget subclass here would stand in the widget's CSS and component classes.) Textual
    calls the `_on_key` of every class of the widget in turn, until one prevents the default: no super()."""

    async def _on_key(self, event: events.Key) -> None:
        if isinstance(self, Widget):
            await run_bindings_now(self, event)


class InOrderInput(Input):
    """A text box whose editing keys (backspace, delete, arrows, Enter) and the screen's keys (escape)
    act in the order typed, between the letters typed before and after them."""

    async def _on_key(self, event: events.Key) -> None:
        # a letter for this box: Input's own _on_key (called next by Textual) types it
        if not (self.screen.focused is self and event.is_printable):
            await run_bindings_now(self, event)
