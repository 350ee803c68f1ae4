"""One step's log in two runs, side by side; lines that differ are highlighted."""

from __future__ import annotations

import difflib
from typing import ClassVar

import yaml
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from magnus_core.models.run_log import RunLog


def step_lines(log: RunLog, internal_name: str) -> list[str]:
    step = log.find_step(internal_name)
    if step is None:
        return ["(no such step in this run)"]
    data = step.model_dump(exclude={"branches"})
    data["branches"] = sorted(step.branches)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200).splitlines()


def marked(lines: list[str], other: list[str], style: str) -> Text:
    """The lines of one side, those not in the other side highlighted."""
    matcher = difflib.SequenceMatcher(a=lines, b=other, autojunk=False)
    same: set[int] = set()
    for block in matcher.get_matching_blocks():
        same.update(range(block.a, block.a + block.size))
    text = Text(no_wrap=True)
    for i, line in enumerate(lines):
        text.append(line + "\n", style=None if i in same else style)
    return text


class StepPairScreen(Screen[None]):
    """A step's log in run A (left) and run B (right)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [("Back to the diff", "escape", "back")]
    DEFAULT_CSS = """
    StepPairScreen Horizontal { height: 1fr; }
    StepPairScreen VerticalScroll { width: 1fr; border: round $primary 40%; padding: 0 1; }
    StepPairScreen Static { width: auto; }
    """

    def __init__(self, internal_name: str, a: RunLog, b: RunLog) -> None:
        super().__init__()
        self.internal_name = internal_name
        self.a, self.b = a, b

    def compose(self) -> ComposeResult:
        la, lb = step_lines(self.a, self.internal_name), step_lines(self.b, self.internal_name)
        yield Header()
        with Horizontal():
            with VerticalScroll(id="side-a") as left:
                left.border_title = f"A {self.a.run_id}"
                yield Static(marked(la, lb, "bold red"), id="step-a")
            with VerticalScroll(id="side-b") as right:
                right.border_title = f"B {self.b.run_id}"
                yield Static(marked(lb, la, "bold green"), id="step-b")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.internal_name

    def action_back(self) -> None:
        self.app.pop_screen()
