"""A chart of runs (textual-plotext): what magnus_core.compare builds, drawn as magnus_core.plots draws it in
the terminal, so the workbench and `magnus compare --plot` show the same picture: each series its own
marker and colour, and the key in a line below the plot, never over the data."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from magnus_core.compare import Chart
from magnus_core.plots import draw, key_entries


class MetricChart(Vertical):
    """Shows one compare.Chart; `show(None, why)` clears it and says why there is nothing to draw. The key
    (several series) is `#chart-key`, wrapped below the plot; the plot keeps at least 6 rows."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 8; }
    MetricChart > PlotextPlot { height: 1fr; min-height: 6; }
    MetricChart > #chart-key { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart: Chart | None = None
        self.why = ""

    def compose(self) -> ComposeResult:
        yield PlotextPlot()
        yield Static("", id="chart-key")

    def key_line(self) -> Text:
        """The key as shown: `* lr=0.1   x lr=0.03 ...`, each marker in its series' colour."""
        text = Text()
        for entry in key_entries(self.chart) if self.chart is not None else []:
            if text:
                text.append("   ")
            text.append(entry.marker, style="bold rgb({},{},{})".format(*entry.colour))
            text.append(f" {entry.label}")
        return text

    def show(self, chart: Chart | None, why: str = "") -> None:
        self.chart, self.why = chart, why
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        if chart is None or chart.empty:
            plt.title(why or (chart.title + ": nothing to plot" if chart is not None else "no chart"))
        else:
            draw(chart, plt)
        key = self.key_line() if chart is not None and not chart.empty else Text()
        self.query_one("#chart-key", Static).update(key)
        self.query_one("#chart-key", Static).display = bool(key)
        plot.refresh()
