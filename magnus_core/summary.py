"""The summary of a run that `magnus execute` prints at its end (and `magnus show` prints for any run).

    lines = summary_lines(run_log, where)            # text lines, no colour
    lines = summary_lines(run_log, where, every=True, colour=True)

Up to FULL_TABLE steps the table lists every top-level step. Above that, a summary that listed every step
would cost more than the run (rich drew one table row per step: two thirds of a 10,000-step run) and no one
would read it: it shows the counts, then only the steps that matter (failed, retried, reused from another
run, and the SLOWEST slowest), and says how to see every step (`magnus show RUN --steps`). Failed steps are
followed, in both forms, by their located error and the last lines of their output (magnus_core.logs).
Its cost is linear in the number of step logs with a small constant (one pass to count and time them),
never a drawn row per step. `--json` prints the run log instead and is not affected.
"""

from __future__ import annotations

import heapq
import shlex
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from magnus_core.models.run_log import (
    FAIL,
    PROCESSING,
    SUCCESS,
    RunLog,
    StepLog,
    running_attempt,
    span_seconds,
)
from magnus_core.table import Cell, fmt_duration, fmt_seconds, render

if TYPE_CHECKING:
    from magnus_core.logs import Failure

FULL_TABLE = 50  # up to this many top-level steps the summary lists every one
SLOWEST = 5  # above it, the slowest steps shown
SHOWN_FAILURES = 5  # failed steps the summary details (the rest are counted)
SHOWN_RETRIED = 5  # retried steps listed above FULL_TABLE (the rest are counted)
SHOWN_LINES = 10  # last lines of output shown per failed step

STATUS_STYLE = {SUCCESS: "green", FAIL: "red"}
HEADERS = ["step", "type", "status", "attempts", "time"]


def step_seconds(step: StepLog) -> float | None:
    """Wall time of a step: its first attempt's start to its last attempt's end, nested steps included."""
    if not step.branches and len(step.attempts) == 1:  # the usual step: one attempt (10,000 in a summary)
        start, end = step.attempts[0].start_time, step.attempts[0].end_time
        if isinstance(start, datetime) and isinstance(end, datetime) and start.tzinfo and end.tzinfo:
            return (end - start).total_seconds()
    return span_seconds(a for nested in step.walk() for a in nested.attempts)


PER_ITEM = {"map": "item", "loop": "iteration"}  # composites whose branches are named at run time


def what_ran(step: StepLog) -> str:
    """What a composite step ran, for a reader: `true` (the conditional's branch), `4 iterations` (a
    loop), `3 items` (a map), `2 branches` (a parallel with more than three), `a, b` (up to three named
    branches); "" for a leaf or a composite that ran nothing. Found by the trial: summaries never said
    which branch a conditional took or how many times a loop ran."""
    if not step.branches or step.step_type == "dag":  # a nested dag's one branch is the step itself
        return ""
    names = [name.rsplit(".", 1)[-1] for name in step.branches]
    unit = PER_ITEM.get(step.step_type)
    if unit is not None or len(names) > 3:
        unit = unit or "branch"
        plural = "es" if unit.endswith("ch") else "s"
        return f"{len(names):,} {unit}{plural if len(names) != 1 else ''}"
    return ", ".join(names)


def shown_status(step_type: str, status: str) -> str:
    """A step's status as every view shows it, from its log: the dag's fail node, reached, is FAIL (its
    log says SUCCESS, the original's format: the node did its job of failing the run), so the CLI summary,
    `magnus show` and the workbench agree (trial 8: the summary listed `fail  SUCCESS` beside the
    workbench's ✗; magnus_tui's Row.reached_fail is this rule)."""
    return "FAIL" if step_type == "fail" and status == "SUCCESS" else status


def _row(step: StepLog, seconds: float | None, note: str = "", *, ended: bool = False) -> list[Cell]:
    reused = " (reused)" if step.mock else ""  # a re-run copied it from the original run
    status = shown_status(step.step_type, step.status)  # the fail node reached: FAIL, as the workbench
    if ended and status == PROCESSING:  # its process is gone: cut short, not running (as the header says)
        from magnus_core.runs import CUT_SHORT  # (the words `magnus diff` uses too: runs.process_gone)

        status = CUT_SHORT
    ran = what_ran(step)
    cells = [
        Cell(step.internal_name),
        Cell(f"{step.step_type} ({ran})" if ran else step.step_type),
        Cell(f"{status}{reused}", STATUS_STYLE.get(status, "yellow")),
        Cell(str(_attempts(step, ended)) if step.attempts or not step.branches else "-"),
        Cell(fmt_duration(seconds)),  # as the workbench writes a duration: 7.64ms, 8.02s, 2m 5s, <1ms
    ]
    if note:
        cells.append(Cell(note, "dim"))
    return cells


def _attempts(step: StepLog, ended: bool) -> int:
    """A step's attempts as the summary counts them: those recorded, and one it began and has not recorded
    (models.run_log.running_attempt): running now in a live run, as the workbench's `Attempts (1) ... ▶
    running` counts it (trial 13 fault 7: `magnus show` of a live run said `0`), or cut short in an ended
    run (its process died: kill -9, the OOM killer), which `magnus logs` shows with the output it wrote
    (trial 11: `0` attempts beside 3 lines of output). `ended` is kept for callers (it no longer matters)."""
    return len(step.attempts) + (1 if running_attempt(step) is not None else 0)


CUT_LINES = 5  # steps whose output was cut at the cap named under the table (then a count)


def output_cut_lines(run_log: RunLog, config_file: str | None = None) -> list[str]:
    """Each step whose last attempt's output passed the cap (capture: kept up to MAGNUS_OUTPUT_CAP or the
    catalog's output_cap, the rest counted, not kept), said under the table whatever the step's status:
    `big: output cut at 5.0 MB of 19 MB written (MAGNUS_OUTPUT_CAP or the catalog's output_cap): magnus
    logs r1 big`. Before, only the kept file's last line said it (trial 22: a SUCCESS step's lost output
    went unnoticed). At most CUT_LINES steps, then how many more; [] when none was cut."""
    from magnus_core.logs import logs_command
    from magnus_core.table import fmt_size

    cut = []
    for step in run_log.walk():
        output = step.attempts[-1].output if step.attempts else None
        if output is not None and output.name and output.written > output.size:
            cut.append((step.internal_name, output))
    why = "(MAGNUS_OUTPUT_CAP or the catalog's output_cap)"
    lines = [
        f"{name}: output cut at {fmt_size(output.size)} of {fmt_size(output.written)} written {why}: "
        + logs_command(run_log.run_id, name, None, config_file)
        for name, output in cut[:CUT_LINES]
    ]
    if len(cut) > CUT_LINES:
        lines.append(f"and {len(cut) - CUT_LINES:,} more steps' output cut at the cap")
    return lines


def cut_short_lines(run_log: RunLog) -> list[str]:
    """For an ended run, each step whose attempt was begun and never recorded (logs.cut_short): `s1: attempt
    0 was cut short: the run's process ended while it ran`, and under it the `magnus logs` command that
    shows what it wrote until then (with the run's --config-file) when some of it reached its `.live`
    file; else `none of its output reached its file` in its place (trial 13 fault 5: the command led to
    nothing), with the command when it shows the crash's traceback. [] for a run still running. When a
    fatal signal ended the process and faulthandler located it (magnus_core.fatal.crash_of): `train:
    crashed (Segmentation fault) at mlproj/crashy.py:10 in train` for the step it crashed in (the one
    begun, or the branch whose thread crashed), first; with several begun and none known, the line `the run's
    process crashed (...) at ...` first and each step's as before. Under a step, what the watcher stopped of
    its processes as the process died (magnus_core.stopped: `its processes (pgid 26141) were stopped by the
    watcher: SIGTERM, then SIGKILL after 5 s`), and last, what it stopped that no such step owns."""
    from magnus_core.logs import ENDED, NOTHING_REACHED, cut_short, logs_command, run_now
    from magnus_core.stopped import record_of, said

    cuts, crash = cut_short(run_log)
    out: list[str] = []
    config = run_config_file(run_log)
    if crash is not None and not any(cut.crashed for cut in cuts):  # which branch crashed is not known
        out.append(f"the run's process {crash.said()}")
    # what the watcher stopped as the process died (trial 15 N4: only `ps` said whether the job still ran)
    stopped = said(record_of(run_log), cuts) if cuts or run_now(run_log) in ENDED else None
    # the step the crash hit first, then the branches it took down in the log's order (trial 16 F2:
    # `fan.gpu.s: attempt 0 was cut short: ...` led, as the workbench's panel and run screen lead with it)
    for cut in sorted(cuts, key=lambda cut: not cut.crashed):
        out.append(cut.line())
        name = cut.step.internal_name
        if stopped is not None and (name, cut.attempt) in stopped.of_attempt:
            out.append(f"  {stopped.of_attempt[(name, cut.attempt)]}")
        command = logs_command(run_log.run_id, name, cut.attempt if cut.attempt else None, config)
        if cut.has_output:
            out.append(f"  its output until then: {command}")
        elif cut.crashed:
            out.append(f"  {NOTHING_REACHED}; its traceback at the crash: {command}")
        else:
            out.append(f"  {NOTHING_REACHED}")
    if stopped is not None and stopped.others:
        out.append(stopped.others)
    return out


NOT_RUN = "not run"  # the status shown for a step of an ended run's path that never ran


def _not_run_row(name: str, step_type: str, note: str = "") -> list[Cell]:
    cells = [Cell(name), Cell(step_type), Cell(NOT_RUN, "dim"), Cell("0"), Cell(fmt_seconds(None))]
    if note:
        cells.append(Cell(note, "dim"))
    return cells


def never_ran(run_log: RunLog) -> list[tuple[str, str]]:
    """(name, step type) of each top-level step of an ended run's path that never ran, in the path's order:
    the steps the counts line counts as `not run` (progress.not_run_steps; a composite holding them once).
    [] for a run not at an end (its steps to come are not `not run` yet) or a log with no recorded dag.
    Listed by `magnus show` and the summary of `magnus execute`, whichever way the run was driven (trial 9:
    a run driven step by step listed only the steps that ran)."""
    from magnus_core.logs import ENDED, run_now
    from magnus_core.progress import not_run_steps, run_dag

    if run_now(run_log) not in ENDED:
        return []
    dag = run_dag(run_log)
    if dag is None:
        return []
    top = dict.fromkeys(name.split(".", 1)[0] for name, _type in not_run_steps(run_log, dag))
    out = []
    for name in top:
        if name in run_log.steps or name not in dag.steps:  # a composite that ran in part: its row is there
            continue
        node = dag.steps[name]
        out.append((name, "as-is" if node.type == "stub" else str(node.type)))
    return out


def counts_line(run_log: RunLog, statuses: Counter[str] | None = None) -> str:
    """`2,000/2,000 steps ran: 1,996 SUCCESS, 4 FAIL; 3 retried, 12 reused`: the run's steps as
    progress.run_progress counts them, the one count the run index, `magnus runs` and the workbench give:
    N/M is the steps that ran (succeeded, failed, interrupted or reused: Progress.ran; in an ended run, a
    step cut short too, shown INTERRUPTED) of the steps on the
    run's path (the work steps, the steps inside composites in their place; a step whose failure the run
    handled is a FAIL; `N not run` for the steps of the path an ended run never reached, `N to run` for
    those a live run has not reached yet). `statuses`, when given, is
    filled with the count of each status."""
    from magnus_core.logs import ENDED, run_now
    from magnus_core.progress import run_progress

    statuses = Counter() if statuses is None else statuses
    progress = run_progress(run_log)
    ended = run_now(run_log) in ENDED  # a step still PROCESSING in an ended run was cut short
    for status, n in (
        (SUCCESS, progress.done),
        (FAIL, progress.failed),
        ("INTERRUPTED", progress.interrupted + (progress.running if ended else 0)),
        (PROCESSING, 0 if ended else progress.running),
    ):
        if n:
            statuses[status] += n
    retried = reused = 0
    for step in run_log.walk():
        retried += len(step.attempts) > 1
        # a reused step as the counts count steps (progress.Progress): a work step, not a branch's success
        # or fail node nor the composite holding them (trial 13 fault 9: a loop resumed with 3 steps reused
        # read `6 reused`, its iterations' success nodes counted)
        reused += step.mock and step.step_type not in ("success", "fail") and not step.branches
    parts = [f"{n:,} {s}" for s, n in statuses.items()]
    if progress.not_run:  # a live run has not reached them yet: `to run` (trial 13 fault 7: `1 not run` of a
        # live run read as "it skipped report"); an ended run never will (`not run`, NOT_RUN)
        parts.append(f"{progress.not_run:,} {'not run' if ended else 'to run'}")
    extra = [f"{n:,} {what}" for n, what in ((retried, "retried"), (reused, "reused")) if n]
    ran = progress.ran + (progress.running if ended else 0)  # (cut short: counted INTERRUPTED above)
    total = f"{ran:,}/{progress.total:,} steps ran: {', '.join(parts) or 'none'}"
    return total + (f"; {', '.join(extra)}" if extra else "")


def summary_lines(run_log: RunLog, where: str, *, every: bool = False, colour: bool = False) -> list[str]:
    """The summary as lines of text: the run's status, a table of its steps (every top-level step when
    there are at most FULL_TABLE or `every`, else the steps that matter and how to see the rest), each
    failed step's error and last output lines, and where the run log is. `colour`: ANSI colours."""

    def paint(text: str, style: str) -> str:
        from magnus_core.table import STYLES

        return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if colour else text

    status_style = STATUS_STYLE.get(run_log.status, "yellow")
    status = str(run_log.status)
    if status == PROCESSING and _per_step(run_log):  # no process runs it whole: say what is known
        status = per_step_state(run_log)
    elif status == PROCESSING:  # what it means now, as `magnus runs` says it: RUNNING or INTERRUPTED
        from magnus_core.runs import run_state

        state = run_state(run_log)
        status = f"{state} ({status})" if state != status else status
    lines = [
        f"Run {paint(run_log.run_id, 'bold')}: {paint(status, status_style)}"
        + (f"  (tag {run_log.tag})" if run_log.tag else "")
    ]
    top = list(run_log.steps.values())
    # a step still PROCESSING has no end (a retried step's failed attempt, a composite's ended branch, is not
    # its end): no time, running or cut short (trial 13 fault 3: `train ... 2  1.51s` for a step killed later)
    seconds = [step_seconds(step) if step.status != PROCESSING else None for step in top]
    statuses: Counter[str] = Counter()
    inside = failed_inside(top)
    from magnus_core.logs import ENDED, run_now

    ended = run_now(run_log) in ENDED
    missing = never_ran(run_log)  # an ended run's steps that never ran: listed after those that did
    if every or len(top) + len(missing) <= FULL_TABLE:
        headers, right = HEADERS, {3, 4}
        rows = [_row(step, s, ended=ended) for step, s in zip(top, seconds, strict=True)]
        if inside:  # a composite failed because a step inside it did: name that step beside it
            headers = [*HEADERS, "failed in"]
            for row, step in zip(rows, top, strict=True):
                row.append(Cell(inside.get(step.internal_name, ""), "dim"))
        for name, kind in missing:
            rows.append(_not_run_row(name, kind) + ([Cell("")] if inside else []))
        lines.extend(render(headers, rows, right=right, colour=colour).split("\n"))
        lines.append(counts_line(run_log))  # N/M as `magnus runs` and the workbench count it
    else:
        lines.append(counts_line(run_log, statuses))
        lines.extend(_steps_that_matter(run_log, top, seconds, colour, inside, missing, ended))
    if not statuses or set(statuses) != {SUCCESS}:  # (every step of a large run succeeded: none to show)
        total = sum(statuses.values()) if statuses else sum(1 for _ in run_log.walk())
        lines.extend(failure_lines(run_log, every=every or total <= FULL_TABLE))
        lines.extend(cut_short_lines(run_log))  # a kill -9'd step: its attempt and where its output is
        lines.extend(interrupted_lines(run_log))
    lines.extend(output_cut_lines(run_log))
    timing = timing_line(run_log)
    if timing:
        lines.append(timing)
    by = ran_by(run_log)
    if by:
        lines.append(by)
    if run_log.status == PROCESSING and _per_step(run_log):  # how it goes on, as `magnus stop` says it
        from magnus_core.runs import per_step_hint

        lines.append(f"Run {run_log.run_id} is {per_step_hint(run_log)}")
    lines.append(f"Run log: {where}")
    return lines


def ran_by(run_log: RunLog) -> str:
    """`Run by bob on build-7`: who ran it and where (run_config.process's `user` and `host`), when that is
    not this user on this machine (a teammate's run, in a shared store); "" otherwise or when not recorded
    (runs made before magnus recorded the user give their host only)."""
    import socket

    from magnus_core.runs import login_name

    process = run_log.run_config.get("process") if isinstance(run_log.run_config, dict) else None
    if not isinstance(process, dict):
        return ""
    user, host = str(process.get("user") or ""), str(process.get("host") or "")
    if (not user or user == login_name()) and (not host or host == socket.gethostname()):
        return ""
    return " ".join(["Run", *([f"by {user}"] if user else []), *([f"on {host}"] if host else [])])


def _per_step(run_log: RunLog) -> bool:
    from magnus_core.runs import driven_per_step

    return driven_per_step(run_log.run_config)


def per_step_state(run_log: RunLog) -> str:
    """What a PROCESSING run driven one step per process (`magnus execute_single_node`, Argo, Dask) is, as
    `magnus show` heads it: `PER-STEP (PROCESSING); last step train FAIL`, its state as `magnus runs`, `magnus
    diff` and the workbench word it (runs.PER_STEP_STATE; until session 12 show alone said `PROCESSING
    (driven one step at a time; ...)`). No process runs it whole, so nothing says whether its orchestrator
    is still at work: the last step recorded is what is known."""
    from magnus_core.models.times import parse_time
    from magnus_core.runs import PER_STEP_STATE

    last: tuple[datetime, StepLog] | None = None
    for step in run_log.walk():
        end = step.attempts[-1].end_time if step.attempts else None
        end = end if isinstance(end, datetime) or end is None else parse_time(end)
        if isinstance(end, datetime) and end.tzinfo and (last is None or end >= last[0]):
            last = (end, step)
    said = f"{PER_STEP_STATE} ({PROCESSING})"
    return f"{said}; last step {last[1].internal_name} {last[1].status}" if last else said


def timing_line(run_log: RunLog) -> str:
    """`Started 2026-11-30 05:33:43 (local time), took 208ms`: the run's start and duration by the rule the
    run index and the workbench use (progress.run_times); "" when the log records no times."""
    from magnus_core.models.run_log import local_text
    from magnus_core.progress import run_times

    start, _end, seconds = run_times(run_log)
    if not start:
        return ""
    if run_log.status in (SUCCESS, FAIL, "INTERRUPTED") and seconds is not None:
        return f"Started {local_text(start)[:19]}, took {fmt_duration(seconds)}"
    from magnus_core.models.times import elapsed
    from magnus_core.runs import run_state

    # a run driven one step at a time may be idle between its steps: its start only (per_step_state)
    so_far = elapsed(start) if run_state(run_log) == "RUNNING" and not _per_step(run_log) else None
    if so_far is not None:  # as `magnus runs` and the workbench give a running run's duration
        return f"Started {local_text(start)[:19]}, running for {fmt_seconds(so_far)}"
    return f"Started {local_text(start)[:19]}"


def failed_inside(top: list[StepLog]) -> dict[str, str]:
    """For each failed composite top-level step that failed because steps inside it did (not itself: a
    conditional with no branch for its value failed itself), the first of those steps and how many more:
    `{"par": "par.b2.p2", "each": "each.3.work (+2 more)"}`. Trial 7: the table said only `par ... FAIL`,
    and the failures that were the root causes were the ones the summary left out."""
    from magnus_core.logs import failed_itself

    out: dict[str, str] = {}
    for step in top:
        if step.status != FAIL or not step.branches or failed_itself(step):
            continue
        leaves = [s.internal_name for s in step.walk() if s is not step and failed_itself(s)]
        if leaves:
            out[step.internal_name] = leaves[0] + (f" (+{len(leaves) - 1:,} more)" if len(leaves) > 1 else "")
    return out


def _steps_that_matter(
    run_log: RunLog,
    top: list[StepLog],
    seconds: list[float | None],
    colour: bool,
    inside: dict[str, str],
    missing: list[tuple[str, str]],
    ended: bool,
) -> list[str]:
    """Above FULL_TABLE steps: failed top-level steps (a composite naming the step inside it that failed,
    `failed in par.b2.p2`) and retried ones in the order they ran, then the SLOWEST slowest, slowest first,
    then the first reused one, then the first of the `missing` steps that never ran (`not run`); each with
    why it is shown; then how many are not shown and how to see them."""
    notes: dict[int, list[str]] = {}
    failed = [i for i, step in enumerate(top) if step.status != SUCCESS]
    retried = [i for i, step in enumerate(top) if len(step.attempts) > 1]
    reused = [i for i, step in enumerate(top) if step.mock]
    for i in failed[:SHOWN_FAILURES]:
        where = inside.get(top[i].internal_name)
        said = f"failed in {where}" if where else "failed"
        notes.setdefault(i, []).append(said if top[i].status == FAIL else "not finished")
    for i in retried[:SHOWN_RETRIED]:
        notes.setdefault(i, []).append(f"retried ({len(top[i].attempts)} attempts)")
    timed = [(s, i) for i, s in enumerate(seconds) if s is not None]
    slowest = [i for _s, i in heapq.nlargest(SLOWEST, timed)]  # slowest first (trial 7: it was dag order)
    for i in slowest:
        notes.setdefault(i, []).append("slowest")
    if reused and len(reused) < len(top):
        notes.setdefault(reused[0], []).append(f"reused ({len(reused):,} steps)")
    first = sorted(set(failed[:SHOWN_FAILURES]) | set(retried[:SHOWN_RETRIED]))
    shown = list(dict.fromkeys([*first, *slowest, *sorted(notes)]))
    rows = [_row(top[i], seconds[i], ", ".join(notes[i]), ended=ended) for i in shown]
    if missing:  # where the run stopped: the first step it never reached
        more = f" (+{len(missing) - 1:,} more)" if len(missing) > 1 else ""
        rows.append(_not_run_row(*missing[0], note=f"first not run{more}"))
    out = render([*HEADERS, "shown because"], rows, right={3, 4}, colour=colour).split("\n")
    hidden = []
    if len(failed) > SHOWN_FAILURES:
        hidden.append(f"{len(failed) - SHOWN_FAILURES:,} more failed")
    if len(retried) > SHOWN_RETRIED:
        hidden.append(f"{len(retried) - SHOWN_RETRIED:,} more retried")
    # the steps not listed, counted as the counts line above counts them: the dag's end node (success or
    # fail) is no step there, so `... 996 more steps` under `1,000 steps` with 5 listed read one too many
    listed = set(shown)
    rest = sum(
        1 for i, step in enumerate(top) if i not in listed and step.step_type not in ("success", "fail")
    )
    if len(missing) > 1:  # (counted among the steps not listed, as the failed ones are)
        hidden.append(f"{len(missing) - 1:,} not run")
        rest += len(missing) - 1
    more = f" ({', '.join(hidden)})" if hidden else ""
    out.append(
        f"... {rest:,} more steps{more}; every step: magnus show {shlex.quote(run_log.run_id)} --steps"
        + config_words(run_log)
    )
    return out


def run_config_file(run_log: RunLog) -> str | None:
    """The `--config-file` the run was made with, as its run log records it (run_config, as
    stop.resume_command reads it for the `Resume with:` line); None when it had none."""
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    value = config.get("config_file")
    return str(value) if value else None


def config_words(run_log: RunLog) -> str:
    """` --config-file C` (shell-quoted) to add to a command the summary prints about this run, or "":
    a printed command works as typed on the run's store, not only the default one (trial 11)."""
    config = run_config_file(run_log)
    return f" --config-file {shlex.quote(config)}" if config else ""


def failure_lines(run_log: RunLog, *, every: bool = True) -> list[str]:
    """Each step where a failure happened (logs.failed_leaves: the steps inside parallel, map and nested
    branches included, never the composite holding them), in the order they ran: its error, where it was
    raised, the last lines of its output and the command that shows the rest (magnus_core.logs.failure_of).
    Not `every` (a run of more than FULL_TABLE steps): the first SHOWN_FAILURES, then how many more and the
    command that lists them all (`magnus show RUN --steps`). Lines are never wrapped: a message, a path or
    a command stays one line to search and copy; a message or an output line longer than logs.SHOWN_WIDTH
    characters is cut there, saying how many more there are (trial 10: a 100,016-character line)."""
    from magnus_core.logs import OutputReader, failed_leaves, failure_of

    leaves = failed_leaves(run_log)
    config = run_config_file(run_log)
    shown = leaves if every else leaves[:SHOWN_FAILURES]
    reader = OutputReader(run_log) if shown else None
    out: list[str] = []
    for step in shown:
        out.extend(
            failure_block(failure_of(run_log.run_id, step, reader, lines=SHOWN_LINES, config_file=config))
        )
    hidden = len(leaves) - len(shown)
    if hidden > 0:
        steps = "step" if hidden == 1 else "steps"
        command = f"magnus show {shlex.quote(run_log.run_id)} --steps{config_words(run_log)}"
        out.append(f"... and {hidden:,} more failed {steps}; every failure: {command}")
    return out


def interrupted_lines(run_log: RunLog) -> list[str]:
    """Each step that Ctrl-C or SIGTERM stopped (logs.interrupted_at): `s1: interrupted at steps.py:12 in
    train (SIGINT: the run was stopped)` where its python code was recorded, else `s1: interrupted (SIGTERM:
    the run was stopped)` (a shell step: trial 12 fault 6), and the `magnus logs` command that shows its
    output, which ends with the interruption's traceback when there is one (trial 11: a hung step stopped
    by Ctrl-C or `magnus stop` said nothing of where it was)."""
    from magnus_core.logs import interrupted_at, logs_command

    out: list[str] = []
    config = run_config_file(run_log)
    for step in run_log.walk():
        said = interrupted_at(step.attempts[-1]) if step.attempts else ""
        if said:
            several = len(step.attempts) > 1
            number = step.attempts[-1].attempt_number if several else None
            out.append(f"{step.internal_name}: {said}")
            out.append(f"  all of it: {logs_command(run_log.run_id, step.internal_name, number, config)}")
    return out


def failure_block(failure: Failure) -> list[str]:
    """One failed step as the summary shows it (and `magnus execute_single_node` says on stderr): `name:
    error` (the further lines of a message of several lines indented by 4, never at column 0: trial 11),
    `  at file:line in func`, `  caused by ...` (the root of a chain of exceptions), the last lines it
    wrote to stderr (`  stderr: ...`, where they may be the reason: logs.stderr_unseen), its last lines
    (`  | ...`), then the command that shows the rest or why there is no output. Every line is cut at
    logs.SHOWN_WIDTH characters (logs.failure_of)."""
    first, *more = failure.message.split("\n")  # a message of several lines: the others indented
    out = [f"{failure.internal_name}: {first}", *(f"    {line}" for line in more)]
    if failure.where:  # (not for a shell step: its message says the exit code; logs.where_failed)
        out.append(f"  at {failure.where}")
    if failure.cause:  # the root of `raise X from e`, kept when the output is not (trial 12 fault 16)
        out.append(f"  {failure.cause}")
    # what it wrote to stderr last, under its error, where it may be the reason (trials 6 and 10)
    out.extend(f"  stderr: {line}" for line in failure.stderr_unseen())
    out.extend(f"  | {line}" for line in failure.last_lines)
    if failure.note:
        out.append(f"  ({failure.note})")
    elif failure.last_lines:
        out.append(f"  all of it: {failure.command}")
    # a step's escape sequences and control characters never act on the terminal (trial 14, F13)
    from magnus_core.logs import harmless

    return [harmless(line) for line in out]


def print_summary(run_log: RunLog, where: str, *, every: bool = False, stream: Any = None) -> None:
    """Write the summary to `stream` (stdout), coloured on a terminal unless NO_COLOR is set."""
    import sys

    from magnus_core.table import use_colour

    stream = stream or sys.stdout
    text = "\n".join(summary_lines(run_log, where, every=every, colour=use_colour(stream))) + "\n"
    try:
        stream.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show a step's name or output as written
        stream.write(text.encode("ascii", "replace").decode("ascii"))
    stream.flush()


def value_lines(
    run_log: RunLog, params: list[str] | None, metrics: list[str] | None, *, colour: bool = False
) -> tuple[list[str], list[str]]:
    """What `magnus show RUN --params [NAMES] --metrics [NAMES]` adds under the summary: a table of the
    run's parameters (run_log.parameters, as `magnus runs --params` shows them: the run's final values,
    masked when recorded) and one of its metrics, a row per step that tracked each (`auc  0.91  train`);
    values as `magnus runs` writes them (table.fmt_value), cut at logs.SHOWN_WIDTH. `params`/`metrics`:
    None for no table, ["*"] for every one, else the names wanted (a metric by its name or `step.name`).
    Returns (lines, notes): a note for each name the run has not recorded, with the close ones."""
    from magnus_core.logs import shown_line
    from magnus_core.suggest import nearest
    from magnus_core.table import fmt_value

    lines: list[str] = []
    notes: list[str] = []

    def missing(kind: str, wanted: list[str], known: list[str], found: set[str]) -> None:
        for name in wanted:
            if name != "*" and name not in found:
                near = nearest(name, known)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                notes.append(f"run {run_log.run_id} has no {kind} '{name}'{hint}")

    if params is not None:
        every = "*" in params
        rows = [
            [name, shown_line(fmt_value(value))]
            for name, value in run_log.parameters.items()
            if every or name in params
        ]
        missing("parameter", params, list(run_log.parameters), {row[0] for row in rows})
        lines.append("Parameters:" if rows else "Parameters: none recorded")
        if rows:
            lines.extend(
                "  " + line for line in render(["parameter", "value"], rows, colour=colour).split("\n")
            )
    if metrics is not None:
        every = "*" in metrics
        rows, found, known = [], set(), []
        for step in run_log.walk():
            for name, value in step.user_defined_metrics.items():
                qualified = f"{step.internal_name}.{name}"
                known += [name, qualified]
                chosen = [w for w in metrics if w in (name, qualified)]
                if every or chosen:
                    rows.append([name, shown_line(fmt_value(value)), step.internal_name])
                    found.update(chosen)
        missing("metric", metrics, known, found)
        lines.append("Metrics:" if rows else "Metrics: none recorded")
        if rows:
            table = render(["metric", "value", "step"], rows, colour=colour)
            lines.extend("  " + line for line in table.split("\n"))
    return lines, notes
