"""Start a run: pick a pipeline, edit parameters (YAML), a tag and the config, start; the run screen then
follows it. The form opens on the highlighted run's pipeline, parameters, tag and config, or on the values
last used for the pipeline (magnus_tui/form_state.py); keys typed while it opens land in the form."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static, TextArea

from magnus_tui.dialogs.pick import PickPipeline
from magnus_tui.form_state import FormMemory, FormValues
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen
from magnus_tui.widgets.header import Header
from magnus_tui.widgets.rerun_plan import RerunPlan

PIPELINE_FIELDS = ("#tag", "#parameters", "#parameters-file")  # what follows the pipeline picked
PLAN_DELAY = 0.4  # seconds after the last edit before a re-run's plan is worked out again
TYPED_DELAY = 0.6  # seconds after the last key in the pipeline field before a file typed there is taken


def parse_parameters(text: str) -> dict[str, Any]:
    """The form's YAML mapping of parameters, values typed as on the command line (`zip: 02142` is text:
    magnus_core.parameters.type_value); a ValueError says what is wrong in one line."""
    from magnus_core.errors import UsageError
    from magnus_core.parameters import parse_typed_mapping

    try:
        return parse_typed_mapping(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def parameters_text(parameters: dict[str, Any]) -> str:
    """Parameters as the form's YAML, one `name: value` line each, values as JSON (a JSON string keeps its
    quotes, so `"02142"` stays text and `3` a number): parse_parameters reads them back equal."""
    import json

    def name(key: str) -> str:
        return key if key.isidentifier() else json.dumps(key, ensure_ascii=False)

    return "".join(
        f"{name(key)}: {json.dumps(value, ensure_ascii=False, default=str)}\n"
        for key, value in parameters.items()
    )


def values_from_run(log: Any) -> tuple[str, FormValues, list[str]]:
    """What the form takes from a run: (pipeline file, values, names left out). The parameters are those it
    started with (parameters.starting_parameters: file, MAGNUS_PRM_ and command line together), without
    any the run recorded masked (its value held a secret: the user types it again)."""
    from magnus_core.masking import MASK
    from magnus_core.parameters import starting_parameters

    config = log.run_config if isinstance(log.run_config, dict) else {}
    masked = set(log.masked_parameters)
    for step in log.walk():
        masked.update(step.masked_parameters)
    start = starting_parameters(log)
    left_out = sorted(name for name, value in start.items() if name in masked or MASK in repr(value))
    kept = {name: value for name, value in start.items() if name not in left_out}
    pipeline = str(config.get("dag_file") or "")
    values = FormValues(tag=log.tag or "", parameters=kept, config_file=str(config.get("config_file") or ""))
    return pipeline, values, left_out


def save_values(app: Any, memory: FormMemory, pipeline: str, values: FormValues, run_id: str) -> None:
    """Worker thread: store the form's values for `pipeline` without the parameters `run_id` recorded
    masked (all of them when its log cannot be read: nothing that may hold a secret is kept)."""
    from magnus_core.errors import MagnusError

    try:
        masked = list(app.project.get_run(run_id).masked_parameters)
    except MagnusError:
        masked = list(values.parameters)
    if not memory.remember(app.project.root, pipeline, values, masked) or memory.notice:
        notice, memory.notice = memory.notice, ""
        app._from_thread(app.notify, notice, title="Start form", severity="warning")


class ParametersArea(TextArea):
    """The parameters box: Tab into it puts the cursor at the end of what it holds, as in the form's other
    fields, not at its start (trial 3: `25` typed after Tab gave `2secs: 8`). A click still puts the cursor
    where it is clicked (the click's position is set after the focus), and a cursor the user moved stays
    where they left it."""

    def on_focus(self) -> None:
        from textual.widgets.text_area import Selection

        if self.text and self.selection == Selection((0, 0), (0, 0)):
            end = self.document.end
            self.selection = Selection(end, end)


class StartScreen(WorkbenchScreen[None]):
    """A form to start a run of a pipeline from the workbench (ctrl+r starts, escape goes back)."""

    AUTO_FOCUS = "#pipeline"  # at once, so keys typed while the form opens go there
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
    StartScreen TextArea { height: 5; width: 1fr; border: none; padding: 0 1; background: $boost; }
    StartScreen TextArea:focus { border: none; background: $accent 30%; }
    StartScreen #start-error { color: $error; height: auto; margin-top: 1; }
    StartScreen #buttons { height: auto; margin-top: 1; }
    StartScreen #buttons Button { margin-right: 2; height: 1; border: none; min-width: 12; }
    """

    def __init__(
        self,
        pipeline: str | None = None,
        *,
        use_cached: str | None = None,
        tag: str = "",
        parameters: str = "",
        from_run: str | None = None,
        memory: FormMemory | None = None,
    ) -> None:
        super().__init__()
        self.initial_pipeline = pipeline
        self.use_cached = use_cached
        self.initial_tag = tag
        self.initial_parameters = parameters
        self.from_run = from_run or use_cached  # the run whose values the form opens on
        self.memory = memory
        self._filled: dict[str, str] = {}  # what the form itself last put in each field (the rest is typed)
        self._masked_left_out: list[str] = []
        self._pending_keys: list[Any] = []  # keys that arrived before the form could take them
        self._ready = False
        self._prepared: Any = None  # a re-run's prepared run (pipeline, original, warnings), per file
        self._prepared_for: tuple[str, str | None] | None = None
        self._plan_timer: Any = None
        self._files: list[str] | None = None
        self._picker: PickPipeline | None = None
        # per pipeline picked away from: its fields' texts and the note, brought back when it is picked again
        self._had: dict[str, tuple[dict[str, str], Any]] = {}
        self._typed_note = ""  # what the note says of the tag or parameters typed and kept over a pick
        self._values_of: str | None = None  # the pipeline whose values the fields hold (None: not loaded)
        self._typed_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            if self.use_cached:
                yield Static(
                    f"Re-run of {self.use_cached}: steps that succeeded there are reused.", classes="title"
                )
                yield RerunPlan("", id="plan")
            # Tab goes pipeline -> parameters -> parameters file -> tag -> config -> Start -> Cancel; the
            # picker is ctrl+o (or a click) from anywhere, never a stop on the way to the parameters
            with Horizontal(classes="row"):
                yield Label("Pipeline file")
                yield Input(
                    self.initial_pipeline or "",
                    placeholder="pipeline.yaml",
                    id="pipeline",
                    select_on_focus=False,
                )
                pick = Button("Pick… ^o", id="pick")
                pick.can_focus = False
                yield pick
            with Horizontal(classes="row"):
                yield Label("Parameters")
                yield ParametersArea(self.initial_parameters, id="parameters", language=None, soft_wrap=True)
            with Horizontal(classes="row"):
                yield Label("Parameters file")
                yield Input("", placeholder="optional, e.g. parameters.yaml", id="parameters-file")
            with Horizontal(classes="row"):
                yield Label("Tag")
                yield Input(self.initial_tag, placeholder="optional tag", id="tag")
            with Horizontal(classes="row"):
                yield Label("Config file")
                yield Input(
                    self.app.project.config_file or "", placeholder="default: magnus-config.yaml", id="config"
                )
            yield Static("Parameters are YAML (x: 3); they override the parameters file.", classes="dim")
            yield Static("", id="start-note", classes="dim")
            yield Static("", id="start-error")
            with Horizontal(id="buttons"):
                yield Button("Start run", id="start", variant="primary")
                yield Button("Cancel", id="back")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = "start a run"
        self._filled = {"#pipeline": self.initial_pipeline or "", "#tag": self.initial_tag}
        self._filled["#parameters"] = self.initial_parameters
        self._filled["#config"] = self.app.project.config_file or ""
        self.query_one("#pipeline", Input).focus()
        self.call_after_refresh(self._replay_keys)  # focus is given after this handler
        if self.use_cached:
            self.query_one(RerunPlan).waiting("Working out the plan…")
        self.load_values()

    # -- keys typed before the form was there go into it, never to the screen below ---------------------
    def _forward_event(self, event: Any) -> None:
        """The app hands a key to the screen itself only while nothing has focus: the form is still being
        built. Keep such keys and give them to the field that gets focus (a fast typist presses `s` and
        goes on typing); a plain screen would run them as its own or the app's keys (`q` would quit)."""
        from textual import events

        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self._ready:
                self._pending_keys.append(event)
                return
            if self.focused is not None:
                self.focused._forward_event(event)
                return
        super()._forward_event(event)

    @property
    def holds_keys(self) -> bool:
        """Keys typed before the form was ready wait here: the keys after them must wait behind them
        (MagnusApp._on_key gives them to the screen, not to a field that has focus already)."""
        return not self._ready

    def _replay_keys(self) -> None:
        self._ready = True
        target = self.focused or self.query_one("#pipeline", Input)
        pending, self._pending_keys = self._pending_keys, []
        for key in pending:
            target._forward_event(key)

    # -- values: from the run, else the ones last used for the pipeline ---------------------------------
    @work(thread=True, exclusive=True, group="start-values")
    def load_values(self) -> None:
        """Off the UI thread: the project's pipeline files, the state file and the run's log."""
        from magnus_core.errors import MagnusError

        files = self.app.project.pipelines()
        memory = self.memory or FormMemory()
        run: tuple[str, FormValues, list[str]] | None = None
        problem = ""
        if self.from_run:
            try:
                run = values_from_run(self.app.project.get_run(self.from_run))
            except MagnusError as exc:
                problem = f"The values of {self.from_run} could not be read: {exc}"
        self.app.call_from_thread(self._values_loaded, files, memory, run, problem)

    def _values_loaded(
        self,
        files: list[str],
        memory: FormMemory,
        run: tuple[str, FormValues, list[str]] | None,
        problem: str,
    ) -> None:
        self._files = files
        self.memory = memory
        if self._picker is not None:
            self._picker.set_files(files)
        if memory.notice:
            self.app.notify(memory.notice, title="Start form", severity="warning")
            memory.notice = ""
        pipeline = self.initial_pipeline or ""
        values: FormValues | None = None
        note = problem
        if run is not None:
            pipeline = run[0] or pipeline
            values, self._masked_left_out = run[1], run[2]
            note = f"Values of run {self.from_run}."
            if self._masked_left_out:
                note += f" Not filled (recorded masked, type them again): {', '.join(self._masked_left_out)}."
        if not pipeline and files:  # (a log of the original tool records no pipeline file)
            pipeline = files[0]
        self._fill("#pipeline", pipeline)
        self._values_of = pipeline
        if values is None and pipeline:
            values = memory.recall(self.app.project.root, pipeline)
            if values is not None:
                note = f"Values last used for {pipeline}."
        if values is not None:
            self._fill_values(values)
        elif pipeline and not problem:  # nothing remembered: the newest run of it in the store (trial 6)
            note = f"Looking for the newest run of {pipeline} in the store…"
            self.newest_values(pipeline)
        self.query_one("#start-note", Static).update(note)
        if self.use_cached:
            self.preview()
        self._take_typed()  # a pipeline typed while the values were read

    def _fill(self, selector: str, value: str) -> None:
        """Put `value` in a field unless the user has typed there already (their text is never replaced)."""
        widget = self.query_one(selector)
        current = widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]
        if current != self._filled.get(selector, ""):
            return
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
            widget.cursor_position = len(value)
        self._filled[selector] = value

    def _fill_values(self, values: FormValues) -> None:
        if values.tag or not self.initial_tag:
            self._fill("#tag", values.tag)
        self._fill("#parameters", parameters_text(values.parameters))
        self._fill("#parameters-file", values.parameters_file)
        if values.config_file:
            self._fill("#config", values.config_file)

    def values(self) -> FormValues:
        """The form's values as typed (parameters parsed: ValueError says what is wrong)."""
        return FormValues(
            tag=self.query_one("#tag", Input).value.strip(),
            parameters=parse_parameters(self.query_one("#parameters", TextArea).text),
            parameters_file=self.query_one("#parameters-file", Input).value.strip(),
            config_file=self.query_one("#config", Input).value.strip(),
        )

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

        values = self.values()
        return RunRequest(
            file=self.query_one("#pipeline", Input).value.strip(),
            tag=values.tag,
            parameters=values.parameters,
            parameters_file=values.parameters_file or None,
            config_file=values.config_file or None,
            use_cached=self.use_cached,
        )

    @work(thread=True, exclusive=True, group="plan")
    def preview(self) -> None:
        """The re-run's plan and warnings, as `magnus execute --use-cached` would print them; nothing is
        written. The run is prepared once per pipeline file; a change of parameters only plans again."""
        from magnus_core.errors import MagnusError
        from magnus_core.parameters import initial_parameters
        from magnus_core.rerun import code_not_compared, plan_rerun
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
            not_compared = code_not_compared(prepared.original, self.app.project.root)
        except (MagnusError, ValueError, OSError) as exc:
            self.app.call_from_thread(self._plan_failed, str(exc))
            return
        stale = set(prepared.plan.problems()) if prepared.plan is not None else set()
        warnings = [w for w in prepared.warnings if w not in stale] + plan.problems()
        self.app.call_from_thread(self.query_one(RerunPlan).show, plan, warnings, not_compared)

    def _plan_failed(self, message: str) -> None:
        self.query_one(RerunPlan).waiting(f"No plan: {message}")

    @on(Button.Pressed, "#pick")
    def action_pick(self) -> None:
        """The picker (filter as you type); a pipeline picked brings the values last used for it into the
        fields the user has not typed in."""

        def picked(path: str | None) -> None:
            self._picker = None
            if not path:
                return
            field = self.query_one("#pipeline", Input)
            field.value = path
            field.cursor_position = len(path)
            self._switch_to(path)
            self._to_parameters()

        current = self.query_one("#pipeline", Input).value.strip()
        self._picker = PickPipeline(self._files, current)
        self.app.push_screen(self._picker, callback=picked)

    def _switch_to(self, path: str) -> None:
        """The fields now belong to pipeline `path` (picked, or typed: _take_typed): its values come in
        when it is another than the one they held."""
        before = self._values_of if self._values_of is not None else ""
        self._values_of = path
        self._filled["#pipeline"] = path
        if path != before:
            self._values_for_another_pipeline(path, before)

    # -- a pipeline typed by hand is taken as if picked: after a pause, on Enter, or on leaving the field --
    @on(Input.Changed, "#pipeline")
    def _pipeline_typed(self) -> None:
        if self._typed_timer is not None:
            self._typed_timer.stop()
        self._typed_timer = self.set_timer(TYPED_DELAY, self._take_typed)

    @on(Input.Submitted, "#pipeline")
    def _pipeline_entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self._take_typed():
            self._to_parameters()  # as after a pick: what is typed next is its parameters

    @on(Input.Blurred, "#pipeline")
    def _pipeline_left(self) -> None:
        self._take_typed()

    def _take_typed(self) -> bool:
        """The pipeline field holds a file of the project other than the one whose values the fields hold:
        take it as if it were picked (trial 6: a path typed by hand kept the other pipeline's values). A
        path that is no file yet (half typed) changes nothing. True when the field names a file."""
        if self._typed_timer is not None:
            self._typed_timer.stop()
            self._typed_timer = None
        if self._values_of is None or not self.is_mounted:  # the values are still being read
            return False
        path = self.query_one("#pipeline", Input).value.strip()
        if not path or not (self.app.project.root / path).is_file():
            return False
        if os.path.normpath(path) != os.path.normpath(self._values_of):  # (`./a.yaml` is `a.yaml`)
            self._switch_to(path)
        return True

    def _values_for_another_pipeline(self, path: str, before: str = "") -> None:
        """Another pipeline picked. Its values, first found of: what the form held for it when another was
        picked (going back brings back what it opened with, trial 6), the values last used for it here
        (tag, parameters, parameters file), the newest run of it in the store (read in a worker: trial 6
        had runs of it from the command line and was told "no values"), else none: no parameters (trial 4
        kept `n: 300000` of one pipeline for another that sleeps n seconds) and no tag (trial 5). A tag or
        parameters the user typed are kept, and the note says so. The parameters file belongs to the
        pipeline: it follows it, typed or not (trial 6: a file typed for one was kept for another). The
        config file stays: it names the project's store, not something of the pipeline's."""
        if before:
            held = {selector: self._field_text(selector) for selector in PIPELINE_FIELDS}
            self._had[before] = (held, self.query_one("#start-note", Static).content)
        typed = [
            label
            for selector, label in (("#parameters", "parameters"), ("#tag", "tag"))
            if self._field_text(selector).strip()
            and self._field_text(selector) != self._filled.get(selector, "")
        ]
        self._typed_note = ""
        if typed:
            self._typed_note = (
                f" The {' and '.join(typed)} typed here {'is' if len(typed) == 1 else 'are'} kept: check "
                f"that {'it fits' if len(typed) == 1 else 'they fit'} this pipeline."
            )
        remembered = self.memory.recall(self.app.project.root, path) if self.memory else None
        if path in self._had:
            held, note = self._had[path]
            self._fill("#tag", held["#tag"])
            self._fill("#parameters", held["#parameters"])
            self._put("#parameters-file", held["#parameters-file"])
            note = str(note)
        elif remembered is not None:
            self._fill("#tag", remembered.tag)
            self._fill("#parameters", parameters_text(remembered.parameters))
            self._put("#parameters-file", remembered.parameters_file)
            if remembered.config_file:
                self._fill("#config", remembered.config_file)
            note = f"Values last used for {path} (remembered from the last run started here)."
        else:
            self._fill("#tag", "")
            self._fill("#parameters", "")
            self._put("#parameters-file", "")
            note = f"Looking for the newest run of {path} in the store…"
            self.newest_values(path)
        self.query_one("#start-note", Static).update(note + self._typed_note)

    def _put(self, selector: str, value: str) -> None:
        """Put `value` in a field whatever it holds (a field that belongs to the pipeline)."""
        field = self.query_one(selector, Input)
        field.value = value
        field.cursor_position = len(value)
        self._filled[selector] = value

    @work(thread=True, exclusive=True, group="start-newest")
    def newest_values(self, path: str) -> None:
        """Off the UI thread: the values of the newest run of `path` in the store (Project.newest_run)."""
        from magnus_core.errors import MagnusError

        run_id = self.app.project.newest_run(path)
        run: tuple[str, FormValues, list[str]] | None = None
        problem = ""
        if run_id is not None:
            try:
                run = values_from_run(self.app.project.get_run(run_id))
            except MagnusError as exc:
                problem = f"The values of {run_id}, the newest run of {path}, could not be read: {exc}"
        self.app.call_from_thread(self._newest_loaded, path, run_id, run, problem)

    def _newest_loaded(
        self, path: str, run_id: str | None, run: tuple[str, FormValues, list[str]] | None, problem: str
    ) -> None:
        if self.query_one("#pipeline", Input).value.strip() != path:
            return  # another pipeline since: its own values are there
        if run is not None:
            values, left_out = run[1], run[2]
            self._fill("#tag", values.tag)
            self._fill("#parameters", parameters_text(values.parameters))
            note = f"Values of run {run_id} (the newest run of {path}; none remembered from this form)."
            if left_out:
                note += f" Not filled (recorded masked, type them again): {', '.join(left_out)}."
        else:
            note = problem or (
                f"No run of {path} in the store and no values remembered for it: no tag and no parameters "
                "(the pipeline's own apply)."
            )
        self.query_one("#start-note", Static).update(note + self._typed_note)

    def _field_text(self, selector: str) -> str:
        widget = self.query_one(selector)
        return widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]

    def _to_parameters(self) -> None:
        """After a pipeline is picked the next thing typed is its parameters: focus there, the cursor at the
        end and nothing selected (typing never replaces the pipeline). Again after the refresh: the form,
        resumed, gives focus back to the field that had it before the picker."""
        from textual.widgets.text_area import Selection

        def focus() -> None:
            area = self.query_one("#parameters", TextArea)
            area.focus()
            end = area.document.end
            area.selection = Selection(end, end)

        focus()
        self.call_after_refresh(focus)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        error = self.query_one("#start-error", Static)
        file = self.query_one("#pipeline", Input).value.strip()
        if not file:
            error.update("pipeline file: pick one (ctrl+o)")
            return
        try:
            request = self._request()
        except ValueError as exc:
            error.update(str(exc))
            return
        problem = self.app.project.other_store(request.config_file)
        if problem:
            error.update(problem)
            return
        error.update("Starting…")
        self.app.start_run(request)

    def remember(self, run_id: str) -> None:
        """`run_id` has started from this form: keep the form's values for its pipeline ($XDG_STATE_HOME),
        without the parameters the run recorded masked (their value held a secret). The run log is read
        and the state file written in a worker; a state file that cannot be written is told in one line."""
        from functools import partial

        try:
            values = self.values()
        except ValueError:
            return
        pipeline = self.query_one("#pipeline", Input).value.strip()
        memory = self.memory or FormMemory()
        work = partial(save_values, self.app, memory, pipeline, values, run_id)
        self.app.run_worker(work, thread=True, group="form-state", name=f"remember {pipeline}")

    def show_error(self, message: str) -> None:
        self.query_one("#start-error", Static).update(message)
