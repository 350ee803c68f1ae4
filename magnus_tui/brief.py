"""What the runs list's panel says about the highlighted run: why it failed (the step, its error and where it
was raised, as `magnus show` prints it) or, for a run that did not fail, its metrics and parameters.

No Textual here: the runs screen calls `run_brief` from a worker (it reads one run log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from magnus_core.logs import (
    cut_keeping_place,
    failed_leaves,
    failure_message,
    harmless,
    interrupted_at,
    where_failed,
)
from magnus_tui.view import glyph, style

if TYPE_CHECKING:
    from magnus_core.runs import RunSummary
    from magnus_tui.source import Project

SHOWN_VALUES = 8  # metrics (or parameters) named in the panel; the run screen has them all


def _values(values: dict[str, Any]) -> str:
    # the index holds each metric by name and as `<step>.<name>`: the run's own names when there are any
    from magnus_core.compare import own_metric_names

    names = own_metric_names(values)
    own = {k: v for k, v in values.items() if k in names}
    values = own or values
    items = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()]
    more = len(items) - SHOWN_VALUES
    return " · ".join(items[:SHOWN_VALUES]) + (f" · … {more} more" if more > 0 else "")


def run_brief(project: Project, summary: RunSummary, width: int = 0) -> Text:
    """run_facts, then the run a re-run re-ran in full when there is a line left (the runs list shows only
    the end of its id: the legend of that column)."""
    text = run_facts(project, summary, width)
    if summary.original_run_id and text.plain.count("\n") < 2:
        text.append(f"\n↺ re-run of {summary.original_run_id}", style="blue")
    return text


PANEL_ROWS = 3  # the runs list's panel holds three rows (RunsScreen #reason)


def fit_first(head: str, first: str, suffix: str, width: int, rows: int) -> str:
    """`first` (a message's first line), cut with `…` where needed so that `head + first + suffix`
    wraps into at most `rows` rows of `width` (words wrap, as the panel wraps them; a long first line
    pushed the place under it out of the panel at 80x24)."""
    import textwrap

    def fits(cut: str) -> bool:
        return len(textwrap.wrap(head + cut + suffix, width - 1)) <= rows  # (a cell spare: wrap rounding)

    if fits(first):
        return first
    low, high = 0, len(first)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(first[:middle].rstrip() + "…"):
            low = middle
        else:
            high = middle - 1
    return first[:low].rstrip() + "…"


def _indented(line: str, width: int, rows: int) -> list[str]:
    """`line` under the panel's first row: indented by 2, wrapped at `width` (0: not wrapped) under that
    indent (+2 more), in at most `rows` rows, the last cut with `…` (at 80 columns a wrapped line began at
    column 0, under nothing: session 11)."""
    import textwrap

    if not width:
        return [f"  {line}"]
    wrapped = textwrap.wrap(line, width - 1, initial_indent="  ", subsequent_indent="    ") or [""]
    if len(wrapped) > rows:
        last = " ".join([wrapped[rows - 1], *(row.strip() for row in wrapped[rows:])])
        wrapped = [*wrapped[: rows - 1], last[: width - 2].rstrip() + "…"]
    return wrapped


def run_facts(project: Project, summary: RunSummary, width: int = 0) -> Text:
    """Two or three lines on one run. A failed or interrupted run: the first step that failed, its message
    and where (`steps.py:29 in train`, `exit code 6`), and how many more failed; otherwise the run's metrics
    (from the run index) or, without metrics, its parameters. MagnusError when the log cannot be read.
    `width`: the panel's, to which a long first line of a message is cut (fit_first; 0: not cut)."""
    from magnus_core.index import RunQuery

    text = Text()
    if summary.state in ("FAIL", "INTERRUPTED"):
        log = project.get_run(summary.run_id)
        failed = failed_leaves(log)
        if failed:
            step = failed[0]
            text.append(f"{glyph('FAIL')} {step.internal_name}", style=f"bold {style('FAIL')}")
            message = harmless(failure_message(step))  # (no escape sequence acts: trial 14, F13)
            # a message of several lines: its first, marked (the run's Output tab shows them all): the
            # panel holds three lines, out of which the others pushed the place (trial 11, faults 4, 12)
            first, *further = message.split("\n")
            suffix = ""
            if further:
                lines = f"{len(further)} line{'s' if len(further) > 1 else ''}"
                suffix = f" (+{lines}: o shows them)"
            attempt = step.attempts[-1] if step.attempts else None
            where = where_failed(attempt, message)
            # the root of `raise X from e`, one row, as the summary says it under the error (session 9)
            error = attempt.error if attempt is not None else None
            cause = harmless(error.caused_by()) if error is not None else ""
            more = len(failed) - 1
            others = f"and {more} more failed step{'s' if more > 1 else ''}" if more else ""
            if cause and where and others:  # (three rows: the others said on the place's row)
                where, others = f"{where}; {others}", ""
            if width:  # a long first line is cut to leave the place in view (tui9 item 4, at 80x24)
                rows = PANEL_ROWS - sum(1 for line in (where, cause, others) if line)
                first = fit_first(
                    f"{glyph('FAIL')} {step.internal_name}: ", first, suffix, width, max(rows, 1)
                )
                cause = cut_keeping_place(cause, width - 3) if cause else ""  # (2 of indent, a cell spare)
            text.append(f": {first}")
            text.append(suffix, style="dim")
            for line in (f"at {where}" if where else "", cause, others):
                if line:
                    text.append(f"\n  {line}", style="dim")
            return text
        text.append(f"{glyph(summary.state)} {summary.state.lower()}", style=style(summary.state))
        # as the summary and magnus show count them (progress.Progress.ran: an interrupted step ran, 9d03a63)
        text.append(f": {summary.steps_done} of {summary.steps} steps ran", style="dim")
        # the step Ctrl-C or SIGTERM stopped, where its python code was (logs.interrupted_at, as `magnus
        # show` says it since de8914d): a hung step is what a stopped run is looked at for
        # or the step a kill -9 (the OOM killer) cut short, as `magnus show` says it (summary.cut_short_lines)
        from magnus_core.logs import cut_short
        from magnus_core.summary import cut_short_lines

        line = ""
        for step in log.walk():
            said = interrupted_at(step.attempts[-1]) if step.attempts else ""
            if said:
                line = f"{step.internal_name}: {said}"
                break
        else:  # the step a fatal signal hit, as the run's screen opens on it (4009ef8), not a branch it
            # took down that comes first in the log (`fan.slow.s: attempt 0 was cut short: ...`: session 11)
            cuts = cut_short(log)[0]
            crashed = [cut for cut in cuts if cut.crashed]
            cut = [crashed[0].line()] if crashed else cut_short_lines(log)
            line = cut[0] if cut else ""
            taken = len(cuts) - 1 if crashed else 0  # the branches it took down, counted on the first row
            if taken:  # (as `and 2 more failed steps`; trial 16 F2 asked for the count with the crash)
                text.append(
                    f"; {taken} other step{'s' if taken > 1 else ''} cut short by the crash", style="dim"
                )
        if line:
            text.append("\n" + "\n".join(_indented(line, width, PANEL_ROWS - 1)), style="dim")
        return text
    if summary.state == "PER-STEP":  # no process runs it whole (runs.list_state): say how it goes on
        from magnus_core.runs import per_step_hint
        from magnus_core.summary import per_step_state

        log = project.get_run(summary.run_id)
        last = per_step_state(log).partition("; ")[2]
        hint = per_step_hint(log)
        text.append(f"{glyph(summary.state)} {hint}", style=style(summary.state))
        if last:
            text.append(f"\n  {last}", style="dim")
        return text
    found = project.index().query(RunQuery(run_ids=[summary.run_id], params=["*"], metrics=["*"])).runs
    run = found[0] if found else None
    if run is not None and run.metrics:
        text.append("metrics  ", style="bold")
        text.append(_values(run.metrics))
    elif run is not None and run.params:
        text.append("no metrics · parameters  ", style="dim")
        text.append(_values(run.params))
    else:
        text.append("no metrics or parameters recorded", style="dim")
    return text
