"""A chart of runs (textual-plotext): what magnus_core.compare builds, drawn as magnus_core.plots draws it in
the terminal, so the workbench and `magnus compare --plot` show the same picture: each series its own
marker and colour, and the key in a line below the plot, never over the data.

The plot keeps PLOT_ROWS rows (80x24 included): the key takes the rows the chart has beyond them, at
least one, whole entries only, and what does not fit is counted (`+3 more`). The axis labels are left out
(the title names both axes), so the data keep the rows."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from magnus_core.compare import Chart
from magnus_core.plots import KEY_GAP, data_rows, draw, key_entries, key_layout, y_axis


class ChartPlot(PlotextPlot):
    """The plot: its y ticks set for the rows it has when it is drawn (round values, evenly apart)."""

    chart: Chart | None = None

    def render(self) -> Any:
        if self.chart is not None and not self.chart.empty:
            y_axis(self.chart, self.plt, data_rows(self.size.height, labels=False))
        return super().render()


PLOT_ROWS = 9  # the plot's rows at the least (title, frame and ticks take 4 of them: 5 rows of data)


class MetricChart(Vertical):
    """Shows one compare.Chart; `show(None, why)` clears it and says why there is nothing to draw. The key
    (several series) is `#chart-key`, below the plot, in the rows the chart has beyond PLOT_ROWS (one at
    the least), whole entries only, the rest counted (`+3 more`)."""

    DEFAULT_CSS = f"""
    MetricChart {{ height: 1fr; min-height: {PLOT_ROWS + 1}; }}
    MetricChart > PlotextPlot {{ height: 1fr; min-height: {PLOT_ROWS}; }}
    MetricChart > #chart-key {{ height: auto; padding: 0 1; text-wrap: nowrap; }}
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart: Chart | None = None
        self.why = ""

    def compose(self) -> ComposeResult:
        yield ChartPlot()
        yield Static("", id="chart-key")

    def key_line(self, width: int | None = None, max_lines: int | None = None) -> Text:
        """The key as shown: `* lr=0.1   x lr=0.03 ...`, each marker in its series' colour, in lines of
        `width` (the widget's, less its padding), at most `max_lines` (the rows beyond the plot's)."""
        entries = key_entries(self.chart) if self.chart is not None and not self.chart.empty else []
        if width is None:
            width = max(self.size.width - 2, 20) if self.size.width else 78
        if max_lines is None:
            max_lines = max(self.size.height - PLOT_ROWS, 1) if self.size.height else 1
        lines, more = key_layout(entries, width, max_lines)
        text = Text()
        for line_no, line in enumerate(lines):
            if line_no:
                text.append("\n")
            for position, (entry, plain) in enumerate(line):
                if position:
                    text.append(" " * KEY_GAP)
                text.append(entry.marker, style="bold rgb({},{},{})".format(*entry.colour))
                text.append(plain[1:])
        if more:
            text.append(f"{' ' * KEY_GAP}+{more} more", style="dim")
        return text

    def show(self, chart: Chart | None, why: str = "") -> None:
        self.chart, self.why = chart, why
        plot = self.query_one(ChartPlot)
        plot.chart = chart
        plt = plot.plt
        plt.clear_figure()
        if chart is None or chart.empty:
            plt.title(why or (chart.title + ": nothing to plot" if chart is not None else "no chart"))
        else:
            draw(chart, plt, labels=False)
        self._show_key()
        plot.refresh()

    def _show_key(self) -> None:
        key = self.key_line()
        widget = self.query_one("#chart-key", Static)
        widget.update(key)
        widget.display = bool(key)

    def on_resize(self) -> None:
        self._show_key()
