"""The run screen's header: state, id, tag; done / total with a bar, elapsed time (ticking while the run is
live) and an estimate from the previous successful run of the same pipeline with the same dag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from magnus_tui.view import RunView, fmt_duration, glyph, style

BAR = 20  # cells of the progress bar


@dataclass(frozen=True)
class Estimate:
    """How long the run should take: the duration of `run_id`, the newest successful run of the same
    pipeline file with the same dag hash (progress.previous_success)."""

    run_id: str
    seconds: float


def clock(seconds: float | None) -> str:
    """Elapsed time as a clock: 0:07, 12:05, 1:02:03."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(done: int, total: int, width: int = BAR) -> Text:
    """━━━━━━──────: done in green, the rest dim (readable without colour: two different glyphs)."""
    filled = round(width * done / total) if total else 0
    text = Text()
    text.append("━" * filled, style="green")
    text.append("─" * (width - filled), style="dim")
    return text


def header_text(
    view: RunView, now: datetime, estimate: Estimate | None = None, stopping: bool = False
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
    if view.original_run_id:
        text.append(f"  re-run of {view.original_run_id}", style="blue")
    if view.error:
        text.append(f"\n{view.error}", style="red")
        return text
    done, total = view.progress()
    text.append("\n")
    text.append(f"{done}/{total} steps ")
    text.append_text(bar(done, total))
    text.append(f" {round(100 * done / total) if total else 0:>3}%")
    elapsed = view.elapsed(now)
    if elapsed is not None:  # a clock while it ticks; once over, as long as it took (0.054s, 2m 5s)
        text.append(
            f"  {clock(elapsed) if view.live else fmt_duration(elapsed)}", style="bold" if view.live else None
        )
        if estimate is not None and view.live:
            left = estimate.seconds - elapsed
            text.append(
                f" of ~{clock(estimate.seconds)}" if left >= 0 else f" (~{clock(-left)} over the usual)",
                style="dim",
            )
        elif estimate is not None:
            text.append(f" (usually {clock(estimate.seconds)})", style="dim")
    counts = view.counts()
    for status in ("SUCCESS", "FAIL", "PROCESSING", "INTERRUPTED"):
        if counts.get(status):
            text.append(f"  {glyph(status)} {counts[status]}", style=style(status) or None)
    return text


class RunHeader(Static):
    """The header; `show(view, now, estimate)` redraws it."""

    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    """

    _lines = 0

    def show(
        self, view: RunView, now: datetime, estimate: Estimate | None = None, stopping: bool = False
    ) -> None:
        text = header_text(view, now, estimate, stopping)
        lines = text.plain.count("\n") + 1
        # a new layout of the screen only when the header's height changes (not on every tick or step)
        self.update(text, layout=lines != self._lines)
        self._lines = lines
