"""The runs screen: every run in the store, newest first (or sorted by any column), filtered as you type; the
panel under the list says why the highlighted run failed, or shows its metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from magnus_core.errors import MagnusError
from magnus_core.index.record import RUNNING_STATUSES
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen, row_at_cursor
from magnus_tui.source import RunEntry, parameter_hint, summary_matches
from magnus_tui.view import fmt_duration, glyph, style
from magnus_tui.widgets.header import Header
from magnus_tui.widgets.keys import InOrderInput
from magnus_tui.widgets.lists import ListTable

# (column key, label, the key that sorts by it)
COLUMNS = (
    ("mark", " ", ""),
    ("state", " ", "S"),
    ("run_id", "run id", "I"),
    ("user", "user", "U"),  # only when the runs were run by several users (RunsScreen.columns)
    ("pipeline", "pipeline", "P"),
    ("tag", "tag", "T"),
    ("start", "started", "A"),
    ("duration", "duration", "D"),
    ("steps", "steps", "N"),
    ("rerun", "re-run of", "R"),
)
SORT_NAMES = {"state": "status", "start": "started", "steps": "steps done", "rerun": "re-run of"}
# First press: newest, longest and most steps first; text columns A to Z; again reverses.
DESCENDING_FIRST = {"start", "duration", "steps"}
# Status order when sorting by it: what needs a look first.
STATE_ORDER = {"BROKEN": 0, "FAIL": 1, "INTERRUPTED": 2, "PER-STEP": 3, "RUNNING": 4, "SUCCESS": 5}
UNKNOWN_USER = "unknown"  # the user cell of a run whose user is not recorded
# Rows put in the list at a time: the first page opens at once whatever the store holds (a table row costs
# about half a millisecond to add and measure); moving past the last row listed adds the next page. Filters
# and sorts work on every run.
PAGE = 200
# seconds a run that was seen running is still asked for after it reads INTERRUPTED (its log's last write
# may be seen late); far longer than a store's write spacing or the index's full look (10 s)
SETTLE_SECONDS = 30.0
FULL_EVERY = 30.0  # seconds: every run asked of the run index again even when the store's list is the same


def pipeline_name(path: str) -> str:
    """'pipelines/train.yaml' -> 'train' (the column is narrow; the filter matches the whole path)."""
    return Path(path).stem if path else ""


def rerun_cell(original: str) -> str:
    """The re-run-of column: `↺ 8bd868`, the end of the original's id (a generated id's random part),
    so the column fits at 80 columns; the panel under the list names it in full (brief.run_brief)."""
    if not original:
        return ""
    return f"↺ {original[-6:]}" if len(original) > 12 else f"↺ {original}"


# Columns whose text may be cut short (with an ellipsis) so that more columns fit whole, down to this many
# cells (or their label's width): names, whose start says most. Every other column is shown whole or not at
# all, as k9s drops the columns a narrow terminal has no room for.
NARROWABLE = {"pipeline": 10, "tag": 10, "user": 8}
PAD = 2  # cells a column takes beyond its text (DataTable's cell padding, one either side)


@dataclass(frozen=True)
class Fit:
    """Which columns the runs list shows at a width (fit_columns). widths: every column's text width, in
    COLUMNS order of those shown (a column off the screen keeps its own); first, last: the columns in view
    after the fixed ones are first..last-1; scroll_x: the cells scrolled sideways to put `first` right after
    the fixed columns."""

    widths: list[int]
    first: int
    last: int
    scroll_x: int


def fit_columns(natural: list[int], least: list[int], fixed: int, room: int, first: int) -> Fit:
    """The columns that fit whole in `room` cells, starting at column `first` after the `fixed` ones (which
    always show: the status and run id). `natural`: each column's widest text (its label included);
    `least`: how narrow it may be cut (= natural for a column never cut). A column shows whole or not at
    all: when the next one does not fit, the columns in view that may be narrowed give up room for it
    (NARROWABLE: down to `least`), else it stays off to the right, and the room left goes back to the
    narrowed ones, then to the last column in view, so that the next column begins exactly at the right
    edge (never a stub of it, as `ste` for `started` at 80 columns: trials 8 and 9). Widths are text
    widths; each column takes PAD more."""
    widths = list(natural)
    count = len(widths)
    used = sum(widths[:fixed]) + PAD * fixed
    if used > room and fixed:  # a terminal narrower than the status and id: the id cut (with an ellipsis)
        widths[fixed - 1] = max(1, widths[fixed - 1] - (used - room))
        used = sum(widths[:fixed]) + PAD * fixed
    avail = max(0, room - used)
    first = max(fixed, min(first, count - 1)) if count > fixed else fixed
    last = first
    while last < count and sum(least[first : last + 1]) + PAD * (last + 1 - first) <= avail:
        last += 1
    if last == first and first < count and avail > PAD:  # not even one: the first one, cut, if it may be
        if least[first] < natural[first]:
            widths[first] = avail - PAD
            last = first + 1
    else:
        slack = avail - sum(least[first:last]) - PAD * (last - first)
        for index in range(first, last):
            widths[index] = least[index] + min(slack, natural[index] - least[index])
            slack -= widths[index] - least[index]
        if last > first and (last < count or first > fixed):  # the next column starts at the right edge
            widths[last - 1] += slack
    scroll_x = sum(widths[fixed:first]) + PAD * (first - fixed)
    return Fit(widths, first, last, scroll_x)


def fit_from(natural: list[int], least: list[int], fixed: int, room: int, first: int) -> Fit:
    """fit_columns from `first`, or from an earlier column when the last ones still show from there (a
    wider terminal, or narrower texts: never scrolled further than the columns need)."""
    fit = fit_columns(natural, least, fixed, room, first)
    while fit.first > fixed and fit.last == len(natural):
        wider = fit_columns(natural, least, fixed, room, fit.first - 1)
        if wider.last != len(natural):
            break
        fit = wider
    return fit


def sort_value(entry: RunEntry, column: str) -> Any:
    """What a column sorts on; None for runs without the value (always listed last)."""
    from magnus_core.models.run_log import time_key

    s = entry.summary
    if column == "state":
        return STATE_ORDER.get(s.state, 9)
    if column == "start":
        key = time_key(s.start) if s.start else None
        return key if key is not None and key not in (float("inf"), float("-inf")) else None
    if column == "duration":
        return s.duration
    if column == "steps":
        return None if s.state == "BROKEN" else (s.steps_done, s.steps)
    text = {
        "run_id": s.run_id,
        "pipeline": s.pipeline,
        "tag": s.tag,
        "rerun": s.original_run_id,
        "user": s.user,
    }[column]
    return text.lower() or None


def sorted_ids(entries: dict[str, RunEntry], ids: list[str], column: str, descending: bool) -> list[str]:
    """`ids` ordered by `column` (ties keep the newest-first order); runs without the value last."""
    known = [rid for rid in ids if sort_value(entries[rid], column) is not None]
    missing = [rid for rid in ids if sort_value(entries[rid], column) is None]
    known.sort(key=lambda rid: sort_value(entries[rid], column), reverse=descending)
    return known + missing


def short_start(start: str, seconds: bool = True) -> str:
    """'2026-11-24 22:44:42.726861+01:00' -> '11-24 22:44:42' in this machine's zone: fits 80 columns;
    without `seconds` '11-24 22:44' (the runs list: a generated run id carries the second it was made,
    which may be a second or two before the run recorded its start, and two times a second apart on one
    row read as a mistake; the run's screen gives the start to the microsecond)."""
    from magnus_core.models.run_log import local_text

    text = local_text(start)
    return text[5 : 19 if seconds else 16] if len(text) >= 19 else text


def sort_bindings() -> list[BindingType]:
    """A capital per column; one description for all of them (the help lists them on one line)."""
    what = ", ".join(f"{key} {SORT_NAMES.get(column, label)}" for column, label, key in COLUMNS if key)
    return [
        Binding(key, f"sort('{column}')", f"Sort by: {what}", show=False) for column, _, key in COLUMNS if key
    ]


class FilterBox(InOrderInput):
    """The runs filter. Its text filters the list as it changes, and Enter gives the keys to the list at
    once: the keys typed after Enter move in the list filtered by what was typed before it (Input.Changed
    and Input.Submitted reach the screen after those keys)."""

    def _watch_value(self, value: str) -> None:
        super()._watch_value(value)
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.apply_filter(value)

    async def action_submit(self) -> None:
        await super().action_submit()
        self.screen.set_focus(self.screen.query_one("#runs", DataTable))


class RunsTable(ListTable):
    """The runs list. Keys typed while the workbench starts reach it together, each one queued before the
    one before it has run: `/` opens the filter here, at once (not when its binding reaches the app), and
    a key it gets while something else has focus (the filter box) was typed before the focus moved, so it
    goes there. Else `/repro` typed early opened the filter and ran `r e p r o` as the list's keys
    (`e` opened $EDITOR, `o` $PAGER)."""

    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        on_top = screen is self.app.screen  # (not: a key typed right after Enter opened a run's screen)
        if (
            event.key in ("slash", "enter")
            and isinstance(screen, RunsScreen)
            and screen.focused is self
            and on_top
        ):
            event.stop()
            event.prevent_default()
            if event.key == "slash":
                screen.action_filter()
            else:  # the run's screen on top now, not when DataTable's RowSelected message reaches the
                screen.action_open_run()  # screen: a key typed right after Enter ran on the list (trial 9)
        # (then Textual calls ListTable's: widgets/keys.py)

    def action_last(self) -> None:
        """G/End: the last run that matches, not the last row listed: the rest are listed first (moving
        down still lists a page at a time)."""
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.list_all()
        super().action_last()

    def set_cell(self, row_key: Any, column_key: Any, value: Any) -> None:
        """CellTable.set_cell, and the columns fitted again when the value is wider or narrower than what
        the row held (the columns' widths are the runs screen's: _fit_columns)."""
        super().set_cell(row_key, column_key, value)
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.cell_set(
                str(getattr(row_key, "value", row_key)), str(getattr(column_key, "value", column_key)), value
            )

    def on_resize(self, event: events.Resize) -> None:
        """Taller or shorter (the panel under it grows, the counts take a second line): the vertical
        scrollbar may come or go, and the columns' room with it. (ListTable's handler runs too.)"""
        screen = self.screen
        if isinstance(screen, RunsScreen):
            self.call_after_refresh(screen._fit_columns)

    def action_cursor_right(self) -> None:
        """→: the columns off to the right come into view a column at a time, each whole (shift_columns)."""
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.shift_columns(1)

    def action_cursor_left(self) -> None:
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.shift_columns(-1)


class RunsScreen(WorkbenchScreen[None]):
    """Every run in the store: Enter opens one, / filters, d marks two runs to compare, capitals sort."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_run", "Open", show=False),
        *sort_bindings(),
        Binding("slash", "filter", "Filter"),
        Binding("d", "mark", "Diff"),
        Binding("s", "start_run", "Start"),
        Binding("x", "experiments", "Experiments"),
        Binding(
            "o,l", "open_output", "Output (logs)", show=False
        ),  # o: the run screen's Output; l: k9s's logs
        Binding("v", "page_log", "Run log in $PAGER", show=False),
        Binding("e", "edit_pipeline", "Pipeline in $EDITOR", show=False),
        Binding("c", "copy_id", "Copy id", show=False),  # F1 lists it; the footer keeps F1 at 80 columns
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "clear", "Clear", show=False),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Open run", "Open the highlighted run (Enter)", "open_run"),
        ("Filter runs", "By id, pipeline, tag, status or user; lr=0.1 matches a parameter (/)", "filter"),
        ("Sort by start time", "Newest first; again: oldest first (A)", "sort('start')"),
        ("Sort by status", "Broken, failed, interrupted, per-step, running, succeeded (S)", "sort('state')"),
        ("Sort by user", "Who ran each run, A to Z, with runs of several users (U)", "sort('user')"),
        ("Sort by pipeline", "Pipeline file name, A to Z (P)", "sort('pipeline')"),
        ("Sort by duration", "Longest first (D)", "sort('duration')"),
        ("Mark for diff", "Mark the highlighted run; two marks open the diff (d)", "mark"),
        ("Copy run id", "Copy the highlighted run id to the clipboard (c)", "copy_id"),
        ("Experiments", "Compare the runs of the highlighted run's tag, with a chart (x)", "experiments"),
        (
            "Open the run's output",
            "What the highlighted run's steps printed: the whole run, live while it runs; a failed run's "
            "failed step (o or l)",
            "open_output",
        ),
        (
            "Open the run log in the pager",
            "The highlighted run's log as JSON in $PAGER, default less (v)",
            "page_log",
        ),
        (
            "Edit the pipeline",
            "The highlighted run's pipeline file in $EDITOR, default vi (e)",
            "edit_pipeline",
        ),
        ("Refresh runs", "Read the store again (r)", "refresh"),
        ("Clear filter and marks", "Show every run, unmark (escape)", "clear"),
    ]

    DEFAULT_CSS = """
    RunsScreen #runs { height: 1fr; overflow-x: hidden; }
    RunsScreen #runs > .datatable--fixed { background: transparent; }
    RunsScreen #reason { height: auto; max-height: 4; padding: 0 1; }
    RunsScreen #hint { height: auto; max-height: 3; padding: 0 1; }
    RunsScreen #hint { text-wrap: nowrap; text-overflow: ellipsis; }
    RunsScreen #reason { border-top: hkey $primary 30%; }
    RunsScreen #empty { height: 1fr; content-align: center middle; text-align: center; padding: 1 4; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, RunEntry] = {}
        self._was_running: set[str] = set()  # RUNNING at the last poll
        self._settling: dict[str, float] = {}  # run id -> until when it is asked for (poll)
        self._broken_since: dict[
            str, float
        ] = {}  # a run listed BROKEN -> when it was first (poll retries it)
        self.order: list[str] = []
        self.marked: list[str] = []
        self.filter_text = ""
        self.sort: tuple[str, bool] | None = None  # (column, descending); None: newest first
        self._panel_for: str | None = None
        self._listed = 0
        self.limit = PAGE  # rows listed at most (a page more each time the cursor reaches the last)
        self._drawn: dict[str, tuple[Any, bool]] = {}  # what each listed row shows: (summary, marked)
        self._versions: Any = None  # the store's run tokens at the last full read (poll)
        self._quiet: str | None = None  # the store's quiet token (RunLogStore.quiet_token) at that read
        self._full_at = 0.0  # time.monotonic() of the last full read
        self._shown: list[str] = []  # the run ids that match (listed, or a page away)
        self._running_ids: set[str] = set()  # the runs of `entries` RUNNING now (the poll asks for them)
        self._names: set[str] = set()  # the parameter names of `entries` (_parameter_names)
        self._names_for: tuple[int, int] | None = None
        self.with_user = False  # the user column is shown: the runs read were run by several users
        self._texts: dict[str, list[int]] = {}  # each listed row's cells' widths (_fit_columns)
        self._first = 3  # the first column in view after the fixed ones (→ and ← move it: _fit_columns)
        self.fit: Fit | None = None  # the columns shown, as last fitted

    def columns(self) -> list[tuple[str, str, str]]:
        """The columns shown (COLUMNS): the user column only when the runs read were run by more than one
        user (runs.several_users: a team's shared store), right after the run id, where it is in view at
        80 columns; a user alone with their runs keeps the list as it was."""
        return [column for column in COLUMNS if self.with_user or column[0] != "user"]

    def compose(self) -> ComposeResult:
        yield Header()
        tip = "filter: words of id, pipeline, tag or status; lr=0.1 matches a parameter"
        yield FilterBox(placeholder=tip, id="filter")
        # the mark, status and run id stay put when ←/→ scroll the other columns into view (80 columns)
        yield RunsTable(id="runs", fixed_columns=3)  # (zebra stripes would stop at the fixed columns)
        yield Static("", id="empty", classes="hint")
        yield Static("", id="reason")
        yield Static("", id="hint", classes="dim")
        yield KeysFooter()

    def _label_columns(self) -> None:
        """The columns, the sorted one's label with an arrow (↓ descending, ↑ ascending)."""
        table = self.query_one("#runs", DataTable)
        if not table.columns:
            for key, label, _ in self.columns():
                table.add_column(label, key=key)
        for key, label, _ in self.columns():
            column = table.columns[key]  # type: ignore[index]
            arrow = ""
            if self.sort is not None and self.sort[0] == key:
                arrow = " ↓" if self.sort[1] else " ↑"
            column.label = Text(label + arrow, overflow="ellipsis", no_wrap=True)
            column.content_width = max(column.content_width, column.label.cell_len)
        table.notify_style_update()  # draw the header again
        self._fit_columns()

    def on_mount(self) -> None:
        self.watch(self.query_one("#runs", ListTable), "scroll_x", self._update_hint, init=False)
        self._label_columns()
        self.sub_title = self.app.project.brief  # whole at 80 columns beside the title
        project = self.app.project
        self._full_at, self._quiet, self._versions = (
            time.monotonic(),
            project.quiet_token(),
            project.run_versions(),
        )
        self.show(self.app.project.runs())
        self.set_focus(self.query_one("#runs", DataTable))
        self.app.keys_ready()  # the keys typed while the store was read (MagnusApp.on_event)
        self.set_interval(self.app.poll_interval, self.poll)

    # -- data ------------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Every poll_interval: read the runs again when the store's runs changed; else only the running
        ones (their state moves, and a run whose process died is INTERRUPTED without a write)."""
        # under another screen: looked at again when it is back on top (on_screen_resume). Not `is_current`:
        # Textual counts the screen right under the top one as current (it may show through), and this
        # poll's redraws under a run's screen made Textual repaint that whole screen each second
        if self.app.screen is not self:
            return
        running = list(self._running_ids)
        # and, for SETTLE_SECONDS, a run seen running here that is now INTERRUPTED while its log says running
        # (its process is gone): a last write of the log seen late (a look of the index that missed it)
        # must replace the ■ without a key (trial 3, finding 1). Not every INTERRUPTED run of the store:
        # asking for hundreds of them each second cost 8% of a core while idle (bench/tui.py)
        now = time.monotonic()
        for rid in self._was_running.difference(running):
            self._settling.setdefault(rid, now + SETTLE_SECONDS)
        self._settling = {
            rid: until
            for rid, until in self._settling.items()
            if until > now and rid in self.entries and self.entries[rid].summary.status in RUNNING_STATUSES
        }
        self._was_running = set(running)
        # and, for SETTLE_SECONDS after it was first listed so, a broken log: read again at every poll, its
        # change token aside (_broken_since)
        retry = [rid for rid, since in self._broken_since.items() if now - since < SETTLE_SECONDS]
        asked = running + [rid for rid in self._settling if rid not in self._was_running]
        self.reload(asked + [rid for rid in retry if rid not in asked], retry)

    def on_screen_resume(self) -> None:
        if self.entries:
            self.poll()

    @work(thread=True, exclusive=True, group="runs-reload")
    def reload(self, running: list[str] | None = None, retry: list[str] | None = None) -> None:
        """`running` None: read every run (from the run index: only new or changed logs are read). Else
        look at the store's list of runs (one directory scan, no log read) and read them all only when it
        changed since the last full read, else only the `running` ones. `retry`: runs listed broken, whose
        logs are read again whatever their change tokens say (RunIndex.reread: a log read while it was being
        written in place may keep its token once written, and stayed BROKEN; trials 8 and 9)."""
        project = self.app.project
        if retry:
            project.reread(retry)
        if running is not None:
            quiet = project.quiet_token()  # the store untouched since the last full read: no scan of it
            versions = (
                self._versions if quiet is not None and quiet == self._quiet else project.run_versions()
            )
            # a log changed in place (an editor, `cp` over it) keeps its token: every FULL_EVERY seconds
            # every run is asked of the index again, which catches that at its own full look
            due = time.monotonic() - self._full_at >= FULL_EVERY
            if versions is not None and versions == self._versions and not due:
                # the runs are those of the last full read: this token stands for them, so the next poll
                # scans nothing while the folder stays as it is (else a token None at that read, the folder
                # changed a moment before, had every poll scan the store until the next full read)
                self._quiet = quiet
                if running:
                    entries = project.runs(run_ids=running)
                    self.app.call_from_thread(self._delivered, self.update_entries, entries)
                return
        else:
            quiet = project.quiet_token()
            versions = project.run_versions()
        self._full_at, self._versions, self._quiet = time.monotonic(), versions, quiet
        self.app.call_from_thread(self._delivered, self.show, project.runs())

    def action_refresh(self) -> None:
        self.reload()

    def _delivered(self, apply: Callable[[list[RunEntry]], None], entries: list[RunEntry]) -> None:
        """`apply(entries)` on the UI thread, read by the poll's worker, unless the list is gone: the app
        closing as a poll ends removed the screen's widgets first, and the poll's NoMatches then failed the
        app (a CI run: `No nodes match '#runs' on RunsScreen()` as a test's app closed)."""
        try:
            self.query_one("#runs", ListTable)
        except NoMatches:
            return
        apply(entries)

    def update_entries(self, entries: list[RunEntry]) -> None:
        """Runs read again (the running ones): their rows are redrawn where they changed (nothing is drawn
        when none did: the poll asks every second)."""
        changed: list[str] = []
        ticked: list[str] = []  # only the duration moved: a running run's, every poll
        for entry in entries:
            run_id = entry.summary.run_id
            old = self.entries.get(run_id)
            if old is None or old == entry:
                continue
            same = old.parameters == entry.parameters
            if same and replace(old.summary, duration=entry.summary.duration) == entry.summary:
                ticked.append(run_id)
            else:
                changed.append(run_id)
            self.entries[run_id] = entry
            if entry.summary.state == "RUNNING":
                self._running_ids.add(run_id)
            else:
                self._running_ids.discard(run_id)
        self._note_broken(entries)
        by_duration = self.sort is not None and self.sort[0] == "duration"
        if changed or (ticked and by_duration):
            self.render_rows()
        elif ticked:  # the one cell of each listed row (sorting and filtering the list again cost 8% idle)
            table = self.query_one("#runs", ListTable)
            for run_id in ticked:
                if run_id in self._drawn:
                    text = self._duration_text(self.entries[run_id].summary)
                    if str(table.get_cell(run_id, "duration")) != text:
                        table.set_cell(run_id, "duration", text)  # (its width noted: RunsTable.set_cell)
                    self._drawn[run_id] = self._shows(run_id)

    def _note_broken(self, entries: Any) -> None:
        """Keep when each run read as BROKEN was first listed so (a run read well again, or gone, is
        dropped): the poll reads it again for SETTLE_SECONDS."""
        now = time.monotonic()
        for entry in entries:
            run_id = entry.summary.run_id
            if entry.summary.state == "BROKEN":
                self._broken_since.setdefault(run_id, now)
            else:
                self._broken_since.pop(run_id, None)
        for run_id in [rid for rid in self._broken_since if rid not in self.entries]:
            del self._broken_since[run_id]

    def show(self, entries: list[RunEntry]) -> None:
        notices, self.app.project.notices[:] = list(self.app.project.notices), []
        for notice in notices:  # e.g. a damaged run index rebuilt
            self.app.notify(notice, title="Run index", severity="warning")
        self.entries = {e.summary.run_id: e for e in entries}
        from magnus_core.runs import several_users

        with_user = several_users(e.summary.user for e in entries)
        if with_user != self.with_user:  # (rarely: a teammate's first run) the columns made again
            self.with_user = with_user
            self.query_one("#runs", ListTable).clear(columns=True)
            self._drawn, self._texts, self._first = {}, {}, 3
            self._label_columns()
        self._running_ids = {rid for rid, e in self.entries.items() if e.summary.state == "RUNNING"}
        self._note_broken(self.entries.values())
        self.order = [e.summary.run_id for e in entries]
        self.marked = [m for m in self.marked if m in self.entries]
        self.render_rows()

    def visible_ids(self) -> list[str]:
        ids = list(self.order)
        if self.filter_text:
            ids = [
                rid
                for rid in ids
                if summary_matches(self.entries[rid].summary, self.filter_text, self.entries[rid].parameters)
            ]
        if self.sort is not None:
            ids = sorted_ids(self.entries, ids, *self.sort)
        return ids

    def _shows(self, run_id: str) -> tuple[Any, bool]:
        entry = self.entries[run_id]
        return (entry.summary, run_id in self.marked)

    @staticmethod
    def _duration_text(s: Any) -> str:
        """A finished run's duration; a running run's time so far in steps a list can follow without being
        redrawn every second (10 s under a minute, then whole minutes): a DataTable redraws every visible
        row for one changed cell, 8% of a core at one redraw a second (bench/tui.py). The run's own screen
        has the ticking clock."""
        seconds = s.duration
        if s.state != "RUNNING" or seconds is None:
            return fmt_duration(seconds)
        if seconds < 10:
            return "<10s"
        step = 10 if seconds < 60 else 60 if seconds < 3600 else 600
        return "≥" + fmt_duration(seconds // step * step)

    def cells(self, run_id: str) -> list[Text | str]:
        s = self.entries[run_id].summary
        mark = Text("◆", style="bold magenta") if run_id in self.marked else Text(" ")
        state = Text(glyph(s.state), style=style(s.state))
        tag = Text("broken log", style=style("BROKEN")) if s.state == "BROKEN" else Text(s.tag)
        floor = "≥" if s.growing and s.state == "RUNNING" else ""  # the total may still grow (a map)
        steps = f"{s.steps_done}/{floor}{s.steps}" if s.state != "BROKEN" else ""
        values: dict[str, Text | str] = {
            "mark": mark,
            "state": state,
            "run_id": Text(s.run_id),
            "user": Text(
                s.user or ("" if s.state == "BROKEN" else UNKNOWN_USER), style="" if s.user else "dim"
            ),
            "pipeline": Text(pipeline_name(s.pipeline)),
            "tag": tag,
            "start": short_start(s.start, seconds=False),
            "duration": self._duration_text(s),
            "steps": steps,
            "rerun": rerun_cell(s.original_run_id),
        }
        for key in NARROWABLE:  # cut short with an ellipsis when the column is narrowed (_fit_columns)
            value = values[key]
            if isinstance(value, Text):
                value.overflow, value.no_wrap = "ellipsis", True
        cells = [values[key] for key, _, _ in self.columns()]
        self._texts[run_id] = [cell_len(cell.plain if isinstance(cell, Text) else cell) for cell in cells]
        return cells

    def render_rows(self) -> None:
        """Update rows in place when the list is the same (only those whose run changed), add the next page
        when the list grew at its end, else rebuild keeping the cursor on its run. At most `limit` rows are
        listed (PAGE more each time the cursor reaches the last one)."""
        table = self.query_one("#runs", ListTable)
        wanted = self.visible_ids()
        listed = wanted[: self.limit]
        current = [str(k.value) for k in table.rows]
        if current == listed and table.row_count:
            for run_id in listed:
                if self._drawn.get(run_id) != self._shows(run_id):
                    for (key, _, _), value in zip(self.columns(), self.cells(run_id), strict=False):
                        if str(table.get_cell(run_id, key)) != str(value) or key in ("state", "mark"):
                            table.set_cell(run_id, key, value)  # that row redrawn, not the table
                    self._drawn[run_id] = self._shows(run_id)
        elif current and listed[: len(current)] == current:
            for run_id in listed[len(current) :]:
                table.add_row(*self.cells(run_id), key=run_id)
                self._drawn[run_id] = self._shows(run_id)
        else:
            keep = self.highlighted()
            scroll_x = table.scroll_x  # DataTable.clear scrolls back to the first column
            table.clear()
            self._drawn, self._texts = {}, {}
            for run_id in listed:
                table.add_row(*self.cells(run_id), key=run_id)
                self._drawn[run_id] = self._shows(run_id)
            if keep in listed:
                table.move_cursor(row=listed.index(keep), animate=False)
            if scroll_x:  # (DataTable.clear scrolled back: _fit_columns puts it where the columns are)
                self.call_after_refresh(self._fit_columns)
        self._listed = len(listed)
        self._fit_columns()
        empty = self.query_one("#empty", Static)
        empty.display = not self.order  # an empty store: the hint in the middle, whole
        table.display = bool(self.order)
        if not self.order:
            empty.update(self.app.project.hint())
        self._shown = wanted
        self._update_hint()
        self._explain_highlighted()

    def _update_hint(self, *_: Any) -> None:
        """The line under the list: counts of the runs shown, the sort, marks, whether → shows more."""
        hint = self.query_one("#hint", Static)
        if not self.order:
            hint.update("")
            return
        tip = parameter_hint(self.filter_text, self._parameter_names()) if self.filter_text else ""
        if not self._shown:
            tip = f" ({tip})" if tip else ""
            hint.update(Text(f"No run matches '{self.filter_text}'{tip}. escape clears the filter."))
        else:
            hint.update(self.status_line(self._shown, hint.content_region.width or None, lead=tip))

    def _parameter_names(self) -> set[str]:
        """The parameter names of the runs read (for the filter's hint), worked out again when runs come
        or go."""
        key = (id(self.entries), len(self.entries))
        if self._names_for != key:
            self._names = {name for entry in self.entries.values() for name in entry.parameters}
            self._names_for = key
        return self._names

    def on_resize(self, event: events.Resize) -> None:
        """(Textual runs WorkbenchScreen.on_resize too: every class's handler in turn.)"""
        self.call_after_refresh(self._fit_columns)
        self.call_after_refresh(self._update_hint)

    def _fit_columns(self, show: str | None = None) -> None:
        """Give the columns the widths fit_columns finds for the list's width, from the first column in view
        (`show`: a column to bring into view, such as the one just sorted by), and scroll to it."""
        table = self.query_one("#runs", ListTable)
        keys = [key for key, _, _ in self.columns()]
        width = table.size.width
        if not width or not table.columns:
            return
        rows = len(table.rows) + (1 if table.show_header else 0)
        room = width - (table.styles.scrollbar_size_vertical if rows > table.size.height else 0)
        labels = [table.columns[key].label.cell_len for key in keys]  # type: ignore[index]
        texts = [self._texts[str(row.value)] for row in table.rows if str(row.value) in self._texts]
        natural = [max([label, *(text[i] for text in texts)]) for i, label in enumerate(labels)]
        least = [
            min(width, max(NARROWABLE[key], labels[i])) if key in NARROWABLE else width
            for i, (key, width) in enumerate(zip(keys, natural, strict=True))
        ]
        fixed = table.fixed_columns
        fit = fit_from(natural, least, fixed, room, self._first)
        if show is not None and show in keys:
            wanted = keys.index(show)
            while wanted >= fixed and not fit.first <= wanted < fit.last and fit.first != wanted:
                fit = fit_columns(natural, least, fixed, room, fit.first + (1 if wanted >= fit.last else -1))
        self._first = fit.first
        changed = False
        for key, text_width in zip(keys, fit.widths, strict=True):
            column = table.columns[key]  # type: ignore[index]
            if column.auto_width or column.width != text_width:
                column.auto_width, column.width = False, text_width
                changed = True
        if changed:
            table._clear_caches()  # (Textual's DataTable, pinned: its cached lines hold the old widths)
            table._update_dimensions([])  # the virtual width now, so the scroll below is not cut to it
            table.refresh()
        if table.scroll_x != fit.scroll_x:
            # (force: the list has no sideways scrollbar or wheel, overflow-x hidden; only these steps)
            table.scroll_to(x=fit.scroll_x, animate=False, immediate=True, force=True)
        if fit != self.fit:
            self.fit = fit
            self.call_after_refresh(self._update_hint)

    def cell_set(self, run_id: str, column: str, value: Text | str) -> None:
        """A cell of the list was given `value`: its width noted, the columns fitted again if it changed."""
        widths = self._texts.get(run_id)
        keys = [key for key, _, _ in self.columns()]
        if widths is None or column not in keys:
            return
        at = keys.index(column)
        width = cell_len(value.plain if isinstance(value, Text) else value)
        if widths[at] != width:
            widths[at] = width
            self._fit_columns()

    def shift_columns(self, step: int) -> None:
        """→ (`step` 1): the columns after those in view, one more at least; ← (-1): one column back."""
        fit = self.fit
        if fit is None:
            return
        if step > 0 and fit.last >= len(fit.widths):
            return  # the last column is in view
        fixed = self.query_one("#runs", ListTable).fixed_columns
        self._first = max(fixed, fit.first + step)
        self._fit_columns()
        while step > 0 and self.fit is not None and self.fit.last <= fit.last and self._first < fit.last:
            self._first += 1  # (a wide column next: more go out of view on the left to bring it in)
            self._fit_columns()

    def list_all(self) -> None:
        """Every run that matches in the list (G/End go to the last run)."""
        wanted = len(self.visible_ids())
        if wanted > self.limit:
            self.limit = wanted
            self.render_rows()

    @on(DataTable.RowHighlighted, "#runs")
    def _more_rows(self, event: DataTable.RowHighlighted) -> None:
        """The cursor on the last row listed while more runs match: list the next page."""
        table = self.query_one("#runs", DataTable)
        last = event.cursor_row >= table.row_count - 1 and table.row_count >= self.limit
        if last and len(self.visible_ids()) > self.limit:
            self.limit += PAGE
            self.render_rows()

    @on(DataTable.RowHighlighted, "#runs")
    def _explain_highlighted(self) -> None:
        """The panel under the list: a broken log's reason, a failed run's failure, or the run's metrics."""
        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        reason = self.query_one("#reason", Static)
        if entry is None:
            self._panel_for = None
            reason.update("")
            return
        if entry.summary.error:
            self._panel_for = run_id
            reason.update(Text(f"{run_id}: {entry.summary.error}", style="red"))
            return
        if run_id != self._panel_for:
            self._panel_for = run_id
            reason.update("")
            self.read_panel(entry, reason.content_region.width or self.size.width - 2)

    @work(thread=True, exclusive=True, group="runs-panel")
    def read_panel(self, entry: RunEntry, width: int = 0) -> None:
        """Read the highlighted run's failure (step, error, where) or metrics off the UI thread."""
        from magnus_tui.brief import run_brief

        worker = get_current_worker()
        try:
            text = run_brief(self.app.project, entry.summary, width)
        except MagnusError as exc:
            text = Text(str(exc), style="red")
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_panel, entry.summary.run_id, text)

    def _show_panel(self, run_id: str, text: Text) -> None:
        if run_id != self._panel_for:
            return
        try:
            self.query_one("#reason", Static).update(text)
        except NoMatches:  # the app is closing: the screen's widgets went while the panel was read
            return

    def status_line(self, shown: list[str], width: int | None = None, lead: str = "") -> Text:
        """'63 of 623 runs  ✗ fail 12  ✓ success 51': the counts are those of the runs shown. One line, as
        lazygit's and k9s's status lines: when it is wider than `width` (80 columns) the words go (`✗ 12
        ✓ 51`, `200 listed ↓`); what still does not fit goes on a second line, between two parts, never
        in the middle of one (trials 8 and 9: a mark's `d on another to diff` was cut to `d on anoth…`).
        `lead`: a part put first (the filter's hint)."""
        counts: dict[str, int] = {}
        for rid in shown:
            state = self.entries[rid].summary.state
            counts[state] = counts.get(state, 0) + 1
        by_state = sorted(counts.items(), key=lambda kv: STATE_ORDER.get(kv[0], 9))
        sort = ""
        if self.sort is not None:
            column, descending = self.sort
            name = SORT_NAMES.get(column, dict((k, lbl) for k, lbl, _ in COLUMNS)[column])
            sort = f"by {name} {'↓' if descending else '↑'}"
        fit = self.fit
        more = fit is not None and fit.last < len(fit.widths)
        for short in (False, True):
            marked = ", ".join(self.marked)
            tail = (
                (
                    f"◆ {marked}: d on another to diff"
                    if short
                    else f"marked: {marked} (mark one more to diff)"
                )
                if self.marked
                else "→ more columns"
                if more
                else ""
            )
            parts: list[tuple[str, str]] = [(f"{len(shown)} of {len(self.order)} runs", "")]
            if self._listed < len(shown):
                listed = (
                    f"{self._listed:,} listed ↓"
                    if short
                    else f"first {self._listed:,} listed, more as you move down"
                )
                parts.append((listed, "dim"))
            for state, n in by_state:
                parts.append(
                    (f"{glyph(state)} {n}" if short else f"{glyph(state)} {state.lower()} {n}", style(state))
                )
            if sort:
                parts.append((sort, "dim"))
            if tail:
                parts.append((tail, "magenta" if self.marked else "dim"))
            if lead:
                parts.insert(0, (lead, "cyan"))
            if width is None or sum(cell_len(part) + 2 for part, _ in parts) - 2 <= width:
                break
        text = Text()
        used = 0
        for i, (part, part_style) in enumerate(parts):
            if i and width is not None and used + 2 + cell_len(part) > width:
                text.append("\n")  # the rest on the next line, never a part cut (#hint: up to 3 lines)
                used = 0
            elif i:
                text.append("  ")
                used += 2
            text.append(part, style=part_style or None)
            used += cell_len(part)
        return text

    def highlighted(self) -> str | None:
        return row_at_cursor(self.query_one("#runs", DataTable))

    # -- actions ---------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(str(event.row_key.value))

    def action_sort(self, column: str) -> None:
        """Sort by `column`; the same column again reverses; the list stays on the highlighted run."""
        if column == "user" and not self.with_user:
            self.notify("One user ran every run here: there is no user column to sort by", title="Sort")
            return
        if self.sort is not None and self.sort[0] == column:
            self.sort = (column, not self.sort[1])
        else:
            self.sort = (column, column in DESCENDING_FIRST)
        self._label_columns()
        self.render_rows()
        self._fit_columns(show=self.sort[0])

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if any(key == column and sort for key, _, sort in COLUMNS):
            self.action_sort(column)

    def action_open_run(self) -> None:
        run_id = self.highlighted()
        if run_id:
            self.app.open_run(run_id)

    def action_open_output(self) -> None:
        """`o`/`l`: the highlighted run's output at once (trial 8: `o` opened the run log's JSON; k9s's `l`
        opens logs): the run screen on its Output tab (RunScreen's `output`)."""
        run_id = self.highlighted()
        if run_id:
            self.app.open_run(run_id, output=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        self.set_focus(box)  # now: the keys typed after `/` and queued already go there (RunsTable)

    def apply_filter(self, value: str) -> None:
        """The list filtered by the filter box's text `value` (FilterBox: as the text changes)."""
        text = value.strip()
        if text == self.filter_text:
            return
        self.filter_text = text
        self.limit = PAGE  # a page again (after G listed every run, each key would list them all)
        self.render_rows()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("visible"):
            box.value = ""
            box.remove_class("visible")
            self.filter_text = ""
        else:
            self.marked = []
        self.render_rows()
        # now, not after the keys queued behind escape: `focus()` would move it back to the list after a `/`
        # typed next had opened the filter, and the filter's text ran as the list's keys (trial 4, 2)
        self.set_focus(self.query_one("#runs", DataTable))

    def action_mark(self) -> None:
        run_id = self.highlighted()
        if not run_id:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        if len(self.marked) >= 2:
            a, b = self.marked[-2], self.marked[-1]
            self.marked = []
            self.render_rows()
            self.app.open_diff(a, b)
            return
        self.render_rows()

    def action_copy_id(self) -> None:
        run_id = self.highlighted()
        if run_id:
            self.app.copy(run_id, "run id")

    def action_start_run(self) -> None:
        """The start form on the highlighted run's pipeline, parameters, tag and config (a broken log has
        none: the form opens on the values last used)."""
        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        if entry is None or entry.summary.state == "BROKEN":
            self.app.action_start_run()
        else:
            self.app.action_start_run(entry.summary.pipeline, entry.summary.run_id)

    def action_page_log(self) -> None:
        """The highlighted run's log in $PAGER (as lazygit does): the workbench steps aside until it quits."""
        from magnus_tui.external import page_run_log

        run_id = self.highlighted()
        if run_id:
            page_run_log(self.app, run_id)

    def action_edit_pipeline(self) -> None:
        """The highlighted run's pipeline file in $VISUAL or $EDITOR (default vi)."""
        from magnus_tui.external import edit_file

        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        if entry is None:
            return
        if not entry.summary.pipeline:
            self.notify(f"{run_id} records no pipeline file.", severity="warning")
            return
        edit_file(self.app, self.app.project.root / entry.summary.pipeline)

    def action_experiments(self) -> None:
        """The experiments screen, on the highlighted run's tag (every run when it has none)."""
        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        tag = entry.summary.tag if entry is not None and entry.summary.tag else None
        self.app.open_experiments(tag)
