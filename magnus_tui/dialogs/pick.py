"""Pick a pipeline file of the project (YAML files with a `dag:` block)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PickPipeline(ModalScreen[str | None]):
    """A list of the project's pipeline files; Enter picks one, escape keeps the current one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PickPipeline { align: center middle; }
    PickPipeline > Vertical { width: 70; max-width: 95%; height: auto; max-height: 80%;
                              border: round $accent; background: $panel; padding: 0 1; }
    PickPipeline OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, files: list[str]) -> None:
        super().__init__()
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick a pipeline", classes="title")
            if not self.files:
                yield Static("No YAML file with a 'dag:' block under this folder.", classes="dim")
            yield OptionList(*[Option(f, id=f) for f in self.files], id="pipelines")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickOne(ModalScreen[str | None]):
    """Pick one of a few choices, given as (value, label); Enter picks, escape cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PickOne { align: center middle; }
    PickOne > Vertical { width: 60; max-width: 95%; height: auto; max-height: 80%;
                         border: round $accent; background: $panel; padding: 0 1; }
    PickOne OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield OptionList(*[Option(label, id=f"choice-{i}") for i, (_, label) in enumerate(self.choices)])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(str(event.option.id).removeprefix("choice-"))
        self.dismiss(self.choices[index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
