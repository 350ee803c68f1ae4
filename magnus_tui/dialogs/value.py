"""One change of a run diff in full: run A's value and run B's, whole and wrapped (hashes, long text, a dag
step as YAML), with what the diff says about it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from magnus_core.diff import ADDED, REMOVED
from magnus_core.diff_render import diff_row, full_text


def change_text(change: Any, run_a: str, run_b: str) -> Text:
    """The change, whole: what it is, then each side's value in full (a side without it says so)."""
    row = diff_row(change)
    text = Text()
    text.append(f"{row.mark} ", style=row.style)
    text.append(change.key, style="bold")
    text.append(f"\n{row.text}", style="dim")
    if row.detail:
        text.append(f"  {row.detail}", style="dim")
    for label, run_id, value, absent in (
        ("A", run_a, change.before, change.kind == ADDED),
        ("B", run_b, change.after, change.kind == REMOVED),
    ):
        text.append(f"\n\nrun {label}  {run_id}\n", style="bold")
        if absent or (value is None and change.field == "files_between" and label == "A"):
            text.append("(not in this run)", style="dim")
        else:
            text.append(full_text(value))
    return text


class ValueView(ModalScreen[None]):
    """A change of the diff in full; escape (or Enter, v) closes, c copies both values."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,v", "close", "Close"),
        Binding("c", "copy", "Copy"),
        Binding("j,down", "scroll('down')", "Down", show=False),
        Binding("k,up", "scroll('up')", "Up", show=False),
        Binding("g,home", "scroll('home')", "First line", show=False),
        Binding("G,end", "scroll('end')", "Last line", show=False),
    ]
    DEFAULT_CSS = """
    ValueView { align: center middle; }
    ValueView > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    ValueView VerticalScroll { height: auto; max-height: 100%; }
    ValueView #value-hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, change: Any, run_a: str, run_b: str) -> None:
        super().__init__()
        self.change = change
        self.run_a, self.run_b = run_a, run_b

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="value-scroll"):
                yield Static(change_text(self.change, self.run_a, self.run_b), id="value-text")
            yield Static("escape closes · c copies · ↑↓ scroll", id="value-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#value-scroll", VerticalScroll)
        {
            "down": scroll.scroll_down,
            "up": scroll.scroll_up,
            "home": scroll.scroll_home,
            "end": scroll.scroll_end,
        }[direction](animate=False)

    def action_copy(self) -> None:
        c = self.change
        self.app.copy_to_clipboard(f"{c.key}\nA: {full_text(c.before)}\nB: {full_text(c.after)}")
        self.notify(f"Copied {c.key}", title="Clipboard")
