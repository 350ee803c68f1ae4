"""Confirm a re-run from failure: which steps are reused from the old run and which run again."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from magnus_tui.view import REUSE, glyph


class ConfirmPlan(ModalScreen[bool]):
    """The plan of a re-run; Enter (or Re-run) starts it, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "confirm", "Re-run"),
    ]
    DEFAULT_CSS = """
    ConfirmPlan { align: center middle; }
    ConfirmPlan > Vertical { width: 72; max-width: 95%; height: auto; max-height: 90%;
                             border: round $accent; background: $panel; padding: 0 1; }
    ConfirmPlan VerticalScroll { height: auto; max-height: 14; }
    ConfirmPlan Horizontal { height: auto; align-horizontal: right; }
    ConfirmPlan Button { margin-left: 1; }
    """

    def __init__(self, run_id: str, plan: list[tuple[str, str, str]], pipeline: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.plan = plan
        self.pipeline = pipeline

    def compose(self) -> ComposeResult:
        text = Text()
        for name, action, status in self.plan:
            if action == REUSE:
                text.append(f"  {glyph(status, mock=True)} reuse  {name}\n", style="blue")
            else:
                text.append(f"  ▶ run    {name}", style="yellow")
                text.append(f"  (was {status.lower()})\n" if status else "\n", style="dim")
        with Vertical():
            yield Static(f"Re-run {self.run_id} from its failure", classes="title")
            yield Static(
                f"pipeline {self.pipeline or '(pick one)'}; steps that succeeded are copied, "
                "the rest run again:",
                classes="dim",
            )
            with VerticalScroll():
                yield Static(text, id="plan")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Re-run", id="ok", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
