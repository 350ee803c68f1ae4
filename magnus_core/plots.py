"""Charts in the terminal with plotext: `magnus compare --plot` and `--plot-history`.

`draw(chart, plt)` issues the plotext calls for a compare.Chart on any plotext-like object: the plotext
module here, the `plt` of textual-plotext's PlotextPlot in the workbench. `render_text` gives the chart as
text (what the CLI prints; colourless unless the terminal wants colour).

A chart of several series has a key below the plot (`key_entries`, `key_text`): plotext draws its legend
in the plot's top-left corner (it has no other place), over the data, and on a short chart over all of it.
Each series has its own plain marker (DISTINCT) and colour (COLOURS), so the key reads without colour too.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from magnus_core.compare import Chart

# plotext's markers: braille draws a fine line on any UTF-8 terminal; "dot" is plain ASCII-safe
MARKER = "braille"


POINT = "●"  # a run's point on a metric's line across runs

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
    """The key of a chart with more than one series, or of a history (one entry per series that has
    points; [] for a single series of a chart whose title names it: a metric across runs). Trial 22: a
    history of one selected run had no key, so it was not clear which run was drawn."""
    drawn = [s for s in chart.series if s.ys]
    if len(chart.series) < 2 and not chart.names_series:
        return []
    return [
        KeyEntry(DISTINCT[i % len(DISTINCT)], COLOURS[i % len(COLOURS)], s.label)
        for i, s in enumerate(chart.series)
        if s in drawn
    ]


def draw(
    chart: Chart,
    plt: Any,
    *,
    marker: str = MARKER,
    distinct: bool = True,
    legend: bool = False,
    labels: bool = True,
    rows: int | None = None,
) -> None:
    """Plot every series of `chart` on `plt` (a plotext module or textual-plotext's `plt`). With several
    series each gets its own marker (`distinct`: DISTINCT, as in `key_entries`; else `marker` for all) and
    colour (COLOURS). `legend`: also plotext's own legend, drawn in the plot's top-left corner over the
    data; by default the caller shows `key_entries` below the chart instead. `labels`: the axis labels
    under the plot (a row of their own; the title names both axes, so the workbench leaves them out).
    `rows`: the plot's rows of data (`data_rows`); given, the y axis gets round ticks the same number of
    rows apart (`nice_axis`), else plotext's (evenly spaced values, rounded to rows: uneven). A chart
    with `x_log` is drawn against log10(x), its ticks at powers of ten labelled with the values."""
    times = (
        sorted({str(x) for series in chart.series if series.ys for x in series.xs}) if chart.x_is_time else []
    )
    day = time_day(times) if times else ""
    plt.title(f"{chart.title} ({day})" if day else chart.title)
    if labels:
        plt.xlabel(chart.xlabel)
        plt.ylabel(chart.ylabel)
    if chart.x_is_time:
        plt.date_form("Y-m-d H:M:S")
    many = len(chart.series) > 1 or chart.names_series
    if rows is not None:
        y_axis(chart, plt, rows)
    every_x = [] if chart.x_is_time else [float(x) for series in chart.series if series.ys for x in series.xs]
    if chart.x_log and every_x:
        ticks = log_ticks(min(every_x), max(every_x))
        plt.xticks([math.log10(t) for t in ticks], [f"{t:g}" for t in ticks])
    elif times:
        shown = time_ticks(times)
        plt.xticks(shown, time_labels(shown))
    elif chart.x_labels is None and every_x:
        ticks = linear_ticks(min(every_x), max(every_x), whole=all(x.is_integer() for x in every_x))
        plt.xticks(ticks, [tick_text(t, ticks) for t in ticks])
    for index, series in enumerate(chart.series):
        if not series.ys:
            continue
        xs = [math.log10(float(x)) for x in series.xs] if chart.x_log else series.xs
        options: dict[str, Any] = {"marker": marker}
        if many:
            options["color"] = COLOURS[index % len(COLOURS)]
            if distinct:
                options["marker"] = DISTINCT[index % len(DISTINCT)]
            if legend:
                options["label"] = series.label
        if chart.x_labels is not None or len(series.ys) == 1:
            plt.scatter(xs, series.ys, **options)
        else:
            plt.plot(xs, series.ys, **options)
            if not many:  # one point per run: each run a dot on the line (trial 22: a sweep read as a smudge)
                plt.scatter(xs, series.ys, marker=POINT)
    if chart.x_labels is not None:
        plt.xticks(list(range(1, len(chart.x_labels) + 1)), chart.x_labels)


def y_axis(chart: Chart, plt: Any, rows: int) -> None:
    """Round y ticks the same number of rows apart on a plot with `rows` rows of data (`nice_axis`)."""
    ys = [y for series in chart.series for y in series.ys]
    if ys:
        low, high, ticks = nice_axis(min(ys), max(ys), rows)
        plt.ylim(low, high)
        plt.yticks(ticks, [tick_text(t, ticks) for t in ticks])


# plotext's rows around the data: the title, the frame's top and bottom, the x ticks (and the axis labels)
PLOT_FRAME_ROWS = 4


def data_rows(height: int, *, labels: bool = True) -> int:
    """The rows of data in a plotext plot `height` rows high (its title, frame, x ticks and, with
    `labels`, the axis labels' row take the rest)."""
    return height - PLOT_FRAME_ROWS - (1 if labels else 0)


NICE_STEPS = (1.0, 2.0, 2.5, 5.0)


def nice_axis(low: float, high: float, rows: int) -> tuple[float, float, list[float]]:
    """A y axis for values from `low` to `high` on `rows` rows of data: (bottom, top, ticks). The ticks
    are round numbers (1, 2, 2.5 or 5 times a power of ten) and fall the same number of rows apart, as
    plotext puts a value on the row nearest to it: the axis is `rows - 1` rows of one value each (a
    fraction of the step), the bottom on a multiple of that value. Of the steps that fit, the axis the
    data fill most; at least 3 ticks from 3 rows up, at least 2 rows apart from 7 rows up. Fewer than
    2 rows: (low, high, [low, high])."""
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    gaps = rows - 1
    if gaps < 1:
        return low, high, [low, high]
    least_apart = 2 if gaps >= 6 else 1
    least_ticks = 2 if gaps < 2 else 3
    best: tuple[float, int, float, float, list[float]] | None = None
    power = 10.0 ** math.floor(math.log10(high - low)) / 100
    for _ in range(5):
        for factor in NICE_STEPS:
            step = factor * power
            for apart in range(least_apart, gaps + 1):
                per_row = step / apart
                bottom = _round(math.floor(low / per_row + 1e-9) * per_row, per_row, 9)
                top = _round(bottom + per_row * gaps, per_row, 9)
                if top < high - per_row * 1e-9:
                    continue
                first = math.ceil(bottom / step - 1e-9)
                ticks = [_round(k * step, step) for k in range(first, math.floor(top / step + 1e-9) + 1)]
                if len(ticks) < least_ticks:
                    continue
                fill = (high - low) / (top - bottom)
                if best is None or (fill, len(ticks)) > (best[0], best[1]):
                    best = (fill, len(ticks), bottom, top, ticks)
        power *= 10
    if best is None:
        return low, high, [low, high]
    return best[2], best[3], best[4]


def _round(value: float, step: float, finer: int = 2) -> float:
    """A tick without the float noise of adding steps (0.30000000000000004 -> 0.3): rounded to `finer`
    digits below the step's first."""
    digits = max(0, -math.floor(math.log10(step)) + finer)
    return round(value, digits)


def tick_text(value: float, ticks: list[float]) -> str:
    """A tick's label with as many decimals as its axis's step needs (0.25, 0.50, 0.75)."""
    step = min((b - a for a, b in itertools.pairwise(ticks) if b > a), default=1.0)
    decimals = 0
    while decimals < 8 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    big = max(abs(t) for t in ticks)
    if big >= 1e6 or (0 < big < 1e-4):
        return f"{value:.3g}"
    return f"{value:.{decimals}f}"


def linear_ticks(low: float, high: float, *, most: int = 6, whole: bool = False) -> list[float]:
    """Round ticks between `low` and `high` (1, 2, 2.5 or 5 times a power of ten apart): the finest
    step that gives at most `most`; `whole`: steps of 1 at the least (step numbers of a history)."""
    if high <= low:
        return [low]
    power = 10.0 ** math.floor(math.log10(high - low)) / 10
    for _ in range(4):
        for factor in NICE_STEPS:
            step = factor * power
            if whole and (step < 1 or factor == 2.5):
                continue
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            if last - first + 1 <= most:
                return [_round(k * step, step) for k in range(first, last + 1)]
        power *= 10
    return [low, high]


TIME_TICKS = 4  # ticks on a time axis at most: a label is up to 19 characters


def time_ticks(times: list[str]) -> list[str]:
    """Ticks of a time axis: runs' own start times (`2026-11-30 16:16:14`, sorted, each once), the first,
    the last and evenly between, at most TIME_TICKS: plotext's evenly spaced ticks, formatted to the
    second, repeated a label when the runs were seconds apart (trial 22)."""
    if len(times) <= TIME_TICKS:
        return times
    step = (len(times) - 1) / (TIME_TICKS - 1)
    return [times[round(i * step)] for i in range(TIME_TICKS)]


def time_labels(ticks: list[str]) -> list[str]:
    """The ticks' labels: `16:16:15` when every tick is on one day (the title says the day: `time_day`),
    else `11-29 23:59:58` (the year of the first)."""
    if time_day(ticks):
        return [tick[11:] for tick in ticks]
    return [tick[5:] for tick in ticks]


def time_day(times: list[str]) -> str:
    """The day every time is on (`2026-11-30`), '' when they are on several."""
    days = {t[:10] for t in times}
    return days.pop() if len(days) == 1 else ""


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a log axis from `low` to `high` (both > 0): the powers of ten between them (every other
    one past 8 decades), else 1-2-5 multiples, else the two ends."""
    first, last = math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high) + 1e-9)
    powers = [10.0**k for k in range(first, last + 1)]
    if len(powers) > 8:
        powers = powers[:: math.ceil(len(powers) / 8)]
    if len(powers) >= 2:
        return powers
    multiples = sorted(
        m * 10.0**k for k in range(first - 1, last + 2) for m in (1, 2, 5) if low <= m * 10.0**k <= high
    )
    return multiples if len(multiples) >= 2 else [low, high]


def key_text(
    entries: list[KeyEntry], width: int, *, colour: bool = False, max_lines: int | None = None
) -> list[str]:
    """The key as lines of at most `width` characters: `* lr=0.01   x lr=0.1 ...`, the markers coloured
    (24-bit ANSI) when `colour`; laid out by `key_layout`."""
    lines, more = key_layout(entries, width, max_lines)
    out = []
    for line_no, line in enumerate(lines):
        parts = [_entry_shown(entry, plain, colour) for entry, plain in line]
        if more and line_no == len(lines) - 1:
            parts.append(f"+{more} more")
        out.append((" " * KEY_GAP).join(parts))
    return out


def key_layout(
    entries: list[KeyEntry], width: int, max_lines: int | None = None
) -> tuple[list[list[tuple[KeyEntry, str]]], int]:
    """The key's entries placed on lines of at most `width` characters, in order, each with its plain
    text (`* lr=0.1`): an entry is never broken across lines (a label longer than a line is cut with
    `…`). With `max_lines`, the entries that would need more lines are left out and their number is
    returned (the last line then keeps room for `+N more`): a chart short of rows keeps its plot."""
    plain = [_entry_plain(entry, width) for entry in entries]
    placed = _fit_lines([len(p) for p in plain], width, max_lines)
    shown = sum(len(line) for line in placed)
    return [[(entries[i], plain[i]) for i in line] for line in placed], len(entries) - shown


KEY_GAP = 3  # spaces between two entries of a key


def _entry_plain(entry: KeyEntry, width: int) -> str:
    label = entry.label if len(entry.label) <= width - 4 else entry.label[: max(width - 5, 1)] + "…"
    return f"{entry.marker} {label}"


def _entry_shown(entry: KeyEntry, plain: str, colour: bool) -> str:
    if not colour:
        return plain
    r, g, b = entry.colour
    return f"\x1b[38;2;{r};{g};{b}m{entry.marker}\x1b[0m{plain[1:]}"


def _fit_lines(lengths: list[int], width: int, max_lines: int | None) -> list[list[int]]:
    """Entries (by index) placed on lines of `width`, whole, in order; with `max_lines`, the last line
    keeps room for `   +N more` when some are left out (at least one entry is always shown)."""
    lines: list[list[int]] = []
    length = 0
    for i, size in enumerate(lengths):
        if lines and lines[-1] and length + KEY_GAP + size <= width:
            lines[-1].append(i)
            length += KEY_GAP + size
            continue
        if max_lines is not None and len(lines) >= max_lines:
            break
        lines.append([i])
        length = size
    shown = sum(len(line) for line in lines)
    if shown < len(lengths) and lines:
        last = lines[-1]
        while len(last) > 1 or len(lines) > 1:
            used = sum(lengths[i] for i in last) + KEY_GAP * (len(last) - 1)
            more = len(f"+{len(lengths) - (shown)} more") + KEY_GAP
            if used + more <= width:
                break
            last.pop()
            shown -= 1
            if not last:
                lines.pop()
                last = lines[-1]
    return lines


def render_text(chart: Chart, *, width: int = 80, height: int = 20, colour: bool = False) -> str:
    """The chart drawn by plotext, as text of `width` x `height` characters, the key (several series)
    in the last lines below the plot."""
    import plotext as plt

    keys = key_text(key_entries(chart), max(width, 30), colour=colour)
    plt.clear_figure()
    plot_height = max(height - len(keys), 8)
    plt.limit_size(False, False)  # the size asked for (the caller's terminal), so data_rows is right
    plt.plotsize(max(width, 30), plot_height)
    if not colour:
        plt.theme("clear")
    draw(chart, plt, rows=data_rows(plot_height))
    text = plt.build()
    plt.clear_figure()
    text = (str(plt.uncolorize(text)) if not colour else str(text)).rstrip("\n")
    return "\n".join([text, *keys]) if keys else text
