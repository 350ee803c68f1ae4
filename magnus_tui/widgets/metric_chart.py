"""A chart of runs (textual-plotext): what magnus_core.compare builds, drawn as magnus_core.plots draws it in
the terminal, so the workbench and `magnus compare --plot` show the same picture."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from magnus_core.compare import Chart
from magnus_core.plots import draw


class MetricChart(PlotextPlot):
    """Shows one compare.Chart; `show(None, why)` clears it and says why there is nothing to draw."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart: Chart | None = None
        self.why = ""

    def show(self, chart: Chart | None, why: str = "") -> None:
        self.chart, self.why = chart, why
        plt = self.plt
        plt.clear_figure()
        if chart is None or chart.empty:
            plt.title(why or (chart.title + ": nothing to plot" if chart is not None else "no chart"))
        else:
            draw(chart, plt)
        self.refresh()
