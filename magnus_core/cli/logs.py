"""`magnus logs RUN [STEP]`: what a run's steps printed, from the catalog that keeps each attempt's output."""

from __future__ import annotations

import codecs
import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import click

from magnus_core import jsonio as json
from magnus_core.cli import cli, complete
from magnus_core.cli import note as _say

if TYPE_CHECKING:
    from magnus_core.logs import AttemptView, OutputReader
    from magnus_core.models.run_log import RunLog, StepLog
    from magnus_core.stores.base import RunLogStore

POLL = 0.2  # seconds between looks at a run being followed
WAIT = 60.0  # seconds `magnus logs R --follow` waits for a run not created yet (--wait)
LIVE_LISTING = 1.0  # seconds: how often --follow lists the pieces of a running attempt in a bucket
WAIT_POLL = 0.25  # seconds between looks for it
SHOWN_TAIL = 10  # last lines of a failed attempt's output looked at for its traceback (as the summary shows)


def note(text: str) -> None:
    """One of `magnus logs`' own notes on stderr (cli.note), without a step's terminal escape sequences and
    control characters: a failure's message, its cause's, a kept traceback's and a shell step's stderr
    lines are the step's text, and on a terminal a cause's `\x1b]0;title\x07` set its title, a colour code
    coloured the rest (ui10's left item of trial 14 F13; click strips colour codes only off a terminal). The
    output itself, on stdout, is printed as written."""
    from magnus_core.logs import harmless

    _say(harmless(text))


@cli.command("logs")
@click.argument("run_id", shell_complete=complete.run_ids)
@click.argument("step", required=False, shell_complete=complete.run_steps)
@click.option(
    "--attempt",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Only attempt N (the run log's attempt_number, from 0); default: every attempt.",
)
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Only the last N lines of each attempt.",
)
@click.option(
    "-f", "--follow", is_flag=True, help="Keep printing what a running run's steps write, until it ends."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help=f"With --follow: how long to wait for a run not created yet (default {WAIT:g}).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print each attempt's record and text as JSON (magnus-logs/1; cut_short: true for an attempt whose "
    "process died while it ran; crash: the fatal signal that ended it, or null).",
)
@click.option("-c", "--config-file", default=None, help="Config file naming the run-log store.")
@click.pass_context
def logs(
    ctx: click.Context,
    run_id: str,
    step: str | None,
    attempt: int | None,
    tail: int | None,
    follow: bool,
    wait: float | None,
    as_json: bool,
    config_file: str | None,
) -> None:
    """Print what a run's steps wrote to stdout and stderr (masked), as kept in the run's catalog.

    RUN_ID may be the start or the end of an id (its last six characters) when that names one run only,
    or `last` (the newest run, as `magnus runs` lists it first; with --follow the newest run while it is
    still executing, else the next to start).
    With no STEP, every step in the order it ran, each headed by its name and attempt; STEP is a step's
    internal name as `magnus runs` and the run log show it (`train`, `each.a.work` inside a map; the
    per-step entry point's forms work too: `%` for each space, `map_variable_placeholder` for the item).
    A composite step shows the steps inside it, and so does a branch (`fan.B` of a parallel, `each.c` of a
    map: that item).
    A single attempt is printed as it was written, with no heading, so it can be piped (byte for byte:
    a last line left unended is ended on a terminal only).

    \b
    Examples:
      magnus logs 20261125062239_de1af9
      magnus logs 20261125062239_de1af9 train --tail 20
      magnus logs 20261125062239_de1af9 train --attempt 1
      magnus logs 20261125062239_de1af9 --follow

    With --follow, when the run ends a line on stderr says how (`run R ended FAIL: b: exited with code 4`;
    when its process died, where: `run R ended INTERRUPTED: train: crashed (Segmentation fault) at
    steps.py:9 in train`) and the exit code is the run's: 0 when it succeeded, 1 when it failed or was
    interrupted, so `magnus logs R --follow && next` goes on only after a good run.

    A step of the run's dag that has not begun yet is waited for with --follow; without it (or once the
    run has ended) it is said that it has not run yet, or never ran. A run not created yet is waited for
    too with --follow (`magnus execute ... --run-id R &` then `magnus logs R --follow`), up to --wait
    seconds (60 by default), saying so once on stderr; then it is an unknown run (exit 2). So is a run
    after the newest when that has ended, for `last` (`magnus execute ... &` then `magnus logs last
    --follow`); none started in time is exit 2, never the ended run's code. Ctrl-C stops
    following (exit 130, 143 on SIGTERM): the run goes on.

    Exit codes: 0 printed, 1 an output file is missing or unreadable (with --follow: or the run did not
    succeed), 2 unknown run, step or attempt, or a step that has not run.
    """
    from magnus_core.errors import UsageError, say_when_stopped
    from magnus_core.logs import (
        ENDED,
        OutputReader,
        failure_message,
        never_run,
        run_now,
    )
    from magnus_core.runs import get_typed_run, store_from_config

    if follow and as_json:
        raise UsageError("--follow prints text as it comes; use it without --json")
    if wait is not None and not follow:
        raise UsageError("--wait is how long --follow waits for a run to start; use it with --follow")
    if run_id.endswith(".json") or "/" in run_id or "\\" in run_id:  # (no run id has a slash)
        # trial 25: refused as a run id with invalid characters; `magnus show` and `diff` take files
        stem = run_id.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json")
        raise UsageError(
            f"magnus logs takes a run id, not a run-log file ('{run_id}'): the output it prints is in the"
            f" run's catalog, which the run-log store's configuration names; from the run's project: magnus"
            f" logs {stem}",
            field="RUN_ID",
        )
    store = store_from_config(config_file or (ctx.obj or {}).get("config_file"))
    if follow:  # a run started a moment ago may not be in the store yet (trial 11)
        try:
            run_log = _run_to_follow(store, run_id, WAIT if wait is None else wait)
        except KeyboardInterrupt as exc:  # Ctrl-C: leaving is all it asks (trial 14 fault 18)
            raise say_when_stopped(exc, f"stopped waiting for run {run_id}") from None
    else:
        run_log = get_typed_run(store, run_id)  # a unique prefix or suffix of the id, or `last`, too
    run_id = run_log.run_id  # (read settled: one that ended as it was read reads as it ended, runs.settled)
    name = _step_name(run_log, step, follow)
    reader = OutputReader(run_log, runs=store.get_run)
    if follow:
        try:
            code = _follow(store, run_id, name, attempt, tail)
        except KeyboardInterrupt as exc:  # Ctrl-C is how one stops following: the run is not touched
            raise say_when_stopped(exc, f"stopped following {run_id} (the run goes on)") from None
        ctx.exit(code)
    ended = run_now(run_log) in ENDED
    gone = _gone(run_log, reader)
    sections = _sections(run_log, reader, name, attempt, ended, gone)
    if as_json:
        shown = _as_json(run_log, sections, tail, ended, gone)
        shown["never_ran"] = never_run(run_log) if name is None and attempt is None else []
        from magnus_core.logs import crash_json, cut_short

        shown["crash"] = crash_json(*cut_short(run_log, reader))  # (null: none; trial 13 fault 4's Left)
        from magnus_core.stopped import record_of

        record = record_of(run_log)  # what the watcher stopped as the process died (trial 15 N4)
        shown["stopped"] = record.as_json() if record is not None else None
        shown["failures"] = [
            {"step": s.internal_name, "step_type": s.step_type, "message": failure_message(s)}
            for s in _failures_without_output(run_log, name, attempt)
        ] + _failed_attempts(sections)
        _echo_json(shown, sections)
        ctx.exit(1 if any(v.state == "missing" for v in sections) else 0)
    out = _Printer(headed=name is None or len(sections) > 1)  # a whole run: always headed (its --help)
    missing = False
    from magnus_core.logs import NOTHING_REACHED, STILL_RUNNING, cut_short, logs_command

    cuts, crash = (
        cut_short(run_log, reader) if any(_cut_short(v, ended, gone) for v in sections) else ([], None)
    )
    said_of = {(cut.step.internal_name, cut.attempt): cut for cut in cuts}
    from magnus_core.stopped import record_of, said

    stopped = said(record_of(run_log), cuts) if cuts else None  # what the watcher stopped (trial 15 N4)
    crash_shown = False
    for view in sections:
        key = (view.step.internal_name, view.attempt_number)
        cut = said_of.get(key) if _cut_short(view, ended, gone) else None
        if cut is not None and not view.has_output:  # said once, below, not as a step that printed nothing
            out.out.flush()
        else:
            missing |= out.section(view, tail)
            if view.problem == STILL_RUNNING and not ended:  # (its output is not all there: trial 22)
                step = view.step.internal_name
                again = logs_command(
                    run_log.run_id,
                    step,
                    view.attempt_number or None,
                    config_file or (ctx.obj or {}).get("config_file"),
                )
                note(
                    f"magnus: {step} (attempt {view.attempt_number}) is still running; "
                    f"{again} --follow keeps reading"
                )
            changed = view.differs() if view.has_output else ""
            if changed:  # shown all the same: it is what there is (trial 16 F8: shown as the step's)
                note(f"magnus: {view.step.internal_name} (attempt {view.attempt_number}): {changed}")
        out.say_failed(view)  # kept output or not (trial 10, fault 9: do-nothing said nothing of it)
        if cut is None:
            continue
        kept = "" if view.has_output else f"; {NOTHING_REACHED}"
        # after the attempt's output: the crashing thread's frames as faulthandler wrote them (its file keeps
        # every thread's), where the crash is known to be this step's, else once after the first cut short
        if crash is not None and not crash_shown and (cut.crashed or not any(c.crashed for c in cuts)):
            if view.has_output:
                out.end_section()
                if not out.at_line_start:
                    out.write(b"\n")
            else:  # under the attempt's own heading, not after the previous one's output
                out.head(view)
            out.write_tail(crash.current + "\n")
            crash_shown = True
            out.out.flush()
            if crash.file:
                note(f"magnus: every thread's frames at the crash: {crash.file}")
            if not cut.crashed:  # several begun, which one crashed not known (no branch thread recorded)
                note(f"magnus: the run's process {crash.said()}")
        out.out.flush()
        note(f"magnus: {view.step.internal_name} (attempt {view.attempt_number}) {cut.said}{kept}")
        key = (view.step.internal_name, view.attempt_number)
        if stopped is not None and key in stopped.of_attempt:
            note(f"magnus: {key[0]} (attempt {key[1]}): {stopped.of_attempt[key]}")
    if stopped is not None and stopped.others and name is None:
        note(f"magnus: {stopped.others}")
    out.say_silent()
    _say_unreached(run_log, name, attempt)
    ctx.exit(1 if missing else 0)


def _say_unreached(run_log: RunLog, name: str | None, attempt: int | None) -> None:
    """After an ended run's output, on stderr: each step shown that failed with no attempt (so no output),
    and, for a whole run, the steps it never reached, said once (not read as steps still to come). Said by
    `magnus logs` and, as the run ends, by `--follow` (trial 14 fault 1: --follow never said them)."""
    from magnus_core.logs import failure_message, never_run, run_now, shown_line

    for s in _failures_without_output(run_log, name, attempt):
        note(f"magnus: {s.internal_name} ({s.step_type}) failed, no output: {shown_line(failure_message(s))}")
    never = never_run(run_log) if name is None and attempt is None else []
    if never:
        listed = ", ".join(never[:8]) + (f" and {len(never) - 8:,} more" if len(never) > 8 else "")
        note(f"magnus: never ran (not reached before the run ended {run_now(run_log)}): {listed}")


def _run_to_follow(store: RunLogStore, run_id: str, wait: float) -> RunLog:
    """The run `magnus logs RUN --follow` names (runs.get_typed_run), waited for up to `wait` seconds when
    the store has no such run yet, looking again every WAIT_POLL seconds and saying once on stderr that it
    waits: `magnus execute --run-id R &` then `magnus logs R --follow` is no race (trial 11, fault 10).
    `last` is the newest run still executing (_newest_executing). Raises RunNotFoundError (exit 2) once
    the wait is over; UsageError at once for an id that matches several runs."""
    from magnus_core.errors import RunNotFoundError
    from magnus_core.runs import LATEST, get_typed_run

    if run_id.lower() in LATEST:
        return _newest_executing(store, run_id, wait)
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            return get_typed_run(store, run_id)
        except RunNotFoundError:
            if time.monotonic() >= deadline:
                raise
            if not said:
                note(f"magnus: waiting for run {run_id} to start (up to {wait:g} s; --wait SECONDS)")
                said = True
            time.sleep(min(WAIT_POLL, max(deadline - time.monotonic(), 0.0)))


def _newest_executing(store: RunLogStore, typed: str, wait: float) -> RunLog:
    """What `magnus logs last --follow` follows: the newest run, when it has not ended; when it has (or the
    store holds none), the run started after it, waited for up to `wait` seconds, saying so once on stderr.
    `magnus execute ... &` then `magnus logs last --follow` has the new run, not yet in the store as the
    second command starts, followed, not the one before it: trial 23 F8 and trial 24 F2 saw the previous
    run's output and exit code (0 when it had succeeded), taken for the new run's; as `gh run watch` picks
    a run in progress. A newest run still executing that started LAST_GRACE seconds or more before this
    command is followed only when no newer run appears within LAST_GRACE seconds (trial 26: another run
    still executing was followed, 2 times in 3, while the new one imported its modules); the run followed
    is said on stderr. Raises UsageError (exit 2) naming the ended run and how to see its output when no
    run starts within the wait."""
    from magnus_core.errors import RunNotFoundError, UsageError
    from magnus_core.logs import ENDED, run_now
    from magnus_core.runs import get_typed_run

    begun = time.time()
    deadline = time.monotonic() + wait
    ended: RunLog | None = None  # the newest run at the first look, when it had ended
    older: RunLog | None = None  # ... when it executes, and began well before this command
    grace = 0.0
    first, said = True, False
    while True:
        try:
            found: RunLog | None = get_typed_run(store, typed)
        except RunNotFoundError:
            found = None
        seen = {run.run_id for run in (ended, older) if run is not None}
        if found is not None and found.run_id not in seen:
            state = run_now(found)
            if first and state in ENDED:
                ended = found
                note(
                    f"magnus: the newest run, {found.run_id}, has ended ({state}): waiting for a run to start"
                    f" (up to {wait:g} s; --wait SECONDS). Its output: magnus logs {found.run_id}"
                )
                said = True
            elif first and _began(found) < begun - LAST_GRACE:
                older, grace = found, time.monotonic() + LAST_GRACE
            else:  # executing, or started since the first look (ended already: a short run)
                return _following(found)
        first = False
        if older is not None and time.monotonic() >= grace:
            return _following(older)
        if time.monotonic() >= deadline:
            if ended is None:
                raise RunNotFoundError(typed, store.list_run_ids(), store.where())
            raise UsageError(
                f"no run started within {wait:g} s; the newest, {ended.run_id}, ended {run_now(ended)}:"
                f" magnus logs {ended.run_id} shows its output"
            )
        if not said and older is None:
            note(f"magnus: waiting for a run to start (up to {wait:g} s; --wait SECONDS)")
            said = True
        time.sleep(min(WAIT_POLL, max(deadline - time.monotonic(), 0.0)))


LAST_GRACE = 3.0  # seconds `logs last --follow` waits for a newer run than one executing since a while


def _began(run_log: RunLog) -> float:
    """When a run began, seconds since the epoch (progress.run_times); 0 when its log does not say."""
    from magnus_core.models.times import since_epoch
    from magnus_core.progress import run_times

    began = since_epoch(run_times(run_log)[0])
    return began.total_seconds() if began is not None else 0.0


def _following(run_log: RunLog) -> RunLog:
    """`run_log`, said on stderr as the run `last --follow` follows (trial 26: nothing said which)."""
    from magnus_core.progress import run_times

    started = run_times(run_log)[0]
    note(f"magnus: following run {run_log.run_id}" + (f" (started {started})" if started else ""))
    return run_log


def _failed_attempts(sections: list[AttemptView]) -> list[dict[str, Any]]:
    """--json's `failures` of attempts shown: each failed attempt's step, attempt, message and where it
    failed (every kind of failure: an exception, sys.exit, an exit code, a cell; trial 6 found a
    `sys.exit(2)` that printed something listed nowhere)."""
    from magnus_core.logs import where_failed
    from magnus_core.models.run_log import FAIL

    found = []
    for view in sections:
        attempt = view.attempt
        if attempt is None or attempt.status != FAIL:
            continue
        message = attempt.message or "failed"
        found.append(
            {
                "step": view.step.internal_name,
                "step_type": view.step.step_type,
                "message": message,
                "attempt": view.attempt_number,
                "where": where_failed(attempt, message),
            }
        )
    return found


def _failures_without_output(run_log: RunLog, name: str | None, attempt: int | None) -> list[StepLog]:
    """Each step shown that failed with no attempt, so no output (a composite failing itself: choosing its
    branch, checking its break_on): its failure is what there is to show. [] with --attempt."""
    from magnus_core.logs import failed_itself, step_sections

    if attempt is not None:
        return []
    return [s for s in step_sections(run_log, name) if not s.attempts and failed_itself(s)]


def _step_name(run_log: RunLog, step: str | None, follow: bool) -> str | None:
    """The internal name STEP means in this run, in any form the per-step entry point takes it (single.py):
    as the run log writes it (`train`, `each.a.work`, or a branch: `fan.B`, `each.a`), with `%` for each
    space (`my%step`, `each.a%b.work` for the item "a b"), or with the map placeholder for the item
    (`each.map_variable_placeholder.work`, when the run has one such step; else the items are named). A
    step of the run's dag that has no log yet: with --follow of a run not at an end, its name (it is
    waited for, as `tail -F` waits for a file); otherwise UsageError (exit 2) saying it has not run yet,
    or never ran (logs.not_run). UsageError naming the steps and branches, or the close ones
    (suggest.nearest), when the dag has no such step either."""
    from magnus_core.errors import UsageError
    from magnus_core.logs import ENDED, dag_steps, known_names, known_steps, not_run, run_now
    from magnus_core.suggest import nearest

    if step is None:
        return None
    for candidate in (step, step.replace("%", " ")):
        if run_log.find_step(candidate) is not None or run_log.find_branch(candidate) is not None:
            return candidate  # a step, or a branch (`fan.B`, a map's item `each.c`: trial 10, fault 11)
    names = known_names(run_log)
    what = "steps and branches" if len(names) > len(known_steps(run_log)) else "steps"
    items = _placeholder_matches(run_log, step.replace("%", " "), names)
    if len(items) == 1:
        return items[0]
    if items:
        raise UsageError(
            f"'{step}' stands for {'' if run_log.find_branch(items[0]) else 'a step of '}each map item "
            f"in run '{run_log.run_id}': name one "
            f"({', '.join(items[:20])}{', ...' if len(items) > 20 else ''})",
            field="STEP",
        )
    for candidate in dict.fromkeys((step, step.replace("%", " "))):
        why = not_run(run_log, candidate)
        if why is None:
            continue
        going_on = run_now(run_log) not in ENDED
        if follow and going_on:  # waited for, then followed (_follow)
            return candidate
        raise UsageError(why + ("; --follow waits for it" if going_on else ""))  # (the name is right)
    names += [name for name in dag_steps(run_log) if name not in set(names)]  # (a typo of one to come)
    near = nearest(step, names)  # close ones only (trial 7: 'nosuch' suggested 'sh'), else the list
    shown = ", ".join(names[:20]) + (f", ... ({len(names):,} {what} in all)" if len(names) > 20 else "")
    none = "none" if run_now(run_log) in ENDED else "none yet"
    # (quoted as typed: `did you mean 'exit one', 'exit text'?`, trial 14 F10)
    hint = f"; did you mean {', '.join(map(shlex.quote, near))}?" if near else f" ({what}: {shown or none})"
    raise UsageError(f"run '{run_log.run_id}' has no step '{step}'{hint}", field="STEP")


def _placeholder_matches(run_log: RunLog, step: str, names: list[str]) -> list[str]:
    """The steps `step` names when it holds the map placeholder in place of items, as the per-step entry
    point takes it with --map-variable (`each.map_variable_placeholder.work` -> each.1.work, each.2.work;
    `each.map_variable_placeholder` -> the branches each.1, each.2);
    [] when it holds none, or when what comes before the placeholder is not a map step."""
    import re

    from magnus_core.graph import PLACEHOLDER

    parts = step.split(".")
    if PLACEHOLDER not in parts:
        return []
    holder = run_log.find_step(".".join(parts[: parts.index(PLACEHOLDER)]))
    if holder is None or holder.step_type != "map":
        return []
    if parts[-1] == PLACEHOLDER and parts.count(PLACEHOLDER) == 1:  # `each.map_variable_placeholder`: an item
        return list(holder.branches)
    pattern = re.compile(r"\.".join(".+?" if part == PLACEHOLDER else re.escape(part) for part in parts))
    return [name for name in names if pattern.fullmatch(name)]


def _sections(
    run_log: RunLog,
    reader: OutputReader,
    name: str | None,
    attempt: int | None,
    ended: bool,
    gone: frozenset[tuple[str, int]] = frozenset(),
) -> list[AttemptView]:
    """The attempts shown, step by step in the order they ran (reader.views): every recorded attempt, or
    the one numbered `attempt`, and the attempt a step was running when its process died. In an ended run
    (`ended`: logs.ENDED, its process gone) that attempt is shown even when no output of it reached its
    file (it printed nothing, or only in its last half second), as an EMPTY view with no record, so it
    reads as cut short as `magnus show` counts it (summary.cut_short_lines), not as no attempt at all;
    so is an attempt of `gone` (_gone: a per-step process known to be gone).
    UsageError (exit 2) for an attempt number the named step does not have."""
    from magnus_core.logs import EMPTY, AttemptView, step_sections
    from magnus_core.models.run_log import running_attempt

    steps = step_sections(run_log, name)
    views = []
    for s in steps:
        found = reader.views(s, attempt)
        begun = running_attempt(s) if ended or any(key[0] == s.internal_name for key in gone) else None
        number = begun[0] if begun is not None else -1  # (-1: none begun and not recorded)
        if number >= 0 and attempt in (None, number) and all(v.attempt_number != number for v in found):
            problem = "the attempt was cut short before any of its output reached its file"
            found.append(AttemptView(s, number, EMPTY, problem))
        views.extend(found)
    if attempt is not None and not views and name is not None:
        raise _no_attempt(run_log, name, attempt, steps, ended)
    return views


def _no_attempt(run_log: RunLog, name: str, attempt: int, steps: list[StepLog], ended: bool) -> Exception:
    """The UsageError (exit 2) for `--attempt N` of step `name` that has no such attempt."""
    from magnus_core.errors import UsageError

    numbers = [str(a.attempt_number) for s in steps for a in s.attempts]
    none = "none" if ended else "none yet"  # an ended run has no attempt to come
    return UsageError(
        f"step '{name}' of run '{run_log.run_id}' has no attempt {attempt} "
        f"(attempts: {', '.join(numbers) or none})",
        field="--attempt",
    )


class _Printer:
    """Writes sections to stdout as bytes (output is shown as it was written); notes go to stderr."""

    def __init__(self, headed: bool, first_bare: bool = False) -> None:
        self.headed = headed
        self.first_bare = first_bare  # no heading before the first section (one step followed)
        self.out: IO[bytes] = sys.stdout.buffer
        self.noted: set[str] = set()
        self.silent: list[str] = []  # with several sections: steps that printed nothing, said once at the end
        self.current: tuple[str, int] | None = None
        self.at_line_start = True
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> None:
        """Output as it was written; bytes that are not UTF-8 shown as the replacement character."""
        text = self._decoder.decode(data)
        if text:
            self.out.write(text.encode("utf-8", "surrogatepass"))
            self.at_line_start = text.endswith("\n")

    def end_section(self) -> None:
        """A section's bytes are all written: an incomplete character at its end is shown as replaced."""
        self.write_tail(self._decoder.decode(b"", final=True))

    def write_tail(self, text: str) -> None:
        if text:
            self.out.write(text.encode("utf-8"))
            self.at_line_start = text.endswith("\n")

    def head(self, view: AttemptView) -> None:
        from magnus_core.logs import attempt_heading

        key = (view.step.internal_name, view.attempt_number)
        if self.headed and key != self.current and self.first_bare and self.current is None:
            pass  # the first section of a single step: as it was written
        elif self.headed and key != self.current:
            self.end_section()
            if not self.at_line_start:  # a section that did not end its last line
                self.write(b"\n")
            self.write(f"{attempt_heading(view)}\n".encode())
        self.current = key

    def note(self, view: AttemptView) -> None:
        from magnus_core.logs import EMPTY, shown_line
        from magnus_core.models.run_log import FAIL

        text = view.problem
        failed = view.attempt is not None and view.attempt.status == FAIL
        if view.state == EMPTY and failed and view.attempt is not None:  # what there is to show is why
            said = shown_line(view.attempt.message or "no message recorded")
            text = "printed nothing; it failed: " + said.replace("\n", "\nmagnus:     ")
        elif view.state == EMPTY and self.headed:  # one line for all of them, not one per silent step
            self.silent.append(f"{view.step.internal_name} (attempt {view.attempt_number})")
            return
        if view.state == "not-kept":  # the same for every attempt: said once
            if text in self.noted:
                return
            self.noted.add(text)
            note(f"magnus: {text}")
            return
        note(f"magnus: {view.step.internal_name} (attempt {view.attempt_number}): {text}")

    def say_failed(self, view: AttemptView) -> None:
        """After a failed attempt's output, or the note saying why there is none, how it failed, on stderr
        (`magnus: bail (attempt 0) failed: SystemExit: the step called sys.exit(2), at steps.py:10 in
        bail`): its output need not say it (a sys.exit, an exit code, a shell step's stderr written early;
        trial 6), and with no output shown (a do-nothing catalog, a missing or unreadable file) nothing
        else does (trial 10, fault 9). Then the last lines it wrote to stderr where they may be the reason
        (logs.stderr_unseen: not under a python exception whose traceback is shown), and, when no output
        is shown, the traceback's frames as the run log keeps them. Lines cut at logs.SHOWN_WIDTH."""
        from magnus_core.logs import (
            CAUSE_WORDS,
            EMPTY,
            exit_said,
            interrupted_at,
            kept_traceback,
            raised,
            shown_line,
            stderr_unseen,
            where_failed,
        )
        from magnus_core.models.run_log import FAIL

        attempt = view.attempt
        stopped = interrupted_at(attempt)  # Ctrl-C or SIGTERM, where its code was (trial 11)
        if stopped:
            self.out.flush()
            note(f"magnus: {view.step.internal_name} (attempt {view.attempt_number}) {stopped}")
        if attempt is None or attempt.status != FAIL:
            return
        self.out.flush()
        message = attempt.message or "no message recorded"
        if view.state != EMPTY:  # (an attempt that printed nothing: its note said the message)
            where = where_failed(attempt, message)
            first, *more = shown_line(message).split("\n")  # the place after its first line (trial 11)
            note(
                f"magnus: {view.step.internal_name} (attempt {view.attempt_number}) failed: "
                + first
                + (f", at {where}" if where else "")
            )
            for line in more:
                note(f"magnus:     {line}")
        error = attempt.error
        if error is None:
            return
        if error.cause is not None and view.state != EMPTY:  # the root of a chain (trial 12 fault 16)
            note(f"magnus:   {shown_line(error.caused_by())}")
        if view.has_output:  # what it wrote to stderr last, unless its output shows it or a traceback
            try:
                ends = view.shown_tail(SHOWN_TAIL)
            except OSError:
                ends = []
            for line in stderr_unseen(error.stderr, ends, raised(error), exit_said(error)):
                note(f"magnus:   stderr: {shown_line(line)}")
            kept = attempt.output
            if kept is None or kept.written <= kept.size:  # (cut at the cap: its traceback was cut too)
                return
        if error.frames:  # no file holds the traceback: the run log's frames are what there is
            note("magnus:   traceback (most recent call last), as the run log keeps it:")
            for line in kept_traceback(error):  # each cause's after, outermost first (trial 12 fault 16)
                note(f"magnus:   {line}" if line.startswith(CAUSE_WORDS) else f"magnus:     {line}")
        # a shell or notebook step's reason may be on stderr: said here when no output was shown (said above
        # with it, once: trial 26 saw them twice when the output was cut at the cap)
        if not view.has_output and not (error.frames and raised(error)):
            for line in error.stderr:
                note(f"magnus:   stderr: {shown_line(line)}")

    def say_silent(self, shown: int = 8) -> None:
        """One stderr line naming the attempts that printed nothing (the first `shown`, then a count)."""
        if not self.silent:
            return
        names = ", ".join(self.silent[:shown])
        more = f" and {len(self.silent) - shown} more" if len(self.silent) > shown else ""
        note(f"magnus: printed nothing: {names}{more}")
        self.silent.clear()

    def section(self, view: AttemptView, tail: int | None) -> bool:
        """Print one attempt's output; True when its file is missing or unreadable."""
        from magnus_core.catalog import CatalogError
        from magnus_core.logs import last_lines

        if not view.has_output:
            self.out.flush()
            self.note(view)
            return view.state == "missing"
        self.head(view)
        try:
            with view.open() as handle:
                if tail is not None:
                    self.write(last_lines(handle, tail, notes=False))
                else:
                    while chunk := handle.read(1 << 20):
                        self.write(chunk)
                self.end_section()
                # a last line the step left unended is ended before a heading, or a prompt; one attempt
                # alone (no heading) piped is written as kept, byte for byte (trial 25: its size and
                # SHA256 no longer matched the run log's)
                if not self.at_line_start and (self.headed or self.out.isatty()):
                    self.write(b"\n")
        except (
            BrokenPipeError
        ):  # stdout's reader has gone (| head): the entry point ends quietly, not a read error
            raise
        except (CatalogError, OSError) as exc:
            self.out.flush()
            view.state, view.problem = "missing", f"output file cannot be read: {exc}"
            note(f"magnus: {view.step.internal_name} (attempt {view.attempt_number}): {view.problem}")
            return True
        self.out.flush()
        return False


def _cut_short(view: AttemptView, ended: bool, gone: frozenset[tuple[str, int]] = frozenset()) -> bool:
    """Whether `view` is an attempt cut short: one that never finished (no record: its process died while
    it ran, kill -9, the OOM killer) in a run that has ended (`ended`: its process gone), as
    models.run_log.running_attempt finds it and `magnus show` counts it, or one of `gone` (_gone: a step
    run one per process whose process is gone). A reused step's views are the original run's: an attempt
    without a record there is the original's, which has ended too."""
    if view.attempt is not None:
        return False
    return ended or (view.step.internal_name, view.attempt_number) in gone


def _gone(run_log: RunLog, reader: Any) -> frozenset[tuple[str, int]]:
    """(step, attempt) of each attempt of a run driven one step per process whose process is known to be
    gone (logs.per_step_cut_short; trial 15 N8); empty for any other run."""
    from magnus_core.logs import per_step_cut_short, run_now

    if run_now(run_log) != "PER-STEP":
        return frozenset()
    return frozenset((cut.step.internal_name, cut.attempt) for cut in per_step_cut_short(run_log, reader)[0])


def _as_json(
    run_log: RunLog,
    sections: list[AttemptView],
    tail: int | None,
    ended: bool,
    gone: frozenset[tuple[str, int]] = frozenset(),
) -> dict[str, Any]:
    """magnus-logs/1: {schema, run_id, attempts: [...]} (the command adds never_ran and failures). Each
    attempt: step, attempt (its number), status (the record's; an attempt with no record reads
    INTERRUPTED in an ended run, PROCESSING in one still running), cut_short (true for an attempt begun
    and never recorded in an ended run: _cut_short), state and problem (logs.AttemptView), reused_from,
    output (the record's), message, error, and text (the output as text, or the last --tail lines; null
    when none is kept)."""
    from magnus_core.catalog import CatalogError

    # an attempt that never finished: running, or cut short when the run has ended (its process gone)
    unfinished = "INTERRUPTED" if ended else "PROCESSING"
    items: list[dict[str, Any]] = []
    for view in sections:
        attempt = view.attempt
        text: str | None = None
        if view.has_output:
            try:
                if tail is not None:
                    text = "\n".join(view.tail(tail))
                else:  # (whole: streamed into the document as it is printed, _echo_json)
                    with view.open():
                        text = _TEXT_MARK.format(len(items))
            except (OSError, CatalogError) as exc:
                view.state, view.problem = "missing", f"output file cannot be read: {exc}"
        items.append(
            {
                "step": view.step.internal_name,
                "attempt": view.attempt_number,
                "status": attempt.status
                if attempt is not None
                else ("INTERRUPTED" if _cut_short(view, ended, gone) else unfinished),
                "cut_short": _cut_short(view, ended, gone),
                "state": view.state,
                "problem": view.problem,
                "differs": view.differs() if view.has_output else "",  # (AttemptView.differs)
                "reused_from": view.reused_from,
                "output": attempt.output.shown() if attempt and attempt.output else None,
                "message": attempt.message if attempt is not None else "",
                "error": attempt.error.model_dump(mode="json") if attempt and attempt.error else None,
                "text": text,
            }
        )
    return {"schema": "magnus-logs/1", "run_id": run_log.run_id, "attempts": items}


# Where an attempt's whole output goes in --json's document (its index among the attempts; a random token,
# so that no text a step wrote can read as one): the document is made with these, and each is replaced by
# the output, read, decoded and escaped a megabyte at a time as it is printed (_echo_json)
_TEXT_MARK = "\0magnus-text-" + secrets.token_hex(8) + "-{}\0"
_TEXT_CHUNK = 1 << 20


def _echo_json(shown: dict[str, Any], sections: list[AttemptView]) -> None:
    """Print --json's document, each attempt's whole output streamed into its `text` (_TEXT_MARK): the
    same text as json.dumps of the whole document, without holding any output whole in memory (trial 19
    F12: `magnus logs RUN STEP --json` of a capped 100 MB output took about 445 MB: the bytes, their text,
    and its escaped copy in the document)."""
    import re

    from magnus_core.catalog import CatalogError
    from magnus_core.logs import decode

    document = json.dumps(shown, indent=2)
    before, after = json.dumps(_TEXT_MARK)[1:-1].split("{}")
    mark = re.escape(before) + r"(\d+)" + re.escape(after)
    out = click.get_text_stream("stdout")
    at = 0
    for found in re.finditer('"' + mark + '"', document):
        out.write(document[at : found.start()] + '"')
        view = sections[int(found.group(1))]
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            with view.open() as handle:
                while chunk := handle.read(_TEXT_CHUNK):
                    out.write(json.dumps(decoder.decode(chunk))[1:-1])
        except (OSError, CatalogError) as exc:  # (read when the document was made: gone since)
            out.write(json.dumps(decode(f"[magnus: the output could not be read: {exc}]".encode()))[1:-1])
        out.write(json.dumps(decoder.decode(b"", final=True))[1:-1] + '"')
        at = found.end()
    out.write(document[at:] + "\n")
    out.flush()


# -- --follow ------------------------------------------------------------------------------------------


@dataclass
class _Followed:
    """How much of one attempt's output was printed already."""

    offset: int = 0
    done: bool = False
    started: bool = False


def _follow(store: RunLogStore, run_id: str, name: str | None, attempt: int | None, tail: int | None) -> int:
    """Print each attempt's output as it grows (kept files and the growing file of the attempt running),
    section by section with a heading whenever the section changes, until the run has ended and everything
    is printed, and then how the run ended (_say_how_it_ended). The exit code: 0, or 1 when the run did not
    succeed or an output file could not be read."""
    from magnus_core.logs import OutputReader, not_run, step_sections
    from magnus_core.models.run_log import FINISHED
    from magnus_core.runs import run_state, settled

    first_log = store.get_run(run_id)
    # one step's output is printed as written, as without --follow: a heading only once another section
    # follows (its next attempt); a whole run, a composite step or a branch is headed section by section
    whole = name is None or _composite(first_log, name) or first_log.find_branch(name) is not None
    # a step that may be retried is headed from its attempt 0 on: a heading cannot be put before what was
    # printed already (trial 16 F9: attempts 1 and 2 were headed, not 0)
    printer = _Printer(headed=True, first_bare=not whole and not _may_retry(first_log, name or ""))
    seen: dict[tuple[str, int], _Followed] = {}
    first = True
    missing = False
    while True:
        run_log = settled(store, store.get_run(run_id))  # (not INTERRUPTED for one that ended just now)
        ended = run_log.status in FINISHED or run_state(run_log) == "INTERRUPTED"
        # (a running attempt's pieces in a bucket listed once a second, LIVE_LISTING; at the end afresh)
        reader = OutputReader(run_log, None, runs=store.get_run, live_within=0.0 if ended else LIVE_LISTING)
        steps = step_sections(run_log, name)  # ([] for a step not reached yet)
        for step in steps:
            for view in reader.views(step, attempt):  # the attempt running now too, as it grows
                missing |= _advance(printer, view, seen, tail if first else None, ended)
        first = False
        if ended:
            printer.out.flush()
            if attempt is not None and name is not None and all(key[1] != attempt for key in seen):
                # (the run has ended without that attempt: exit 2 as without --follow, trial 27)
                raise _no_attempt(run_log, name, attempt, steps, ended)
            _say_unreached(run_log, name, attempt)
            why = not_run(run_log, name) if name is not None else None
            if why is not None:  # a step waited for that the run never reached (tail -F's file never came)
                note(f"magnus: {why}")
            return _say_how_it_ended(run_log) or (1 if missing else 0)
        time.sleep(POLL)


def _may_retry(run_log: RunLog, name: str) -> bool:
    """Whether step `name` has more than one attempt, or its `retry` allows more (its dag says)."""
    from magnus_core.progress import dag_of_config, planned_step

    found = run_log.find_step(name)
    if found is not None and len(found.attempts) > 1:
        return True
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    dag = dag_of_config(config, run_log.dag_hash or "")
    planned = planned_step(dag, name) if dag is not None else None
    return planned is not None and planned.attempts > 1


def _composite(run_log: RunLog, name: str) -> bool:
    """Whether step `name` holds other steps (its output is shown step by step, each headed): as its log
    says, or its dag when it has not begun (a step waited for)."""
    from magnus_core.models.pipeline import COMPOSITE_TYPES
    from magnus_core.progress import dag_of_config, planned_step

    found = run_log.find_step(name)
    if found is not None:
        return bool(found.branches)
    config = run_log.run_config if isinstance(run_log.run_config, dict) else {}
    dag = dag_of_config(config, run_log.dag_hash or "")
    planned = planned_step(dag, name) if dag is not None else None
    return planned is not None and planned.step_type in COMPOSITE_TYPES


def _say_how_it_ended(run_log: RunLog) -> int:
    """One line on stderr with the run's end and why: its first failure's reason, or the step its process
    died in (`run R ended INTERRUPTED: train: crashed (Segmentation fault) at mlproj/crashy.py:10 in
    train`, `s1: attempt 0 was cut short: the run's process ended while it ran`); 0 for SUCCESS, else 1."""
    from magnus_core.logs import failures
    from magnus_core.models.run_log import SUCCESS
    from magnus_core.runs import run_state

    state = run_state(run_log)
    found = failures(run_log, lines=0, limit=1) if state != SUCCESS else []
    why = f": {found[0].internal_name}: {found[0].message}" if found else ""
    if not found and state == "INTERRUPTED":  # its process died in a step: which, and how (trial 13 f. 5)
        from magnus_core.logs import cut_short

        cuts, crash = cut_short(run_log)
        cut = next((c for c in cuts if c.crashed), cuts[0] if cuts else None)
        if crash is not None and (cut is None or not cut.crashed):
            why = f": the run's process {crash.said()}"
        elif cut is not None:
            why = f": {cut.line()}"
    note(f"run {run_log.run_id} ended {state}{why}")
    return 0 if state == SUCCESS else 1


def _advance(
    printer: _Printer,
    view: AttemptView,
    seen: dict[tuple[str, int], _Followed],
    tail: int | None,
    ended: bool,
) -> bool:
    """Print what `view` holds beyond what was printed; True when its file cannot be read. While the run
    goes on, a recorded file not there yet is looked for again (the run hands it over in the background)."""
    from magnus_core.catalog import CatalogError
    from magnus_core.logs import last_lines

    key = (view.step.internal_name, view.attempt_number)
    state = seen.setdefault(key, _Followed())
    if state.done:
        return False
    if not view.has_output:
        if view.state == "unknown" or (view.state == "missing" and not ended):
            return False
        state.done = True
        if view.state != "empty":
            printer.note(view)
        printer.say_failed(view)  # how it failed, as `magnus logs` says it (trial 14 fault 1)
        return view.state == "missing"
    try:
        with view.open() as handle:
            size = handle.seek(0, 2)
            if not state.started and tail is not None:
                data = last_lines(handle, tail, notes=False)
                state.offset = size - len(data)
            state.started = True
            if size > state.offset:
                handle.seek(state.offset)
                printer.head(view)
                while state.offset < size:
                    chunk = handle.read(min(1 << 20, size - state.offset))
                    if not chunk:
                        break
                    printer.write(chunk)
                    state.offset += len(chunk)
                printer.out.flush()
    except BrokenPipeError:  # stdout's reader has gone: the entry point ends quietly
        raise
    except (CatalogError, OSError):
        if view.state == "live" or not ended:  # renamed into place, or not handed over yet: next time
            return False
        state.done = True
        printer.note(view)
        printer.say_failed(view)
        return True
    if view.state == "kept":  # the attempt ended: how it failed, as it ends (a retry's too; trial 14 fault 1)
        state.done = True
        printer.say_failed(view)
    return False
