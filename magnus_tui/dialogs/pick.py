"""Pick a pipeline file of the project (YAML files with a `dag:` block), filtered as you type; pick one of a
few choices."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from magnus_tui.widgets.lists import ListOptions


def pipeline_matches(path: str, text: str) -> bool:
    """Filter-as-you-type for pipeline files: every word typed appears in the path (any case)."""
    hay = path.lower()
    return all(word in hay for word in text.lower().split())


class PickPipeline(ModalScreen[str | None]):
    """The project's pipeline files with a filter box: typing narrows the list, ↑/↓ (and PgUp/PgDn,
    ctrl+Home/ctrl+End) move in it while the box keeps the focus, Enter picks the highlighted file,
    escape keeps the current one. `files` may come later (`set_files`): the project is searched in a
    worker while the dialog is already open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Down", show=False, priority=True),
        Binding("up", "move(-1)", "Up", show=False, priority=True),
        Binding("pagedown", "move(10)", "Page down", show=False, priority=True),
        Binding("pageup", "move(-10)", "Page up", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    PickPipeline { align: center middle; }
    PickPipeline > Vertical { width: 70; max-width: 95%; height: auto; max-height: 80%;
                              border: round $accent; background: $panel; padding: 0 1; }
    PickPipeline Input { height: 1; border: none; padding: 0 1; background: $boost; margin-bottom: 1; }
    PickPipeline Input:focus { border: none; background: $accent 30%; }
    PickPipeline OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, files: list[str] | None, current: str = "") -> None:
        super().__init__()
        self.files = files
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick a pipeline (type to filter)", classes="title")
            yield Input(placeholder="filter: part of the path", id="pick-filter")
            yield Static("", id="pick-note", classes="dim")
            yield ListOptions(id="pipelines")

    def on_mount(self) -> None:
        self.query_one("#pick-filter", Input).focus()
        self._fill()

    def set_files(self, files: list[str]) -> None:
        """The project's pipeline files, once found."""
        self.files = files
        if self.is_mounted:
            self._fill()

    def _fill(self) -> None:
        options = self.query_one("#pipelines", ListOptions)
        note = self.query_one("#pick-note", Static)
        text = self.query_one("#pick-filter", Input).value
        if self.files is None:
            note.update("Looking for pipeline files…")
            return
        shown = [f for f in self.files if pipeline_matches(f, text)]
        options.clear_options()
        options.add_options([Option(f, id=f) for f in shown])
        if not self.files:
            note.update("No YAML file with a 'dag:' block under this folder.")
        elif not shown:
            note.update(f"No pipeline file matches '{text}'.")
        else:
            note.update(f"{len(shown)} of {len(self.files)} pipeline files")
        if shown:
            options.highlighted = shown.index(self.current) if self.current in shown and not text else 0

    @on(Input.Changed, "#pick-filter")
    def _filtered(self) -> None:
        self._fill()

    def action_move(self, by: int) -> None:
        options = self.query_one("#pipelines", ListOptions)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else 0
            options.highlighted = max(0, min(options.option_count - 1, current + by))

    @on(Input.Submitted, "#pick-filter")
    def _submitted(self) -> None:
        options = self.query_one("#pipelines", ListOptions)
        if options.highlighted is not None and options.option_count:
            self.dismiss(str(options.get_option_at_index(options.highlighted).id))

    @on(OptionList.OptionSelected, "#pipelines")
    def _picked(self, event: OptionList.OptionSelected) -> None:
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

    def __init__(self, title: str, choices: list[tuple[str, str]], current: str | None = None) -> None:
        """`current`: the value highlighted when the list opens (the first choice when None or absent)."""
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield OptionList(*[Option(label, id=f"choice-{i}") for i, (_, label) in enumerate(self.choices)])

    def on_mount(self) -> None:
        values = [value for value, _ in self.choices]
        if self.current in values:
            self.query_one(OptionList).highlighted = values.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(str(event.option.id).removeprefix("choice-"))
        self.dismiss(self.choices[index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
