"""The run screen: the dag as a tree with live statuses, the selected step, the run's parameters and
metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from magnus_core.errors import MagnusError, RunNotFoundError
from magnus_core.events import RunEvent
from magnus_core.models.run_log import FINISHED, RunLog
from magnus_core.runs import run_state
from magnus_tui.live import EventPump, RunEventsReady
from magnus_tui.screens.base import WorkbenchScreen
from magnus_tui.view import RunView
from magnus_tui.widgets.dag_tree import DagTree
from magnus_tui.widgets.run_panel import RunPanel, run_header
from magnus_tui.widgets.step_detail import StepDetail

HEADER_INTERVAL = 0.25  # seconds between header redraws during a burst of events


def read_stable(read: Callable[[], RunLog]) -> RunView:
    """Build a view from a log another thread may be writing: retry if it changed under us."""
    for _ in range(20):
        try:
            return RunView.from_runlog(read())
        except RuntimeError:  # "dictionary changed size during iteration"
            time.sleep(0.002)
    return RunView.from_runlog(read())


class RunScreen(WorkbenchScreen[None]):
    """One run: the dag tree (live while it runs), the selected step's detail, the run's parameters
    and metrics."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("i", "tab('step')", "Step"),
        Binding("p", "tab('run')", "Run"),
        Binding("c", "copy", "Copy"),
        Binding("f", "first_failure", "Failure", show=False),
        Binding("R", "rerun", "Re-run"),
        Binding("r", "reload", "Reload", show=False),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Back to runs", "Leave this run (escape)", "back"),
        ("Step detail", "Attempts, metrics, parameters, catalog and code of the step (i)", "tab('step')"),
        ("Run parameters and metrics", "The run's parameters and every step's metrics (p)", "tab('run')"),
        ("Copy value", "Copy the highlighted cell, step name or run id (c)", "copy"),
        ("Go to first failure", "Move to the first step that failed (f)", "first_failure"),
        ("Re-run from failure", "Start a new run reusing the steps that succeeded (R)", "rerun"),
        ("Reload run", "Read the run log again from the store (r)", "reload"),
    ]
    DEFAULT_CSS = """
    RunScreen #run-header { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    RunScreen #body { height: 1fr; }
    RunScreen DagTree { width: 2fr; }
    RunScreen TabbedContent { width: 3fr; }
    """

    def __init__(self, run_id: str, *, probe: Callable[[list[str]], None] | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.view = RunView(run_id=run_id)
        self.selected: str | None = None
        self.pump = EventPump(self)
        self.probe = probe  # benchmarks: called with the keys shown after each update
        self._stop_listening: Callable[[], None] | None = None
        self.following = False
        self._panel_stale = True
        self._header_at = 0.0
        self._header_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-header")
        with Horizontal(id="body"):
            yield DagTree(id="dag")
            with TabbedContent(id="tabs"):
                with TabPane("Step", id="step"):
                    yield StepDetail(id="detail")
                with TabPane("Run", id="run"):
                    yield RunPanel(id="run-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run_id
        # the tabs mount their panes on their own schedule: fill the widgets once everything is there
        self.call_after_refresh(self.load)

    def on_unmount(self) -> None:
        if self._stop_listening:
            self._stop_listening()

    # -- loading and following --------------------------------------------------------------------
    def load(self) -> None:
        live = self.app.live.get(self.run_id)
        if live is not None and not live.done:
            # started here: listen first, then read, so no event falls between the two
            self._stop_listening = live.listen(self.pump.push)
            try:
                self.view = read_stable(lambda: live.store.get_run(self.run_id))
            except RunNotFoundError:
                self.view = RunView(run_id=self.run_id, status="CREATED")
            self.following = True
            self.render_all()
            return
        try:
            # a run started here is read from its own store (a buffered store lives only there)
            log = (
                live.store.get_run(self.run_id) if live is not None else self.app.project.get_run(self.run_id)
            )
        except MagnusError as exc:
            self.view = RunView.broken(self.run_id, str(exc))
            self.render_all()
            return
        self.view = RunView.from_runlog(log)
        self.render_all(state=run_state(log))
        if log.status not in FINISHED and run_state(log) == "RUNNING":
            self.following = True
            self.follow()

    @work(thread=True, exclusive=True, group="follow")
    def follow(self) -> None:
        """Tail a run another process is writing; stop when it finishes or the screen goes."""
        from magnus_core.follow import Follower

        store = self.app.project.store
        if store is None:
            return
        follower = Follower(store, self.run_id)
        # the first poll reports every step: applying them again is harmless and catches what changed
        # between the screen's read and this thread's start
        worker = get_current_worker()
        while not worker.is_cancelled:
            for event in follower.poll():
                self.pump.push(event)
            if follower.finished or (
                follower.run_log is not None and run_state(follower.run_log) != "RUNNING"
            ):
                for event in follower.poll():
                    self.pump.push(event)
                self.pump.push(
                    RunEvent(
                        kind="run-updated",
                        run_id=self.run_id,
                        status=follower.run_log.status if follower.run_log else "",
                    )
                )
                return
            follower.wait(self.app.follow_interval)  # a notifying store (postgres) wakes it at once

    @on(RunEventsReady)
    def _events(self) -> None:
        events = self.pump.drain()
        if not events:
            return
        changed: list[str] = []
        run_changed = False
        for event in events:
            if event.kind in ("run-created", "run-updated"):
                run_changed = True
                self.view.apply(event, self._run_log_now())
            else:
                changed.extend(self.view.apply(event))
        tree = self.query_one(DagTree)
        tree.update_rows(self.view, changed)
        self._update_header(now=run_changed)
        if self.selected in changed:
            self.query_one(StepDetail).show(self.view, self.selected)
        elif self.selected is None and changed:
            self.selected = changed[-1] if changed[-1] in self.view.rows else None
            self.query_one(StepDetail).show(self.view, self.selected)
        if run_changed:
            self._show_run_panel()
            if self.view.status in FINISHED:
                self.following = False
        if self.probe is not None:
            self.probe(changed)

    def _update_header(self, now: bool = False) -> None:
        """The header counts every row: redraw it at most every HEADER_INTERVAL while events stream in."""
        if now or time.monotonic() - self._header_at >= HEADER_INTERVAL:
            self._header_at = time.monotonic()
            self._header_timer = None
            self.query_one("#run-header", Static).update(run_header(self.view))
        elif self._header_timer is None:
            self._header_timer = self.set_timer(HEADER_INTERVAL, lambda: self._update_header(now=True))

    def _run_log_now(self) -> RunLog | None:
        live = self.app.live.get(self.run_id)
        try:
            if live is not None:
                return live.store.get_run(self.run_id)
            return None
        except MagnusError:
            return None

    def _location(self) -> str:
        store = self.app.project.store
        try:
            return store.location(self.run_id) if store is not None else ""
        except MagnusError:
            return ""

    def render_all(self, state: str | None = None) -> None:
        self.query_one("#run-header", Static).update(run_header(self.view, state))
        tree = self.query_one(DagTree)
        tree.build(self.view)
        first = next(iter(self.view.rows), None)
        self.selected = self.view.first_failure() or first
        self.query_one(StepDetail).show(self.view, self.selected)
        self._panel_stale = True
        self._show_run_panel()
        if self.selected:
            self.call_after_refresh(tree.select_key, self.selected)
        tree.focus()

    def _show_run_panel(self, force: bool = False) -> None:
        """The Run tab lists every step's metrics: draw it only when it is visible (or about to be)."""
        self._panel_stale = True
        if force or self.query_one(TabbedContent).active == "run":
            self.query_one(RunPanel).show(self.view, self._location())
            self._panel_stale = False

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "run" and self._panel_stale:
            self._show_run_panel(force=True)

    # -- interaction ---------------------------------------------------------------------------------
    @on(DagTree.Highlighted, "#dag")
    def _highlighted(self, event: DagTree.Highlighted) -> None:
        key = event.key
        if key and key != self.selected:
            self.selected = key
            self.query_one(StepDetail).show(self.view, key)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "run" and self._panel_stale:
            self._show_run_panel(force=True)

    def action_first_failure(self) -> None:
        key = self.view.first_failure()
        if key:
            self.query_one(DagTree).select_key(key)
        else:
            self.notify("No step failed in this run.")

    def action_reload(self) -> None:
        if not self.following:
            self.load()

    def action_copy(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.row_count:
            value = focused.get_cell_at(focused.cursor_coordinate)
            self.app.copy(str(getattr(value, "plain", value)), "value")
        elif isinstance(focused, DagTree) and self.selected:
            self.app.copy(self.selected, "step")
        else:
            self.app.copy(self.run_id, "run id")

    def action_rerun(self) -> None:
        if self.view.status in ("SUCCESS",) or self.view.error:
            self.notify(
                "Only a failed or interrupted run can be re-run from its failure.", severity="warning"
            )
            return
        if self.following:
            self.notify("The run is still going.", severity="warning")
            return
        self.app.rerun_from_failure(self.run_id)
