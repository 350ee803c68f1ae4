"""The run screen's header: state, id, tag; done / total with a bar, elapsed time (ticking while the run is
live) and an estimate from the previous successful run of the same pipeline with the same dag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from magnus_core.progress import Progress
from magnus_tui.view import RunView, fmt_duration, glyph, style

BAR = 20  # cells of the progress bar


@dataclass(frozen=True)
class Estimate:
    """How long the run should take: the duration of `run_id`, the newest successful run of the same
    pipeline file with the same dag hash, with the same parameters when one ran (progress.estimate_from)."""

    run_id: str
    seconds: float
    same_parameters: bool = True  # that run had this run's parameters (progress.estimate_from)


def about(seconds: float) -> str:
    """An estimate's length, as the elapsed time beside it and every duration are shown (208ms, 4.2s,
    3m 10s): trial 4 read `0:03 (~1.31s over the usual)`, then `0:12 (~0:10 over …)`, beside a dag that
    said `running 3.24s`."""
    return fmt_duration(seconds)


def bar(progress: Progress, live: bool = False, width: int = BAR) -> Text:
    """━━━━━━╳╳┄┄┄┄: done green, failed red ╳, interrupted orange ■, running yellow ▶, then what is left:
    ─ pending while the run goes on, ┄ not run once it is over. Each part has its own glyph, so the bar
    reads without colour (NO_COLOR); a part that is there takes at least one cell."""
    text = Text()
    if not progress.total:
        text.append("─" * width, style="dim")
        return text
    rest = ("─", "dim") if live else ("┄", "dim")
    parts = [
        (progress.done, "━", "green"),
        (progress.failed, "╳", "red"),
        (progress.interrupted, "■", "dark_orange"),
        (progress.running, "▶", "yellow"),
        (progress.not_run, *rest),
    ]
    cells = [round(width * count / progress.total) if count else 0 for count, _, _ in parts]
    for i, (count, _, _) in enumerate(parts):
        if count and not cells[i]:
            cells[i] = 1
    while sum(cells) > width:  # rounding up small parts: take from the largest
        cells[cells.index(max(cells))] -= 1
    if sum(cells) < width:  # rounding down: the last part present gets the rest
        last = max(i for i, (count, _, _) in enumerate(parts) if count)
        cells[last] += width - sum(cells)
    for n, (_, char, colour) in zip(cells, parts, strict=True):
        text.append(char * n, style=colour)
    return text


def header_text(
    view: RunView,
    now: datetime,
    estimate: Estimate | None = None,
    stopping: bool = False,
    width: int | None = None,
) -> Text:
    """Two lines (three for a broken log): what the run is, then how far it has got."""
    state = view.state or view.status
    if stopping and view.live:
        state = "STOPPING"
    text = Text()
    text.append(f"{glyph(state)} {state}", style=style(state) or ("magenta" if stopping else None))
    text.append(f"  {view.run_id}", style="bold")
    if view.tag:
        text.append(f"  tag {view.tag}")
    rerun = f"re-run of {view.original_run_id}" if view.original_run_id else ""
    # `width` (the columns the header has): a line never wraps in the middle of an id; the re-run's
    # original goes on a line of its own when the first has no room for it
    rerun_below = bool(rerun) and width is not None and text.cell_len + 2 + len(rerun) > width
    if rerun and not rerun_below:
        text.append(f"  {rerun}", style="blue")
    if view.error:
        text.append(f"\n{view.error}", style="red")
        return text
    progress = view.step_progress()
    text.append("\n")
    text.append(f"{progress.done}/{progress.total} steps ")
    text.append_text(bar(progress, view.live, BAR if width is None or width >= 100 else BAR // 2))
    text.append(f" {progress.percent:>3}%")
    elapsed = view.elapsed(now)
    if elapsed is not None:  # as every duration (0.054s, 2m 5s), ticking while it runs as the dag's steps do
        text.append(f"  {fmt_duration(elapsed)}", style="bold" if view.live else None)
        other = "" if estimate is None or estimate.same_parameters else " with other parameters"
        if estimate is not None and view.live:
            left = estimate.seconds - elapsed
            text.append(
                f" of ~{about(estimate.seconds)}{other}"
                if left >= 0
                else f" (~{about(-left)} over the usual{other})",
                style="dim",
            )
        elif estimate is not None:
            text.append(f" (usually {about(estimate.seconds)}{other})", style="dim")
    for status, count in (
        ("SUCCESS", progress.done),
        ("FAIL", progress.failed),
        ("PROCESSING", progress.running),
        ("INTERRUPTED", progress.interrupted),
    ):
        if count:
            text.append(f"  {glyph(status)} {count}", style=style(status) or None)
    if progress.not_run and not view.live:
        text.append(f"  · {progress.not_run} not run", style="dim")
    if view.live:  # where the fan-outs running now stand: a map's items, a loop's iteration
        for row, ended, branches in view.fanned_out()[:2]:
            text.append(f"  {row.name} ", style="bold")
            text.append(fan_text(row.step_type, ended, branches), style="yellow")
    if rerun_below:
        text.append(f"\n{rerun}", style="blue")
    return text


def fan_text(step_type: str, ended: int, branches: int) -> str:
    """How far a running composite step has got: '2/3 items' (map), 'iteration 4' (loop, counted from 1),
    '1/2 branches' (parallel, conditional)."""
    if step_type == "map":
        return f"{ended}/{branches} items"
    if step_type == "loop":
        return f"iteration {branches}"
    return f"{ended}/{branches} branches"


class RunHeader(Static):
    """The header; `show(view, now, estimate)` redraws it."""

    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    """

    _lines = 0
    _shown: tuple[RunView, datetime, Estimate | None, bool] | None = None

    def on_resize(self) -> None:
        """Laid out again at another width: what fits on a line changed."""
        if self._shown is not None:
            self.show(*self._shown)

    def show(
        self, view: RunView, now: datetime, estimate: Estimate | None = None, stopping: bool = False
    ) -> None:
        self._shown = (view, now, estimate, stopping)
        width = self.content_region.width or None  # 0 before the first layout
        text = header_text(view, now, estimate, stopping, width)
        lines = text.plain.count("\n") + 1
        # a new layout of the screen only when the header's height changes (not on every tick or step)
        self.update(text, layout=lines != self._lines)
        self._lines = lines
