"""The runs screen: every run in the store, newest first, filtered as you type."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static

from magnus_core.errors import MagnusError
from magnus_core.runs import summarise
from magnus_tui.screens.base import WorkbenchScreen, row_at_cursor
from magnus_tui.source import RunEntry, summary_matches
from magnus_tui.view import fmt_duration, glyph, style

COLUMNS = (
    ("mark", " "),
    ("state", " "),
    ("run_id", "run id"),
    ("tag", "tag"),
    ("start", "started"),
    ("duration", "duration"),
    ("steps", "steps"),
    ("rerun", "re-run of"),
)


def short_start(start: str) -> str:
    """'2026-11-24 22:44:42.726861+01:00' -> '11-24 22:44:42' in this machine's zone: fits 80 columns."""
    from magnus_core.models.run_log import local_text

    text = local_text(start)
    return text[5:19] if len(text) >= 19 else text


class RunsScreen(WorkbenchScreen[None]):
    """Every run in the store: Enter opens one, / filters, d marks two runs to compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_run", "Open", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("d", "mark", "Diff"),
        Binding("s", "start_run", "Start"),
        Binding("e", "experiments", "Experiments"),
        Binding("c", "copy_id", "Copy id"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "clear", "Clear", show=False),
    ]
    PALETTE: ClassVar[list[tuple[str, str, str]]] = [
        ("Open run", "Open the highlighted run (Enter)", "open_run"),
        ("Filter runs", "Filter by id, tag, status or parameter text (/)", "filter"),
        ("Mark for diff", "Mark the highlighted run; two marks open the diff (d)", "mark"),
        ("Copy run id", "Copy the highlighted run id to the clipboard (c)", "copy_id"),
        ("Experiments", "Compare the runs of the highlighted run's tag, with a chart (e)", "experiments"),
        ("Refresh runs", "Read the store again (r)", "refresh"),
        ("Clear filter and marks", "Show every run, unmark (escape)", "clear"),
    ]

    DEFAULT_CSS = """
    RunsScreen #runs { height: 1fr; }
    RunsScreen #reason, RunsScreen #hint { height: auto; max-height: 3; }
    RunsScreen #hint { padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, RunEntry] = {}
        self.order: list[str] = []
        self.marked: list[str] = []
        self.filter_text = ""
        self._known_ids: frozenset[str] = frozenset()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: id, tag, status or parameter text", id="filter")
        table: DataTable[Text | str] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="reason", classes="error")
        yield Static("", id="hint", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.app.project.where
        entries = self.app.project.runs()
        self.show(entries + self.live_entries({e.summary.run_id for e in entries}))
        self.query_one("#runs", DataTable).focus()
        self.set_interval(self.app.poll_interval, self.poll)

    # -- data ------------------------------------------------------------------------------------------
    def poll(self) -> None:
        """New or changed runs: reread when the set of ids changed or a run is still going."""
        ids = self.app.project.run_ids()
        going = any(e.summary.state == "RUNNING" for e in self.entries.values())
        added_or_gone = not ids <= self._known_ids or bool(self._known_ids - ids - set(self.app.live))
        if added_or_gone or going or any(rid not in self.entries for rid in self.app.live):
            self.reload()

    @work(thread=True, exclusive=True, group="runs-reload")
    def reload(self) -> None:
        entries = self.app.project.runs()
        self.app.call_from_thread(self.show, entries + self.live_entries({e.summary.run_id for e in entries}))

    def live_entries(self, known: set[str]) -> list[RunEntry]:
        """Runs started here that the project's store does not list (a buffered store keeps them in
        memory)."""
        out = []
        for run_id, live in list(self.app.live.items()):
            if run_id in known:
                continue
            try:
                log = live.store.get_run(run_id)
            except MagnusError:
                continue
            out.append(RunEntry(summarise(log), dict(log.parameters)))
        return out

    def action_refresh(self) -> None:
        self.reload()

    def show(self, entries: list[RunEntry]) -> None:
        notices, self.app.project.notices[:] = list(self.app.project.notices), []
        for notice in notices:  # e.g. a damaged run index rebuilt
            self.app.notify(notice, title="Run index", severity="warning")
        self._known_ids = frozenset(e.summary.run_id for e in entries)
        self.entries = {e.summary.run_id: e for e in entries}
        self.order = [e.summary.run_id for e in entries]
        self.marked = [m for m in self.marked if m in self.entries]
        self.render_rows()

    def visible_ids(self) -> list[str]:
        if not self.filter_text:
            return list(self.order)
        return [
            rid
            for rid in self.order
            if summary_matches(self.entries[rid].summary, self.filter_text, self.entries[rid].parameters)
        ]

    def cells(self, run_id: str) -> list[Text | str]:
        s = self.entries[run_id].summary
        mark = Text("◆", style="bold magenta") if run_id in self.marked else Text(" ")
        state = Text(glyph(s.state), style=style(s.state))
        tag = Text("broken log", style="red") if s.state == "BROKEN" else Text(s.tag)
        steps = str(s.steps) if s.state != "BROKEN" else ""
        return [
            mark,
            state,
            Text(s.run_id),
            tag,
            short_start(s.start),
            fmt_duration(s.duration),
            steps,
            s.original_run_id,
        ]

    def render_rows(self) -> None:
        """Update rows in place when the list is the same, else rebuild keeping the cursor on its run."""
        table = self.query_one("#runs", DataTable)
        wanted = self.visible_ids()
        current = [str(k.value) for k in table.rows]
        if current == wanted:
            for run_id in wanted:
                for (key, _), value in zip(COLUMNS, self.cells(run_id), strict=False):
                    if str(table.get_cell(run_id, key)) != str(value) or key in ("state", "mark"):
                        table.update_cell(run_id, key, value)
        else:
            keep = self.highlighted()
            table.clear()
            for run_id in wanted:
                table.add_row(*self.cells(run_id), key=run_id)
            if keep in wanted:
                table.move_cursor(row=wanted.index(keep), animate=False)
        hint = self.query_one("#hint", Static)
        if not self.order:
            hint.update(self.app.project.hint())
        elif not wanted:
            hint.update(f"No run matches '{self.filter_text}'. escape clears the filter.")
        else:
            hint.update(self.status_line(len(wanted)))
        self._explain_highlighted()

    @on(DataTable.RowHighlighted, "#runs")
    def _explain_highlighted(self) -> None:
        """A broken run's reason, in full, under the table."""
        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        reason = self.query_one("#reason", Static)
        reason.update(
            Text(f"{run_id}: {entry.summary.error}", style="red") if entry and entry.summary.error else ""
        )

    def status_line(self, shown: int) -> Text:
        counts: dict[str, int] = {}
        for e in self.entries.values():
            counts[e.summary.state] = counts.get(e.summary.state, 0) + 1
        text = Text(f"{shown} of {len(self.order)} runs  ")
        for state, n in sorted(counts.items()):
            text.append(f"{glyph(state)} {state.lower()} {n}  ", style=style(state))
        if self.marked:
            text.append(f"marked: {', '.join(self.marked)} (mark one more to diff)", style="magenta")
        return text

    def highlighted(self) -> str | None:
        return row_at_cursor(self.query_one("#runs", DataTable))

    # -- actions ---------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(str(event.row_key.value))

    def action_open_run(self) -> None:
        run_id = self.highlighted()
        if run_id:
            self.app.open_run(run_id)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#runs", DataTable).focus()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("visible"):
            box.value = ""
            box.remove_class("visible")
            self.filter_text = ""
        else:
            self.marked = []
        self.render_rows()
        self.query_one("#runs", DataTable).focus()

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
        self.app.action_start_run()

    def action_experiments(self) -> None:
        """The experiments screen, on the highlighted run's tag (every run when it has none)."""
        run_id = self.highlighted()
        entry = self.entries.get(run_id) if run_id else None
        tag = entry.summary.tag if entry is not None and entry.summary.tag else None
        self.app.open_experiments(tag)
