"""The magnus workbench: browse, watch, start and compare runs in the terminal.

`run_app(config_file)` is what `magnus` (no command) and `magnus tui` call.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from magnus_core.errors import MagnusError
from magnus_tui.commands import RunCommands, WorkbenchCommands
from magnus_tui.live import LiveRun
from magnus_tui.source import Project

if TYPE_CHECKING:
    from magnus_core.runner import RunRequest


class MagnusApp(App[None]):
    """The workbench: runs (home), run, diff and start-run screens; modal dialogs."""

    TITLE = "magnus"
    SUB_TITLE = "workbench"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {WorkbenchCommands, RunCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        # priority: these work from a modal too (a dialog, the help); ? stays a plain key (typed in forms)
        Binding("f1", "help", "Help", key_display="F1", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+t", "change_theme", "Theme", show=False),
        Binding("f12,ctrl+s", "screenshot_svg", "Screenshot", show=False, priority=True),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Help", "Keys of the current screen (F1, ?)", "help"),
        ("Runs", "Go to the list of runs", "home"),
        (
            "Experiments",
            "Compare many runs: a tag or filter, varying parameters and metrics, a chart",
            "experiments",
        ),
        ("Start a run", "Pick a pipeline, set parameters and a tag, run it here", "start_run"),
        ("Change theme", "Pick a colour theme (ctrl+t)", "change_theme"),
        ("Toggle dark/light", "Switch between the dark and light themes", "toggle_dark"),
        ("Screenshot", "Save an SVG of the screen in the current folder (F12)", "screenshot_svg"),
        ("Quit", "Leave the workbench (q)", "quit"),
    ]

    def __init__(
        self,
        project: Project | None = None,
        *,
        config_file: str | None = None,
        poll_interval: float = 1.0,
        follow_interval: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project or Project.open(config_file)
        self.poll_interval = poll_interval  # how often the runs screen looks for new runs
        self.follow_interval = follow_interval  # how often a run written by another process is re-read
        self.screenshot_dir = Path.cwd()
        self.live: dict[str, LiveRun] = {}  # runs this workbench is executing, by run id

    def on_mount(self) -> None:
        # kill -INT / -TERM (Ctrl-C inside the app is a key, not a signal): leave cleanly through Textual,
        # which restores the terminal, and let run_app exit 130 / 143 like `magnus execute`.
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            # not the main thread, or no signals here
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.exit, None, code)

    def get_default_screen(self) -> Screen[Any]:
        from magnus_tui.screens.runs import RunsScreen

        return RunsScreen()

    # -- navigation ----------------------------------------------------------------------------------
    def open_run(self, run_id: str) -> None:
        from magnus_tui.screens.run import RunScreen

        self.push_screen(RunScreen(run_id))

    def open_experiments(self, tag: str | None = None, where: str = "") -> None:
        from magnus_tui.screens.experiments import ExperimentsScreen

        self.push_screen(ExperimentsScreen(tag, where))

    def action_experiments(self) -> None:
        self.open_experiments()

    def open_diff(self, run_a: str, run_b: str) -> None:
        from magnus_tui.screens.diff import DiffScreen

        self.push_screen(DiffScreen(run_a, run_b))

    # -- runs started here -----------------------------------------------------------------------------
    def start_run(self, request: RunRequest) -> None:
        """Prepare and execute in a thread worker; the run screen opens once the run has an id."""
        import sys
        from functools import partial

        from magnus_tui.starter import run_in_worker

        # A python step computing in the worker holds the GIL; the UI thread gives it up at every event-loop
        # turn and waits a whole switch interval (5 ms) to get it back, so one key could take ~0.3 s. A
        # shorter interval keeps keys answering while steps compute.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))

        self.run_worker(
            partial(run_in_worker, self, request),
            thread=True,
            group="runs",
            name=f"run {request.file}",
            exit_on_error=False,
        )

    def start_failed(self, message: str) -> None:
        from magnus_tui.screens.start import StartScreen

        if isinstance(self.screen, StartScreen):
            self.screen.show_error(message)
        self.notify(message, title="Run not started", severity="error")

    def show_started(self, run_id: str) -> None:
        from magnus_tui.screens.run import RunScreen
        from magnus_tui.screens.start import StartScreen

        while isinstance(self.screen, StartScreen):
            self.pop_screen()
        self.push_screen(RunScreen(run_id))

    def run_finished(self, run_id: str, status: str, error: str = "") -> None:
        if error:
            self.notify(f"{run_id}: {error}", title="Run stopped", severity="error")
        else:
            self.notify(
                f"{run_id} finished: {status}",
                title="Run",
                severity="information" if status == "SUCCESS" else "warning",
            )

    def rerun_from_failure(self, run_id: str) -> None:
        """Show the plan (reused and re-run steps); on confirmation start `--use-cached run_id`."""
        from magnus_core.runner import RunRequest
        from magnus_tui.dialogs.confirm import ConfirmPlan
        from magnus_tui.view import RunView, rerun_plan

        try:
            log = self.project.get_run(run_id)
        except MagnusError as exc:
            self.notify(str(exc), severity="error")
            return
        view = RunView.from_runlog(log)
        pipeline = str(log.run_config.get("dag_file") or "") if isinstance(log.run_config, dict) else ""

        def confirmed(ok: bool | None) -> None:
            if not ok:
                return
            if pipeline and Path(pipeline).exists():
                self.start_run(
                    RunRequest(
                        file=pipeline,
                        tag=log.tag or "",
                        use_cached=run_id,
                        config_file=self.project.config_file,
                    )
                )
            else:  # a log without its pipeline path (e.g. from the original tool): let the user pick
                from magnus_tui.screens.start import StartScreen

                self.push_screen(StartScreen(None, use_cached=run_id, tag=log.tag or ""))

        self.push_screen(ConfirmPlan(run_id, rerun_plan(view), pipeline), callback=confirmed)

    def action_home(self) -> None:
        from magnus_tui.screens.runs import RunsScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, RunsScreen):
            self.pop_screen()

    def action_start_run(self, pipeline: str = "") -> None:
        from magnus_tui.screens.start import StartScreen

        self.push_screen(StartScreen(pipeline or None))

    def action_help(self) -> None:
        from magnus_tui.dialogs.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)  # F1 again closes it
        else:
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_screenshot_svg(self) -> None:
        path = self.save_screenshot(path=str(self.screenshot_dir))
        self.notify(f"Saved {path}", title="Screenshot")

    def copy(self, text: str, what: str) -> None:
        """Copy to the terminal's clipboard (OSC 52) and say so."""
        self.copy_to_clipboard(text)
        self.notify(f"Copied {what}: {text}", title="Clipboard")


def run_app(config_file: str | None = None) -> None:
    """Open the workbench in the current folder (the config names the run-log store)."""
    app = MagnusApp(config_file=config_file)
    app.run()
    if app.return_code in (130, 143):
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(app.return_code)
    if os.environ.get("MAGNUS_TUI_DEBUG") and app.return_code:
        raise SystemExit(app.return_code)
