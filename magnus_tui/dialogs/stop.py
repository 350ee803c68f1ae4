"""Confirm stopping a running run: which run, which process, and what stopping does."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from magnus_core.models.run_log import RunLog, local_text
from magnus_core.runs import process_of


class ConfirmStop(ModalScreen[bool]):
    """Stop the run? y or Enter stops it, n or escape keeps it running."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Keep running"),
        Binding("enter,y", "confirm", "Stop"),
    ]
    DEFAULT_CSS = """
    ConfirmStop { align: center middle; }
    ConfirmStop > Vertical { width: 70; max-width: 95%; height: auto; max-height: 90%;
                             border: round $error; background: $panel; padding: 0 1; }
    ConfirmStop Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmStop Button { margin-left: 1; }
    """

    def __init__(self, log: RunLog, pid: int, *, started_here: bool) -> None:
        super().__init__()
        self.run_log = log
        self.pid = pid
        self.started_here = started_here

    def compose(self) -> ComposeResult:
        process = process_of(self.run_log)
        started = local_text(str(process.get("started_at") or ""))[:19]
        where = "started from this workbench" if self.started_here else "started in another terminal"
        about = Text()
        about.append(
            f"pid {self.pid} on {process.get('host', '?')}, since {started or '?'} ({where})\n", "dim"
        )
        about.append("The steps in progress are recorded INTERRUPTED; what is done is kept, and the run can ")
        about.append("be resumed (R). The process gets SIGTERM, and SIGKILL if it has not ended in 30 s.")
        with Vertical():
            yield Static(Text(f"Stop run {self.run_log.run_id}?", style="bold"), id="stop-title")
            yield Static(about, id="stop-about")
            with Horizontal():
                yield Button("Keep running (n)", id="cancel")
                yield Button("Stop (y)", id="ok", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
