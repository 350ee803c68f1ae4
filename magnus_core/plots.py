"""Charts in the terminal with plotext: `magnus compare --plot` and `--plot-history`.

`draw(chart, plt)` issues the plotext calls for a compare.Chart on any plotext-like object: the plotext
module here, the `plt` of textual-plotext's PlotextPlot in the workbench. `render_text` gives the chart as
text (what the CLI prints; colourless unless the terminal wants colour).

A chart of several series has a key below the plot (`key_entries`, `key_text`): plotext draws its legend
in the plot's top-left corner (it has no other place), over the data, and on a short chart over all of it.
Each series has its own plain marker (DISTINCT) and colour (COLOURS), so the key reads without colour too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from magnus_core.compare import Chart

# plotext's markers: braille draws a fine line on any UTF-8 terminal; "dot" is plain ASCII-safe
MARKER = "braille"


# series are told apart by their marker (without colour, the only way): one plain character each, in order
DISTINCT = ("*", "x", "o", "+", "#", "@", "%", "&", "=", "~")
# and by colour where there is colour: a qualitative palette readable on dark and light backgrounds
COLOURS: tuple[tuple[int, int, int], ...] = (
    (66, 135, 245),  # blue
    (245, 130, 48),  # orange
    (60, 180, 75),  # green
    (230, 25, 75),  # red
    (145, 30, 180),  # purple
    (70, 190, 210),  # cyan
    (240, 50, 230),  # magenta
    (170, 160, 40),  # olive
)


@dataclass(frozen=True)
class KeyEntry:
    """One series in the key: its marker character, colour (RGB) and label."""

    marker: str
    colour: tuple[int, int, int]
    label: str


def key_entries(chart: Chart) -> list[KeyEntry]:
    """The key of a chart with more than one series (one entry per series that has points; [] for a
    single series, whose name is the chart's title)."""
    drawn = [s for s in chart.series if s.ys]
    if len(chart.series) < 2:
        return []
    return [
        KeyEntry(DISTINCT[i % len(DISTINCT)], COLOURS[i % len(COLOURS)], s.label)
        for i, s in enumerate(chart.series)
        if s in drawn
    ]


def draw(
    chart: Chart, plt: Any, *, marker: str = MARKER, distinct: bool = True, legend: bool = False
) -> None:
    """Plot every series of `chart` on `plt` (a plotext module or textual-plotext's `plt`). With several
    series each gets its own marker (`distinct`: DISTINCT, as in `key_entries`; else `marker` for all) and
    colour (COLOURS). `legend`: also plotext's own legend, drawn in the plot's top-left corner over the
    data; by default the caller shows `key_entries` below the chart instead."""
    plt.title(chart.title)
    plt.xlabel(chart.xlabel)
    plt.ylabel(chart.ylabel)
    if chart.x_is_time:
        plt.date_form("Y-m-d H:M:S")
    many = len(chart.series) > 1
    for index, series in enumerate(chart.series):
        if not series.ys:
            continue
        options: dict[str, Any] = {"marker": marker}
        if many:
            options["color"] = COLOURS[index % len(COLOURS)]
            if distinct:
                options["marker"] = DISTINCT[index % len(DISTINCT)]
            if legend:
                options["label"] = series.label
        if chart.x_labels is not None or len(series.ys) == 1:
            plt.scatter(series.xs, series.ys, **options)
        else:
            plt.plot(series.xs, series.ys, **options)
    if chart.x_labels is not None:
        plt.xticks(list(range(1, len(chart.x_labels) + 1)), chart.x_labels)


def key_text(entries: list[KeyEntry], width: int, *, colour: bool = False) -> list[str]:
    """The key as lines of at most `width` characters: `* lr=0.01   x lr=0.1 ...`, the markers coloured
    (24-bit ANSI) when `colour`."""
    lines: list[str] = []
    line, length = "", 0
    for entry in entries:
        label = entry.label if len(entry.label) <= width - 4 else entry.label[: max(width - 5, 1)] + "…"
        plain = f"{entry.marker} {label}"
        shown = plain
        if colour:
            r, g, b = entry.colour
            shown = f"\x1b[38;2;{r};{g};{b}m{entry.marker}\x1b[0m {label}"
        if length and length + 3 + len(plain) > width:
            lines.append(line)
            line, length = "", 0
        line += ("   " if length else "") + shown
        length += (3 if length else 0) + len(plain)
    if line:
        lines.append(line)
    return lines


def render_text(chart: Chart, *, width: int = 80, height: int = 20, colour: bool = False) -> str:
    """The chart drawn by plotext, as text of `width` x `height` characters, the key (several series)
    in the last lines below the plot."""
    import plotext as plt

    keys = key_text(key_entries(chart), max(width, 30), colour=colour)
    plt.clear_figure()
    plt.plotsize(max(width, 30), max(height - len(keys), 8))
    if not colour:
        plt.theme("clear")
    draw(chart, plt)
    text = plt.build()
    plt.clear_figure()
    text = (str(plt.uncolorize(text)) if not colour else str(text)).rstrip("\n")
    return "\n".join([text, *keys]) if keys else text
