"""The selected step: attempts, metrics, parameters it saw, catalog entries with hashes, code identity."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from magnus_core.logs import harmless, interrupted_at, raised, shown_line, stderr_unseen, where_failed
from magnus_core.models.run_log import StepAttempt, StepLog
from magnus_tui.view import Row, RunView, fmt_duration, glyph, style
from magnus_tui.widgets.lists import SCROLL_BINDINGS, VimTable


def value_text(value: Any, limit: int = 200) -> str:
    """A parameter or metric value as one line of JSON-ish text."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def attempt_duration(attempt: StepAttempt) -> str:
    """How long an attempt took, from its times; as recorded when a time is missing."""
    seconds = attempt.seconds
    return fmt_duration(seconds) if seconds is not None else attempt.duration


def clock_text(moment: datetime | None) -> str:
    """An attempt's time of day as recorded (its own zone), to the millisecond: 01:59:59.500."""
    return moment.strftime("%H:%M:%S.%f")[:12] if moment is not None else ""


def fill(
    table: DataTable[Any], rows: list[tuple[Any, ...]], title: Static | None = None, label: str = ""
) -> None:
    """Replace a small table's rows (detail tables hold a handful of rows; the dag tree is what scales)."""
    table.clear()
    for row in rows:
        table.add_row(*row)
    table.display = bool(rows)
    if title is not None:
        title.update(f"{label} ({len(rows)})" if rows else f"{label}: none")


def attempt_messages(step: StepLog | None, row: Row) -> Text:
    """Each attempt's message in full ('attempt 0: ValueError: ...'), to be wrapped by the pane; a single
    attempt whose message is the step's own (shown under the title) is not repeated."""
    text = Text()
    for a in step.attempts if step else []:
        if not a.message or (len(step.attempts) == 1 and a.message == row.message):  # type: ignore[union-attr]
            continue
        if text:
            text.append("\n")
        text.append(f"attempt {a.attempt_number}: ", style="bold")
        text.append(a.message, style=style(a.status))
    return text


class StepDetail(VerticalScroll):
    """What one step did; `show(view, key)` redraws it from the view-model."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS  # j/k, g/G as ↑/↓, Home/End
    DEFAULT_CSS = """
    StepDetail { height: 1fr; padding: 0 1; }
    StepDetail DataTable { height: auto; max-height: 12; margin-bottom: 1; }
    StepDetail #attempt-messages { height: auto; margin-bottom: 1; }
    StepDetail .section { text-style: bold; color: $accent; }
    StepDetail #step-message { color: $error; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Select a step in the tree.", id="step-title")
        yield Static("", id="step-message")
        yield Static("Attempts", classes="section", id="attempts-title")
        attempts: DataTable[Any] = VimTable(id="attempts", cursor_type="row", show_cursor=True)
        # numbered as the run log numbers them (and `magnus logs --attempt` takes them): 0, 1, ...
        # status first after the number: should the table be cut, the times go, never the status; each
        # attempt's message is in full under the table (#attempt-messages), wrapped, not a cut column
        attempts.add_columns("attempt", "status", "duration", "start", "end")
        yield attempts
        yield Static("", id="attempt-messages")  # each attempt's message in full, wrapped (not a cut column)
        yield Static("Metrics", classes="section", id="metrics-title")
        metrics: DataTable[Any] = VimTable(id="step-metrics", cursor_type="row")
        metrics.add_columns("metric", "value")
        yield metrics
        yield Static("Parameters seen", classes="section")
        yield Static("", id="step-params")
        yield Static("Catalog", classes="section", id="catalog-title")
        catalog: DataTable[Any] = VimTable(id="catalog", cursor_type="row")
        catalog.add_columns("stage", "name", "sha256", "catalog path")
        yield catalog
        yield Static("Code identity", classes="section")
        yield Static("", id="code")

    def show(self, view: RunView, key: str | None) -> None:
        """Redraw for row `key` of `view`."""
        row = view.rows.get(key) if key else None
        step = view.steps.get(key) if key else None
        title = self.query_one("#step-title", Static)
        if row is None:
            title.update(Text("Select a step in the tree.", style="dim"))
            return
        title.update(self._title(row, view.live))
        message = self.query_one("#step-message", Static)
        last = step.attempts[-1] if step is not None and step.attempts else None
        # where it was raised, under the error, as the summary says it (trial 11: shown nowhere when the
        # output file, whose traceback said it, was missing)
        where = where_failed(last, row.message) if row.message and row.status == "FAIL" else ""
        # a python step stopped by Ctrl-C or SIGTERM: where its code was, as `magnus show` says it
        # (logs.interrupted_at, de8914d; the tab said only `interrupted by SIGINT: the run was stopped`)
        stopped = interrupted_at(last) if row.status == "INTERRUPTED" else ""
        said = row.message + f"\nat {where}" if where else row.message or ""
        if said and row.status == "FAIL" and last is not None and last.error is not None:
            # the root of `raise X from e` under the error, as the summary and `magnus show` say it (session
            # 9: the Step tab said the outer exception only)
            cause = harmless(last.error.caused_by())  # (no step's escapes act: trial 14, F13)
            said += f"\n{cause}" if cause else ""
            # a shell or notebook step's (or sys.exit's) last stderr lines, the reason its output may not
            # say, as the summary, `magnus show` and the Output tab's header say them (trial 14, F11: none)
            unseen = stderr_unseen(last.error.stderr, [], raised(last.error))
            said += "".join(f"\nstderr: {harmless(shown_line(line))}" for line in unseen)
        message.update(Text(stopped or said))  # (as written: `[1, 2]` in a message is no markup)
        message.display = bool(row.message)  # no empty line between the title and the attempts
        self._attempts(step, row)
        self._metrics(step)
        self._params(view, step, row)
        self._catalog(step)
        self._code(step, row)

    def _title(self, row: Row, live: bool = True) -> Text:
        text = Text()
        if row.planned:
            text.append(f"{row.glyph} {'pending' if live else 'not run'}", style="dim")
        else:
            text.append(f"{row.glyph} {row.status}", style=row.style or None)
        text.append(f"  {row.name}", style="bold")
        text.append(f"  [{row.step_type or row.kind}]", style="dim")
        if row.mock:
            text.append("  reused from the original run", style="blue")
        text.append(f"\n{row.key}", style="dim")
        if row.duration is not None:
            text.append(f"  {fmt_duration(row.duration)}", style="dim")
        return text

    def _attempts(self, step: StepLog | None, row: Row) -> None:
        rows = []
        for a in step.attempts if step else []:
            rows.append(
                (
                    str(a.attempt_number),
                    Text(f"{glyph(a.status)} {a.status}", style=style(a.status)),
                    attempt_duration(a),
                    clock_text(a.start_time),
                    clock_text(a.end_time),
                )
            )
        if row.running_since is not None and row.running_attempt is not None:  # the attempt in progress
            rows.append(
                (
                    str(row.running_attempt),
                    Text(f"{glyph('PROCESSING')} running", style=style("PROCESSING")),
                    # its time so far ticks in the dag's row beside (one clock: a cell of this table drawn
                    # again each second cost a third of the run screen's idle CPU)
                    "…",
                    clock_text(row.running_since),
                    "",
                )
            )
        if row.cut_attempt is not None and row.running_since is None:  # begun, never recorded (kill -9)
            number, began = row.cut_attempt
            rows.append(
                (
                    str(number),
                    Text(f"{glyph('INTERRUPTED')} cut short", style=style("INTERRUPTED")),
                    "-",
                    clock_text(began) if began is not None else "",
                    "",
                )
            )
        fill(
            self.query_one("#attempts", DataTable),
            rows,
            self.query_one("#attempts-title", Static),
            "Attempts",
        )
        messages = attempt_messages(step, row)
        self.query_one("#attempt-messages", Static).update(messages)
        self.query_one("#attempt-messages", Static).display = bool(messages)

    def _metrics(self, step: StepLog | None) -> None:
        items = sorted((step.user_defined_metrics if step else {}).items())
        fill(
            self.query_one("#step-metrics", DataTable),
            [(k, value_text(v)) for k, v in items],
            self.query_one("#metrics-title", Static),
            "Metrics",
        )

    def _params(self, view: RunView, step: StepLog | None, row: Row) -> None:
        seen = None
        if step is not None and step.attempts:  # what the last attempt's command received (as magnus 0.4)
            seen = step.attempts[-1].parameters
        if seen is None and step is not None and step.model_extra:
            seen = step.model_extra.get("parameters") or step.model_extra.get("input_parameters")
        widget = self.query_one("#step-params", Static)
        if isinstance(seen, dict) and seen:
            widget.update("\n".join(f"{k} = {value_text(v)}" for k, v in sorted(seen.items())))
        elif isinstance(seen, dict):  # recorded, and empty: the step was given no parameters
            widget.update(Text("none: the step received no parameters", style="dim"))
        else:
            item = self._map_item(view, row)
            note = "not recorded in this run log; the run's parameters are under Run (p)"
            widget.update(Text((f"map item: {item}\n" if item else "") + note, style="dim"))

    @staticmethod
    def _map_item(view: RunView, row: Row) -> str:
        """Inside a map, the branch name is the item."""
        parent = view.rows.get(row.parent) if row.parent else None
        while parent is not None:
            holder = view.rows.get(parent.parent) if parent.parent else None
            if parent.kind == "branch" and holder is not None and holder.step_type == "map":
                return parent.name
            parent = holder
        return ""

    def _catalog(self, step: StepLog | None) -> None:
        rows = [
            (
                c.stage,
                c.name,
                c.data_hash[:16] + ("…" if len(c.data_hash) > 16 else ""),
                c.catalog_relative_path,
            )
            for c in (step.data_catalog if step else [])
        ]
        fill(self.query_one("#catalog", DataTable), rows, self.query_one("#catalog-title", Static), "Catalog")

    def _code(self, step: StepLog | None, row: Row) -> None:
        lines = Text()
        for ident in step.code_identities if step else []:
            ok = ident.code_identifier_dependable
            lines.append(f"{ident.code_identifier_type or '?'} {ident.code_identifier or '-'}")
            lines.append("  clean" if ok else "  uncommitted changes", style="green" if ok else "yellow")
            if ident.code_identifier_url:
                lines.append(f"\n  {ident.code_identifier_url}", style="dim")
            if ident.code_identifier_message:
                lines.append(f"\n  {ident.code_identifier_message}", style="dim")
            lines.append("\n")
        if step is None and row.kind == "branch":
            lines.append("a branch: select one of its steps", style="dim")
        self.query_one("#code", Static).update(lines if lines.plain else Text("none recorded", style="dim"))
