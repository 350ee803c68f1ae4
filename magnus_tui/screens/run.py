"""The run screen: the whole planned dag with live statuses, progress and elapsed time, the selected step, the
run's parameters and metrics; stop a running run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from magnus_core.errors import MagnusError, RunNotFoundError
from magnus_core.events import RUN_CREATED, RUN_UPDATED, RunEvent
from magnus_core.logs import (
    CHILD_FAILED,
    exit_said,
    harmless,
    interrupted_at,
    kept_traceback,
    raised,
    shown_line,
    stderr_unseen,
    traceback_shown,
    where_failed,
)
from magnus_core.models.run_log import RunLog, now
from magnus_core.runs import run_state
from magnus_tui.commands import StepCommands
from magnus_tui.launcher import EVENTS_LOST
from magnus_tui.live import EventPump, RunEventsReady
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen
from magnus_tui.view import RunView
from magnus_tui.widgets.dag_tree import DagTree
from magnus_tui.widgets.header import Header
from magnus_tui.widgets.keys import InOrderInput
from magnus_tui.widgets.output_view import (
    OutputText,
    OutputView,
    WholeRun,
    failure_at,
    output_text,
    whole_run_text,
)
from magnus_tui.widgets.run_header import Estimate, RunHeader
from magnus_tui.widgets.run_panel import RunPanel
from magnus_tui.widgets.step_detail import StepDetail

TABS_LATE = 10.0  # seconds after the tabs are mounted: not ready by then, the log says why (_tabs_late)
HEADER_INTERVAL = 0.25  # seconds between header redraws during a burst of events
TICK = 1.0  # seconds between redraws of the elapsed times while the run is live
ESTIMATE_AFTER = 0.2  # seconds after a run is shown: the estimate is looked up (the run index)
HEARD_WAIT = 0.25  # seconds: how often a run followed by its notices is checked for having ended
# a run polled in its store (started elsewhere): the poll waits app.follow_interval while the run changes,
# and longer while it does not (a step that sleeps), up to FOLLOW_QUIET_MAX: a quarter of the time it has
# been quiet, so a change after a long quiet spell is seen within that quarter (the poll was 20 a second)
FOLLOW_QUIET_MAX = 0.5  # seconds
W = TypeVar("W", bound=Widget)


class StepFind(InOrderInput):
    """The run screen's find box (`/`): escape clears the search (before the screen's own escape, back)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear the search", show=False),
        Binding("enter", "keep", "Keep the search", show=False),
    ]

    def action_clear(self) -> None:
        screen = self.screen
        if isinstance(screen, RunScreen):
            screen.clear_find()

    def action_keep(self) -> None:
        """Enter: the search kept, the keys the dag's again at once (`n` typed right after goes to it)."""
        screen = self.screen
        if isinstance(screen, RunScreen):
            screen.keep_find(self.value)


class RunScreen(WorkbenchScreen[None]):
    """One run: every step of its dag (live while it runs), the selected step's detail, the run's parameters
    and metrics."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("i", "tab('step')", "Step"),
        Binding("p", "tab('run')", "Run"),
        Binding("o", "tab('output')", "Output"),
        Binding("c", "copy", "Copy", show=False),  # F1 lists it; the footer keeps F1 at 80 columns
        Binding("f", "first_failure", "Failure", show=False),
        Binding("slash", "find", "Find step", show=False),  # F1 and the palette list it
        Binding("n", "next_step_match(1)", "Next step found", show=False),
        Binding("N", "next_step_match(-1)", "Previous step found", show=False),
        Binding("x", "stop", "Stop"),
        Binding("R", "rerun", "Re-run"),
        Binding("r", "reload", "Reload", show=False),
    ]
    COMMANDS = WorkbenchScreen.COMMANDS | {StepCommands}
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Back to runs", "Leave this run (escape)", "back"),
        ("Step detail", "Attempts, metrics, parameters, catalog and code of the step (i)", "tab('step')"),
        ("Run parameters and metrics", "The run's parameters and every step's metrics (p)", "tab('run')"),
        (
            "Output",
            "What the selected step printed, live; a: the whole run, /: search, F: follow, w: wrap (o)",
            "tab('output')",
        ),
        ("Copy value", "Copy the highlighted cell, step name or run id (c)", "copy"),
        ("Go to first failure", "Move to the first step that failed (f)", "first_failure"),
        (
            "Find a step",
            "Find steps by name in the dag as you type; n/N next and previous, escape clears (/)",
            "find",
        ),
        ("Stop the run", "Stop this running run; it ends INTERRUPTED and can be resumed (x)", "stop"),
        ("Re-run from failure", "The plan, what changed, parameters to change, then run (R)", "rerun"),
        ("Reload run", "Read the run log again from the store (r)", "reload"),
    ]
    # Below 100 columns the dag sits above the step (as Harlequin stacks its panes): both get the full width.
    HORIZONTAL_BREAKPOINTS = [(0, "-stacked"), (100, "-side-by-side")]  # noqa: RUF012 (Screen declares it)
    DEFAULT_CSS = """
    RunScreen #body { height: 1fr; }
    RunScreen DagTree { width: auto; min-width: 24; max-width: 45%; }
    RunScreen TabbedContent { width: 1fr; }
    RunScreen.-stacked #body { layout: vertical; }
    RunScreen.-stacked DagTree { width: 1fr; max-width: 100%; height: auto; max-height: 40%; min-height: 5; }
    RunScreen.-stacked TabbedContent { height: 1fr; }
    RunScreen #dag-find { dock: bottom; display: none; margin-bottom: 1; height: 1; border: none; }
    RunScreen #dag-find { padding: 0 1; }
    RunScreen.finding #dag-find { display: block; }
    """

    def __init__(
        self, run_id: str, *, probe: Callable[[list[str]], None] | None = None, output: bool = False
    ) -> None:
        """`output`: open on the Output tab (the runs list's `o`/`l`): a failed run's failed step, an
        interrupted run's step it stopped in, else the whole run (as `magnus logs RUN` prints it; following
        while it runs)."""
        super().__init__()
        self._open_output = output
        self.run_id = run_id
        self.view = RunView(run_id=run_id)
        self.selected: str | None = None
        # the cursor is on the running step because the screen put it there (not the user): it moves on to
        # the next step that runs, as `tail -f` follows a file (a key or click on the dag ends that)
        self._cursor_follows = False
        self.pump = EventPump(self)
        self.probe = probe  # benchmarks: called with the keys shown after each update
        self.following = False
        self.stopping = False
        self.estimate: Estimate | None = None
        self._panel_stale = True
        self._header_at = 0.0
        self._header_timer: Timer | None = None
        self._ticker: Timer | None = None
        self._have_log = False  # the view was built from the run log (not only from events)
        self._unlisten: Callable[[], None] | None = None  # a run started here: its notices (_listen)
        self._resync = threading.Event()  # it dropped notices: read the store once
        self._panes: list[Widget] = []  # the tabs' widgets, once _mount_tabs made them
        self._tabs_ready = False  # they are mounted and have shown their first tab (_tabs_mounted)
        self._keys_for: tuple[object, ...] | None = None  # what the footer's keys were worked out for
        self._output_wanted: bool | None = None  # output asked for before the tabs were there (open_if_any)
        self._tab_wanted: str | None = None  # a tab's key pressed before they were there
        self._tab_chosen = False  # the user chose a tab (action_tab): a failed run's opening keeps off it
        self._widgets: dict[type[Widget], Widget] = {}  # _widget
        self._find_from = 0  # the dag's line a search began on (/)

    def compose(self) -> ComposeResult:
        # the tabs (step detail, run panel, output: a dozen tables and widgets) are mounted after the first
        # frame with the dag (_mount_tabs): building them took longer than reading a 1,000-step log
        yield Header()
        yield RunHeader("", id="run-header")
        with Horizontal(id="body"):
            yield DagTree(id="dag")
        yield StepFind(placeholder="find a step by name (Enter: keep, escape: clear)", id="dag-find")
        yield KeysFooter()

    @property
    def ready(self) -> bool:
        """The tabs are mounted and show the selected step (a moment after the first frame with the dag)."""
        return self._tabs_ready

    def tabs_missing(self) -> str:
        """What the screen still waits for before it is `ready`, in words; "" once it is. Read from the
        widgets' state (not from messages seen), so a test that times out can say what never came."""
        if self._tabs_ready:
            return ""
        return self._tabs_lack() or "nothing: the screen is made ready after the next refresh (_tabs_active)"

    def _tabs_lack(self) -> str:
        """What the tabs lack before they can show the step ("" once mounted and showing their first tab)."""
        if not self._panes:
            return "the tabs are not mounted yet (they are, after the first frame with the dag)"
        waiting = [widget.id or type(widget).__name__ for widget in self._panes if not widget.is_mounted]
        if waiting:
            return f"the tabs' panes are not mounted yet: {', '.join(waiting)}"
        if not self._first_tab_shown():
            return "the tabs have not shown their first tab (TabbedContent.active is empty)"
        return ""

    def _first_tab_shown(self) -> bool:
        try:
            return bool(self.query_one(TabbedContent).active)
        except NoMatches:
            return False

    def on_mount(self) -> None:
        self.sub_title = self.run_id
        if not self.app.is_running:  # the app is closing as the screen opens (its widgets are being
            return  # removed: `NoMatches: DagTree`, tui9): nothing to load or draw
        self.load()
        self.call_after_refresh(self._mount_tabs)

    def _mount_tabs(self) -> None:
        """After the first frame: the tabs (_tabs_mounted fills them once they have shown their first)."""
        if self._panes or not self.is_attached:
            return
        self._panes = [StepDetail(id="detail"), RunPanel(id="run-panel"), OutputView(id="output-view")]
        tabs = _RunTabs(self._tabs_arrived, id="tabs")
        for title, pane, widget in zip(
            ("Step", "Run", "Output"), ("step", "run", "output"), self._panes, strict=True
        ):
            tabs.compose_add_child(TabPane(title, widget, id=pane))
        # Their state, watched: Textual calls a watcher when the value is set (no message that could be
        # missed). Their first tab is shown by their own Tabs widget, on its own schedule, after the panes
        # are mounted; a tab activated here before that would be undone by it.
        self.watch(tabs, "active", self._tabs_active, init=False)
        self.query_one("#body", Horizontal).mount(tabs)

    def _tabs_arrived(self) -> None:
        """The tabs and their panes are mounted (_RunTabs.on_mount): their first tab is shown a moment
        later; TABS_LATE seconds on, the screen checks that it was (_tabs_late)."""
        self.set_timer(TABS_LATE, self._tabs_late)
        self._tabs_mounted()

    def _tabs_active(self, active: str) -> None:
        if active and not self._tabs_ready:
            # After the tabs' handler that set it has finished (its `prevent` of their messages would hold
            # for a tab activated by _tabs_mounted if it were called from here).
            self.call_after_refresh(self._tabs_mounted)

    def _tabs_mounted(self) -> None:
        """Once the panes' widgets are mounted and the tabs have shown their first (both read from the
        widgets): what they show of the selected step and the run, and a tab asked for meanwhile."""
        if self._tabs_ready or not self.is_attached:  # filled, or the screen went (escape, quit)
            return
        if self._tabs_lack():
            return  # again when they show their first tab (_tabs_active), at the latest by _tabs_late
        self._tabs_ready = True
        self.app.keys_ready(self)  # the keys typed while it opened act on it now (MagnusApp.hold_keys)
        # the tab bar's underline is placed when the first tab activates; on a loaded machine that came
        # before the tabs were laid out (a zero-width underline that stayed until a resize): placed again
        # once they are, as a resize does (Tabs._highlight_active: Textual is pinned)
        self.call_after_refresh(self._place_tab_underline)
        self._keys_state()  # a tab's key shows while another tab is shown
        self._show_detail()
        self._show_run_panel()
        if self._open_output:  # (`o` on the runs list) a failed run's failed step, an interrupted run's
            # step it stopped in (views10's left item: it opened on the whole run, unlike Enter), else the run
            if not (self.view.first_failure() or self.view.first_interrupted()):
                self.query_one(OutputView).whole_run = True
            self._output_wanted = None
            self._show_tab("output")  # (TabActivated reads it)
        if self._output_wanted is not None:
            self.read_output(open_if_any=self._output_wanted)
        if self._tab_wanted is not None:
            self.action_tab(self._tab_wanted)

    def _tabs_late(self) -> None:
        """TABS_LATE seconds after the tabs and panes were mounted their first tab has long been shown (a
        message between two of their widgets); if it was not, the log says so and the screen shows it (a
        lost activation would leave the right-hand side blank), which makes the screen ready."""
        missing = self.tabs_missing()
        if not missing or not self.is_attached:
            return
        self.log.warning(f"run screen {self.run_id}: not ready {TABS_LATE} s after its tabs: {missing}")
        if not self._first_tab_shown():
            self.query_one(TabbedContent).active = "step"
        self._tabs_mounted()

    def _place_tab_underline(self) -> None:
        if self.is_attached:
            for tabs in self.query(Tabs):
                tabs._highlight_active(animate=False)

    # -- loading and following --------------------------------------------------------------------
    def load(self) -> None:
        """Read the run from the store and show it; follow it while it runs (whoever started it)."""
        try:
            log = self.app.project.get_run(self.run_id)
        except RunNotFoundError as exc:
            launched = self.app.launched.get(self.run_id)
            if launched is None or not launched.running:
                self.view = RunView.broken(self.run_id, str(exc))
                self.render_all()
                return
            # started here a moment ago: its log is on its way
            self.view = RunView(run_id=self.run_id, state="RUNNING")
            self.render_all()
            self._start_following()
            return
        except MagnusError as exc:
            self.view = RunView.broken(self.run_id, str(exc))
            self.render_all()
            return
        self.show_log(log)
        if self.view.live:
            self._start_following()
        elif self.view.first_failure() or self.view.first_interrupted():
            # a failed run opens on the failed step's last lines, an interrupted one (Ctrl-C, `magnus
            # stop`, kill -9) on those of the step it stopped in: what it printed last is what is looked
            # for (tui9: it opened on the Step tab); `i` shows the Step tab
            self.read_output(open_if_any=True)
        # after the dag is drawn: its thread (the run index) would compete with the first picture
        self.set_timer(ESTIMATE_AFTER, lambda: self.find_estimate(log))

    def show_log(self, log: RunLog) -> None:
        self._have_log = True
        self.view = RunView.from_runlog(log, run_state(log))
        self.render_all()

    def _start_following(self) -> None:
        self.following = True
        self._listen()
        self.follow()
        if self._ticker is None:
            self._ticker = self.set_interval(TICK, self.tick)

    def _listen(self) -> None:
        """A run started here tells of every write on its socket (launcher.Launched): follow those notices
        once the view holds the run log (they replay what is newer than it). Others are polled (follow)."""
        launched = self.app.launched.get(self.run_id)
        if launched is None or not self._have_log or self._unlisten is not None:
            return

        def heard(event: RunEvent) -> None:
            if event.kind == EVENTS_LOST:  # it dropped some: the follower reads the store once
                self._resync.set()
            else:
                self.pump.push(event)

        self._unlisten = launched.subscribe(heard)

    def _unsubscribe(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    def on_unmount(self) -> None:
        self._unsubscribe()
        self.app.keys_ready(self)  # gone before it was ready: the keys held for it go to the screen on top

    def _stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    @work(thread=True, exclusive=True, group="follow")
    def follow(self) -> None:
        """Tail the run (written by a process of its own, whoever started it); stop when it ends or its
        process is gone, or the screen goes.

        A run started here (app.launched) tells of every write on its socket (_listen): the store is read
        only until its log exists, when notices were dropped, and once when its process has ended. Any
        other run is polled: its store's version (a stat) every follow_interval, the log when it changed."""
        from magnus_core.follow import Follower

        store = self.app.project.store
        if store is None:
            return
        follower = Follower(store, self.run_id)
        launched = self.app.launched.get(self.run_id)
        alive_at = 0.0
        changed_at = time.monotonic()  # the last poll that found the run changed
        # the first poll reports every step: applying them again is harmless and catches what changed
        # between the screen's read and this thread's start
        worker = get_current_worker()
        while not worker.is_cancelled:
            heard = launched is not None and self._have_log
            if heard and not self._resync.is_set():
                events = []
                log = follower.run_log
                ended = launched is not None and launched.ended.wait(HEARD_WAIT)
            else:
                self._resync.clear()
                events = follower.poll()
                log = follower.run_log
                ended = launched is not None and launched.ended.is_set()
            if log is not None and not self._have_log:
                self.app.call_from_thread(self._first_log, log)  # the run log just appeared
                events = []
            for event in events:
                self.pump.push(self._with_log(event, log))
            # whether its process still lives (a look at /proc): when the log changed, else once a second
            state = "RUNNING"
            if log is not None and launched is None and (events or time.monotonic() - alive_at >= TICK):
                state, alive_at = run_state(log), time.monotonic()
            if ended or follower.finished or state != "RUNNING":
                for event in follower.poll():
                    self.pump.push(self._with_log(event, follower.run_log))
                final = follower.run_log
                self.pump.push(
                    RunEvent(
                        kind=RUN_UPDATED,
                        run_id=self.run_id,
                        status=final.status if final else "",
                        extra={"log": final, "state": run_state(final) if final else state},
                    )
                )
                return
            if not heard:
                if events:
                    changed_at = time.monotonic()
                quiet = time.monotonic() - changed_at
                wait = max(self.app.follow_interval, min(FOLLOW_QUIET_MAX, quiet / 4))
                follower.wait(wait)  # a notifying store (postgres) wakes it at once

    @staticmethod
    def _with_log(event: RunEvent, log: RunLog | None) -> RunEvent:
        """Run-level events carry the log they were read from (its tag, parameters, state)."""
        if event.kind not in (RUN_CREATED, RUN_UPDATED) or log is None:
            return event
        return RunEvent(
            kind=event.kind,
            run_id=event.run_id,
            status=event.status,
            extra={**event.extra, "log": log, "state": run_state(log)},
        )

    def _first_log(self, log: RunLog) -> None:
        if not self._have_log:
            self.show_log(log)
            self.find_estimate(log)
            self._listen()

    @on(RunEventsReady)
    def _events(self) -> None:
        events = self.pump.drain()
        if not events:
            return
        changed: list[str] = []
        run_changed = False
        was_live = self.view.live
        for event in events:
            if event.kind in (RUN_CREATED, RUN_UPDATED):
                run_changed = True
                log = event.extra.get("log")
                changed.extend(self.view.apply(event, log if isinstance(log, RunLog) else None))
                state = event.extra.get("state")
                if isinstance(state, str):
                    changed.extend(self.view.settle(state))
            else:
                changed.extend(self.view.apply(event))
        tree = self.query_one(DagTree)
        if was_live and not self.view.live:  # ended: every label may change (not run, interrupted)
            self._ended()
            if self.probe is not None:
                self.probe(changed)
            return
        tree.update_rows(self.view, changed)
        self._update_header(now=run_changed)
        moved = self._cursor_follows and bool(changed) and self._follow_running(tree)
        if moved:
            pass  # _follow_running showed the new step
        elif self.selected in changed:
            self._show_detail()
        elif self.selected is None and changed:
            self.selected = changed[-1] if changed[-1] in self.view.rows else None
            self._show_detail()
        if run_changed:
            self._show_run_panel()
        if self.probe is not None:
            self.probe(changed)

    def _follow_running(self, tree: DagTree) -> bool:
        """Move the cursor to the step that runs now when the one it was on has stopped running; True if
        it moved (the detail and output then show that step)."""
        running = self.view.running_keys()
        if not running or self.selected in running:
            return False
        self.selected = running[-1]
        tree.select_key(self.selected)
        self._show_detail()
        self._refresh_output()
        return True

    def _ended(self) -> None:
        self.following = self.stopping = False
        self._unsubscribe()
        self._stop_ticking()
        tree = self.query_one(DagTree)
        tree.build(self.view)
        stopped_in = self.view.first_failure() or self.view.first_interrupted()
        if self._cursor_follows and stopped_in is not None:
            # the cursor followed the running steps: it goes where the run failed or stopped, as a run
            # opened once ended opens there (render_all). A step that failed or crashed within one look
            # at the log was never seen running: the cursor stayed on the step before (CI, session 12)
            self.selected = stopped_in
            self._cursor_follows = False
        if self.selected is not None:
            tree.select_key(self.selected)
        self._update_header(now=True)
        self._show_detail()
        self._show_run_panel()
        if self.view.first_failure() or self.view.first_interrupted():  # it failed or was stopped: open on
            self.read_output(open_if_any=True)  # the last lines of the step it failed or stopped in
        else:
            self._refresh_output()  # the last lines, and the attempt's file now kept in the catalog

    def tick(self) -> None:
        """Once a second while the run is live: the header's time and the running steps' times (their rows
        in the dag: the Step tab's attempt in progress says `…` beside them), the output if it is shown;
        nothing else is redrawn, nothing laid out again, and nothing of the run worked out again (a whole
        redraw of the step's tables was 10% of a core, a cell of its attempts a third of what is left; the
        header's counts walk every row)."""
        at = now()
        running = self.view.running_keys()
        tree, header = self._widget(DagTree), self._widget(RunHeader)
        if tree is None or header is None:  # the screen is being taken down
            return
        tree.tick(at, running)
        header.tick(at)
        self._refresh_output()

    def _widget(self, kind: type[W]) -> W | None:
        """The screen's one widget of `kind`, found once (a query walks the screen's widgets: each second's
        tick asked for four); None while the screen is being taken down (its widgets are removed before it
        is: a timer or a worker's answer arriving then found none, and the app stopped on NoMatches)."""
        found = self._widgets.get(kind)
        if found is None or not found.is_attached:
            try:
                found = self._widgets[kind] = self.query_one(kind)
            except NoMatches:
                return None
        return found  # type: ignore[return-value]

    def on_screen_suspend(self) -> None:
        """Another screen on top (help, the runs list, a dialog): the clock stops; events still update."""
        if self._ticker is not None:
            self._ticker.pause()

    def on_screen_resume(self) -> None:
        if self._ticker is not None and self.following:
            self.tick()  # the times moved meanwhile
            self._ticker.resume()

    def _update_header(self, now: bool = False) -> None:
        """The header counts every row: redraw it at most every HEADER_INTERVAL while events stream in."""
        if now or time.monotonic() - self._header_at >= HEADER_INTERVAL:
            self._header_at = time.monotonic()
            self._header_timer = None
            self._draw_header()
        elif self._header_timer is None:
            self._header_timer = self.set_timer(HEADER_INTERVAL, lambda: self._update_header(now=True))

    def _draw_header(self) -> None:
        header = self._widget(RunHeader) if self.is_attached else None  # (a worker's answer arriving late)
        if header is not None:
            header.show(self.view, now(), self.estimate, self.stopping)
            self._keys_state()

    @work(thread=True, exclusive=True, group="estimate", description="find_estimate")
    def find_estimate(self, log: RunLog) -> None:
        """The duration of the previous successful run of this pipeline with this dag (the run index)."""
        from magnus_core.index import open_index
        from magnus_core.progress import estimate_from

        store = self.app.project.store
        if store is None or not log.dag_hash:
            return
        index = open_index(store, notify=lambda message: None)
        try:
            found = estimate_from(index, log)
        except (MagnusError, OSError):
            return
        finally:
            index.close()
        summary, same = found if found is not None else (None, True)
        if summary is not None and summary.duration is not None:
            self.app.call_from_thread(self._estimated, Estimate(summary.run_id, summary.duration, same))

    def _estimated(self, estimate: Estimate) -> None:
        self.estimate = estimate
        self._draw_header()

    def render_all(self) -> None:
        tree = self.query_one(DagTree)
        tree.now = now()
        tree.build(self.view)
        self._draw_header()
        keys = [row.key for row, _ in self.view.walk()]
        failure = self.view.first_failure()
        running = next(iter(self.view.running_keys()), None)
        # an interrupted run opens on the step it stopped in (it opened on its first step: the one looked
        # for, hung or killed, was elsewhere; tui9 item 4 at 80x24), as a failed run on its failed step
        stopped = self.view.first_interrupted()
        self.selected = failure or running or stopped or (keys[0] if keys else None)
        self._cursor_follows = failure is None and self.view.live
        self._show_detail()
        self._panel_stale = True
        self._show_run_panel()
        if self.selected:
            self.call_after_refresh(self._select_in_tree)
        tree.focus()

    def _select_in_tree(self) -> None:
        """The tree's cursor on the selected step, once the tree is laid out: the selection of that moment,
        not of the draw that asked (a later draw, the run's log arriving, may have chosen another step)."""
        trees = self.query(DagTree)
        if self.selected and trees:
            trees.first().select_key(self.selected)

    def _show_detail(self) -> None:
        detail = self._widget(StepDetail) if self._tabs_ready else None
        if detail is not None:
            detail.show(self.view, self.selected)

    def _location(self) -> str:
        store = self.app.project.store
        try:
            return store.location(self.run_id) if store is not None else ""
        except MagnusError:
            return ""

    def _show_run_panel(self, force: bool = False) -> None:
        """The Run tab lists every step's metrics: draw it only when it is visible (or about to be)."""
        self._panel_stale = True
        if self._tabs_ready and (force or self.query_one(TabbedContent).active == "run"):
            self.query_one(RunPanel).show(self.view, self._location())
            self._panel_stale = False

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if not self._tabs_ready:  # the first, as the tabs are mounted (_tabs_active makes the screen ready)
            return
        self._keys_state()
        if event.pane.id == "run" and self._panel_stale:
            self._show_run_panel(force=True)
        if event.pane.id == "output":
            self.read_output()

    # -- output ------------------------------------------------------------------------------------------
    def _refresh_output(self) -> None:
        """Read the output again if it is on screen (every second while the run is live, on a new step)."""
        tabs = self._widget(TabbedContent) if self._tabs_ready else None
        if tabs is not None and tabs.active == "output":
            self.read_output()

    def read_output(self, open_if_any: bool = False) -> None:
        """Show the selected step's output (or the whole run's), read through magnus_core.logs from the run's
        catalog; `open_if_any`: switch to the Output tab when there is some (a failed run)."""
        if not self._tabs_ready:  # read once they are there (_mount_tabs)
            self._output_wanted = open_if_any or bool(self._output_wanted)
            return
        try:
            pane = self.query_one(OutputView)
        except NoMatches:
            return
        source = "" if pane.whole_run else (self.selected or "")
        if source != pane.source:
            pane.reading(source)  # another step: its name and "reading…" at once, not the last one's lines
        # the view holds every step log (built here, on the UI thread that changes it): the store is read
        # only for what the view cannot say (a composite step)
        log = self.view.output_log(source or None) if self._have_log else None
        self._read_output(source, pane.whole_run, log, open_if_any, pane.whole if pane.whole_run else None)

    # a description: Textual's default is the repr of the arguments, a whole run log (0.17 s at 1,000 steps)
    @work(thread=True, exclusive=True, group="output", exit_on_error=False, description="read output")
    def _read_output(
        self, source: str, whole_run: bool, log: RunLog | None, open_if_any: bool, before: WholeRun | None
    ) -> None:
        """Read in a thread; the whole run's lines go on from what the view showed (`before`)."""
        store = self.app.project.store
        if store is None:
            return
        stderr: list[str] = []
        where = stopped = cause = ""
        whole: WholeRun | None = None
        text: OutputText | None
        try:
            log = log or store.get_run(self.run_id)
            if whole_run:
                text, whole = whole_run_text(log, runs=store.get_run, before=before)
            else:
                text = output_text(log, source, runs=store.get_run) if source else None
            if text is not None and source and not whole_run:
                stderr, shown, exception, exited = _last_stderr(log, source, text.lines)
                where, frames, cause = _located(log, source)
                stopped = _stopped(log, source)
                if frames and (not text.lines or (exception and not traceback_shown(exception, text.lines))):
                    # no file holds the traceback (none kept, or cut by the output cap before it): the run
                    # log's frames after what there is (trial 11)
                    text.lines = [*text.lines, *frames]
                    # under a python exception its stderr lines are logging, not the reason, as `magnus
                    # logs` leaves them out when it prints the frames (a shell step's are kept)
                    stderr = [] if exception and exception not in CHILD_FAILED else stderr
                else:
                    stderr = stderr_unseen(stderr, shown, exception, exited)
                if text.at is None:  # a python step's failure, or where a stop found its code: its frame
                    text.at = failure_at(text.lines, _place(log, source))
        except MagnusError as exc:
            text = OutputText(note=str(exc))
        if text is None:
            text = OutputText(note="select a step in the tree")
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(
                self._output_read, source, text, open_if_any, stderr, whole, where, stopped, cause
            )

    def _console_note(self) -> str:
        """For a run started from this workbench, whose step was cut short before any of its output reached
        its file: where the run's console is kept and its last line (trial 13 fault 8: a segfault's last
        printed line, `calling the C extension with batch 17`, was in the console only); "" otherwise."""
        from magnus_tui.dialogs.quit import shown_path
        from magnus_tui.launcher import console_tail

        launched = getattr(self.app, "launched", {}).get(self.run_id)
        if launched is None:
            return ""
        tail = console_tail(launched.console)
        where = shown_path(launched.console)
        return f"; the run's console, {where}, ends: {tail[-1]}" if tail else f"; the run's console: {where}"

    def _output_read(
        self,
        source: str,
        text: OutputText,
        open_if_any: bool,
        stderr: list[str],
        whole: WholeRun | None = None,
        where: str = "",
        stopped: str = "",
        cause: str = "",
    ) -> None:
        row = self.view.rows.get(source) if source else None
        failure = row.message if row is not None and row.status == "FAIL" else ""
        # a python step stopped by Ctrl-C or SIGTERM: where its code was (logs.interrupted_at, as `magnus
        # logs` says it since de8914d; the header said nothing)
        stopped = stopped if row is not None and row.status == "INTERRUPTED" else ""
        if row is not None and row.cut_attempt is not None and not self.view.live:  # kill -9 (trial 12 f. 9)
            number = row.cut_attempt[0]
            text.cut = f"attempt {number}"
            # a fatal signal says so above the lines, as `magnus show` (trial 15 N2: it read as a kill -9)
            stopped = stopped or row.crash
            if text.note.startswith("running (attempt"):  # its record says running: its process is gone
                text.note = (
                    f"attempt {number} was cut short: the run's process ended while it ran; none of its "
                    "output reached its file"
                )
                text.note += self._console_note()
        if failure:
            # each line cut as the summary cuts it (logs.shown_line: trial 10 found a 100,000-character
            # line); where it was raised after the message's first line, as `magnus logs` says it, and its
            # further lines indented under it: the header holds 3 lines, out of which a message of several
            # pushed the place (trial 11, faults 4 and 12)
            first, *more = (shown_line(line) for line in failure.split("\n"))
            # (the place goes after the first line in the view, which fits both in its rows: failed)
            failure = "\n".join([first, *(f"    {line}" for line in more)])
        if failure and cause:  # the root of `raise X from e`, as the summary says it (fit_failure keeps it)
            failure += "\n" + harmless(shown_line(cause))  # (no step's escapes act: trial 14, F13)
        if failure and stderr:
            # what the step wrote to stderr last, which its kept output may hold before earlier stdout lines
            # (trial 6: `ERROR: out of memory` was line 1 of 301, out of view at the output's end): each
            # line, as the summary and `magnus show` say them (trial 14, F11: the last one only; fit_failure
            # counts those that do not fit)
            failure += "".join(f"\nstderr: {harmless(shown_line(line))}" for line in stderr)
        try:
            pane = self.query_one(OutputView)
            if whole is not None and pane.whole_run:
                pane.whole = whole  # what the next read goes on from
            if stopped:
                pane.show(source, text, live=self.view.live, failure=stopped, mark="■")
            else:
                pane.show(source, text, live=self.view.live, failure=failure, place=where if failure else "")
        except NoMatches:  # the screen went, or its tabs are not mounted yet: the next read shows it
            return
        # a failed step opens on its output even with no lines (a missing file: the note says why, the
        # header how it failed; trial 11 found it on the Step tab, as docs/workbench.md says it is not)
        interrupted = row is not None and row.status == "INTERRUPTED"  # (a kill -9 with no line: its note)
        if (
            open_if_any
            and not self._tab_chosen
            and (text.lines or failure or interrupted)
            and self.query_one(TabbedContent).active != "output"
        ):
            # shown with the keyboard on its lines, as `o` does: a, / and n act on them (trial 4: the tab was
            # shown and the keys still went to the dag, `i` of `/line` opened the Step tab); the dag keeps
            # the focus if the user gave it another widget meanwhile
            if isinstance(self.focused, DagTree) or self.focused is None:
                self._show_tab("output")
            else:
                self.query_one(TabbedContent).active = "output"

    @on(OutputView.Left)
    def _output_left(self) -> None:
        self.query_one(DagTree).focus()

    @on(OutputView.SourceChanged)
    def _output_source(self) -> None:
        self.read_output()

    # -- interaction ---------------------------------------------------------------------------------
    @on(DagTree.Highlighted, "#dag")
    def _highlighted(self, event: DagTree.Highlighted) -> None:
        key = event.key
        if key and key != self.selected:
            self._cursor_follows = False  # the user moved it: it stays where they put it
            self.selected = key
            self._show_detail()
            self._refresh_output()

    def action_back(self) -> None:
        """escape: a search in the dag is cleared first; then back to the runs."""
        if self.query_one(DagTree).find_text or self.has_class("finding"):
            self.clear_find()
            return
        self.app.pop_screen()

    def help_note(self) -> str | None:
        """F1's line on the Output tab's own keys while they are not active (its search, issue 16: from the
        dag, `/` finds a step and nothing said the Output tab searches its lines with the same keys);
        None on the Output tab, whose keys F1 lists then."""
        view = self.query(OutputView)
        if view and view.first().has_focus_within:
            return None
        return "On the Output tab (o): / searches its lines, n / N go to the next and previous match."

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The keys that matter for the run's state (the footer and F1 show only those; trial 5's footer
        offered Stop for a run that had ended): `x` stop while the run is live, `R` re-run once it has
        failed or was interrupted, a tab's key unless the keys are in that tab."""
        if action == "stop":
            return self.view.live
        if action == "rerun":
            return not self.view.live and self.view.status != "SUCCESS" and not self.view.error
        if action == "tab" and parameters and self._active_tab() == parameters[0]:
            # the key of the tab shown goes while the keys are in it (`o` on the Output tab from the dag
            # gives the keys to its lines: it stays)
            focused = self.focused
            return focused is None or not any(node.id == parameters[0] for node in focused.ancestors)
        return True

    def _active_tab(self) -> str:
        """The tab shown: the first, Step, until the tabs are there (the footer is not built twice)."""
        tabs = self._widget(TabbedContent) if self._tabs_ready else None
        return (tabs.active if tabs is not None else "") or "step"

    def _keys_state(self) -> None:
        """The footer's keys again when what check_action looks at changed (not at every event)."""
        state = (self.view.live, self.view.status, self.view.error, self._active_tab())
        if state != self._keys_for:
            self._keys_for = state
            self.refresh_bindings()

    def action_tab(self, tab: str) -> None:
        """A tab's key (i, p, o) or the palette: the tab the user chose, which a failed run's output read
        later no longer replaces with its Output tab (a quick `i` was undone by it)."""
        self._tab_chosen = True
        self._show_tab(tab)

    def _show_tab(self, tab: str) -> None:
        if not self._tabs_ready:  # a key in the moment before they are mounted: shown once they are
            self._tab_wanted = tab
            return
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        focused = self.focused
        if tab != "output" and focused is not None and tabs in focused.ancestors:
            # the keys leave the pane no longer shown for the dag, now (set_focus): a focus on the Output
            # tab's lines still on its way would otherwise show that tab again (_RunTabs)
            self.set_focus(self.query_one(DagTree))
        if tab == "output":  # its keys (/ search, F follow, w wrap, a whole run) work from the lines
            # the step whose output the user asked for stays shown: the cursor no longer moves on to the
            # next step that runs (trial 8: `o` on warm showed par.right.r1 once warm had ended)
            self._cursor_follows = False
            output = self.query_one(OutputView)
            output.live = self.view.live  # (F follow is offered while live: known before its keys show)
            self.set_focus(output.log_widget)  # now: a tab key just after must see it (_RunTabs)
        if tab == "run" and self._panel_stale:
            self._show_run_panel(force=True)

    # -- finding a step by name (/, as lazygit and k9s filter, less searches) -------------------------
    def action_find(self) -> None:
        """`/`: the find box under the dag; each letter moves the cursor to the first step whose name holds
        the text (from where the cursor was), Enter keeps the search (n/N), escape clears it."""
        tree = self.query_one(DagTree)
        self._find_from = tree.cursor_line
        box = self.query_one("#dag-find", StepFind)
        box.value = ""  # a new search, as less's `/` (n/N go on with the last one)
        self.add_class("finding")
        self.set_focus(box)  # now: the letters typed after `/` and queued already go there

    @on(Input.Changed, "#dag-find")
    def _find_changed(self, event: Input.Changed) -> None:
        if self.has_class("finding"):
            self.query_one(DagTree).find(event.value, start=self._find_from)

    def keep_find(self, value: str) -> None:
        """Enter in the find box: it closes, the matches stay marked for n/N, the keys go to the dag."""
        tree = self.query_one(DagTree)
        if value.strip().lower() != tree.find_text:  # (its last letters' Changed not handled yet)
            tree.find(value, start=self._find_from)
        self.remove_class("finding")
        self.set_focus(tree)
        if value.strip() and not tree.found():
            self.notify(f"No step's name holds '{value.strip()}'.", severity="warning")

    def clear_find(self) -> None:
        """escape: the search ends (the box closes, the marks go); the cursor stays on the step found."""
        tree = self.query_one(DagTree)
        self.remove_class("finding")
        tree.find("")
        self.set_focus(tree)

    def action_next_step_match(self, step: int) -> None:
        tree = self.query_one(DagTree)
        if not tree.find_text:
            self.notify("Find a step first: / and part of its name.")
        elif not tree.next_match(step):
            self.notify(f"No step's name holds '{tree.find_text}'.", severity="warning")

    def go_to_step(self, key: str) -> None:
        """The cursor on step `key` (the palette's `Go to step`), the keys in the dag."""
        tree = self.query_one(DagTree)
        tree.select_key(key)
        self.set_focus(tree)

    def action_first_failure(self) -> None:
        """`f`: the first step that failed; in a run with none that was interrupted (Ctrl-C, `magnus stop`, a
        kill -9, a segfault), the step it stopped in, saying so (session 11: `f` on a crashed run said only
        `No step failed in this run`, the crash's step a scroll away)."""
        key = self.view.first_failure()
        if key:
            self.query_one(DagTree).select_key(key)
            return
        stopped = self.view.first_interrupted()
        if stopped:
            self.query_one(DagTree).select_key(stopped)
            self.notify(f"No step failed in this run; it stopped in {stopped}.")
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

    def action_stop(self) -> None:
        if not self.view.live:
            self.notify(f"Run {self.run_id} is not running.", severity="warning")
            return
        self.app.stop_run(self.run_id, on_confirmed=self._stop_asked)

    def _stop_asked(self) -> None:
        self.stopping = True
        self._draw_header()

    def action_rerun(self) -> None:
        if self.view.live:
            self.notify("The run is still going: stop it (x) or wait for it to end.", severity="warning")
            return
        if self.view.status == "SUCCESS" or self.view.error:
            self.notify(
                "Only a failed or interrupted run can be re-run from its failure.", severity="warning"
            )
            return
        self.app.rerun_from_failure(self.run_id)


class _RunTabs(TabbedContent):
    """The run screen's tabs; `arrived` is called once they and their panes are mounted (their Mount is
    dispatched to them directly by Textual, after their children's, not posted: it cannot be missed)."""

    def __init__(self, arrived: Callable[[], None], *, id: str) -> None:
        super().__init__(id=id)
        self._arrived = arrived

    def on_mount(self) -> None:
        self._arrived()

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        """A widget in a pane got the focus: its tab is shown, as Textual does, unless the focus has left
        that pane since (the message comes after the focus: the Output tab's lines, focused as a failed run
        opened on them, sent it after an `i` pressed at that moment had shown the Step tab, which it undid;
        the handler of Textual 8.2.8's TabbedContent, which Textual calls after this one unless prevented)."""
        focused = self.screen.focused
        if focused is None or event.tab_pane not in focused.ancestors:
            event.stop()
            event.prevent_default()  # Textual calls each class's handler in the MRO: not TabbedContent's


FRAMES_TITLE = "[magnus: the traceback as the run log keeps it (no output holds it), most recent call last]"


def _located(log: RunLog, internal_name: str) -> tuple[str, list[str], str]:
    """Where step `internal_name`'s last attempt failed (`steps.py:13 in train`, logs.where_failed; "" when
    it did not fail or nothing is located), its traceback's frames as the run log keeps them, as lines
    (FRAMES_TITLE, then `File "steps.py", line 13, in train` and the source line), as `magnus logs` prints
    them when no output file is there to show the traceback, each cause's after it (`caused by
    JSONDecodeError: ...:` and its frames: logs.kept_traceback; [] without frames), and the root of its
    chain of causes (`caused by KeyError: 'b', at features.py:5 in load`, AttemptError.caused_by; "")."""
    step = log.find_step(internal_name)
    attempt = step.attempts[-1] if step is not None and step.attempts else None
    if attempt is None or attempt.status != "FAIL":
        return "", [], ""
    where = where_failed(attempt, attempt.message or "")
    error = attempt.error
    cause = error.caused_by() if error is not None else ""
    if error is None or not error.frames:
        return where, [], cause
    # the chain's causes and their frames too, after the outer ones (trial 14, F3: with the output cap or
    # the do-nothing catalog the root cause, a JSONDecodeError, was nowhere in the workbench)
    lines = [FRAMES_TITLE, *(f"  {line}" for line in kept_traceback(error))]
    return where, lines, cause


def _place(log: RunLog, internal_name: str) -> str:
    """Where step `internal_name`'s last attempt failed or a stop found its code (`steps.py:13 in train`,
    logs.where_failed), "" when it did neither or no frame is recorded."""
    step = log.find_step(internal_name)
    attempt = step.attempts[-1] if step is not None and step.attempts else None
    if attempt is None or attempt.status not in ("FAIL", "INTERRUPTED"):
        return ""
    return where_failed(attempt)


def _stopped(log: RunLog, internal_name: str) -> str:
    """`interrupted at steps.py:12 in train (SIGINT: the run was stopped)` for step `internal_name` when
    Ctrl-C or SIGTERM stopped its last attempt where its python code was recorded (logs.interrupted_at),
    else ""."""
    step = log.find_step(internal_name)
    return interrupted_at(step.attempts[-1]) if step is not None and step.attempts else ""


def _last_stderr(log: RunLog, internal_name: str, shown: list[str]) -> tuple[list[str], list[str], str, str]:
    """stderr_unseen's arguments for step `internal_name`'s last attempt: the last lines it wrote to stderr
    (AttemptError.stderr, or []), the lines `shown`, the python exception it raised ("" for none: its
    traceback is then the reason, and its stderr lines are logging, not set apart: trial 10, fault 6), and
    its sys.exit message (exit_said)."""
    step = log.find_step(internal_name)
    attempt = step.attempts[-1] if step is not None and step.attempts else None
    error = attempt.error if attempt is not None else None
    return (list(error.stderr) if error is not None else []), shown, raised(error), exit_said(error)
