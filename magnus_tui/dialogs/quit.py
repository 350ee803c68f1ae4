"""Leaving while runs started here are running: stop them, keep them running in the background, or stay."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

STOP, KEEP = "stop", "keep"


def shown_path(path: Path) -> str:
    """`path` with the home folder as `~` (shorter, and copy-pasteable into a shell)."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)


def consoles_text(consoles: list[Path]) -> str:
    """Where the runs' own `magnus execute` output goes: the file itself for one run, the folder and how
    its files are named for several (a file per run, named after its run id)."""
    if not consoles:
        return ""
    if len(consoles) == 1:
        return f"What magnus itself prints goes to {shown_path(consoles[0])}."
    folders = sorted({shown_path(path.parent) for path in consoles})
    return f"What magnus itself prints goes to {', '.join(folders)}, a file per run: <run id>.log."


class QuitPrompt(ModalScreen[str | None]):
    """s stops the runs and quits, k keeps them running and quits, escape stays."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('')", "Stay"),
        Binding("s", "choose('stop')", "Stop and quit"),
        Binding("k", "choose('keep')", "Keep running and quit"),
    ]
    DEFAULT_CSS = """
    QuitPrompt { align: center middle; }
    QuitPrompt > Vertical { width: 76; max-width: 95%; height: auto; max-height: 90%;
                            border: round $warning; background: $panel; padding: 0 1; }
    QuitPrompt Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    QuitPrompt Button { margin-left: 1; }
    """

    def __init__(self, run_ids: list[str], consoles: list[Path] | None = None) -> None:
        """`run_ids`: the runs still running; `consoles`: the files their `magnus execute` processes print
        to (Launched.console), named as they are in the prompt."""
        super().__init__()
        self.run_ids = run_ids
        self.consoles = consoles or []

    def compose(self) -> ComposeResult:
        title = (
            f"{len(self.run_ids)} runs started here are still running"
            if len(self.run_ids) > 1
            else f"Run {self.run_ids[0]} is still running"
        )
        about = Text()
        about.append("Stop: a run ends INTERRUPTED with what it did kept, and can be resumed.\n")
        about.append("Keep running: it goes on in the background, its steps' output still captured. ")
        about.append("Follow it in the workbench (")
        about.append("magnus tui", style="bold")
        about.append(") or with\n")
        for run_id in self.run_ids[:3]:
            about.append(f"  magnus logs {run_id} --follow\n", style="bold")
        if len(self.run_ids) > 3:
            about.append(f"  … and {len(self.run_ids) - 3} more\n")
        about.append(consoles_text(self.consoles), style="dim")
        with Vertical():
            yield Static(Text(title, style="bold"), id="quit-title")
            yield Static(about, id="quit-about")
            with Horizontal():
                yield Button("Stay (esc)", id="stay")
                yield Button("Keep running, quit (k)", id="keep", variant="primary")
                yield Button("Stop, quit (s)", id="stop", variant="error")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"stop": STOP, "keep": KEEP}.get(str(event.button.id)))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)
