"""What steps printed, in the run screen: the selected step's output (every attempt, the running one as it
grows), or the whole run's, each line prefixed by its step; follows new lines, wraps, searches.

    text = output_text(run_log, "train", runs=store.get_run)     # OutputText: lines and a note
    view.show(text)                                              # OutputView: only what is new is drawn

Output is read through magnus_core.logs (the run's catalog, as `magnus logs` reads it), never from a path
of its own. Keys (while the view has focus): `/` search, `n`/`N` next and previous match, `F` follow on
or off, `w` wrap, `a` the whole run or the selected step.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Input, RichLog, Static

from magnus_core.logs import CAUSE_WORDS, cut_keeping_place, logs_command
from magnus_core.models.run_log import RunLog
from magnus_tui.widgets.keys import InOrderInput, KeysInOrder
from magnus_tui.widgets.lists import SCROLL_BINDINGS

if TYPE_CHECKING:
    from magnus_core.fatal import Crash
    from magnus_core.logs import CutShort

MAX_BYTES = 2 << 20  # per attempt: beyond this only the end is shown (`magnus logs` prints it all)
# lines shown at most (per attempt, and for the whole run): a RichLog line costs about 3 KB and its drawing
# is on the UI thread, so 2 MB of short lines (300,000 from `seq`) took a minute and 1 GB before it showed
MARKER = "[magnus: "  # how the lines magnus writes into a step's output begin (capture.py: the cap's marker)
MAX_LINES = 10_000
# characters of one line shown at most: the rest is said by a marker (a RichLog line of 10 MB took seconds
# to lay out on the UI thread; `magnus logs` prints it whole)
MAX_LINE = 10_000
# a chain's cause in the traceback the run log keeps (logs.kept_traceback, listed by the run screen under
# FRAMES_TITLE): magnus's words with the root cause's message, which wrap as the marker lines do
CAUSE_LINES = tuple(f"  {words}" for words in CAUSE_WORDS)


# the lines the whole run's output adds after an attempt, as `magnus logs RUN` says them on stderr (a crash,
# an attempt cut short, a file lost: whole_run_text's `said`)
SAID = "magnus: "


def wraps(line: str) -> bool:
    """Whether `line` is magnus's own (the output cap's marker, a cause's line, what the whole run's output
    says of an attempt cut short: at 80 and 120 columns `magnus: fan.slow.s (attempt 0) was cut short:
    the run's process crashed in fan.cr` ended at the edge, session 11), wrapped at any width."""
    return MARKER in line or line.startswith(CAUSE_LINES) or line.startswith(SAID)


@dataclass
class OutputText:
    """Lines to show, and a note when there is nothing (why) or only the end of a long output."""

    lines: list[str] = field(default_factory=list)
    note: str = ""
    left_out: bool = False  # earlier lines were left out (more than MAX_LINES, or MAX_BYTES)
    command: str = ""  # the `magnus logs` command that prints every line
    # the attempt shown was cut short (its run's process ended while it ran: kill -9, the OOM killer): what
    # the title says in place of `complete (the run has ended)` (trial 12 fault 9), e.g. "attempt 0"
    cut: str = ""
    # where the failure shown is located: (the line its traceback or crash dump begins, the line of the
    # frame it is located at), failure_at; the view of an ended run opens there when the end does not show
    # that frame (session 12: a crash's user frame was a page up at 80x24)
    at: tuple[int, int] | None = None


# a frame as python's traceback writes it (`  File "steps.py", line 13, in train`) and as faulthandler does
# (`  File "/home/me/proj/steps.py", line 12 in segv`, the path whole)
FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+),? in (?P<function>.+?)\s*$')
PLACE = re.compile(r"^(?P<file>.+):(?P<line>\d+) in (?P<function>.+)$")  # Frame.where: steps.py:13 in train
# the first line of what tells where a failure was: python's traceback, faulthandler's dump, the frames the
# run log keeps when no output holds the traceback (the run screen's FRAMES_TITLE)
BLOCKS = ("Traceback (most recent call last):", "Fatal Python error:", "[magnus: the traceback as the run")


def failure_at(lines: list[str], where: str) -> tuple[int, int] | None:
    """Where in `lines` the failure located at `where` (`steps.py:13 in train`, Frame.where; a crash's
    `mlproj/steps.py:12 in segv`) is: (the line the last traceback or crash dump begins, BLOCKS; the line of
    its frame at `where`: the innermost one, the last of a traceback and the first of faulthandler's dump,
    which lists the most recent call first), or None when `where` is no frame or no such line is there."""
    place = PLACE.match(where)
    if place is None:
        return None
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].lstrip().startswith(BLOCKS)), None)
    if start is None:
        return None
    file, number, function = place.group("file"), place.group("line"), place.group("function")
    found = [
        i
        for i in range(start, len(lines))
        if (frame := FRAME.match(lines[i])) is not None
        and frame.group("line") == number
        and frame.group("function") == function
        and (frame.group("file") == file or frame.group("file").endswith("/" + file))
    ]
    if not found:
        return None
    return start, found[0] if lines[start].startswith("Fatal") else found[-1]


def _left_out(count: int, command: str) -> str:
    return f"{count:,} earlier line{'' if count == 1 else 's'} left out: {command} prints them all"


def _count_newlines(handle: Any, end: int) -> tuple[int, int]:
    """Newlines in the first `end` bytes of `handle` (read a MB at a time), and where the line holding
    byte `end` begins (just after the last of them; 0 when there is none)."""
    handle.seek(0)
    count, left, begins, at = 0, end, 0, 0
    while left > 0:
        chunk = handle.read(min(1 << 20, left))
        if not chunk:
            break
        found = chunk.count(b"\n")
        if found:
            count += found
            begins = at + chunk.rindex(b"\n") + 1
        at += len(chunk)
        left -= len(chunk)
    return count, begins


def _line_cut(more: int, command: str) -> str:
    """The line of magnus's that follows a line cut at MAX_LINE characters, saying how much is not shown."""
    return f"{MARKER}the line above goes on for {more:,} more bytes, not shown: {command} prints it]"


def _cut_long(lines: list[str], command: str) -> list[str]:
    """Each line of more than MAX_LINE characters cut there, followed by the marker line (_line_cut)."""
    out: list[str] = []
    for line in lines:
        if len(line) > MAX_LINE:
            out += [line[:MAX_LINE], _line_cut(len(line[MAX_LINE:].encode("utf-8", "replace")), command)]
        else:
            out.append(line)
    return out


def shown_lines(raw: list[str]) -> list[str]:
    """Output lines (the text between newlines) as a terminal shows them: a line holding carriage returns
    as its last frame (logs.last_frame; a trailing `\\r` of a CRLF end left out), so that a tqdm bar's
    `\\r 10%...\\r 20%...` is one line, its last state, as in `magnus logs` on a terminal and in a
    failure's tail (trial 12, fault 13: each frame was a line of its own, 532 lines for 25, since
    str.splitlines breaks at `\\r` too). Other line breaks str.splitlines knows (form feed, U+2028) still
    break, as before."""
    from magnus_core.logs import harmless, last_frame

    # a step's escape sequences and control characters (a title, a bell) never reach the terminal; colour
    # codes go too (trial 14, F13: the pane's title was set and the line read empty)
    return [harmless(part) for line in raw for part in (last_frame(line).splitlines() or [""])]


def _attempt_lines(view: Any, command: str, whole: bool = False) -> tuple[list[str], str]:
    """The lines of one attempt's output (its last MAX_BYTES, at most its last MAX_LINES), and a note when
    cut (how many earlier lines, and `command`, the `magnus logs` that prints them) or unreadable.
    `whole`: without a last line not ended yet by an attempt still running (it comes whole later)."""
    from magnus_core.catalog import CatalogError
    from magnus_core.logs import decode

    if not view.has_output:
        return [], view.problem
    longer = 0  # bytes of the one line the end read holds part of, not read (a line of more than MAX_BYTES)
    try:
        with view.open() as handle:
            handle.seek(0, 2)
            size = handle.tell()
            start = max(0, size - MAX_BYTES)
            handle.seek(start)
            data = handle.read()
            earlier = 0
            if start:
                earlier, begins = _count_newlines(handle, start)
                if b"\n" not in data[:-1]:
                    # all that was read is the end of one line (a 10 MB line: before issue 16 the tab showed
                    # nothing): its beginning is shown instead, cut, with every line before it left out; in
                    # the whole run's output, an attempt still running shows it once it has ended (`whole`)
                    ended = data.endswith(b"\n")
                    handle.seek(begins)
                    data = handle.read(MAX_LINE)
                    longer = size - begins - len(data) - ended
                    start = 0
                    if whole and view.attempt is None and not ended:
                        data, longer = b"", 0
                else:  # the first line read is part of one (or a whole one): left out, with every one before
                    earlier += 1
    except (CatalogError, OSError) as exc:
        return [], f"output cannot be read: {exc}"
    raw = decode(data).split("\n")
    if start:
        raw = raw[1:]
    if longer:
        raw = raw[:1]
    elif raw and (raw[-1] == "" or (whole and view.attempt is None)):
        raw.pop()  # after the last newline: nothing, or the running attempt's line being written
    lines = _cut_long(shown_lines(raw), command)
    if longer:
        lines.append(_line_cut(longer, command))
    if len(lines) > MAX_LINES:
        earlier += len(lines) - MAX_LINES
        lines = lines[-MAX_LINES:]
    return lines, _left_out(earlier, command) if earlier else ""


@dataclass
class WholeRun:
    """What the whole-run output has shown so far: each attempt's lines shown (by (step, attempt number)),
    the attempt whose lines come last (a new heading when another one's follow), and the lines. Each read
    appends what every attempt printed since, in the order of the attempts' starts, as `magnus logs RUN
    --follow` prints it: lines of steps that run at once interleave as they come, each change of attempt
    headed `==> step (attempt N) <==`. `copy` before changing one that is shown (reads run in a worker that
    may be cancelled: what it made is kept only once shown)."""

    shown: dict[tuple[str, int], int] = field(default_factory=dict)
    current: tuple[str, int] | None = None
    lines: list[str] = field(default_factory=list)
    left_out: int = 0  # lines dropped from the front (more than MAX_LINES in all)
    said: set[tuple[str, int]] = field(default_factory=set)  # attempts whose end lines were added (_said)

    def copy(self) -> WholeRun:
        return WholeRun(dict(self.shown), self.current, list(self.lines), self.left_out, set(self.said))


def _started(view: Any) -> datetime:
    """When an attempt began (its record, else the running attempt's start): the whole run's order."""
    from magnus_core.models.run_log import running_attempt
    from magnus_core.models.times import parse_time

    attempt = view.attempt
    at = parse_time(attempt.start_time) if attempt is not None else None
    if at is None and attempt is None:
        current = running_attempt(view.step)
        at = parse_time(current[1]) if current is not None else parse_time(view.step.start_time)
    return at or LATEST


LATEST = datetime.max.replace(tzinfo=UTC)


def _frames_after(cut: CutShort, cuts: list[CutShort], crash: Crash | None) -> bool:
    """Whether the crashing thread's frames go after attempt `cut`: the one the crash hit, or the first cut
    short when which one is not known (several begun, no branch thread recorded), as `magnus logs`."""
    return crash is not None and (cut.crashed or not any(c.crashed for c in cuts))


def cut_short_said(cut: CutShort, cuts: list[CutShort], crash: Crash | None, crash_said: bool) -> list[str]:
    """The lines `magnus logs` says after attempt `cut`, cut short in an ended run (logs.cut_short gives
    `cuts` and `crash`): when a fatal signal ended the process and `crash_said` is False, the crashing
    thread's frames as faulthandler wrote them (Crash.current) after the attempt it hit (or after the first
    cut short when which one is not known, with `magnus: the run's process crashed (...)`) and where every
    thread's frames are (`magnus: every thread's frames at the crash: .catalog/R/.magnus/fatal.log`, as
    `magnus logs RUN` and `magnus logs RUN STEP` say it: session 12, the whole run's view left it out); then
    `magnus: train (attempt 0) crashed (...) at ...` or `... was cut short: the run's process crashed in
    fan.crashy.s`, with `none of its output reached its file` when none did."""
    from magnus_core.logs import NOTHING_REACHED, harmless

    said: list[str] = []
    if not crash_said and crash is not None and _frames_after(cut, cuts, crash):
        said = [harmless(line) for line in crash.current.splitlines()]  # (a path's escapes do not act)
        if crash.file:
            said.append(f"magnus: every thread's frames at the crash: {crash.file}")
        if not cut.crashed:
            said.append(f"magnus: the run's process {crash.said()}")
    kept = "" if cut.has_output else f"; {NOTHING_REACHED}"
    said.append(f"magnus: {cut.step.internal_name} (attempt {cut.attempt}) {cut.said}{kept}")
    return said


def whole_run_text(
    run_log: RunLog, runs: Callable[[str], RunLog] | None = None, before: WholeRun | None = None
) -> tuple[OutputText, WholeRun]:
    """The whole run's output: what `before` showed and, after it, what each attempt printed since (all of
    it for a run opened now), attempt by attempt in the order they began, each change of attempt headed
    as `magnus logs` heads it (attempt_heading). Only whole lines of an attempt still running (the rest
    comes with the next read). At most the last MAX_LINES lines; the note says how many were left out.
    Once the run has ended, the lines `magnus logs RUN` says of an attempt follow it (_said): a file lost
    with the run's process, an attempt cut short (with or without output) and, when a fatal signal ended
    the process, the crashing thread's frames (trial 13 fault 5: this view said `complete (the run has
    ended)` / `no step has printed anything yet` where `magnus logs` listed them); the title says `cut
    short` then (OutputText.cut)."""
    from magnus_core.logs import (
        EMPTY,
        ENDED,
        AttemptView,
        OutputReader,
        attempt_heading,
        cut_short,
        run_now,
        step_sections,
    )

    state = before.copy() if before is not None else WholeRun()
    reader = OutputReader(run_log, runs=runs)
    run_id = run_log.run_id
    whole_command = shlex.join(["magnus", "logs", run_id])  # (quoted, as logs_command: trial 14, F10)
    notes: list[str] = []
    views = [view for section in step_sections(run_log, None) for view in reader.views(section)]
    ended = run_now(run_log) in ENDED
    cuts, crash = cut_short(run_log, reader) if ended else ([], None)
    cut_of = {(cut.step.internal_name, cut.attempt): cut for cut in cuts}
    for begun in cuts:  # cut short before any of its output reached its file: no view of its own (as logs)
        if not begun.has_output:
            views.append(AttemptView(begun.step, begun.attempt, EMPTY, "cut short", _run_id=run_id))
    views.sort(key=_started)  # (stable: attempts with the same start keep the log's order)
    crash_said = False
    for view in views:
        key = (view.step.internal_name, view.attempt_number)
        lines, note = _attempt_lines(view, logs_command(run_id, view.step.internal_name), whole=True)
        if note and view.has_output:
            notes.append(f"{view.step.internal_name}: {note}")
        new = lines[state.shown.get(key, 0) :]
        cut = cut_of.get(key)
        said: list[str] = []
        if ended and key not in state.said:
            if view.state == "missing":
                said = [f"magnus: {view.step.internal_name} (attempt {view.attempt_number}): {view.problem}"]
            elif cut is not None:
                said = cut_short_said(cut, cuts, crash, crash_said)
                crash_said = crash_said or _frames_after(cut, cuts, crash)
        if not new and not said:
            continue
        state.shown[key] = len(lines)
        if said:
            state.said.add(key)
        if key != state.current and (new or view.state != "missing"):  # (a lost file: its line alone)
            state.lines.append(attempt_heading(view))
            state.current = key
        state.lines.extend(new)
        state.lines.extend(said)
        if len(state.lines) > 2 * MAX_LINES:  # (kept bounded while attempts are added)
            state.left_out += len(state.lines) - MAX_LINES
            del state.lines[: len(state.lines) - MAX_LINES]
    if len(state.lines) > MAX_LINES:
        state.left_out += len(state.lines) - MAX_LINES
        del state.lines[: len(state.lines) - MAX_LINES]
    if state.left_out:
        notes.insert(0, f"only the last {MAX_LINES:,} lines of the run shown: {whole_command} prints all")
    out = OutputText(
        lines=list(state.lines),
        left_out=bool(state.left_out) or bool(notes),
        command=whole_command,
        note="; ".join(notes) or ("" if state.lines else "no step has printed anything yet"),
    )
    if len(cuts) == 1:
        out.cut = f"{cuts[0].step.internal_name}'s attempt {cuts[0].attempt}"
    elif cuts:
        out.cut = f"{len(cuts)} attempts"
    return out, state


def output_text(run_log: RunLog, step: str | None, runs: Callable[[str], RunLog] | None = None) -> OutputText:
    """The output of step `step` of `run_log` (every attempt, headed when there are several; a composite
    step's or a branch's: every step inside it, each headed), or of the whole run (None: whole_run_text).
    At most the last MAX_LINES lines of each attempt; the note says how many were left out. A step that
    runs and has printed nothing yet says so, as the dag says it runs (running_attempt: one truth)."""
    from magnus_core.logs import ENDED, OutputReader, cut_short, not_run, run_now, step_sections
    from magnus_core.models.run_log import running_attempt

    if step is None:
        return whole_run_text(run_log, runs)[0]
    reader = OutputReader(run_log, runs=runs)
    out = OutputText()
    notes: list[str] = []
    run_id = run_log.run_id
    out.command = logs_command(run_id, step)
    found = run_log.find_step(step)
    branch = run_log.find_branch(step) if found is None else None
    if found is None and branch is None:  # not yet, or never in an ended run (logs.not_run, as `magnus logs`)
        return OutputText(note=not_run(run_log, step) or "not started yet")
    if branch is not None:  # a branch (par.b1, each.3): the steps inside it, each headed (trial 7, 7a)
        sections = [
            inner
            for top in branch.steps.values()
            for inner in step_sections(run_log, top.internal_name)
            if inner.step_type not in ("success", "fail")
        ]
    else:
        sections = step_sections(run_log, step)
    views = [v for s in sections for v in reader.views(s)]
    # an attempt cut short as the run's process died: after its output, what `magnus logs RUN STEP` says
    # of it, the crashing thread's frames when a fatal signal hit it (cut_short_said; trial 16 F2: this tab
    # had the step's output only, `magnus logs` the `Fatal Python error` and the frames too)
    # (a kill -9's: the title and the run screen's header say it, as before)
    cuts, crash = cut_short(run_log, reader) if run_now(run_log) in ENDED else ([], None)
    cuts = cuts if crash is not None else []
    cut_of = {(cut.step.internal_name, cut.attempt): cut for cut in cuts}
    shown = {(view.step.internal_name, view.attempt_number) for view in views}
    for view in views:
        lines, note = _attempt_lines(view, logs_command(run_id, view.step.internal_name))
        if len(views) > 1 or branch is not None:
            origin = f", reused from {view.reused_from}" if view.reused_from else ""
            out.lines.append(f"── {view.step.internal_name} attempt {view.attempt_number}{origin} ──")
        out.lines.extend(lines)
        cut = cut_of.get((view.step.internal_name, view.attempt_number))
        if cut is not None:
            out.lines.extend(cut_short_said(cut, cuts, crash, False))
        if note:
            notes.append(note)
            out.left_out = out.left_out or view.has_output
    names = {section.internal_name for section in sections}
    for cut in cuts:  # the crash hit it before any of its output reached its file: no view, its frames said
        key = (cut.step.internal_name, cut.attempt)
        if cut.step.internal_name in names and key not in shown and _frames_after(cut, cuts, crash):
            out.lines.extend(cut_short_said(cut, cuts, crash, False))
    status = found.status if found is not None else branch.status if branch is not None else ""
    if not views and branch is not None:
        notes.append(
            "a branch: no step inside it has run yet"
            if status in ("PROCESSING", "CREATED")
            else "a branch: no step inside it ran"
        )
    elif not views and found is not None and running_attempt(found) is not None:
        notes.append(f"running (attempt {running_attempt(found)[0]}): nothing printed yet")  # type: ignore[index]
    elif not views:
        notes.append("not started yet" if status in ("PROCESSING", "CREATED") else "no attempt recorded")
    if len(out.lines) > MAX_LINES:  # several attempts
        del out.lines[: len(out.lines) - MAX_LINES]
        out.left_out = True
        notes.insert(0, f"only the last {MAX_LINES:,} lines shown")
    if crash is not None and crash.where:  # the view opens at the user's frame of the crash (OutputView.show)
        out.at = failure_at(out.lines, crash.where)
    out.note = "; ".join(dict.fromkeys(notes))
    return out


HINT = "  i: the step's detail"
FAILURE_ROWS = 3  # the failure header's rows at most (#output-failure's max-height)
CAUSES = CAUSE_WORDS  # a chain's root under the error (AttemptError.caused_by)


def fit_failure(reason: str, mark: str, place: str, width: int) -> tuple[list[str], bool]:
    """The failure header's rows, at most FAILURE_ROWS of `width` cells, and whether the `i` hint fits
    after the last: `mark` and the reason's first line, then `, at PLACE`, wrapped (the first line cut
    with `…` so that the place stays in view: trial 11 at 80x24, a 250-character first line pushed it
    out, as a message of several lines did), then the reason's further lines, one row each, cut; those
    that do not fit are counted (`(+2 more lines: i shows them)`); the root of a chain of exceptions
    (`caused by ...`, indented, cut before its own `, at` place: logs.cut_keeping_place; session 9: the
    header said the outer exception only) and the last two `stderr:` lines are kept (earlier ones counted
    in the first's place). With no `width` (not laid out yet) the lines as they are, the place after the
    first."""
    import textwrap

    first, *rest = reason.split("\n")
    tail = f", at {place}" if place else ""
    rest = [f"  {line}" if line.startswith(CAUSES) else line for line in rest]
    if not width:
        return [f"{mark} {first}{tail}", *rest], True
    pinned: list[str] = []  # a last `stderr:` line and the cause above it are kept, a row each
    while rest and len(pinned) < 2 and rest[-1].startswith(("stderr: ", *(f"  {c}" for c in CAUSES))):
        pinned.insert(0, rest.pop())
    budget = max(1, FAILURE_ROWS - len(pinned) - (1 if rest else 0))

    def wrapped(cut: str) -> list[str]:
        return textwrap.wrap(f"{mark} {cut}{tail}", width, subsequent_indent="  ") or [f"{mark}"]

    rows = wrapped(first)
    if len(rows) > budget:
        low, high = 0, len(first)  # the longest cut of the first line that fits its rows
        while low < high:
            middle = (low + high + 1) // 2
            if len(wrapped(first[:middle].rstrip() + "…")) <= budget:
                low = middle
            else:
                high = middle - 1
        rows = wrapped(first[:low].rstrip() + "…")[:budget]
    room = FAILURE_ROWS - len(rows) - len(pinned)
    if len(rest) > room:
        more = len(rest) - (room - 1)
        rest = [*rest[: room - 1], f"    (+{more} more lines: i shows them)"] if room > 0 else []
        if room <= 0 and pinned and pinned[0].startswith("stderr: "):  # (say what is left out: counted)
            pinned[0] = f"    (+{more} more lines: i shows them)"
    rows += [_cut(line, width) for line in rest] + [cut_keeping_place(line, width) for line in pinned]
    if len(rows[-1]) + len(HINT) <= width:
        return rows, True
    if len(rows) < FAILURE_ROWS:
        return [*rows, ""], True  # (the hint on a row of its own, its two spaces as an indent)
    return rows, False


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(1, width - 1)] + "…"


class OutputLog(KeysInOrder, RichLog):
    """The lines: their keys act in the order typed (`/line 5` typed at once searches `line 5`: the
    letters went to the lines' own keys before `/` had opened the box; trial 4); j/k, g/G as ↑/↓,
    Home/End. As `tail -f` in less (+F): scrolling up (a key or the wheel) stops following, End/G
    follows again (trial 8)."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_width=1, **kwargs)  # (not RichLog's 78: wider than a 66-column tab)
        self._width_seen = 0  # the content width at the last resize (0: none yet)
        # the strip (row of the log) where each output line written starts, in order: a line that wraps
        # takes several rows (OutputView finds a match's row from it: session 11, ui10's left item)
        self.starts: list[int] = []

    def clear(self) -> OutputLog:
        super().clear()
        self.starts.clear()
        return self

    def rows_of(self, line: int) -> range:
        """The rows (strips) output line `line` was drawn as; empty when not drawn (yet)."""
        if not 0 <= line < len(self.starts):
            return range(0)
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.lines)
        return range(self.starts[line], end)

    def line_at(self, row: int) -> int:
        """The output line drawn at row `row` (the last one below the end; -1 before any)."""
        import bisect

        return bisect.bisect_right(self.starts, row) - 1

    def write(
        self,
        content: Any,
        width: int | None = None,
        expand: bool = False,
        shrink: bool = True,
        scroll_end: bool | None = None,
        animate: bool = False,
    ) -> OutputLog:
        """RichLog.write, but what wraps (every line with `w`, magnus's own marker lines, written as a
        Group) is wrapped at the log's content width, known or, for a write before the log had a size, as
        RichLog replays it at its first resize. RichLog wraps at its min_width (78) or at what the app's
        console measures, which is at most its 80 columns whatever the terminal's: lines were wrapped at
        ~78 and shown in a 66-column tab, what passed its edge never seen, or at 78 in a 110-column one
        (trial 14, F4). A line that does not wrap is written at its own width (←/→ scroll to its end)."""
        if not self._size_known:  # (deferred: RichLog writes it through this method once it has a size)
            super().write(content, width, expand, shrink, scroll_end, animate)
            return self
        if width is None and (self.wrap or isinstance(content, Group)):
            width = self.scrollable_content_region.width or None
        if isinstance(content, str) and self.wrap and "\n" in content:
            # each line rendered alone, so that where each starts is known (starts): wrapped, it takes
            # as many rows as it needs
            parts = content.split("\n")
            for index, part in enumerate(parts):
                self.starts.append(len(self.lines))
                last = index == len(parts) - 1
                super().write(part, width, expand, shrink, scroll_end if last else False, animate)
            return self
        start = len(self.lines)
        super().write(content, width, expand, shrink, scroll_end, animate)
        if isinstance(content, str) and not self.wrap:  # (one row per line: none wraps)
            self.starts.extend(range(start, start + content.count("\n") + 1))
        else:  # one line (a Group: magnus's own line, wrapped; or a line wrapped with `w`)
            self.starts.append(start)
        return self

    def on_resize(self, event: events.Resize) -> None:
        """A new width: lines wrapped at the old one are wrapped again (OutputView.rewrap). (RichLog's own
        handler runs after this one: on the first resize it draws what was written before it.)"""
        width = self.scrollable_content_region.width
        view = self.parent
        if width and width != self._width_seen:
            seen, self._width_seen = self._width_seen, width
            if seen and self._size_known and isinstance(view, OutputView):
                view.rewrap()
        if isinstance(view, OutputView) and view.follow:
            # a view following the end keeps it in view when it gets shorter (the failure's lines above it
            # drawn on two rows after the view was placed: the error's line, the last, fell below it)
            self.call_after_refresh(self.scroll_end, animate=False)

    def watch_show_horizontal_scrollbar(self, shown: bool) -> None:
        """A horizontal scrollbar that appears (a line wider than the view, not wrapped) takes the bottom row:
        a view following the end scrolls to it again once laid out, or the last line (a failure's error
        line) stays under the scrollbar (CI: the view placed at the end before the scrollbar came)."""
        view = self.parent
        if shown and isinstance(view, OutputView) and view.follow:
            self.call_after_refresh(self.scroll_end, animate=False)

    def _follow(self, on: bool) -> None:
        """Stop (or go on) following; a view with nothing to scroll keeps following."""
        view = self.parent
        if isinstance(view, OutputView) and view.follow != on and (on or self.allow_vertical_scroll):
            view.set_follow(on)

    def action_scroll_up(self) -> None:
        self._follow(False)
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._follow(False)
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._follow(False)
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self._follow(True)
        super().action_scroll_end()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not (event.ctrl or event.shift):  # (sideways with those)
            self._follow(False)
        super()._on_mouse_scroll_up(event)


class SearchBox(InOrderInput):
    """The search box: escape closes it, the focus back in the lines (before the view's own escape, which
    gives the focus to the dag: keys act in order here, so bindings run from this box up)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close the search", show=False)]

    def action_close(self) -> None:
        view = self.parent
        if isinstance(view, OutputView):
            view.remove_class("searching")
            self.screen.set_focus(view.log_widget)


class OutputView(Vertical, can_focus=False):
    """The output pane: a title line, the lines (RichLog), and a search box shown by `/`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next match", show=False),
        Binding("N", "next_match(-1)", "Previous match", show=False),
        Binding("F", "toggle_follow", "Follow"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("a", "toggle_whole", "Whole run"),
        Binding("escape", "leave", "Back to the dag", show=False),  # the title says it; F1 lists it
    ]
    DEFAULT_CSS = """
    OutputView { height: 1fr; }
    OutputView #output-title { height: 1; padding: 0 1; background: $boost; }
    OutputView #output-note { height: auto; max-height: 3; padding: 0 1; background: $boost; display: none; }
    OutputView.noted #output-note { display: block; }
    OutputView #output-failure { height: auto; max-height: 3; padding: 0 1; color: $error; display: none; }
    OutputView.failed #output-failure { display: block; }
    OutputView.stopped #output-failure { color: $warning; }
    OutputView RichLog { height: 1fr; }
    OutputView #output-search { display: none; }
    OutputView.searching #output-search { display: block; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: list[str] = []
        self.note = ""
        self.follow = True
        self.live = True  # what is shown can still grow (its run is live): only then is it "following"
        self.wrap = False
        self.whole_run = False
        self.source = ""  # what is shown: a step's internal name, or "" for the whole run
        self.query_text = ""
        self.match = -1  # the line of the current match
        self.reading_now = False  # a new source's output is being read (the title says so)
        self.left_out = False  # earlier lines were left out (OutputText.left_out): a search covers the rest
        self.command = ""  # the `magnus logs` command that prints every line
        self.cut = ""  # the attempt shown was cut short (OutputText.cut)
        self.whole: WholeRun | None = None  # the whole run's lines shown so far (whole_run_text goes on)
        self._failure: tuple[str, str, str] = ("", "✗", "")  # failed()'s reason, mark and place
        self._last_at: int | None = None  # the log's strip where the last line written starts (_write)
        # (source, first line, line) where the view is to open once its lines are drawn (show, _open_at)
        self._opening: tuple[str, int, int] | None = None
        self._opened_at = False  # follow was turned off to show a failure's place (_open_at)

    def compose(self) -> ComposeResult:
        yield Static("", id="output-title")
        # why there is nothing, or which lines were left out: a line of its own, wrapped (in the title it
        # was cut at 80 and at 120 columns: trial 4)
        yield Static("", id="output-note")
        yield Static("", id="output-failure")  # why the step shown failed (its output may not say it)
        yield OutputLog(id="output-log", wrap=False, markup=False, highlight=False, auto_scroll=True)
        yield SearchBox(
            placeholder="search the output (Enter: next match, escape: close)", id="output-search"
        )

    @property
    def log_widget(self) -> OutputLog:
        return self.query_one("#output-log", OutputLog)

    def reading(self, source: str) -> None:
        """Another step (or the whole run) is being read: its name and "reading…" at once, and not the
        previous one's lines meanwhile."""
        self.log_widget.clear()
        self._last_at = None
        self.whole = None
        self.source, self.lines, self.note = source, [], ""
        self.left_out, self.command = False, ""
        self._opening = None
        if self._opened_at:  # (not following only to show the failure: the next one's end is shown)
            self._opened_at = False
            self.follow = self.log_widget.auto_scroll = True
        self.reading_now = True
        self.failed("")
        self._title()

    def failed(self, reason: str, mark: str = "✗", place: str = "") -> None:
        """Say under the title why the step shown failed ("" for none): a step that called sys.exit, or a
        shell step's exit code, prints nothing that says so,
        and a failed run opens on its output (trial 4). `mark` ■: it was interrupted, not failed (in the
        interrupted colour; `interrupted at steps.py:12 in train (SIGINT: ...)`, logs.interrupted_at).
        `place`: where it was raised, said after the reason's first line (fit_failure keeps it in view)."""
        self.set_class(bool(reason), "failed")
        self.set_class(bool(reason) and mark == "■", "stopped")
        self._failure = (reason, mark, place)
        self._draw_failure()

    def _draw_failure(self) -> None:
        reason, mark, place = self._failure
        box = self.query_one("#output-failure", Static)
        if not reason:
            box.update("")
            return
        width = box.content_region.width or (self.size.width - 2 if self.size.width > 2 else 0)
        rows, hint = fit_failure(reason, mark, place, width)
        text = Text("\n".join(rows), no_wrap=bool(width), overflow="ellipsis")
        if hint:
            text.append(HINT, style="dim")
        box.update(text)

    def show(
        self,
        source: str,
        text: OutputText,
        live: bool = True,
        failure: str = "",
        mark: str = "✗",
        place: str = "",
    ) -> None:
        """Show `text`, the output of `source` (a step, or "" for the whole run); when it only grew, only the
        new lines are written (a live step's output appends, the scroll position is kept). `live`: the run
        is still going, so the text may grow (the title says following / paused only then). `failure`: why
        the step failed, shown under the title (`mark` before it: failed.)"""
        if live != self.live:
            self.live = live
            self.refresh_bindings()  # F follow: only while live
        self.failed(failure, mark, place)
        same = source == self.source and text.lines[: len(self.lines)] == self.lines
        new = text.lines[len(self.lines) :] if same else text.lines
        if not same and self._last_line_changed(source, text.lines):
            # a running step's last line grew or took its next `\r` frame (a progress bar): that line
            # is written again, not every line (shown_lines)
            self._drop_last_line()
            new = text.lines[len(self.lines) - 1 :]
        elif not same:
            self.log_widget.clear()
            self._last_at = None
        self.source, self.lines, self.note = source, list(text.lines), text.note
        self.cut = text.cut
        self.left_out, self.command = text.left_out, text.command
        fresh = not same or self.reading_now  # (another source's lines, or the first read of this one)
        self.reading_now = False
        if fresh:
            self._opening = None
        if fresh and not live and text.at is not None:
            # the failure's place when the end does not show it (_open_at): written without scrolling to
            # the end (those scrolls come after any other, once the log is refreshed)
            self._opening = (source, *text.at)
            self.follow, self._opened_at = False, True
        self.log_widget.auto_scroll = self.follow
        if new:
            self._write(new)
        self._title()
        if fresh and self._opening is not None:
            self._open_at(tries=60)

    def _open_at(self, tries: int) -> None:
        """Open the lines of an ended run's failed (or crashed, or stopped) step where the failure is
        located (OutputText.at) when the end does not show its frame: from the line before its traceback
        or crash dump (`Fatal Python error: ...`) when the frame then fits on screen, else with the frame
        third from the top; the rest a scroll away (End/G). Session 12: at 80x24 a segfault's Output tab
        opened at its end, the last of faulthandler's 25 frames of magnus and click, the user's frame a page
        up. Tried again (`tries` times, 50 ms apart) while the lines are not drawn yet: RichLog draws what
        is written before it knows its size only once it has one (the tab still hidden)."""
        opening = self._opening
        if opening is None or opening[0] != self.source:
            return
        _, start, at = opening
        log = self.log_widget
        rows, height = log.rows_of(at), log.scrollable_content_region.height
        if (not rows or not height or log._deferred_renders) and tries > 0:
            self.set_timer(0.05, lambda: self._open_at(tries - 1))
            return
        self._opening = None
        if not rows or rows.start >= len(log.lines) - height:
            # at the end, in view: the end it is, the error's line under it, following as before
            self._opened_at = False
            self.set_follow(True)
            return
        first = log.rows_of(max(0, start - 1)).start  # (the step's last line before it: what it did)
        if rows.stop - first > height:
            first = log.rows_of(start).start
        top = first if rows.stop - first <= height else max(0, rows.start - 2)
        log.scroll_to(x=0, y=top, animate=False)
        self._title()

    def _last_line_changed(self, source: str, lines: list[str]) -> bool:
        """Whether `lines` are the lines shown but for the last one, changed (and maybe more after it), and
        the strips the last one was drawn as are known (_write)."""
        count = len(self.lines)
        return (
            self._last_start() is not None
            and source == self.source
            and count > 0
            and len(lines) >= count
            and lines[: count - 1] == self.lines[: count - 1]
        )

    def _last_start(self) -> int | None:
        """The log's strip where the last line written starts: as _write kept it, else (its write was
        deferred until the log knew its size) the last strip when lines are not wrapped and it is not
        magnus's marker (which wraps): then each line is one strip. None when not known."""
        log = self.log_widget
        if self._last_at is not None:
            return self._last_at
        if self.wrap or not self.lines or wraps(self.lines[-1]) or log._deferred_renders or not log.lines:
            return None
        return len(log.lines) - 1

    def _drop_last_line(self) -> None:
        """Take the strips of the last line written (from _last_at on) out of the log, to write it again.
        RichLog (Textual 8.2.8) can only append: its `lines`, line cache and virtual size are set as its
        own clear() sets them."""
        log = self.log_widget
        start = self._last_start()
        assert start is not None  # (only when known: _last_line_changed)
        del log.lines[start:]
        while log.starts and log.starts[-1] >= start:  # (its rows: OutputLog.starts)
            log.starts.pop()
        log._line_cache.clear()
        log.virtual_size = Size(log._widest_line_width, len(log.lines))
        log.refresh()
        self._last_at = None

    def _write(self, lines: list[str]) -> None:
        """Write `lines` to the log; magnus's own marker lines (`[magnus: output cut here at 100 KB ...]`)
        wrap at the pane's width even when the output does not (`w` off), so they are read whole: at 80
        columns the cap's marker was cut at the edge (trial 7, 7c), and so do a chain's cause lines (wraps).
        Other lines as the wrap setting says.
        The last line is written on its own, where it starts kept (_last_at), so that it can be written
        again when it changes (a progress bar's frames) without the others."""
        log, start = self.log_widget, 0
        self._last_at = None
        for index, line in enumerate(lines):
            if wraps(line) and not self.wrap:
                if index > start:
                    log.write("\n".join(lines[start:index]), scroll_end=self.follow)
                log.write(Group(Text(line, style="italic")), scroll_end=self.follow)  # (not a Text: wraps)
                start = index + 1
        if start < len(lines):
            if len(lines) - 1 > start:
                log.write("\n".join(lines[start:-1]), scroll_end=self.follow)
            at = len(log.lines)
            log.write(lines[-1], scroll_end=self.follow)
            # (a write before the log knows its size is deferred: not drawn yet, so not known where)
            self._last_at = at if len(log.lines) > at else None

    def _title(self) -> None:
        """One line at any width (trial 6: `/zzz: 0 matches` wrapped onto a second line at 80 columns): the
        step, its line count, the state and the search (`/loss: 3/11` while on the third of 11 matching
        lines); when that is too wide the hints go short or go (`complete`, no `esc: back to the dag`),
        and a long search text is cut last."""
        from rich.cells import cell_len

        name = "whole run" if self.whole_run else (self.source or "no step")
        parts: list[tuple[str, str, str | None]] = [(name, name, "bold")]  # (long, short, style); "" drops
        if self.reading_now:
            parts.append(("reading…", "reading…", "yellow"))
        else:
            count = len(self.lines)
            lines = f"{count:,} line{'s' if count != 1 else ''}"
            parts.append((lines, lines, "dim"))
        if self.log_widget.has_focus:
            parts.append(("esc: back to the dag", "", "dim"))
        if self.live:
            state = "following" if self.follow else "paused"
            parts.append((state, state, "green" if self.follow else "yellow"))
        elif self.cut:  # not complete: the process ended under it, as the Step tab's `■ cut short` says
            parts.append((f"cut short ({self.cut} did not finish)", "cut short", "yellow"))
        else:
            parts.append(("complete (the run has ended)", "complete", "dim"))
        if self.wrap:
            parts.append(("wrap", "wrap", "dim"))
        search = ""
        if self.query_text:
            wanted = self.query_text.lower()
            found = [i for i, line in enumerate(self.lines) if wanted in line.lower()]
            if self.match in found and len(found) > 0:
                where = f"{found.index(self.match) + 1}/{len(found)}"  # which match is shown, as less does
            else:
                where = f"{len(found)} match{'es' if len(found) != 1 else ''}"
            search = f": {where}"
        width = self.query_one("#output-title", Static).content_region.width

        def length(short: bool) -> int:
            kept = [p[1] if short else p[0] for p in parts]
            kept = [k for k in kept if k]
            if search:
                kept.append(f"/{self.query_text}{search}")
            return sum(cell_len(k) + 2 for k in kept) - 2

        short = bool(width) and length(False) > width
        text = Text(no_wrap=True, overflow="ellipsis")
        for long_text, short_text, part_style in parts:
            part = short_text if short else long_text
            if part:
                text.append(("  " if text else "") + part, style=part_style)
        if search:
            query = self.query_text
            room = width - cell_len(text.plain) - 2 - 1 - cell_len(search) if width else len(query)
            if cell_len(query) > room:  # cut the search text, never what it found
                query = query[: max(1, room - 1)] + "…"
            text.append(f"  /{query}{search}", style="cyan")
        self.query_one("#output-title", Static).update(text)
        self.set_class(bool(self.note), "noted")
        self.query_one("#output-note", Static).update(Text(self.note, style="dim italic"))

    def on_resize(self) -> None:
        self._title()
        self._draw_failure()  # fitted to the width (fit_failure)

    def _redraw(self) -> None:
        """Draw the lines again (wrapped or not, at the log's width), keeping the place when not following:
        the match in view if it was, else the line at the top (its rows move when lines wrap anew)."""
        log = self.log_widget
        anchor = self.match if self._match_in_view() else None
        top = log.line_at(round(log.scroll_y))
        log.clear()
        self._last_at = None
        log.wrap = self.wrap
        if self.lines:
            self._write(self.lines)
        self._title()
        if self.follow:
            return
        if anchor is not None:
            log.call_after_refresh(self._show_match)
        elif top > 0:
            log.call_after_refresh(lambda: log.scroll_to(x=0, y=log.rows_of(top).start, animate=False))

    def rewrap(self) -> None:
        """The log's width changed (the terminal, or the panes): lines drawn wrapped (all with `w`, else
        magnus's own marker lines) are drawn again at the new width, so that none is wider than the log
        (trial 14, F4: drawn at 80 columns and shown in 66, the rest of each row was out of view); the
        view stays at the end when following, else on the match shown or the line at the top (_redraw)."""
        if not self.lines or not (self.wrap or any(wraps(line) for line in self.lines)):
            return  # (each line one row: nothing to wrap again)
        self._redraw()

    # -- keys -----------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`F` follow only while the run is live (what is shown can grow): the footer shows it then."""
        return self.live if action == "toggle_follow" else True

    def action_toggle_follow(self) -> None:
        self.set_follow(not self.follow)

    def set_follow(self, on: bool) -> None:
        """Follow new lines (the view kept at the end as they come) or not (the view stays where it is)."""
        self.follow = on
        self._opening, self._opened_at = None, False  # (the user chose where to be)
        self.log_widget.auto_scroll = on
        if on:
            self.log_widget.scroll_end(animate=False)
        self._title()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._redraw()

    def action_toggle_whole(self) -> None:
        self.whole_run = not self.whole_run
        self.whole = None
        self.post_message(self.SourceChanged())

    def action_search(self) -> None:
        self.add_class("searching")
        box = self.query_one("#output-search", Input)
        box.value = self.query_text
        self.screen.set_focus(box)  # now: the keys typed after `/` and queued already go there

    def action_next_match(self, step: int) -> None:
        """`n` (step 1) / `N` (-1): the next or previous line holding the search text, round the end,
        brought into view (_show_match). From the match shown; when it is not in view (`g`/`G`, Home/End,
        a scroll since), from what is: `n` finds the first match from the top row shown, `N` the last up to
        the bottom one, as less does (before, they went on from a match far off screen)."""
        if not self.query_text or not self.lines:
            return
        wanted = self.query_text.lower()
        count = len(self.lines)
        start = self.match
        log = self.log_widget
        if start >= 0 and not self._match_in_view() and log.starts:
            top = round(log.scroll_y)
            bottom = top + log.scrollable_content_region.height - 1
            shown = log.line_at(bottom) if step < 0 else log.line_at(top)
            # (a line cut by the top edge counts as shown: its next match is further on)
            start = shown + 1 if step < 0 else shown - 1 if log.rows_of(shown).start >= top else shown
        for offset in range(1, count + 1):
            line = (start + step * offset) % count
            if wanted in self.lines[line].lower():
                self.match = line
                self.follow = False  # a match to look at: stop following
                log.auto_scroll = False
                self._show_match()
                self._title()
                return
        self.screen.notify(self._not_found(), severity="warning")  # it goes with the screen (base.notify)

    def _match_row(self) -> tuple[int, int] | None:
        """The log's row and column where the current match begins (a wrapped line: the row of its rows
        that holds it, found by counting the characters that are not spaces, which wrapping never drops;
        a line one row: its column), or None when it is not drawn."""
        from rich.cells import cell_len

        log = self.log_widget
        rows = log.rows_of(self.match)
        if not rows or not self.query_text:
            return None
        line = self.lines[self.match]
        at = max(0, line.lower().find(self.query_text.lower()))
        if len(rows) == 1:
            return rows.start, cell_len(line[:at].expandtabs())
        before = sum(not c.isspace() for c in line[:at])  # the match's first character, counted so
        seen = 0
        for row in rows:
            seen += sum(not c.isspace() for c in log.lines[row].text)
            if seen > before:
                return row, 0
        return rows[-1], 0

    def _match_in_view(self) -> bool:
        """Whether the current match's row is among those shown."""
        if self.match < 0:
            return False
        where = self._match_row()
        log = self.log_widget
        top = round(log.scroll_y)
        return where is not None and top <= where[0] < top + log.scrollable_content_region.height

    def _show_match(self) -> None:
        """Scroll the current match into view: its row third from the top (two rows of what comes before),
        and sideways to it when its line is one row wider than the log (to the start when it fits)."""
        where = self._match_row()
        if where is None:
            return
        row, column = where
        log = self.log_widget
        width = log.scrollable_content_region.width
        end = column + len(self.query_text)
        x = 0 if end <= width else max(0, column - width // 3)
        log.scroll_to(x=x, y=max(0, row - 2), animate=False, immediate=True)

    def _not_found(self) -> str:
        """What a search that found nothing says: with earlier lines left out, that it looked only at the
        lines shown, and the command that searches them all (trial 4: "not in the output" for a line that
        was, among the 290,000 left out)."""
        if not self.left_out:
            return f"'{self.query_text}' is not in the output"
        count = len(self.lines)  # (trial 14, F10: "the last 1 lines")
        lines = "line" if count == 1 else f"{count:,} lines"
        return (
            f"'{self.query_text}' is not in the last {lines} shown (the earlier ones were "
            f"left out); to search them all: {self.command} | grep -n -i -F {shlex.quote(self.query_text)}"
        )

    @on(Input.Submitted, "#output-search")
    def _searched(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.match = -1
        self.remove_class("searching")
        self.screen.set_focus(self.log_widget)  # now: n typed right after Enter is the lines' key
        self.action_next_match(1)
        self._title()

    def action_leave(self) -> None:
        """escape in the lines: the focus back to the dag (↑/↓ move in it again)."""
        self.post_message(self.Left())

    def on_descendant_focus(self) -> None:
        self._title()

    def on_descendant_blur(self) -> None:
        self._title()

    class Left(Message):
        """escape in the output: the screen gives the focus back to the dag."""

    class SourceChanged(Message):
        """The user switched between the selected step and the whole run: the screen reads the output."""
