"""Start a run: pick a pipeline, edit parameters (YAML) and a tag, start; the run screen then follows it."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Static, TextArea

from magnus_tui.dialogs.pick import PickPipeline
from magnus_tui.screens.base import WorkbenchScreen
from magnus_tui.widgets.rerun_plan import RerunPlan

PLAN_DELAY = 0.4  # seconds after the last edit before a re-run's plan is worked out again


def parse_parameters(text: str) -> dict[str, Any]:
    """The form's YAML mapping of parameters, values typed as on the command line (`zip: 02142` is text:
    magnus_core.parameters.type_value); a ValueError says what is wrong in one line."""
    from magnus_core.errors import UsageError
    from magnus_core.parameters import parse_typed_mapping

    try:
        return parse_typed_mapping(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class StartScreen(WorkbenchScreen[None]):
    """A form to start a run of a pipeline from the workbench (ctrl+r starts, escape goes back)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "start", "Start run"),
        Binding("ctrl+o", "pick", "Pick pipeline"),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Start the run", "Run the pipeline with these parameters and tag (ctrl+r)", "start"),
        ("Pick pipeline", "Choose a pipeline file of this project (ctrl+o)", "pick"),
        ("Back", "Leave the form (escape)", "back"),
    ]
    DEFAULT_CSS = """
    StartScreen VerticalScroll { padding: 0 1; }
    StartScreen .row { height: auto; margin-top: 1; }
    StartScreen .row Label { width: 16; padding: 0 1 0 0; text-style: bold; }
    StartScreen .row Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    StartScreen .row Input:focus { background: $accent 30%; }
    StartScreen .row Button { min-width: 10; height: 1; border: none; margin-left: 1; }
    StartScreen TextArea { height: 6; width: 1fr; }
    StartScreen #start-error { color: $error; height: auto; margin-top: 1; }
    StartScreen #buttons { height: auto; margin-top: 1; }
    StartScreen #buttons Button { margin-right: 2; }
    """

    def __init__(
        self,
        pipeline: str | None = None,
        *,
        use_cached: str | None = None,
        tag: str = "",
        parameters: str = "",
    ) -> None:
        super().__init__()
        self.initial_pipeline = pipeline
        self.use_cached = use_cached
        self.initial_tag = tag
        self.initial_parameters = parameters
        self._prepared: Any = None  # a re-run's prepared run (pipeline, original, warnings), per file
        self._prepared_for: tuple[str, str | None] | None = None
        self._plan_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            if self.use_cached:
                yield Static(
                    f"Re-run of {self.use_cached}: steps that succeeded there are reused.", classes="title"
                )
                yield RerunPlan("", id="plan")
            with Horizontal(classes="row"):
                yield Label("Pipeline file")
                yield Input(self.initial_pipeline or "", placeholder="pipeline.yaml", id="pipeline")
                yield Button("Pick…", id="pick")
            with Horizontal(classes="row"):
                yield Label("Tag")
                yield Input(self.initial_tag, placeholder="optional tag", id="tag")
            with Horizontal(classes="row"):
                yield Label("Parameters")
                yield TextArea(self.initial_parameters, id="parameters", language=None, soft_wrap=True)
            with Horizontal(classes="row"):
                yield Label("Parameters file")
                yield Input("", placeholder="optional, e.g. parameters.yaml", id="parameters-file")
            yield Static("Parameters are YAML (x: 3); they override the parameters file.", classes="dim")
            yield Static("", id="start-error")
            with Horizontal(id="buttons"):
                yield Button("Start run", id="start", variant="primary")
                yield Button("Cancel", id="back")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "start a run"
        if not self.initial_pipeline:
            files = self.app.project.pipelines()
            if files:
                self.query_one("#pipeline", Input).value = files[0]
        self.query_one("#pipeline", Input).focus()
        if self.use_cached:
            self.query_one(RerunPlan).waiting("Working out the plan…")
            self.preview()

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _edited(self) -> None:
        """A re-run's plan depends on the pipeline and the parameters: work it out again after a pause."""
        if not self.use_cached or not self.is_mounted:
            return
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(PLAN_DELAY, self.preview)

    def _request(self) -> Any:
        """The RunRequest the form describes (ValueError: what is wrong with the parameters)."""
        from magnus_core.runner import RunRequest

        return RunRequest(
            file=self.query_one("#pipeline", Input).value.strip(),
            tag=self.query_one("#tag", Input).value.strip(),
            parameters=parse_parameters(self.query_one("#parameters", TextArea).text),
            parameters_file=self.query_one("#parameters-file", Input).value.strip() or None,
            config_file=self.app.project.config_file,
            use_cached=self.use_cached,
        )

    @work(thread=True, exclusive=True, group="plan")
    def preview(self) -> None:
        """The re-run's plan and warnings, as `magnus execute --use-cached` would print them; nothing is
        written. The run is prepared once per pipeline file; a change of parameters only plans again."""
        from magnus_core.errors import MagnusError
        from magnus_core.parameters import initial_parameters
        from magnus_core.rerun import plan_rerun
        from magnus_core.runner import prepare

        try:
            request = self.app.call_from_thread(self._request)
            if not request.file:
                raise ValueError("pipeline file: pick one (ctrl+o)")
            key = (request.file, request.parameters_file)
            if self._prepared is None or self._prepared_for != key:
                self._prepared = prepare(request, cwd=self.app.project.root)
                self._prepared_for = key
            prepared = self._prepared
            given = initial_parameters(request.parameters_file, request.parameters)
            plan = plan_rerun(prepared.pipeline, prepared.original, given)
        except (MagnusError, ValueError, OSError) as exc:
            self.app.call_from_thread(self._plan_failed, str(exc))
            return
        stale = set(prepared.plan.problems()) if prepared.plan is not None else set()
        warnings = [w for w in prepared.warnings if w not in stale] + plan.problems()
        self.app.call_from_thread(self.query_one(RerunPlan).show, plan, warnings)

    def _plan_failed(self, message: str) -> None:
        self.query_one(RerunPlan).waiting(f"No plan: {message}")

    @on(Button.Pressed, "#pick")
    def action_pick(self) -> None:
        def picked(path: str | None) -> None:
            if path:
                self.query_one("#pipeline", Input).value = path

        self.app.push_screen(PickPipeline(self.app.project.pipelines()), callback=picked)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        from magnus_core.runner import RunRequest

        error = self.query_one("#start-error", Static)
        file = self.query_one("#pipeline", Input).value.strip()
        if not file:
            error.update("pipeline file: pick one (ctrl+o)")
            return
        try:
            parameters = parse_parameters(self.query_one("#parameters", TextArea).text)
        except ValueError as exc:
            error.update(str(exc))
            return
        error.update("Starting…")
        request = RunRequest(
            file=file,
            tag=self.query_one("#tag", Input).value.strip(),
            parameters=parameters,
            parameters_file=self.query_one("#parameters-file", Input).value.strip() or None,
            config_file=self.app.project.config_file,
            use_cached=self.use_cached,
        )
        self.app.start_run(request)

    def show_error(self, message: str) -> None:
        self.query_one("#start-error", Static).update(message)
