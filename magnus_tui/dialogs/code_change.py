"""The content change between the code two runs ran (`magnus diff A B --code`): the diff screen's `v` on a
row of its code tab."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from magnus_tui.dialogs.value import ValueView

LINE_STYLES = {"@": "cyan", "+": "green", "-": "red"}


def change_lines(change: Any) -> Text:
    """code_patch.CodeChange as the terminal shows it: its notes (dim), then the unified diff, coloured
    as `magnus diff A B --code` colours it."""
    text = Text()
    for note in change.notes:
        text.append(f"{note}\n", style="dim")
    if not change.lines:
        text.append("The code is the same in both runs.", style="dim")
    for line in change.lines:
        if line.startswith(("diff --git", "index ", "--- ", "+++ ", "# ")):
            text.append(f"{line}\n", style="bold")
        else:
            text.append(f"{line}\n", style=LINE_STYLES.get(line[:1], ""))
    text.rstrip()
    return text


class CodeChangeView(ValueView):
    """What changed in the code from run A to run B (code_patch.code_change, read off the UI thread: it
    asks git); a ValueView's keys and frame: escape (or Enter, v) closes, c copies the diff."""

    def __init__(self, a: Any, b: Any, repo: str) -> None:
        super().__init__(None, a.run_id, b.run_id)
        self.a, self.b, self.repo = a, b, repo

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"code  {self.run_a} → {self.run_b}", style="bold"))
            with VerticalScroll(id="value-scroll"):
                yield Static("Asking git…", id="code-text")
            yield Static("escape closes · c copies · ↑↓ scroll", id="value-hint")

    def on_mount(self) -> None:
        self.read()

    @work(thread=True, exclusive=True, group="code-change")
    def read(self) -> None:
        from magnus_core.code_patch import code_change

        change = code_change(self.a, self.b, self.repo)
        self.app.call_from_thread(self._show, change)

    def _show(self, change: Any) -> None:
        self.change = change
        self.query_one("#code-text", Static).update(change_lines(change))

    def action_copy(self) -> None:
        if self.change is not None:
            self.app.copy_to_clipboard("\n".join(self.change.lines))
            self.notify("Copied the code's diff", title="Clipboard")
