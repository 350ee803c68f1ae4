"""Plain aligned tables for `magnus runs` and `magnus compare`: thousands of rows in milliseconds.

Rich's Table measures and wraps every cell (seconds for 20,000 runs); these tables never wrap or cut a
cell (users copy run ids and values from them), align numbers right, and colour only a terminal that
wants colour (NO_COLOR, a pipe or TERM=dumb: none).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import IO, Any

from magnus_core import jsonio as json

STYLES = {
    "bold": "1",
    "dim": "2",
    "green": "32",
    "red": "31",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
    "bold green": "1;32",
}


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""


def use_colour(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def fmt_seconds(seconds: float | None) -> str:
    """1.234 -> '1.23s', 0.0042 -> '4.2ms', 125 -> '2m 5s'; None -> '-'."""
    if seconds is None:
        return "-"
    if abs(seconds) < 0.9995:  # what rounds to 1000ms reads 1s
        return f"{seconds * 1000:.3g}ms"
    if abs(seconds) < 59.5:  # what rounds to 60s reads 1m 0s
        return f"{seconds:.3g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60}m"


def fmt_duration(seconds: float | None) -> str:
    """A step's or a run's duration as the summary and the workbench show it: fmt_seconds, but `<1ms`
    under a millisecond (a success or fail node's `0.003ms` read as a figure measured to the microsecond,
    which it is not; issue 16)."""
    return "<1ms" if seconds is not None and 0 < seconds < 0.001 else fmt_seconds(seconds)


def fmt_size(size: int | float, *, exact: bool = False) -> str:
    """Bytes in the unit that fits, in powers of 1024 as sizes are read (capture.parse_size: `100MB`):
    512 -> '512 bytes', 49_152 -> '48 KB', 4_404_019 -> '4.2 MB', 3 * 2**30 -> '3.0 GB'. Two significant
    figures at least (`4.2 MB`, `48 KB`, `512 KB`), never `0.0 MB` for a file of 48 KB (trial 5).
    With `exact`, a size of 1 KB or more is followed by its byte count in plain digits, for a script or a
    comparison: '100 MB (104857600 bytes)'."""
    if size < 1024:
        return f"{int(size):,} byte{'s' if int(size) != 1 else ''}"
    if exact:
        return f"{fmt_size(size)} ({int(size)} bytes)"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}" if size < 10 else f"{size:,.0f} {unit}"


def fmt_value(value: Any) -> str:
    """A parameter or metric value as a table shows it: numbers to 6 significant digits, text as is,
    anything else as compact JSON; a missing value is '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    if isinstance(value, str):
        return value.replace("\n", "⏎")
    return json.dumps(value, separators=(",", ":"), default=str)


def terminal_width(stream: IO[str] | None = None) -> int | None:
    """The width of the terminal `stream` writes to (COLUMNS wins, as for every tool); None when it is not a
    terminal (a pipe, a file): then nothing is cut, dropped or wrapped."""
    stream = stream or sys.stdout
    if not getattr(stream, "isatty", lambda: False)():
        return None
    import shutil

    return shutil.get_terminal_size().columns


_PREFIX = "magnus: "  # how magnus's own notes begin (wrap_note)


def wrap_note(text: str, stream: IO[str] | None = None) -> str:
    """`text` wrapped at word boundaries to the width of the terminal `stream` writes to (stderr by
    default): a line wider than it breaks before the word that does not fit, never inside one (the terminal
    itself broke notes mid-word: `are dra` / `wn`, trial 5); a word wider than the terminal (a path, an id)
    stays whole. Each line of `text` is wrapped on its own, continuation lines keep its indentation; those
    of a `magnus: ` line are indented past that prefix, so that a wrapped note reads as one (trial 21: its
    continuation read as a line of the step's). Unchanged when `stream` is not a terminal (a pipe, a file:
    one line per note, for grep)."""
    width = terminal_width(stream or sys.stderr)
    if width is None or all(len(line) <= width for line in text.split("\n")):
        return text
    import textwrap

    lines = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip())]
        if line.startswith(_PREFIX):  # (`magnus:   stderr: ...`: past the prefix and its own indentation)
            rest = line[len(_PREFIX) :]
            indent = " " * len(_PREFIX) + rest[: len(rest) - len(rest.lstrip())]
        wrapped = textwrap.fill(
            line,
            width=max(width, 20),
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.append(wrapped if len(line) > width else line)
    return "\n".join(lines)


def echo_note(text: str) -> None:
    """A message for the user on stderr (a note, a hint, a warning, an error), wrapped to the terminal's
    width at word boundaries (wrap_note); as click.echo writes it."""
    import click

    click.echo(wrap_note(text, sys.stderr), err=True)


UNBOUNDED = 1_000_000  # a width no line reaches: what rich is given when the output is not a terminal


def rich_width(stream: IO[str] | None = None) -> int | None:
    """The width to give a rich Console: None on a terminal (rich measures it), UNBOUNDED when piped, so
    that rich neither wraps nor cuts a line at its default 80 columns (`magnus execute | grep step`)."""
    return None if terminal_width(stream) is not None else UNBOUNDED


def fit_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell | str]],
    width: int | None,
    drop_order: Sequence[int],
    gap: str = "  ",
) -> list[int]:
    """The indices of the columns to show so that each line fits `width` characters: columns are dropped
    in `drop_order` (whole, never cut) until the table fits; columns not in `drop_order` always stay.
    `width` None (not a terminal): every column."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell.text if isinstance(cell, Cell) else cell))
    return fit_column_widths(widths, width, drop_order, len(gap))


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell | str]],
    *,
    right: frozenset[int] | set[int] = frozenset(),
    colour: bool = False,
    gap: str = "  ",
) -> str:
    """The table as text: a header line and one line per row, columns padded to their widest cell."""
    cells = [[c if isinstance(c, Cell) else Cell(c) for c in row] for row in rows]
    columns = [[row[i].text for row in cells] for i in range(len(headers))]
    styles = [[row[i].style for row in cells] for i in range(len(headers))]
    return render_columns(headers, columns, right=right, styles=styles, colour=colour, gap=gap)


def render_columns(
    headers: Sequence[str],
    columns: Sequence[Sequence[str]],
    *,
    right: frozenset[int] | set[int] = frozenset(),
    styles: Sequence[Sequence[str] | str | None] | None = None,
    colour: bool = False,
    gap: str = "  ",
    widths: Sequence[int] | None = None,
) -> str:
    """`render` for a table given column by column (every column as long as the first): the same text,
    ten times faster for 20,000 rows (no cell objects, each column padded in one pass). `styles[i]`: one
    style for the whole column i, a style per row, or None. `widths`: each column's widest text, header
    included, when the caller has measured them already."""
    if widths is None:
        widths = [max(len(h), max(map(len, col), default=0)) for h, col in zip(headers, columns, strict=True)]
    last = len(headers) - 1
    padded: list[Sequence[str]] = []
    for i, col in enumerate(columns):  # each column padded in one C loop (map over the str method)
        width = widths[i]
        if i in right:
            cells: Sequence[str] = list(map(str.rjust, col, repeat(width)))
        elif i < last:
            cells = list(map(str.ljust, col, repeat(width)))
        else:
            cells = col
        style = styles[i] if styles is not None else None
        if colour and style:
            if isinstance(style, str):
                code = STYLES.get(style, "0")
                cells = [f"\x1b[{code}m{text}\x1b[0m" for text in cells]
            else:
                cells = [
                    f"\x1b[{STYLES.get(st, '0')}m{text}\x1b[0m" if st else text
                    for text, st in zip(cells, style, strict=True)
                ]
        padded.append(cells)
    head = [
        h.rjust(widths[i]) if i in right else h.ljust(widths[i] if i < last else 0)
        for i, h in enumerate(headers)
    ]
    if colour:
        head = [f"\x1b[{STYLES['bold']}m{h}\x1b[0m" for h in head]
    out = [gap.join(head).rstrip()]
    out.extend(map(str.rstrip, map(gap.join, zip(*padded, strict=True))))
    return "\n".join(out)


def fit_column_widths(
    widths: Sequence[int], width: int | None, drop_order: Sequence[int], gap: int = 2
) -> list[int]:
    """fit_columns for columns whose widest cells are known: the indices of the columns to keep."""
    keep = list(range(len(widths)))
    if width is None:
        return keep
    for column in drop_order:
        if sum(widths[i] for i in keep) + gap * (len(keep) - 1) <= width:
            break
        if column in keep:
            keep.remove(column)
    return keep
