"""The secret prompt: masked input; the value goes to the run in memory only, never shown or saved."""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

if TYPE_CHECKING:
    from textual.app import App


class SecretPrompt(ModalScreen[str | None]):
    """Asks for one secret; Enter gives it to the run, escape cancels (the run stops cleanly)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SecretPrompt { align: center middle; }
    SecretPrompt > Vertical {
        width: 64; max-width: 95%; height: auto; border: round $warning; background: $panel; padding: 0 1;
    }
    SecretPrompt Horizontal { height: auto; align-horizontal: right; }
    SecretPrompt Button { margin-left: 1; }
    """

    def __init__(self, name: str, run_id: str = "") -> None:
        super().__init__()
        self.secret_name = name
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"The run {self.run_id} needs the secret '{self.secret_name}'.".replace("  ", " "),
                classes="title",
            )
            yield Static(
                "It is kept in memory for this run only: never shown, logged or saved.", classes="dim"
            )
            yield Input(password=True, placeholder=self.secret_name, id="secret-value")
            with Horizontal():
                yield Button("Cancel run", id="cancel", variant="error")
                yield Button("Use", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self.query_one(Input).value)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SecretBroker:
    """The bridge the executor thread calls: shows the prompt on the UI thread and waits for the answer."""

    def __init__(self, app: App[Any], run_id: str = "") -> None:
        self.app = app
        self.run_id = run_id

    def __call__(self, name: str) -> str | None:
        """Called from a worker thread; blocks until the user answers (None: cancelled)."""
        future: concurrent.futures.Future[str | None] = concurrent.futures.Future()

        def show() -> None:
            self.app.push_screen(SecretPrompt(name, self.run_id), callback=future.set_result)

        self.app.call_from_thread(show)
        return future.result()
