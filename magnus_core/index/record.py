"""What a run index keeps of one run: its summary row and its final parameters and metrics.

Extracted from the run log's JSON form (a dict), so an index can be built from raw JSON without validating
every log through the models (the cold build of 20,000 runs costs about one `json.load` of each). Anything
that is not shaped like a run log raises ValueError; the caller then reads the log the slow, exact way to
get the precise error, and lists it as broken.

Metric names (documented in docs/experiments.md):
- `name`: the run's metric, the value recorded by the last step (in execution order: the order of the run
  log's steps, nested branch steps depth first) that tracked `name`;
- `<internal_name>.<name>`: one step's value, by the step's internal name (`train.auc`,
  `parallel.branch_a.fit.loss`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from magnus_core.models import PROCESSING
from magnus_core.models.times import _key as _key
from magnus_core.models.times import run_span as run_span
from magnus_core.models.times import run_span_keys
from magnus_core.runs import driven_per_step

RUNNING_STATUSES = (PROCESSING, "CREATED")
# What a record holds and means, as a number: bumped with every change to record_from_json's result (5: steps
# and steps_done count the path, progress.step_progress; 6: a run's fail node reached counts as a failed
# step; 7: a branch's fail node too, and failures in a composite whose failure the run handled are done;
# 8: the first step that failed itself and its error, failed_step and failure; 9: no pid for a run driven
# one step per process, runs.driven_per_step: an older Argo run's pid was its first step's pod's; 10: a
# step whose failure the run handled is failed, not done: steps_done counts the steps that succeeded; 11:
# steps_done counts the steps that ran to an end, succeeded, failed or reused, progress.Progress.ran; 12: a
# fail node is never a step, however the run got there, so steps and steps_done leave it out: trial 10;
# 13: steps_done counts the interrupted steps too, they ran: trial 12 fault 7; steps_running, the steps
# running when the log was read, came without a new kind: a run later found dead counts them as ran, as
# `magnus show` does, trial 13 fault 2; the indexes' migrations read their running runs again, SQLite
# schema 17, the postgres store's migration 7). The failure's escape sequences stripped (failure_text, trial
# 14 F13) came without a new kind: the indexes' migrations strip those of older rows in place (SQLite schema
# 18, the postgres store's migration 8), no log read again. The failure's chained cause (`; caused by ...`,
# session 11) came without a new kind too: the migrations read the failed runs again (SQLite schema 19, the
# postgres store's migration 9).
# An index made from records of an older kind reads the logs again: the SQLite index rebuilds (its
# SCHEMA_VERSION follows this), the PostgreSQL index's rows of an older kind are read again by the next
# refresh (index/postgres.py). The run's user and how it is driven (user, driven) came without a new kind: the
# indexes' migrations fill them (SQLite schema 12, the postgres store's migration 5), with no log read again.
RECORD_VERSION = 13
PER_STEP = "per-step"  # RunRecord.driven of a run driven one step per process (runs.driven_per_step)


@dataclass
class RunRecord:
    """One run as an index keeps it. Times are the run log's strings (local time); duration in seconds."""

    run_id: str
    status: str
    tag: str = ""
    pipeline: str = ""
    dag_hash: str = ""
    start: str = ""
    end: str = ""
    duration: float | None = None
    start_key: float | None = None  # seconds since the epoch (true time, whatever the offsets)
    end_key: float | None = None
    steps: int = 0
    steps_done: int = 0  # the steps that ran (succeeded, failed, interrupted, reused): Progress.ran
    # the steps running (PROCESSING) when the log was read: Progress.running. A run whose process is found
    # gone (state INTERRUPTED) counts them as ran, cut short (dead_done), as the summary and `magnus show`
    # do: trial 13 fault 2 (a killed run read 1/3 in `magnus runs`, 2/3 in `magnus show`)
    steps_running: int = 0
    original_run_id: str = ""
    commit: str = ""
    dirty: bool | None = None
    use_cached: bool = False
    pid: int | None = None
    host: str = ""
    pid_start: float | None = None  # the process's start time (runs.process_record): a reused pid differs
    error: str = ""  # why a broken log could not be read (status BROKEN)
    failed_step: str = ""  # the internal name of the first step that failed itself (logs.failed_leaves)
    failure: str = (
        ""  # its error on one line and its chained cause, as `magnus show` words them (failure_text)
    )
    user: str = ""  # who ran it: run_config.process.user (runs.login_name), "" when not recorded
    driven: str = ""  # PER_STEP for a run driven one step per process (runs.driven_per_step), else ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    growing: bool = False  # the total (steps) may still grow: progress.Progress.growing (kept in step_text)


def broken(run_id: str, error: str) -> RunRecord:
    return RunRecord(run_id=run_id, status="BROKEN", error=error)


def _bad(what: str) -> ValueError:
    return ValueError(what)


def _steps(steps: Any) -> list[dict[str, Any]]:
    """Every step log, nested ones included, depth first in execution order; ValueError for anything not
    shaped like the model's step logs (checked cheaply: the exact reason comes from the model)."""
    out: list[dict[str, Any]] = []
    stack = [iter(steps.values())] if type(steps) is dict else None
    if stack is None:
        raise _bad("'steps' is not a mapping")
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            continue
        if (
            type(step) is not dict
            or type(step.get("name")) is not str
            or type(step.get("internal_name")) is not str
            or type(step.get("status", "")) is not str
            or type(step.get("attempts", ())) not in (list, tuple)
            or type(step.get("code_identities", ())) not in (list, tuple)
            or type(step.get("data_catalog", ())) not in (list, tuple)
        ):
            raise _bad("a step log is not shaped like one")
        out.append(step)
        branches = step.get("branches")
        if branches:
            if type(branches) is not dict:
                raise _bad("'branches' is not a mapping")
            for branch in reversed(list(branches.values())):
                if type(branch) is not dict or type(branch.get("steps") or {}) is not dict:
                    raise _bad("a branch log is not shaped like one")
            stack.append(iter([s for b in branches.values() for s in (b.get("steps") or {}).values()]))
    return out


_PROGRESS: dict[tuple[Any, ...], tuple[int, int, int, bool]] = {}  # (dag hash, statuses, branches) -> counts


def dead_done(steps_done: int, steps_running: int, status: str, state: str) -> int:
    """The N of a run's N/M as every view gives it: a run recorded as running (PROCESSING) whose process
    is gone (state INTERRUPTED) counts the steps it was running as ran, cut short (the summary's counts line
    and `magnus show` since 9d03a63, the workbench's header): one count in `magnus runs`, `--json`'s
    steps_done and the workbench's runs list too (trial 13 fault 2). A run stopped by a signal recorded its
    steps INTERRUPTED itself, so it has none running."""
    if state == "INTERRUPTED" and status in RUNNING_STATUSES:
        return steps_done + steps_running
    return steps_done


def _progress(
    config: dict[str, Any], dag_hash: str, work: dict[str, tuple[str, bool]], branch_logs: set[str]
) -> tuple[int, int, int, bool]:
    """(total, ran, running, growing) of progress.step_progress (ran: the steps that ran, Progress.ran;
    running: Progress.running; growing: Progress.growing), remembered
    per dag hash and statuses: the runs of one pipeline mostly end alike, and the walk of the dag costs more
    than the rest of a record."""
    from magnus_core.progress import dag_of_config, dag_outline, step_progress

    key = None
    if dag_hash:  # the outline too: a log edited by hand can hold another dag under a known hash
        key = (dag_hash, dag_outline(config), tuple(work.items()), tuple(sorted(branch_logs)))
    if key is not None and key in _PROGRESS:
        return _PROGRESS[key]

    counted = step_progress(dag_of_config(config, dag_hash), work, branch_logs)
    if key is not None:
        if len(_PROGRESS) > 4096:
            _PROGRESS.clear()
        _PROGRESS[key] = (counted.total, counted.ran, counted.running, counted.growing)
    return counted.total, counted.ran, counted.running, counted.growing


def record_from_json(data: Any) -> RunRecord:
    """The record of a run log given as its JSON dict; ValueError if it is not shaped like one."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    run_id = data.get("run_id")
    if not isinstance(run_id, str):
        raise ValueError("'run_id' is not a string")
    config = data.get("run_config") or {}
    if not isinstance(config, dict):
        raise ValueError("'run_config' is not a mapping")
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise ValueError("'parameters' is not a mapping")
    starts: list[str] = []
    ends: list[str] = []
    commit = ""
    dirty: bool | None = None
    metrics: dict[str, Any] = {}
    work: dict[str, tuple[str, bool]] = {}  # what progress.step_progress counts
    branch_logs: set[str] = set()
    failed: dict[str, Any] | None = None
    for step in _steps(data.get("steps") or {}):
        if failed is None and step.get("status") == "FAIL" and _failed_itself(step):
            failed = step
        if step.get("step_type") not in ("success", "fail"):
            work[step["internal_name"]] = (str(step.get("status") or ""), bool(step.get("mock")))
        if step.get("branches"):
            branch_logs.update(step["branches"])
        own = not step.get("mock")  # a reused step's times are its original's (run_span)
        for attempt in step.get("attempts") or ():
            if type(attempt) is not dict:
                raise _bad("an attempt is not a mapping")
            if not own:
                continue
            start, end = attempt.get("start_time"), attempt.get("end_time")
            if start:
                starts.append(str(start))
            if end:
                ends.append(str(end))
        if not commit:
            for identity in step.get("code_identities") or ():
                if type(identity) is dict and identity.get("code_identifier"):
                    commit = str(identity["code_identifier"])
                    dependable = identity.get("code_identifier_dependable")
                    dirty = None if dependable is None else not bool(dependable)
                    break
        tracked = step.get("user_defined_metrics")
        if tracked:
            if type(tracked) is not dict:
                raise _bad("'user_defined_metrics' is not a mapping")
            internal = step["internal_name"]
            for name, value in tracked.items():
                metrics.pop(name, None)  # the last step to track it wins, and its place is now
                metrics[name] = value
                metrics[f"{internal}.{name}"] = value
    dag_hash = data.get("dag_hash")
    steps, done, running, growing = _progress(
        config, dag_hash if isinstance(dag_hash, str) else "", work, branch_logs
    )
    process = config.get("process") if isinstance(config.get("process"), dict) else {}
    start, last, start_key, end_key, duration = run_span_keys(
        str(process.get("started_at") or "") if process else "", starts, ends
    )
    # a run driven one step per process has no process whose end says it stopped (runs.driven_per_step)
    per_step = driven_per_step(config)
    pid = process.get("pid") if process and not per_step else None
    status, tag, original = (
        data.get("status"),
        data.get("tag"),
        data.get("original_run_id"),
    )
    for name, value in (("status", status), ("tag", tag), ("dag_hash", dag_hash), ("original", original)):
        if value is not None and type(value) is not str:
            raise _bad(f"'{name}' is not a string")
    return RunRecord(
        run_id=run_id,
        status=status or "FAIL",
        tag=tag or "",
        pipeline=str(config.get("dag_file") or ""),
        dag_hash=dag_hash or "",
        start=start,
        end=last,
        duration=duration,
        start_key=start_key,
        end_key=end_key,
        steps=steps,
        steps_done=done,
        steps_running=running,
        original_run_id=original or "",
        commit=commit,
        dirty=dirty,
        use_cached=bool(data.get("use_cached")),
        # SQLite holds 64-bit integers: a pid beyond them (a hostile log) is no pid
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**63 else None,
        host=str(process.get("host") or "") if process else "",
        pid_start=_start_time(process.get("start_time") if process else None),
        params=dict(params),
        metrics=metrics,
        failed_step=failed["internal_name"] if failed is not None else "",
        failure=failure_text(failed) if failed is not None else "",
        user=user_of(process),
        driven=PER_STEP if per_step else "",
        growing=growing,
    )


def user_of(process: Any) -> str:
    """Who ran a run, from its run_config.process record (runs.process_record's `user`): "" when it is not
    recorded (the original tool's logs, runs made before the sixth sitting) or is not text."""
    user = process.get("user") if isinstance(process, dict) else None
    return user if isinstance(user, str) else ""


FAILURE_CHARS = 300  # the most of a failure's line an index keeps (the whole error: `magnus show RUN`)


def _failed_itself(step: dict[str, Any]) -> bool:
    """logs.failed_itself on a step log's JSON: a failed attempt, or a failed step with a message and no
    failed step inside it (not the fail node, nor a composite whose branch failed)."""
    if step.get("status") != "FAIL" or step.get("step_type") in ("fail", "success"):
        return False
    if step.get("attempts"):
        return True
    if not step.get("message"):
        return False
    try:
        inside = _steps({"": step})[1:]
    except ValueError:
        return True
    return not any(s.get("status") == "FAIL" for s in inside)


def failure_text(step: dict[str, Any]) -> str:
    """A failed step's error on one line, as `magnus show`'s summary words it (summary.failure_lines): its
    message (logs.failure_message), then where it failed (logs.where_failed) when the message does not say
    it already, `(at steps.py:29 in train)`, and its chained cause as show says it under the error
    (`; caused by JSONDecodeError: ..., at chain.py:5 in _read`, caused_by_json: whole where it fits, the
    message before it cut first); white space made single spaces, at most FAILURE_CHARS
    characters, without a step's escape sequences and control characters (logs.harmless). The message is
    the run log's, masked when it was recorded."""
    attempts = step.get("attempts") or ()
    last = attempts[-1] if attempts and type(attempts[-1]) is dict else None
    last_message = str(last.get("message") or "") if last is not None else ""
    message = str(step.get("message") or "")
    if last_message and message.startswith("[") and message.endswith(f"] {last_message}"):
        message = last_message
    message = message or last_message or "failed"
    error = last.get("error") if last is not None else None
    where = _where(error)
    if where and where not in message.replace("with code", "exit code"):
        message = f"{message} (at {where})"
    cause = caused_by_json(error)
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in message + cause):
        from magnus_core.controls import harmless  # (a consumer printing it is not hit by a step's escapes)

        message, cause = harmless(message), harmless(cause)  # (trial 14, F13: `"\u001b[31mred..."` in --json)
    text, cause = " ".join(message.split()), " ".join(cause.split())
    if cause:  # the cause whole when it fits, the outer message cut first (the cause is the reason)
        room = FAILURE_CHARS - len(cause) - 2
        if room < FAILURE_CHARS // 3:
            room = FAILURE_CHARS // 3
        text = (text if len(text) <= room else text[: room - 3] + "...") + "; " + cause
    return text if len(text) <= FAILURE_CHARS else text[: FAILURE_CHARS - 3] + "..."


def caused_by_json(error: Any) -> str:
    """AttemptError.caused_by on an attempt's error as JSON: `caused by JSONDecodeError: Expecting value,
    at mlproj/chain.py:5 in _read` (the root of the chain of causes, its place; `raised while handling ...`
    when every link is python's implicit chaining), or "" without a cause: as `magnus show` says it under
    the error (session 11: `magnus runs --status FAIL` and --json's failure named the outer exception only,
    `RuntimeError: could not load config`, where show gave the JSONDecodeError that was the reason)."""
    if type(error) is not dict:
        return ""
    found, implicit, depth = error.get("cause"), True, 0
    if type(found) is not dict:
        return ""
    while True:
        implicit = implicit and bool(found.get("implicit"))
        below = found.get("cause")
        if type(below) is not dict or depth > 50:
            break
        found, depth = below, depth + 1
    kind = found.get("type") if isinstance(found.get("type"), str) else "Exception"
    said = str(found.get("message") or "").split("\n")[0]
    where = _where({"frames": found.get("frames")})
    words = "raised while handling" if implicit else "caused by"
    return f"{words} {kind}{': ' + said if said else ''}" + (f", at {where}" if where else "")


def _where(error: Any) -> str:
    """logs.where_failed on an attempt's error as JSON: `steps.py:29 in train`, `cell 3, line 2`, `exit code
    6`, or "" (none, or a negative code: killed by a signal, which the message says)."""
    if type(error) is not dict:
        return ""
    from magnus_core.paths import in_project

    frames = [f for f in error.get("frames") or () if type(f) is dict and isinstance(f.get("file"), str)]
    frame = next((f for f in reversed(frames) if in_project(f["file"])), frames[-1] if frames else None)
    place = ""
    if frame is not None:
        function = frame.get("function") or ""
        place = f"{frame['file']}:{frame.get('line', 0)}" + (f" in {function}" if function else "")
    cell = error.get("cell")
    if cell is not None:
        return f"cell {cell}" + (f", line {frame.get('line', 0)}" if frame is not None else "")
    if place:
        return place
    code = error.get("exit_code")
    if isinstance(code, int) and code < 0:  # killed by a signal: the message names it (as where_failed)
        return ""
    if code is not None:
        return f"exit code {code}"
    return ""


def _start_time(value: Any) -> float | None:
    """A recorded process start time, if it is a finite number."""
    if not is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of thousands of digits
        return None


def is_number(value: Any) -> bool:
    """A finite number the index can hold as a float (an integer of thousands of digits is not: it is
    kept as text, never an OverflowError that would stop the index)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
