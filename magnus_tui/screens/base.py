"""The base of every workbench screen: `self.app` typed as the workbench, not as any Textual app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.notifications import Notification, Notify, SeverityLevel
from textual.screen import Screen, ScreenResultType
from textual.widgets import DataTable, Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual import getters

    from magnus_tui.app import MagnusApp


NARROW = 100  # columns: below this the footer is drawn compact, so its keys (F1 Help last) are not cut


class KeysFooter(Footer):
    """Textual's Footer, with whole keys only, built again only when what it shows changed.

    Keys that do not fit the width are left out, never cut: Textual's footer ran its keys off the end (at
    80 columns the run screen's Output tab showed `x Stop R ▏^p palettei`, a key without its label and a
    stray letter, and neither F1 nor `q`: trial 5). The keys that work everywhere (F1 help, `q` quit) and
    the palette always show; the others are kept in the order the screen lists them (the view with the
    focus first, then the screen's) while they fit.

    Textual's footer also rebuilds all its keys after every change of focus or of the screen stack, one
    rebuild per change even when several come in one frame (opening a run's screen made three), and each
    key it builds restyles itself twice (a compact class set, then cleared): 50-70 ms of CPU a rebuild, a
    quarter of opening a screen. A rebuild that would draw the same keys is skipped."""

    _shown: tuple[object, ...] | None = None

    def _fitted(self) -> list[tuple[Binding, bool, str]]:
        """The keys shown: (binding, enabled, tooltip), one per action, those that fit the screen's width.
        First the keys that work everywhere, then the screen's own (what it does for the run's state: stop,
        re-run, its tabs), then those of the view with the focus while they fit; shown in Textual's order
        (the view's, the screen's, the app's)."""
        bindings: dict[str, tuple[Binding, bool, str, int]] = {}
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in bindings:
                rank = 0 if node is self.app else 1 if node is self.screen else 2
                bindings[binding.action] = (binding, enabled, tooltip, rank)
        width = self.screen.size.width or self.app.size.width
        palette = self.app.COMMAND_PALETTE_BINDING
        show_palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        # (the palette's key: a border before it and a column of padding after)
        room = width - (key_width(self.app, palette, "palette", self.compact) + 2 if show_palette else 0)
        keys = list(bindings.values())
        kept: set[int] = set()
        for rank in (0, 1, 2):
            for index, (binding, _, _, key_rank) in enumerate(keys):
                if key_rank != rank:
                    continue
                cost = key_width(self.app, binding.key, binding.description, self.compact, binding)
                if rank == 0 or cost <= room:
                    kept.add(index)
                    room -= cost
                else:
                    room = -1  # no later key in place of this one: the order is the order of importance
        return [(b, enabled, tooltip) for i, (b, enabled, tooltip, _) in enumerate(keys) if i in kept]

    def compose(self) -> ComposeResult:
        """Textual's Footer.compose (no key groups: the workbench has none) over the keys that fit."""
        if not self._bindings_ready:
            return
        shown = self._fitted()
        self.styles.grid_size_columns = len(shown)
        for binding, enabled, tooltip in shown:
            key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            )
            # (not data_bind: built again when `compact` changes, a resize, which may change what fits)
            key.set_reactive(FooterKey.compact, self.compact)
            key.set_class(self.compact, "-compact")
            yield key
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _node, binding, enabled, _tooltip = palette
                yield FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette",
                    disabled=not enabled,
                    tooltip=binding.tooltip or binding.description,
                )

    def _keys(self) -> tuple[object, ...]:
        """What a rebuild would draw: each binding shown (key, action, text, enabled, tooltip)."""
        keys = tuple(
            (binding.key, binding.key_display, binding.action, binding.description, enabled, tooltip)
            for binding, enabled, tooltip in self._fitted()
        )
        return (*keys, self.show_command_palette, self.combine_groups, self.compact)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        keys = self._keys()
        if keys == self._shown and self._bindings_ready:
            return
        self._shown = keys
        await super().recompose()


def key_width(app: Any, key: str, description: str, compact: bool, binding: Binding | None = None) -> int:
    """Columns a footer key takes (Textual's FooterKey: the key, a space and the text; compact: one column
    of margin, else a column of padding either side)."""
    display = app.get_key_display(binding) if binding is not None else app.get_key_display(Binding(key, ""))
    text = cell_len(display) + 1 + cell_len(description)
    return text + 1 if compact else text + 2


class WorkbenchScreen(Screen[ScreenResultType]):
    """A screen of the magnus workbench; `app` is the MagnusApp (its project, live runs, actions)."""

    if TYPE_CHECKING:  # Textual's own typed getter; at run time the inherited property does the work
        app = getters.app(MagnusApp)

    _notices: list[Notification]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A notice about this screen (Textual's toast): it goes with the screen, when the screen is left
        (escape, or another screen on top: dismiss_notices), not after its timeout over whatever screen came
        next. Trial 7: the diff screen's "This change belongs to no step" stayed drawn over the runs list
        and the start form opened after escape. Notices about the app (a run that did not start, a
        screenshot saved) are raised by the app and stay their time."""
        notification = Notification(
            message,
            title,
            severity,
            self.app.NOTIFICATION_TIMEOUT if timeout is None else timeout,
            markup=markup,
        )
        if not hasattr(self, "_notices"):
            self._notices = []
        self._notices.append(notification)
        self.app.post_message(Notify(notification))

    @on(events.ScreenSuspend)
    @on(events.Unmount)
    def dismiss_notices(self) -> None:
        """Take down this screen's notices still shown (notify)."""
        notices, self._notices = getattr(self, "_notices", []), []
        shown = self.app._notifications  # Textual's notices (its version is pinned)
        gone = [n for n in notices if n in shown]
        for notification in gone:
            self.app._unnotify(notification, refresh=False)
        if gone:
            self.app._refresh_notifications()

    async def _on_key(self, event: events.Key) -> None:
        """Note the screen a key went through: the app checks a key's bindings only once it has bubbled up,
        and by then a key typed right after `s` may find the start form on top (MagnusApp._on_key)."""
        event.typed_on = self  # type: ignore[attr-defined]

    def on_resize(self, event: events.Resize) -> None:
        """At 80 columns the footer's keys ran off its end (`F1 Hel▏`): compact below NARROW columns."""
        for footer in self.query(Footer):  # KeysFooter, or Textual's
            footer.compact = event.size.width < NARROW
            if isinstance(footer, KeysFooter):  # the keys that fit the new width
                footer.call_after_refresh(footer.recompose)


def row_at_cursor(table: DataTable[Any]) -> str | None:
    """The key of the row under a DataTable's cursor (None when the table is empty)."""
    if table.row_count == 0:
        return None
    try:
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    except Exception:
        return None
    return str(key.value)
