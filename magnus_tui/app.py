"""The magnus workbench: browse, watch, start and compare runs in the terminal.

`run_app(config_file)` is what `magnus` (no command) and `magnus tui` call.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from magnus_core.errors import MagnusError
from magnus_tui.commands import RunCommands, WorkbenchCommands
from magnus_tui.launcher import Launched, died_of
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
        # ctrl+c quits too (k9s, lazygit), through the same prompt while runs started here are running; a
        # field with selected text copies it first (Input's own ctrl+c), with none it falls through to here
        Binding("ctrl+c", "quit", "Quit", show=False),
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
        self.launched: dict[str, Launched] = {}  # runs this workbench started, by run id
        self.stopping: set[str] = set()  # runs the user asked to stop here (run_ended leaves them to _stop)
        # keys typed before the screen on top can take them (None: they go as Textual sends them): the runs
        # list's while it reads the store, a run's while it opens (hold_keys); see on_event
        self._early_keys: list[events.Key] | None = []
        self._held_for: Screen[Any] | None = None  # the screen the keys wait for (None: the first one)

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

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        """Textual's own palette entries, less those PALETTE already has under its own name (Theme, Quit,
        Screenshot) and its key panel (F1 is the help): the palette lists each command once."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Quit", "Screenshot", "Keys"):
                yield command

    def get_default_screen(self) -> Screen[Any]:
        from magnus_tui.screens.runs import RunsScreen

        return RunsScreen()

    async def on_event(self, event: events.Event) -> None:
        """Keys typed before the runs list is ready are held, then acted on in the order typed
        (`keys_ready`). The terminal gives Textual the keys typed as `magnus` starts as soon as it reads
        the terminal, before the first screen has read the store and focused its list: such a key went to
        the screen with no widget to take it, so `/` opened the filter but the letters after it were lost
        and Enter opened the top run (trial 5, keys typed within 0.5 s of `magnus`). An Enter typed before
        Textual set the terminal up comes as ctrl+j (the terminal's line mode made it a newline): it is
        held as the Enter it was."""
        held = self._early_keys
        if held is not None and isinstance(event, events.Key) and not event.is_forwarded:
            line_mode = event.key == "ctrl+j" and self._held_for is None  # (as `magnus` starts only)
            held.append(events.Key("enter", "\r") if line_mode else event)
            return
        await super().on_event(event)

    def hold_keys(self, screen: Screen[Any]) -> None:
        """Keys typed from now on wait until `screen` (just pushed) can take them and says so (keys_ready):
        a run's screen reads its log and draws its dag before it has a focused widget and its tabs (0.3 s
        for 10,000 steps), and keys typed meanwhile went to the screen itself or the widget focused first,
        in another order than typed (`/s5⏎` typed at once found nothing), or, typed right after the Enter
        that opened it, to the runs list below (trials 8 and 9)."""
        if self._early_keys is None:
            self._early_keys = []
        self._held_for = screen

    def keys_ready(self, screen: Screen[Any] | None = None) -> None:
        """The screen the keys wait for can take them (the first screen: its list is there and focused; a
        screen given to hold_keys: it is ready, or gone): the keys held are acted on, in the order typed,
        before any typed later (this runs as a message of the app's, queued behind any key the app has not
        read yet, which is held too). A call from a screen the keys no longer wait for does nothing."""
        if screen is not self._held_for or self._early_keys is None:
            return

        async def release() -> None:
            if screen is not self._held_for:  # (held again for another screen since: it releases them)
                return
            held, self._early_keys, self._held_for = self._early_keys or [], None, None
            for key in sorted(held, key=lambda key: key.time):  # (a key bubbled back in: _on_key)
                await super(MagnusApp, self).on_event(key)

        self.call_later(release)

    async def _on_key(self, event: events.Key) -> None:
        """A key typed on a screen that is no longer on top (typed right after the key that opened the top
        one, before that key's binding ran) goes to the screen on top: into its focused field, or kept by
        the start form until it has one. It never runs as a key of the screen below."""
        typed_on = getattr(event, "typed_on", None)
        top = self.screen
        if typed_on is not None and typed_on is not top and top.is_attached:
            event.prevent_default()  # not App._on_key: no binding of either screen runs for it
            again = events.Key(event.key, event.character)
            if self._early_keys is not None and self._held_for is top:  # it waits with those typed after it
                again.time = event.time
                self._early_keys.append(again)
                return
            # a screen that holds keys until its fields are there (the start form) gets them all, in order
            holds = getattr(top, "holds_keys", False)
            (top if holds else top.focused or top)._forward_event(again)

    # -- navigation ----------------------------------------------------------------------------------
    def open_run(self, run_id: str, output: bool = False) -> None:
        """The run's screen; `output`: on its Output tab (RunScreen)."""
        from magnus_tui.screens.run import RunScreen

        screen = RunScreen(run_id, output=output)
        self.push_screen(screen)
        self.hold_keys(screen)

    def open_experiments(self, tag: str | None = None, where: str = "") -> None:
        from magnus_tui.screens.experiments import ExperimentsScreen

        screen = ExperimentsScreen(tag, where)
        self.push_screen(screen)
        # keys typed while it reads the index wait for its table (ExperimentsScreen.show): Enter typed at
        # once found no row, and ↓ typed before it moved nothing, so Enter opened another run
        self.hold_keys(screen)

    def action_experiments(self) -> None:
        self.open_experiments()

    def open_diff(self, run_a: str, run_b: str) -> None:
        from magnus_tui.screens.diff import DiffScreen

        self.push_screen(DiffScreen(run_a, run_b))

    # -- runs started here: each a `magnus execute` process of its own (launcher.py) --------------------
    def start_run(self, request: RunRequest) -> None:
        """Start `request` as a process of its own; the run screen opens once its run log exists (a secret
        it lacks is asked first), the form says why when it could not start."""
        from functools import partial

        store = self.project.store
        if store is None:
            self.start_failed(self.project.error or "no run-log store")
            return
        if not store.keeps_runs:
            self.start_failed(
                f"the run-log store is {store.service_name} (in memory): a run started here runs in a "
                "process of its own and could not be followed; keep runs in a store "
                "(run_log_store: {type: file-system} in magnus-config.yaml)"
            )
            return
        self.run_worker(partial(self._launch, request), thread=True, group="runs", name=f"run {request.file}")

    def _launch(self, request: RunRequest) -> None:
        """Worker thread: choose the run id, start the process, wait until its run log exists."""
        from magnus_core.runner import new_run_id
        from magnus_tui.dialogs.secret import SecretBroker
        from magnus_tui.launcher import launch, wait_started

        store = self.project.store
        assert store is not None
        try:
            run_id = request.run_id or new_run_id()
            while not request.run_id and store.exists(run_id):
                run_id = new_run_id()
            launched = launch(
                request,
                root=self.project.root,
                run_id=run_id,
                answer=SecretBroker(self, run_id),
                on_end=lambda done: self._from_thread(self.run_ended, done),
            )
        except (MagnusError, OSError) as exc:
            self._from_thread(self.start_failed, f"cannot start magnus execute: {exc}")
            return
        self.launched[run_id] = launched
        if wait_started(launched):
            self._from_thread(self.show_started, run_id)
        else:
            self._from_thread(self.start_failed, launched.failure())

    def _from_thread(self, callback: Any, *args: Any, **kwargs: Any) -> None:
        """call_from_thread, unless the app has already gone (a run kept in the background ends later)."""
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(callback, *args, **kwargs)

    def start_failed(self, message: str) -> None:
        from magnus_tui.screens.start import StartScreen

        if isinstance(self.screen, StartScreen):
            self.screen.show_error(message)
        self.notify(message, title="Run not started", severity="error")

    def show_started(self, run_id: str) -> None:
        """The run's log exists: leave the form (keeping its values) for the run screen. While a dialog
        is up over the form (a step already asks for a secret), wait for it: the run screen pushed over
        the dialog would hide the question the run is waiting on."""
        from textual.screen import ModalScreen

        from magnus_tui.screens.run import RunScreen
        from magnus_tui.screens.start import StartScreen

        over_form = any(isinstance(screen, StartScreen) for screen in self.screen_stack)
        if isinstance(self.screen, ModalScreen) and over_form:
            self.set_timer(0.05, lambda: self.show_started(run_id))
            return
        if isinstance(self.screen, StartScreen):
            self.screen.remember(run_id)
        while isinstance(self.screen, StartScreen):
            self.pop_screen()
        screen = RunScreen(run_id)
        self.push_screen(screen)
        self.hold_keys(screen)

    def run_ended(self, launched: Launched) -> None:
        """A run started here has ended (its process is reaped): say how, wherever the user is."""
        if not launched.created.is_set():
            return  # it never started: the form said why
        if launched.run_id in self.stopping:  # stopped from here: the stop's own notice says how it ended
            self.stopping.discard(launched.run_id)
            return
        try:
            log = self.project.get_run(launched.run_id)
        except MagnusError:
            said = f"ended: exit code {launched.returncode}"
            status = ""
        else:
            status, said = log.status, f"ended: {log.status}"
            if status in ("PROCESSING", "CREATED"):  # its process is reaped: it died without ending the run
                status = "INTERRUPTED"
                said = f"ended INTERRUPTED: {died_of(launched.returncode)}"
        self.notify(
            f"{launched.run_id} {said}",
            title="Run",
            severity="information" if status == "SUCCESS" else "warning",
        )

    def running_here(self) -> list[Launched]:
        """Runs this workbench started that are still running."""
        return [
            launched for launched in self.launched.values() if launched.running and launched.created.is_set()
        ]

    def rerun_from_failure(self, run_id: str) -> None:
        """The re-run form for `run_id`: its plan (rerun.plan_rerun, as the CLI prints it), what changed
        since, and parameters to change before starting `--use-cached run_id`."""
        from magnus_tui.screens.start import StartScreen

        try:
            log = self.project.get_run(run_id)
        except MagnusError as exc:
            self.notify(str(exc), severity="error")
            return
        pipeline = str(log.run_config.get("dag_file") or "") if isinstance(log.run_config, dict) else ""
        self.push_screen(StartScreen(pipeline or None, use_cached=run_id, tag=log.tag or ""))

    def stop_run(self, run_id: str, on_confirmed: Any = None) -> None:
        """Ask, naming the run and its process, then stop it (magnus_core/stop.py) in a worker;
        `on_confirmed()` is called when the user said yes."""
        from magnus_tui.dialogs.stop import ConfirmStop

        try:
            log = self.project.get_run(run_id)
        except MagnusError as exc:
            self.notify(str(exc), severity="error")
            return
        from magnus_core.stop import CannotStop, NotRunning, stop_target

        try:
            target = stop_target(log)
        except (NotRunning, CannotStop) as exc:
            self.notify(str(exc), title="Not stopped", severity="warning")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.stopping.add(run_id)  # one notice for the stop, not a second when its process ends
                if on_confirmed is not None:
                    on_confirmed()
                self.run_worker(lambda: self._stop(run_id), thread=True, group="stop", name=f"stop {run_id}")

        here = run_id in self.launched
        self.push_screen(ConfirmStop(log, target.pid, started_here=here), callback=confirmed)

    def _stop(self, run_id: str, then: Any = None) -> None:
        """Worker thread: stop the run and say how it went."""
        from magnus_core.stop import stop_run

        store = self.project.store
        assert store is not None
        try:
            outcome = stop_run(store, run_id)
        except MagnusError as exc:
            self.stopping.discard(run_id)  # it goes on: its end is told when it comes
            self._from_thread(self.notify, str(exc), title="Not stopped", severity="warning")
        else:
            how = "killed" if outcome.killed else "stopped"
            self._from_thread(self.notify, f"{run_id} {how}: {outcome.state}", title="Run")
        if then is not None:
            self._from_thread(then)

    async def action_quit(self) -> None:
        """Leave; with runs started here still running, ask: stop them, keep them running, or stay."""
        from magnus_tui.dialogs.quit import KEEP, STOP, QuitPrompt

        running = self.running_here()
        if not running:
            self.exit()
            return
        if isinstance(self.screen, QuitPrompt):
            return

        def chosen(choice: str | None) -> None:
            if choice == KEEP:
                self.exit()
            elif choice == STOP:
                ids = [launched.run_id for launched in running]
                self.notify(f"Stopping {', '.join(ids)}…", title="Quit")
                self.run_worker(lambda: self._stop_all(ids), thread=True, group="stop", name="stop and quit")

        prompt = QuitPrompt([run.run_id for run in running], [run.console for run in running])
        self.push_screen(prompt, callback=chosen)

    def _stop_all(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self._stop(run_id)
        self._from_thread(self.exit)

    def action_home(self) -> None:
        from magnus_tui.screens.runs import RunsScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, RunsScreen):
            self.pop_screen()

    def action_start_run(self, pipeline: str = "", run_id: str = "") -> None:
        """The start form, on `run_id`'s pipeline and values when given, else on `pipeline` (or the first
        pipeline file) with the values last used for it."""
        from magnus_tui.screens.start import StartScreen

        self.push_screen(StartScreen(pipeline or None, from_run=run_id or None))

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
