"""F1 / ?: the keys of the screen the user was on."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# Textual's own keys that say nothing about the workbench
SKIP_ACTIONS = {"noop", "help_quit", "focus_next", "focus_previous", "screen.copy_text", "copy_text"}


# Textual's words for its own keys, in magnus's case (its footer's `^p palette` read `palette` in the help,
# lower case among `Quit`, `Help`: session 11)
OWN_WORDS = {"command_palette": "Command palette"}


def key_rows(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every key active on `screen`, once, in up to four sections: the screen's own keys, the keys of the
    view that has focus that do something there (the Output tab's `/` search, `n`/`N` its matches, `w`
    wrap), its movement (arrows, j/k, g/G, Enter), and the keys that work everywhere. Keys doing the same
    thing share one row ('↑ k  Up'). Returns [(section, [(keys, what)])]."""
    from magnus_tui.widgets.lists import NAVIGATION

    moves = set(NAVIGATION.values())
    app = screen.app
    sections: dict[str, dict[str, list[str]]] = {
        "This screen": {},
        "This view": {},
        "Move": {},
        "Everywhere": {},
    }
    for active in screen.active_bindings.values():
        binding, node = active.binding, active.node
        action = binding.action.removeprefix("app.").removeprefix("screen.")
        if action in SKIP_ACTIONS:
            # Textual's copy keys step aside when nothing is selected: the app's binding of the key is
            # what the user gets (ctrl+c quits)
            behind = [
                b for b in app._bindings.key_to_bindings.get(binding.key, []) if b.action != binding.action
            ]
            if not behind:
                continue
            binding, node = behind[0], app
            action = binding.action
        if action in SKIP_ACTIONS or binding.key.startswith("super+"):
            continue  # (super+: the macOS twin of a ctrl key already listed)
        if node is screen:
            section = "This screen"
        elif node is app:
            section = "Everywhere"
        else:
            section = "Move"
        # (a screen's own key may have its longer text as tooltip, its footer label short: the diff screen)
        text = (binding.tooltip if section == "This screen" else "") or binding.description
        text = text or NAVIGATION.get(action, "") or action.replace("_", " ")
        if section == "Move":
            text = NAVIGATION.get(action, text)
            if text not in moves:  # (issue 16: the Output tab's search was listed among the moves)
                section = "This view"
        text = OWN_WORDS.get(action, text)
        display = app.get_key_display(binding)
        keys = sections[section].setdefault(text, [])
        if display not in keys:
            keys.append(display)
    return [
        (name, [(" ".join(keys), text) for text, keys in rows.items()])
        for name, rows in sections.items()
        if rows
    ]


def key_table(screen: Screen) -> Table:
    """The keys of `screen` as a table: a heading per section, then 'keys  what they do' rows."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    for index, (section, rows) in enumerate(key_rows(screen)):
        if index:
            table.add_row("", "")
        table.add_row(section, "", style="bold underline")
        for keys, text in rows:
            table.add_row(keys, text)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below, with a line on what the screen is for."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll('down')", "Down", show=False),
        Binding("k,up", "scroll('up')", "Up", show=False),
        Binding("g,home", "scroll('home')", "First line", show=False),
        Binding("G,end", "scroll('end')", "Last line", show=False),
    ]
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
            note = getattr(self.for_screen, "help_note", None)
            said = note() if callable(note) else None
            if said:  # keys of a view not focused now (the run screen's Output tab: its search)
                yield Static(said, id="help-note")
            yield Static(key_table(self.for_screen), id="help-keys")
            yield Static(
                "ctrl+p lists every action and finds runs; the mouse works everywhere. escape closes.",
                classes="dim",
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one(VerticalScroll)
        {
            "down": scroll.scroll_down,
            "up": scroll.scroll_up,
            "home": scroll.scroll_home,
            "end": scroll.scroll_end,
        }[direction](animate=False)
