"""The experiments screen: many runs side by side, with a chart.

Choose runs by a tag (`t`) or a filter (`/`, MLflow's search syntax, applied on Enter, parameter and
metric names completed with →); the table shows one row per run and one column per parameter or metric
that differs, the best value of each metric marked; `o` sorts by the column under the cursor; `c` charts
that metric against time (or, on a parameter column, makes it the chart's x axis; `x` goes back to time);
`h` charts the metric's history in the selected runs (space selects; none selected: every run shown).
Enter opens a run; `d` on two runs opens their diff. The screen follows the store: runs that finish
appear as they do.

Everything comes from the run index through magnus_core (compare.select_runs, compare_runs, metric_chart,
history_chart); no log is read except for a history chart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.suggester import Suggester
from textual.widgets import DataTable, Input, Static

from magnus_core.compare import (
    Chart,
    Comparison,
    XScale,
    compare_runs,
    history_chart,
    metric_chart,
    own_metric_names,
    run_labels,
    select_runs,
)
from magnus_core.errors import MagnusError
from magnus_core.index import IndexNames
from magnus_core.index.record import is_number
from magnus_core.query import Key, parse_filter
from magnus_core.table import fmt_value
from magnus_tui.screens.base import KeysFooter, WorkbenchScreen, row_at_cursor
from magnus_tui.view import glyph, style
from magnus_tui.widgets.header import Header
from magnus_tui.widgets.lists import VimTable
from magnus_tui.widgets.metric_chart import MetricChart

FIXED = (("mark", " "), ("state", " "), ("run_id", "run id"))


NAME_AT_END = re.compile(r"[A-Za-z_][\w.]*$")  # the name being typed, just before the cursor
NAME_START = re.compile(r"^[\w.]*")  # the rest of that name, from the cursor on


class NameSuggester(Suggester):
    """Completes the parameter or metric name being typed from the index's names: `metrics.lo` ->
    `metrics.loss`, `params.l` -> `params.lr` (the first known name that starts with the word, metrics
    before parameters, each sorted). Textual asks it for the whole value and shows the rest faded after it;
    `complete(text)` is what it adds to text ending in a name, used for the name under the cursor too."""

    FIXED = ("tag", "attributes.status", "attributes.pipeline", "attributes.start", "attributes.duration")

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: list[str] = list(self.FIXED)

    def update(self, names: IndexNames) -> None:
        self.names = [
            *(f"metrics.{n}" for n in names.metrics),
            *(f"params.{n}" for n in names.params),
            *self.FIXED,
        ]

    def complete(self, text: str) -> str:
        """What completes the name `text` ends with ('' when none, or it is already whole)."""
        found = NAME_AT_END.search(text)
        if found is None:
            return ""
        word = found.group()
        for name in self.names:
            if name.startswith(word) and name != word:
                return name[len(word) :]
        return ""

    async def get_suggestion(self, value: str) -> str | None:
        rest = self.complete(value)
        return value + rest if rest else None


class FilterInput(Input):
    """The filter box: → takes the completion of the name under the cursor (Textual shows and takes it at
    the end of the text; here also in the middle, where the completion is named in the line below), and
    focusing it puts the cursor at the end with nothing selected, so typing adds to the filter."""

    def __init__(self, suggester: NameSuggester, **kwargs: Any) -> None:
        # one row, not three: at 80x24 the table and the chart's plot need the rows (docs/experiments.md)
        super().__init__(suggester=suggester, select_on_focus=False, compact=True, **kwargs)
        self.names = suggester

    def completion_at_cursor(self) -> str:
        """The rest of the name under the cursor when the cursor ends that name ('' otherwise)."""
        before, after = self.value[: self.cursor_position], self.value[self.cursor_position :]
        if NAME_START.match(after).group():  # type: ignore[union-attr]
            return ""  # in the middle of a word: → moves
        return self.names.complete(before)

    def action_cursor_right(self, select: bool = False) -> None:
        rest = "" if select or self.cursor_at_end else self.completion_at_cursor()
        if rest:
            self.insert_text_at_cursor(rest)
            return
        super().action_cursor_right(select)


@dataclass
class Loaded:
    comparison: Comparison
    names: IndexNames
    error: str = ""
    notices: list[str] = field(default_factory=list)
    histories: set[str] = field(default_factory=set)  # metrics with a series in the newest run (first load)


def top_level(name: str, keys: Any) -> bool:
    """Metric `name` (bare, as the index lists the last value tracked under it) was tracked by a step at the
    dag's top, not only inside a map, parallel or nested dag: the index also keeps it as `step.name`, and a
    top-level step's internal name has no dot (`train.loss`; `folds.f0.cv.fold_score` is inside a map)."""
    suffix = "." + name
    return any(key.endswith(suffix) and "." not in key[: -len(suffix)] for key in keys)


def preferred_metric(comparison: Comparison, histories: set[str]) -> Key | None:
    """The metric the chart opens on: the one users most likely want (trial 8: it opened on a metric from
    inside a map). In order: a top-level metric with a history (a loss tracked per epoch), a top-level one,
    any metric by its bare name, any metric; within each, the table's column order. None: no metric."""
    metrics = [c.key for c in comparison.columns if c.key.kind == "metric"]
    keys = {name for run in comparison.runs for name in run.metrics}
    own = own_metric_names(dict.fromkeys(keys))
    bare = [k for k in metrics if k.name in own]
    top = [k for k in bare if top_level(k.name, keys)]
    for group in ([k for k in top if k.name in histories], top, bare, metrics):
        if group:
            return group[0]
    return None


class ExperimentsScreen(WorkbenchScreen[None]):
    """Runs of a tag or filter compared: table, best values, sorting, a metric chart and histories."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("t", "pick_tag", "Tag"),
        Binding("o", "sort", "Sort"),
        Binding("m", "pick_metric", "Metric"),
        Binding("c", "chart", "Chart", show=False),
        Binding("x", "by_time", "By time", show=False),
        Binding("L", "log_x", "Log/linear x", show=False),
        Binding("h", "history", "History"),
        Binding("space", "select", "Select", show=False),
        Binding("d", "mark", "Diff"),
        Binding("enter", "open_run", "Open", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "back", "Back"),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Filter experiments", "Runs matching a filter, e.g. metrics.auc > 0.9 (/)", "filter"),
        ("Choose a tag", "Compare the runs of one tag (t)", "pick_tag"),
        ("Sort by column", "Sort by the column under the cursor; again reverses (o)", "sort"),
        ("Chart a metric", "Pick the metric the chart draws from a list of their names (m)", "pick_metric"),
        ("Chart column", "Chart this metric, or use this parameter as the x axis (c)", "chart"),
        ("Chart against time", "The chart's x axis back to each run's start (x)", "by_time"),
        ("Chart history", "The metric's series in the selected runs (h)", "history"),
        ("Log or linear x axis", "The chart's parameter axis on a log scale or a linear one (L)", "log_x"),
        ("Select run", "Select the run for the history chart (space)", "select"),
        ("Mark for diff", "Two marked runs open their diff (d)", "mark"),
        ("Back", "Leave the experiments screen (escape)", "back"),
    ]
    DEFAULT_CSS = """
    ExperimentsScreen #exp-table { height: auto; max-height: 45%; min-height: 3; }
    ExperimentsScreen #exp-chart { height: 1fr; min-height: 9; }
    ExperimentsScreen #exp-status { height: auto; max-height: 3; padding: 0 1; }
    ExperimentsScreen #exp-query { padding: 0 1; background: $boost; }
    ExperimentsScreen #exp-query:focus { background: $surface-lighten-1; }
    ExperimentsScreen #exp-hint { height: auto; padding: 0 1; display: none; }
    ExperimentsScreen #exp-hint.shown { display: block; }
    """

    def __init__(self, tag: str | None = None, where: str = "") -> None:
        super().__init__()
        self.tag = tag
        self.where = where
        self.loaded: Loaded | None = None
        self.rows: list[Any] = []  # IndexedRun, in table order
        self.sort: tuple[str, bool] | None = None  # column label, descending
        self.chart_metric: Key | None = None
        self.chart_by: Key | None = None  # None: time
        self.chart_history = False
        self.x_scale: XScale = "auto"  # the parameter axis: log when it spans two decades (L switches)
        self.selected: set[str] = set()
        self.chart_notices: list[str] = []
        self.marked: list[str] = []
        self.suggester = NameSuggester()
        self.applied = self._query_text()  # the filter the table shows; the box's text until Enter
        self._signature: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterInput(
            self.suggester,
            value=self.applied,
            placeholder="tag = 'exp1' and metrics.auc > 0.9   (→ completes names, Enter applies)",
            id="exp-query",
        )
        yield Static("", id="exp-hint")
        table: DataTable[Text | str] = VimTable(id="exp-table", cursor_type="cell", zebra_stripes=True)
        yield table
        yield MetricChart(id="exp-chart")
        yield Static("", id="exp-status")
        yield KeysFooter()

    def _query_text(self) -> str:
        parts = [f"tag = '{self.tag}'"] if self.tag is not None else []
        if self.where:
            parts.append(f"({self.where})" if parts else self.where)
        return " and ".join(parts)

    def on_mount(self) -> None:
        self.sub_title = f"experiments · {self.app.project.where}"
        self.query_one("#exp-table", DataTable).focus()
        self.watch(
            self.query_one("#exp-query", FilterInput), "cursor_position", self._query_typed, init=False
        )
        self.load()
        self.set_interval(self.app.poll_interval, self.load)

    def on_unmount(self) -> None:
        self.app.keys_ready(self)  # gone before its rows came: the keys held for it go to the screen on top

    # -- data --------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="experiments")
    def load(self) -> None:
        """Ask the run index (it reads only new or changed logs) for the runs of the current query."""
        project = self.app.project
        text = self.applied.strip()  # what Enter applied, never a half-typed filter
        names = IndexNames([], [])
        try:
            if project.store is None:
                raise MagnusError(project.error or "no run-log store")
            index = project.index()
            names = index.names()
            expr = parse_filter(text, "filter")
            runs, hints = select_runs(index, where=expr, everything=True)
            loaded = Loaded(compare_runs(runs), names, notices=hints)
            if self.chart_metric is None:  # the chart's first metric: one with a history if there is one
                loaded.histories = self._histories(loaded.comparison)
        except MagnusError as exc:
            loaded = Loaded(Comparison([], []), names, error=str(exc))
        self.app.call_from_thread(self.show, loaded)

    def _histories(self, comparison: Comparison) -> set[str]:
        """The metrics with a series (track_this with step=) in the newest run that has metrics: one run log
        read, once (the index keeps the last values only)."""
        runs = [r for r in comparison.runs if r.metrics]
        if not runs:
            return set()
        newest = max(runs, key=lambda r: r.summary.start or "")
        try:
            log = self.app.project.get_run(newest.summary.run_id)
        except MagnusError:
            return set()
        return {name for step in log.walk() for name in step.metric_history}

    def show(self, loaded: Loaded) -> None:
        try:
            self._show(loaded)
        finally:
            # its rows are there (or why not): the keys typed while it opened act now, in order
            # (MagnusApp.hold_keys; a no-op once released)
            self.app.keys_ready(self)

    def _show(self, loaded: Loaded) -> None:
        signature = (
            loaded.error,
            [
                (r.summary.run_id, r.summary.state, sorted(r.metrics.items(), key=str))
                for r in loaded.comparison.runs
            ],
        )
        if signature == self._signature:
            return  # nothing changed: no redraw, no flicker
        self._signature = signature
        self.loaded = loaded
        if loaded.names.params or loaded.names.metrics or not loaded.error:
            self.suggester.update(loaded.names)  # an unreadable store keeps the names known so far
        known = {r.summary.run_id for r in loaded.comparison.runs}
        self.selected &= known
        self.marked = [m for m in self.marked if m in known]
        if self.chart_metric is None:
            self.chart_metric = preferred_metric(loaded.comparison, loaded.histories)
        self.render_table()
        self.render_chart()

    # -- table -------------------------------------------------------------------------------------------
    def columns(self) -> list[Any]:
        return self.loaded.comparison.columns if self.loaded is not None else []

    def ordered(self) -> list[Any]:
        runs = list(self.loaded.comparison.runs) if self.loaded else []
        if self.sort is None or self.loaded is None:
            return runs
        label, descending = self.sort
        column = next((c for c in self.columns() if c.label == label), None)
        if column is None:
            return runs

        def key(run: Any) -> tuple[int, float, str]:
            value = self.loaded.comparison.value(run, column)  # type: ignore[union-attr]
            if value is None:
                return (2, 0.0, "")
            if is_number(value):
                return (0, -float(value) if descending else float(value), "")
            return (1, 0.0, str(value))

        return sorted(runs, key=key)

    def render_table(self) -> None:
        table = self.query_one("#exp-table", DataTable)
        keep_row = self.highlighted()
        keep_col = table.cursor_column
        table.clear(columns=True)
        for key, label in FIXED:
            table.add_column(label, key=key)
        for column in self.columns():
            arrow = ""
            if self.sort is not None and self.sort[0] == column.label:
                arrow = " ↓" if self.sort[1] else " ↑"
            table.add_column(column.label + arrow, key=column.label)
        self.rows = self.ordered()
        assert self.loaded is not None or not self.rows
        for run in self.rows:
            table.add_row(*self.cells(run), key=run.summary.run_id)
        ids = [r.summary.run_id for r in self.rows]
        if keep_row in ids:
            table.move_cursor(row=ids.index(keep_row), column=keep_col, animate=False)
        elif ids:
            table.move_cursor(
                row=0, column=min(keep_col, len(FIXED) + len(self.columns()) - 1), animate=False
            )
        self.render_status()

    def cells(self, run: Any) -> list[Text | str]:
        s = run.summary
        mark = "◆" if s.run_id in self.marked else "●" if s.run_id in self.selected else " "
        out: list[Text | str] = [
            Text(mark, style="bold magenta"),
            Text(glyph(s.state), style=style(s.state)),
            Text(s.run_id),
        ]
        for column in self.columns():
            value = self.loaded.comparison.value(run, column)  # type: ignore[union-attr]
            text = fmt_value(value)
            if s.run_id in column.best_runs:
                out.append(Text(f"{text} *", style="bold green"))
            else:
                out.append(Text(text))
        return out

    def render_status(self) -> None:
        status = self.query_one("#exp-status", Static)
        loaded = self.loaded
        if loaded is None:
            status.update("Reading the run index…")
            return
        if loaded.error:
            status.update(Text(loaded.error, style="red"))
            return
        text = Text(f"{len(loaded.comparison.runs)} runs")
        if loaded.comparison.runs and not loaded.comparison.columns:
            text.append(" · the same parameters and metrics", style="dim")
        if self.sort:
            text.append(f" · sorted by {self.sort[0]} {'↓' if self.sort[1] else '↑'}")
        if self.selected:
            text.append(f" · {len(self.selected)} selected", style="magenta")
        if self.marked:
            text.append(f" · marked {', '.join(self.marked)} (one more opens the diff)", style="magenta")
        for notice in [*loaded.notices, *self.chart_notices][:2]:
            text.append(f"\n{notice}", style="yellow")
        status.update(text)

    def highlighted(self) -> str | None:
        return row_at_cursor(self.query_one("#exp-table", DataTable))

    def column_under_cursor(self) -> Any:
        table = self.query_one("#exp-table", DataTable)
        index = table.cursor_column - len(FIXED)
        columns = self.columns()
        return columns[index] if 0 <= index < len(columns) else None

    # -- chart -------------------------------------------------------------------------------------------
    def render_chart(self) -> None:
        chart = self.query_one("#exp-chart", MetricChart)
        if self.loaded is None or self.chart_metric is None:
            chart.show(None, "no metric to chart: runs with metrics appear here")
            self.chart_notices = []
            return
        if self.chart_history:
            self.load_history()
            return
        drawn = metric_chart(
            self.loaded.comparison.runs, self.chart_metric, self.chart_by, x_scale=self.x_scale
        )
        self.show_chart(drawn)

    def show_chart(self, drawn: Chart) -> None:
        """Draw the chart; what it left out goes in the status line (once, not a toast per reload)."""
        self.query_one("#exp-chart", MetricChart).show(drawn)
        self.chart_notices = drawn.notices
        self.render_status()

    @work(thread=True, exclusive=True, group="experiments-history")
    def load_history(self) -> None:
        assert self.loaded is not None and self.chart_metric is not None
        wanted = [r for r in self.rows if not self.selected or r.summary.run_id in self.selected]
        logs = []
        for run in wanted:
            try:
                logs.append(self.app.project.get_run(run.summary.run_id))
            except MagnusError:
                continue
        drawn = history_chart(logs, self.chart_metric, run_labels(wanted))  # lr=0.01, not run ids
        self.app.call_from_thread(self.show_chart, drawn)

    # -- actions -----------------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#exp-query", FilterInput)
        box.focus()
        box.cursor_position = len(box.value)  # add to the filter: nothing selected, cursor at the end

    def show_hint(self, text: Text | str) -> None:
        hint = self.query_one("#exp-hint", Static)
        hint.update(text)
        hint.set_class(bool(str(text)), "shown")

    @on(Input.Changed, "#exp-query")
    def _query_typed(self) -> None:
        """While typing: nothing is applied; the line below the box names a completion in the middle of the
        text (at the end Textual draws it faded) and says that Enter applies."""
        box = self.query_one("#exp-query", FilterInput)
        if not box.has_focus:
            return
        rest = box.completion_at_cursor() if not box.cursor_at_end else ""
        name = NAME_AT_END.search(box.value[: box.cursor_position])
        if rest and name is not None:
            self.show_hint(Text(f"→ {name.group()}{rest}", style="dim"))
        elif box.value.strip() != self.applied.strip():
            self.show_hint(Text("Enter applies the filter · Esc puts the applied one back", style="dim"))
        else:
            self.show_hint("")

    @on(Input.Submitted, "#exp-query")
    def _query_done(self) -> None:
        """Enter: a filter that parses is applied; one that does not is named once, inline, and the table
        keeps the runs of the filter applied before (the box keeps the text to fix)."""
        box = self.query_one("#exp-query", FilterInput)
        try:
            parse_filter(box.value.strip(), "filter")
        except MagnusError as exc:
            self.show_hint(Text(str(exc), style="red"))
            return
        self.show_hint("")
        self.applied = box.value
        self._signature = None
        self.load()
        self.query_one("#exp-table", DataTable).focus()

    def action_pick_metric(self) -> None:
        """`m`: the metrics of the runs shown in a list (top-level ones first, each saying whether it has a
        history), the one charted highlighted; Enter charts the one picked (trial 8: choosing meant moving
        a cell cursor onto its column and pressing c)."""
        from magnus_tui.dialogs.pick import PickOne

        if self.loaded is None:
            return
        comparison = self.loaded.comparison
        metrics = [c.key for c in comparison.columns if c.key.kind == "metric"]
        if not metrics:
            self.notify("No run shown has a metric.")
            return
        keys = {name for run in comparison.runs for name in run.metrics}
        histories = self.loaded.histories
        own = own_metric_names(dict.fromkeys(keys))
        first = [k for k in metrics if k.name in own and top_level(k.name, keys)]
        ordered = first + [k for k in metrics if k not in first]
        by_label = {k.label: k for k in ordered}

        def about(key: Key) -> str:
            where = "" if key in first else "  (tracked inside a branch)"  # a map's, a parallel's, a dag's
            return key.label + ("  history" if key.name in histories else "") + where

        def chosen(label: str | None) -> None:
            if label is None or label not in by_label:
                return
            self.chart_metric = by_label[label]
            self.render_chart()

        options = [(k.label, about(k)) for k in ordered]
        current = self.chart_metric.label if self.chart_metric is not None else None
        self.app.push_screen(PickOne("Chart a metric", options, current=current), callback=chosen)

    def action_pick_tag(self) -> None:
        from magnus_tui.dialogs.pick import PickOne

        tags: dict[str, int] = {}
        for run in self.app.project.runs():
            if run.summary.tag:
                tags[run.summary.tag] = tags.get(run.summary.tag, 0) + 1

        def chosen(tag: str | None) -> None:
            if tag is None:
                return
            box = self.query_one("#exp-query", FilterInput)
            box.value = f"tag = '{tag}'" if tag else ""
            self._query_done()

        options = [("", "every run")] + [(t, f"{t}  ({n} runs)") for t, n in sorted(tags.items())]
        self.app.push_screen(PickOne("Compare the runs of a tag", options), callback=chosen)

    def action_sort(self) -> None:
        column = self.column_under_cursor()
        if column is None:
            return
        descending = not (self.sort is not None and self.sort[0] == column.label and self.sort[1])
        if self.sort is None or self.sort[0] != column.label:
            descending = column.best == "max"  # the best first
        self.sort = (column.label, descending)
        self.render_table()

    @on(DataTable.HeaderSelected, "#exp-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        table = self.query_one("#exp-table", DataTable)
        table.move_cursor(column=event.column_index, animate=False)
        self.action_sort()

    def action_chart(self) -> None:
        column = self.column_under_cursor()
        if column is None:
            self.notify("Move to a metric column to chart it, or a parameter column for the x axis.")
            return
        if column.key.kind == "metric":
            self.chart_metric = column.key
        else:
            self.chart_by = column.key
        self.chart_history = False
        self.render_chart()

    def action_by_time(self) -> None:
        self.chart_by = None
        self.chart_history = False
        self.render_chart()

    def action_log_x(self) -> None:
        """The chart's parameter axis the other way (log / linear) from what it shows now."""
        chart = self.query_one("#exp-chart", MetricChart).chart
        if self.chart_by is None or self.chart_history or chart is None or chart.x_labels is not None:
            self.notify("L switches a parameter axis: chart a metric by a parameter first (c on its column).")
            return
        self.x_scale = "linear" if chart.x_log else "log"
        self.render_chart()

    def action_history(self) -> None:
        column = self.column_under_cursor()
        if column is not None and column.key.kind == "metric":
            self.chart_metric = column.key
        self.chart_history = True
        self.render_chart()

    def action_select(self) -> None:
        run_id = self.highlighted()
        if run_id is None:
            return
        self.selected ^= {run_id}
        self._refresh_row(run_id)
        if self.chart_history:
            self.render_chart()

    def action_mark(self) -> None:
        run_id = self.highlighted()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        if len(self.marked) >= 2:
            a, b = self.marked[-2], self.marked[-1]
            self.marked = []
            self.render_table()
            self.app.open_diff(a, b)
            return
        self._refresh_row(run_id)

    def _refresh_row(self, run_id: str) -> None:
        table = self.query_one("#exp-table", DataTable)
        run = next(r for r in self.rows if r.summary.run_id == run_id)
        table.update_cell(run_id, "mark", self.cells(run)[0])
        self.render_status()

    @on(DataTable.CellSelected, "#exp-table")
    def _cell_selected(self) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        run_id = self.highlighted()
        if run_id:
            self.app.open_run(run_id)

    def action_refresh(self) -> None:
        self._signature = None
        self.load()

    def action_back(self) -> None:
        box = self.query_one("#exp-query", FilterInput)
        if box.has_focus:  # Esc in the box: the applied filter back, as it was
            box.value = self.applied
            self.show_hint("")
            self.query_one("#exp-table", DataTable).focus()
            return
        self.app.pop_screen()
