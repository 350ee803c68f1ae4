"""F1 / ?: the keys of the screen the user was on."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def key_table(screen: Screen) -> Table:
    """Every binding active on `screen` (its own, its focused widget's and the app's), one per key."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    seen: set[tuple[str, str]] = set()
    for active in screen.active_bindings.values():
        if active.node is not screen and active.node is not screen.app:
            continue  # the focused widget's own keys (cursor movement, editing) are standard
        binding = active.binding
        text = binding.description or binding.action.replace("_", " ")
        if not text or binding.action in ("noop",):
            continue
        if binding.key.startswith("super+"):
            continue  # the macOS twin of a ctrl key already listed
        display = screen.app.get_key_display(binding)
        if (display, text) in seen:
            continue
        seen.add((display, text))
        table.add_row(display, text)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below, with a line on what the screen is for."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; padding-bottom: 1; }
    """

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        about = (self.for_screen.__class__.__doc__ or "").strip().splitlines()[0:1]
        title = f"Keys — {self.for_screen.__class__.__name__.removesuffix('Screen').lower() or 'screen'}"
        with VerticalScroll():
            yield Static(title, id="help-title")
            if about:
                yield Static(about[0], id="help-about")
            yield Static(key_table(self.for_screen), id="help-keys")
            yield Static(
                "ctrl+p lists every action; the mouse works everywhere. escape closes.", classes="dim"
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
