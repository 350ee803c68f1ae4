"""Charts in the terminal with plotext: `magnus compare --plot` and `--plot-history`.

`draw(chart, plt)` issues the plotext calls for a compare.Chart on any plotext-like object: the plotext
module here, the `plt` of textual-plotext's PlotextPlot in the workbench. `render_text` gives the chart as
text (what the CLI prints; colourless unless the terminal wants colour).
"""

from __future__ import annotations

from typing import Any

from magnus_core.compare import Chart

# plotext's markers: braille draws a fine line on any UTF-8 terminal; "dot" is plain ASCII-safe
MARKER = "braille"


# without colour, series are told apart by their marker: one plain character each, in this order
DISTINCT = ("*", "x", "o", "+", "#", "@", "%", "&", "=", "~")


def draw(chart: Chart, plt: Any, *, marker: str = MARKER, distinct: bool = False) -> None:
    """Plot every series of `chart` on `plt` (a plotext module or textual-plotext's `plt`). `distinct`:
    each series gets its own plain marker (DISTINCT, cycled), for charts drawn without colour, where the
    legend would otherwise show the same marker for every run."""
    plt.title(chart.title)
    plt.xlabel(chart.xlabel)
    plt.ylabel(chart.ylabel)
    if chart.x_is_time:
        plt.date_form("Y-m-d H:M:S")
    many = len(chart.series) > 1
    for index, series in enumerate(chart.series):
        if not series.ys:
            continue
        if distinct and many:
            marker = DISTINCT[index % len(DISTINCT)]
        if chart.x_labels is not None or len(series.ys) == 1:
            plt.scatter(series.xs, series.ys, label=series.label if many else None, marker=marker)
        else:
            plt.plot(series.xs, series.ys, label=series.label if many else None, marker=marker)
    if chart.x_labels is not None:
        plt.xticks(list(range(1, len(chart.x_labels) + 1)), chart.x_labels)


def render_text(chart: Chart, *, width: int = 80, height: int = 20, colour: bool = False) -> str:
    """The chart drawn by plotext, as text of `width` x `height` characters."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(max(width, 30), max(height, 8))
    if not colour:
        plt.theme("clear")
    draw(chart, plt, distinct=not colour)
    text = plt.build()
    plt.clear_figure()
    return str(plt.uncolorize(text)) if not colour else str(text)
