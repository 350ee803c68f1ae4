"""The run screen's header: state, id, tag; done / total with a bar, elapsed time (ticking while the run is
live) and an estimate from the previous successful run of the same pipeline with the same dag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from magnus_core.progress import Progress
from magnus_core.runs import driven_per_step, list_state
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


@dataclass(frozen=True)
class HeaderFacts:
    """What the header says of a run that only changes with the run (not with the clock): worked out from
    the view once per change, so the clock's tick redraws the time alone (a 10,000-step run's progress
    is a walk of every row)."""

    state: str
    run_id: str
    tag: str
    rerun: str  # "re-run of ID" or ""
    error: str
    progress: Progress
    start: datetime | None  # the run's span (RunView.span)
    end: datetime | None
    live: bool
    fanned: tuple[tuple[str, str], ...]  # the fan-outs running now: (step name, "2/3 items")


def header_facts(view: RunView) -> HeaderFacts:
    """The header's facts of `view`. A run driven one step per process (`magnus execute_single_node`, by
    hand or by Argo) that reads RUNNING is said PER-STEP as the runs list and `magnus runs` say it
    (runs.list_state): no process runs it whole, so while none of its steps runs its time stands at its
    last finished step instead of ticking (trial 9: the list said `⋯ PER-STEP 190ms`, one Enter later the
    run's own screen said `▶ RUNNING` and counted five minutes)."""
    start, end = view.span()
    state = view.state or view.status
    live = view.live
    if state == "RUNNING" and driven_per_step(view.run_config):
        state = list_state(state, "per-step")
        live = live and bool(view.running_keys())
    return HeaderFacts(
        state=state,
        run_id=view.run_id,
        tag=view.tag,
        rerun=f"re-run of {view.original_run_id}" if view.original_run_id else "",
        error=view.error,
        progress=view.step_progress() if not view.error else Progress(),
        start=start,
        end=end,
        live=live,
        fanned=tuple(
            (row.name, fan_text(row.step_type, ended, branches))
            for row, ended, branches in (view.fanned_out()[:2] if live and not view.error else ())
        ),
    )


def header_text(
    view: RunView | HeaderFacts,
    now: datetime,
    estimate: Estimate | None = None,
    stopping: bool = False,
    width: int | None = None,
) -> Text:
    """Two lines (three for a broken log): what the run is, then how far it has got. When the second line
    would not fit in `width`, the counts come before the estimate, which is written short (`+904ms`): at
    80 columns the estimate pushed the counts off the screen."""
    facts = view if isinstance(view, HeaderFacts) else header_facts(view)
    state = facts.state
    if stopping and facts.live:
        state = "STOPPING"
    text = Text()
    text.append(f"{glyph(state)} {state}", style=style(state) or ("magenta" if stopping else None))
    text.append(f"  {facts.run_id}", style="bold")
    if facts.tag:
        text.append(f"  tag {facts.tag}")
    rerun = facts.rerun
    # `width` (the columns the header has): a line never wraps in the middle of an id; the re-run's
    # original goes on a line of its own when the first has no room for it
    rerun_below = bool(rerun) and width is not None and text.cell_len + 2 + len(rerun) > width
    if rerun and not rerun_below:
        text.append(f"  {rerun}", style="blue")
    if facts.error:
        text.append(f"\n{facts.error}", style="red")
        return text
    progress = facts.progress
    line = Text()
    # as every view counts (Progress.ran); `≥` while a composite still hands out branches (a map fanning out)
    floor = "≥" if facts.live and progress.growing else ""
    line.append(f"{progress.ran}/{floor}{progress.total} steps ")
    line.append_text(bar(progress, facts.live, BAR if width is None or width >= 100 else BAR // 2))
    if facts.live:  # how far a running run has got; an ended one's bar and counts say what became of it
        # (trial 10: a failed run read `2/2 steps ━━━━╳╳╳╳ 50%`, a share of successes read as progress)
        line.append(f" {progress.percent:>3}%")
    elapsed = None
    if facts.start is not None:
        if facts.live:
            elapsed = max(0.0, (now - facts.start).total_seconds())
        elif facts.end is not None:
            elapsed = max(0.0, (facts.end - facts.start).total_seconds())
    if elapsed is not None:  # as every duration (0.054s, 2m 5s), ticking while it runs as the dag's steps do
        line.append(f"  {fmt_duration(elapsed)}", style="bold" if facts.live else None)
    counts = Text()
    for status, count in (
        ("SUCCESS", progress.done),
        ("FAIL", progress.failed),
        ("PROCESSING", progress.running),
        ("INTERRUPTED", progress.interrupted),
    ):
        if count:
            counts.append(f"  {glyph(status)} {count}", style=style(status) or None)
    if progress.not_run and not facts.live and facts.state != "PER-STEP":  # (steps to come, not skipped)
        counts.append(f"  · {progress.not_run} not run", style="dim")
    fans = Text()
    for name, fan in facts.fanned:  # where the fan-outs running now stand: a map's items, a loop's iteration
        fans.append(f"  {name} ", style="bold")
        fans.append(fan, style="yellow")
    guess = short = Text()
    if elapsed is not None and estimate is not None:
        guess = Text(estimate_text(estimate, elapsed, facts.live), style="dim")
        short = Text(estimate_text(estimate, elapsed, facts.live, short=True), style="dim")
    if width is not None and line.cell_len + guess.cell_len + counts.cell_len + fans.cell_len > width:
        # it would wrap (the counts cut off at 80 columns): the counts first, then the estimate written
        # short, which is what a narrow terminal may cut
        guess = short
        line.append_text(counts)
        line.append_text(fans)
        line.append_text(guess)
    else:
        line.append_text(guess)
        line.append_text(counts)
        line.append_text(fans)
    text.append("\n")
    text.append_text(line)
    if rerun_below:
        text.append(f"\n{rerun}", style="blue")
    return text


def estimate_text(estimate: Estimate, elapsed: float, live: bool, short: bool = False) -> str:
    """The estimate beside the clock: ' of ~0:25', ' (~904ms over the usual)', ' (usually 8.24s)', each
    '… with other parameters' when the run it comes from had others; `short` (a narrow terminal):
    ' of ~0:25', ' (+904ms)', ' (usually 8.24s)', with '*' for other parameters."""
    other = "" if estimate.same_parameters else ("*" if short else " with other parameters")
    if not live:
        return f" (usually {about(estimate.seconds)}{other})"
    left = estimate.seconds - elapsed
    if left >= 0:
        return f" of ~{about(estimate.seconds)}{other}"
    return f" (+{about(-left)}{other})" if short else f" (~{about(-left)} over the usual{other})"


def fan_text(step_type: str, ended: int, branches: int) -> str:
    """How far a running composite step has got: '2/3 items' (map), 'iteration 4' (loop, counted from 1),
    '1/2 branches' (parallel, conditional)."""
    if step_type == "map":
        return f"{ended}/{branches} items"
    if step_type == "loop":
        return f"iteration {branches}"
    return f"{ended}/{branches} branches"


class RunHeader(Static):
    """The header; `show(view, now, estimate)` redraws it, `tick(now)` redraws its clock (nothing else of
    the run changed)."""

    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    """

    _lines = 0
    _shown: tuple[HeaderFacts, datetime, Estimate | None, bool] | None = None

    def on_resize(self) -> None:
        """Laid out again at another width: what fits on a line changed."""
        if self._shown is not None:
            self._draw(*self._shown)

    def show(
        self, view: RunView, now: datetime, estimate: Estimate | None = None, stopping: bool = False
    ) -> None:
        self._draw(header_facts(view), now, estimate, stopping)

    def tick(self, now: datetime) -> None:
        """The clock moved: the same facts at `now` (drawn only when the text changed)."""
        if self._shown is not None:
            self._draw(self._shown[0], now, *self._shown[2:])

    def _draw(self, facts: HeaderFacts, now: datetime, estimate: Estimate | None, stopping: bool) -> None:
        self._shown = (facts, now, estimate, stopping)
        width = self.content_region.width or None  # 0 before the first layout
        text = header_text(facts, now, estimate, stopping, width)
        if text == self._text:
            return
        self._text = text
        lines = text.plain.count("\n") + 1
        # a new layout of the screen only when the header's height changes (not on every tick or step)
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    _text: Text | None = None
