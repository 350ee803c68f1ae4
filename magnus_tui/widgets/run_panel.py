"""The run as a whole: header line, parameters and metrics of every step."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from magnus_tui.view import RunView, fmt_duration
from magnus_tui.widgets.lists import SCROLL_BINDINGS, VimTable
from magnus_tui.widgets.step_detail import fill, value_text

MAX_METRIC_ROWS = 500


class RunPanel(VerticalScroll):
    """The run's parameters, its metrics by step, and where its log lives."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS  # j/k, g/G as ↑/↓, Home/End
    DEFAULT_CSS = """
    RunPanel { height: 1fr; padding: 0 1; }
    RunPanel DataTable { height: auto; max-height: 16; margin-bottom: 1; }
    RunPanel .section { text-style: bold; color: $accent; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Parameters", classes="section", id="params-title")
        params: DataTable[Any] = VimTable(id="run-params", cursor_type="row")
        params.add_columns("name", "value")
        yield params
        yield Static("Metrics", classes="section", id="run-metrics-title")
        metrics: DataTable[Any] = VimTable(id="run-metrics", cursor_type="row")
        metrics.add_columns("step", "metric", "value")
        yield metrics
        yield Static("Run", classes="section")
        yield Static("", id="run-info")

    def show(self, view: RunView, location: str = "") -> None:
        fill(
            self.query_one("#run-params", DataTable),
            [(k, value_text(v)) for k, v in sorted(view.parameters.items())],
            self.query_one("#params-title", Static),
            "Parameters",
        )
        rows = [(step, k, value_text(v)) for step, m in view.metrics().items() for k, v in sorted(m.items())]
        if len(rows) > MAX_METRIC_ROWS:  # a huge map: the table would be unreadable and slow to lay out
            rows = [*rows[:MAX_METRIC_ROWS], (f"… {len(rows) - MAX_METRIC_ROWS} more", "", "")]
        fill(
            self.query_one("#run-metrics", DataTable),
            rows,
            self.query_one("#run-metrics-title", Static),
            "Metrics",
        )
        info = run_info(view)
        if view.original_run_id:
            info.append(f"{'re-run of':<14}{view.original_run_id}\n")
        config = view.run_config
        for block in ("executor", "run_log_store", "catalog", "secrets"):
            item = config.get(block) if isinstance(config, dict) else None
            if isinstance(item, dict) and item.get("type"):
                info.append(f"{block.replace('_', ' '):<14}{item.get('type')}\n", style="dim")
        if config.get("dag_file"):
            info.append(f"{'pipeline':<14}{config['dag_file']}\n", style="dim")
        if location:
            info.append(f"{'log':<14}{location}\n", style="dim")
        self.query_one("#run-info", Static).update(info)


def run_info(view: RunView) -> Text:
    """The run's identity lines: id, tag, start and end (local time), duration, the commit of its code and
    whether the tree had uncommitted changes, its dag hash."""
    from magnus_core.models.run_log import local_text

    info = Text()
    info.append(f"{'run id':<14}{view.run_id}\n")
    info.append(f"{'tag':<14}{view.tag or '(none)'}\n")
    started, ended = view.span()  # the rule of every view of a run (RunView.span)
    if started is not None:
        info.append(f"{'started':<14}{local_text(str(started))[:19]}\n")
    if ended is not None and not view.live:
        info.append(f"{'ended':<14}{local_text(str(ended))[:19]}\n")
    info.append(f"{'duration':<14}{fmt_duration(view.duration) or '-'}\n")
    ident = next((i for step in view.steps.values() for i in step.code_identities), None)
    if ident is not None and ident.code_identifier:
        info.append(f"{'commit':<14}{ident.code_identifier[:12]}")
        if ident.code_identifier_dependable is False:
            info.append("  uncommitted changes", style="yellow")
            if ident.code_identifier_message:
                info.append(f" ({ident.code_identifier_message})", style="dim")
        elif ident.code_identifier_dependable:
            info.append("  clean", style="green")
        info.append("\n")
    else:
        info.append(f"{'commit':<14}(not recorded)\n", style="dim")
    info.append(f"{'dag hash':<14}{view.dag_hash or '(not recorded)'}\n")
    return info
