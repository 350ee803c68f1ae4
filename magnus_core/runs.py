"""The runs in a store, summarised: what `magnus runs` and the workbench's runs screen list."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from magnus_core.errors import MagnusError
from magnus_core.models import PROCESSING

if TYPE_CHECKING:  # (the runs listing imports this module: no models, no pydantic)
    from magnus_core.models.run_log import RunLog
    from magnus_core.stores.base import RunLogStore


@dataclass(slots=True)
class RunSummary:  # not frozen: 20,000 are made per `magnus runs`, three times faster without it
    # The run index makes one per row positionally (index/sqlite._summary), four times faster than with
    # keywords: a new field goes last, and _summary says it too.
    run_id: str
    status: str  # as recorded, or BROKEN when the log cannot be read
    state: str  # what it means now (list_state): SUCCESS, FAIL, RUNNING, PER-STEP, INTERRUPTED, BROKEN
    tag: str = ""
    start: str = ""
    end: str = ""
    duration: float | None = None
    steps: int = 0
    original_run_id: str = ""
    error: str = ""  # why a broken log could not be read
    steps_done: int = 0  # the steps that ran: succeeded, failed, interrupted, reused (Progress.ran)
    pipeline: str = ""  # the pipeline file (run_config.dag_file; "" in the original tool's logs)
    dag_hash: str = ""
    commit: str = ""  # the git commit of the code (the first step's code identity)
    dirty: bool | None = None  # uncommitted changes in the working tree (None: not known)
    failed_step: str = ""  # the first step that failed itself (its internal name), "" when none did
    failure: str = ""  # its error on one line, as `magnus show` words it (index/record.failure_text)
    user: str = ""  # who ran it (run_config.process.user, login_name); "" when not known
    driven: str = ""  # "per-step": driven one step per process (driven_per_step); "" otherwise
    # the total (steps) may still grow (progress.Progress.growing: a map not fanned out yet), while the run
    # runs; an index that cannot say gives False. Not in to_json (magnus-runs/2): `steps` is a floor then
    growing: bool = False

    def to_json(self) -> dict[str, Any]:
        """The fields as `magnus runs --json` and `--csv` give them (schema magnus-runs/2): `error` is named
        `broken_reason` there (trial 6: `"error": ""` beside `"failure": "KeyError…"` left a reader unsure
        which to read; one is why a log could not be read, the other why a run failed)."""
        return {
            ("broken_reason" if k == "error" else k): v for k, v in asdict(self).items() if k != "growing"
        }


# Two readings of one process's start time differ by less than this (psutil derives it from the boot time,
# which the kernel may report a second apart); a pid reused by another process started later than that.
START_TIME_TOLERANCE = 1.0  # seconds


def process_record() -> dict[str, Any]:
    """What a run log records of the process writing it (run_config.process): its `pid`, `host`,
    `started_at` (when the run was recorded, a run-log time) and `start_time`, the operating system's start
    time of the process (seconds since the epoch, psutil's create_time; None when it cannot be read). With
    pid and host, the start time identifies the process: a pid the system gave to another process since has
    another start time (process_alive_at, stop.stop_run). Also `user` (the login name, getpass.getuser(): who
    ran it, in a team's shared store; "" when it cannot be told) and `cwd`, the folder it ran in (what a
    relative catalog or store folder was relative to: `magnus logs` says so from another machine)."""
    from magnus_core.models.times import fmt_time, now

    pid = os.getpid()
    record = {
        "pid": pid,
        "host": _host(),
        "started_at": fmt_time(now()),
        "start_time": process_start_time(pid),
        "user": login_name(),
        "cwd": os.getcwd(),
    }
    from magnus_core.processes import watcher_pid

    watcher = watcher_pid()
    if watcher is not None:  # what stops the steps' processes if this one dies at once (watcher.py)
        record["watcher"] = {"pid": watcher, "start_time": process_start_time(watcher)}
    return record


def step_process() -> dict[str, Any]:
    """This process as a step it runs records it (StepLog.process, the per-step entry point): `pid`,
    `host` and `start_time` (the OS's start time, seconds since the epoch): what process_alive_at needs to
    tell, on that host, that it is gone."""
    pid = os.getpid()
    return {"pid": pid, "host": _host(), "start_time": _own_start_time()}


def _own_start_time() -> float | None:
    """This process's start time as psutil's create_time gives it (the boot time plus its start in clock
    ticks, from /proc), without importing psutil (a per-step process need not: ~0.1 ms here); psutil's
    where /proc has no such files."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            text = handle.read()
        ticks = int(text[text.rfind(b")") + 2 :].split()[19])
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return process_start_time(os.getpid())


def step_process_gone(step: Any) -> int | None:
    """The pid of the process that ran step log `step`'s attempt (StepLog.process) when it is known to be
    gone (on this host: ended, or its pid given to another process); None when it lives, is not recorded,
    or ran on another host (nothing here can tell)."""
    process = getattr(step, "process", None)
    if not isinstance(process, dict):
        return None
    pid = process.get("pid")
    alive = process_alive_at(pid, process.get("host"), process.get("start_time"))
    return pid if alive is False and isinstance(pid, int) else None


def watcher_alive(log: RunLog) -> int | None:
    """The pid of the watcher of run `log`'s process (run_config.process.watcher: magnus_core/watcher.py)
    while it is alive on this host: after its magnus died at once, it is stopping what the run's steps
    started (SIGTERM, MAGNUS_STOP_GRACE seconds, SIGKILL); None when it has ended, is unknown, or runs on
    another host."""
    proc = process_of(log)
    watcher = proc.get("watcher")
    if not isinstance(watcher, dict):
        return None
    pid = watcher.get("pid")
    alive = process_alive_at(pid, proc.get("host"), watcher.get("start_time"))
    return pid if alive and isinstance(pid, int) else None


def login_name() -> str:
    """The login name of this process's user (getpass: LOGNAME, USER, LNAME, USERNAME, then the password
    database); "" when none can be told (a container's uid with no name)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _host() -> str:
    """This machine's name (socket is imported when a run's process is asked about, not by every listing)."""
    import socket

    return socket.gethostname()


def process_start_time(pid: int) -> float | None:
    """The operating system's start time of process `pid` (seconds since the epoch), None when there is no
    such process or it cannot be read. A zombie (ended, not yet reaped) counts as no process."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.Error, ValueError, OverflowError, OSError):
        return None


def same_start(recorded: Any, actual: float | None) -> bool:
    """Whether a recorded start time is that of the process now holding the pid (within the tolerance)."""
    if actual is None or not isinstance(recorded, int | float) or isinstance(recorded, bool):
        return False
    return abs(float(recorded) - actual) <= START_TIME_TOLERANCE


def process_of(log: RunLog) -> dict[str, Any]:
    """The run log's process record (run_config.process), {} when none was recorded (the original tool's
    logs, hand-made ones)."""
    proc = log.run_config.get("process") if isinstance(log.run_config, dict) else None
    return proc if isinstance(proc, dict) else {}


# Executors whose runs are always driven one step per process, each step in a pod of its own: Argo's
# templates run `magnus execute_single_node` with the Argo config (run_config.executor.type "argo"), and its
# `magnus execute` only renders the workflow and writes no run log.
PER_STEP_EXECUTORS = ("argo",)


def driven_per_step(run_config: Any) -> bool:
    """Whether a run (its run_config) is driven one step per process (`magnus execute_single_node`, by
    Argo, Dask or a script): no process runs it whole, so no pid says whether it is still going.

    Since the fifth sitting such a run records `process.driven: per-step` and no pid (single.per_step_
    process). A run an earlier magnus created that way recorded the pid of the process that ran its first
    step, long gone, and read INTERRUPTED: the Argo executor in its run_config marks those. A run made by
    `execute_single_node` with the local executor before then cannot be told from a `magnus execute`
    killed between two steps, and still reads INTERRUPTED (docs/argo.md)."""
    if not isinstance(run_config, dict):
        return False
    process = run_config.get("process")
    if isinstance(process, dict) and process.get("driven") == "per-step":  # (single.PER_STEP)
        return True
    executor = run_config.get("executor")
    return isinstance(executor, dict) and executor.get("type") in PER_STEP_EXECUTORS


ORCHESTRATORS = {"argo": "Argo", "dask": "Dask"}  # executors that drive a run one step per process


def per_step_orchestrator(run_config: Any) -> str:
    """Who drives a run driven one step per process (driven_per_step), as its run_config's executor names
    it: "Argo", "Dask", or "" when no orchestrator is known (the local executor: `magnus
    execute_single_node` run by hand or by a script of the user's). Such a run reads PER-STEP until a step
    reaches the dag's end; with no orchestrator, nothing of magnus will run its next step (trial 7: a run
    started by hand stayed "▶ running" for ever in the workbench, with no hint why)."""
    executor = run_config.get("executor") if isinstance(run_config, dict) else None
    kind = executor.get("type") if isinstance(executor, dict) else None
    return ORCHESTRATORS.get(kind, "") if isinstance(kind, str) else ""


def per_step_hint(log: RunLog) -> str:
    """One line on how a run driven one step per process goes on or ends (per_step_orchestrator): with no
    orchestrator known, the command that runs its next step (next_step_command), as typed it works."""
    who = per_step_orchestrator(log.run_config)
    if who:
        return f"driven one step at a time by {who}: it ends when {who} runs its last step; stop it in {who}"
    # (two lines of the workbench's panel at 80 columns, its last step on the third)
    return (
        "driven one step at a time, no orchestrator known: nothing runs its next step until you do: "
        + next_step_command(log)
    )


def next_step(log: RunLog) -> tuple[str, bool] | None:
    """The run's next top-level step by its recorded dag (run_config's `dag`), and whether it is a
    composite (run by `magnus fan`): the path from `start_at` is followed as the run went, through each
    step's `next` when it succeeded and its `on_failure` (else the dag's fail node) when it failed, as
    graph.next_step routes (trial 14 F6: the hint named the failed step again, so typing it ran it again
    and the hint never moved on); the first step on it not run yet, or still PROCESSING or INTERRUPTED, is
    next. None when it cannot be known (no dag recorded, a path that leaves the dag or loops) or when the
    path has reached its success or fail node."""
    from magnus_core.models.pipeline import COMPOSITE_TYPES

    config = log.run_config if isinstance(log.run_config, dict) else {}
    dag = config.get("dag")
    if not isinstance(dag, dict) or not isinstance(dag.get("steps"), dict):
        return None
    steps = dag["steps"]
    name = dag.get("start_at")
    seen: set[str] = set()
    while isinstance(name, str) and name in steps and name not in seen:
        seen.add(name)
        block = steps[name]
        kind = block.get("type") if isinstance(block, dict) else None
        step = log.steps.get(name)
        if step is None or step.status not in ("SUCCESS", "FAIL"):
            return name, kind in COMPOSITE_TYPES
        if not isinstance(block, dict) or kind in ("success", "fail"):
            return None  # (a terminal node reached: the run has ended there)
        if step.status == "SUCCESS":
            name = block.get("next")
        else:
            fail_nodes = [n for n, b in steps.items() if isinstance(b, dict) and b.get("type") == "fail"]
            name = block.get("on_failure") or (fail_nodes[0] if fail_nodes else None)
    return None


def next_step_command(log: RunLog) -> str:
    """`magnus execute_single_node RUN s1 --file p1k.yaml --config-file config.yaml` (or `magnus fan RUN
    STEP --mode out ...` for a composite): the command that runs the next step of a run driven one step at
    a time (next_step; `STEP` when it cannot be known), with the pipeline, config and var files the run was
    created with (run_config's `dag_file`, `config_file`, `var_file`), shell-quoted. Trial 9: the hint said
    `STEP` and no `--file`, and the command as printed failed (`pipeline.yaml: pipeline file not found`)."""
    import shlex

    from magnus_core.graph import encode_name

    config = log.run_config if isinstance(log.run_config, dict) else {}
    found = next_step(log)
    step = encode_name(found[0]) if found else "STEP"
    words = ["magnus", "fan" if found and found[1] else "execute_single_node", log.run_id, step]
    if found and found[1]:
        words += ["--mode", "out"]
    for flag, key in (("--file", "dag_file"), ("--config-file", "config_file"), ("--var-file", "var_file")):
        value = config.get(key)
        if isinstance(value, str) and value:
            words += [flag, value]
    return " ".join(shlex.quote(word) if word != "STEP" else word for word in words)


def process_alive(log: RunLog) -> bool | None:
    """Whether the process writing this run is still alive (None: unknown: another host, no pid, or a run
    driven one step per process, driven_per_step)."""
    frozen = _ALIVE_WHEN_READ.get(id(log))
    if frozen is not None and frozen[0]() is log:  # as it was when this copy was read (settled)
        return frozen[1]
    proc = process_of(log)
    if "pid" not in proc or driven_per_step(log.run_config):
        return None
    return process_alive_at(proc.get("pid"), proc.get("host"), proc.get("start_time"))


CUT_SHORT = "INTERRUPTED (PROCESSING)"  # a run, or a step, recorded running whose process is gone: every view


def process_gone(status: Any, run_config: Any) -> bool:
    """Whether a run recorded as running (`status` PROCESSING or CREATED) is known to have lost its process
    on this machine (run_state INTERRUPTED), from a log's fields alone: a plain log's too (`magnus diff`'s,
    models.plain). Every view then reads it as `magnus show` does (trial 13 fault 3): the run and any step it
    was running `INTERRUPTED (PROCESSING)` (CUT_SHORT), no duration for either (its log's last time is its
    last write, not an end), and the attempt a step had begun counted. False for a run driven one step per
    process (driven_per_step), another host's or one whose process is alive."""
    if status not in (PROCESSING, "CREATED") or driven_per_step(run_config):
        return False
    process = run_config.get("process") if isinstance(run_config, dict) else None
    if not isinstance(process, dict) or "pid" not in process:
        return False
    return process_alive_at(process.get("pid"), process.get("host"), process.get("start_time")) is False


def process_alive_at(pid: Any, host: Any, start_time: Any = None) -> bool | None:
    """Whether process `pid` on `host` is alive: None when it cannot be known (another host, no pid).

    With `start_time` recorded (process_record), a live pid whose process started at another time is a
    reused pid: the run's process is gone (False). A zombie is gone too."""
    if pid is None or isinstance(pid, bool) or host != _host():
        return None
    try:
        number = int(pid)
    except (ValueError, TypeError, OverflowError):
        return None
    if number <= 0:  # 0 and -1 name a process group or every process: never this run's process
        return None
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return None
    if start_time is None:
        return True
    return same_start(start_time, process_start_time(number))


PER_STEP_STATE = "PER-STEP"


def several_users(users: Any) -> bool:
    """Whether runs (their RunSummary.user, in any iterable) were run by more than one user: a runs list
    then shows who ran each (`magnus runs`' user column, the workbench's), as k9s shows the namespace
    column only when pods of several namespaces are listed. A user alone with their runs never sees it;
    runs whose user is not recorded ("") do not count."""
    names = set(users)  # (in C: 20,000 names in a millisecond, a loop here took four)
    names.discard("")
    return len(names) > 1


def list_state(state: str, driven: str) -> str:
    """What a runs list calls a run (RunSummary.state): its state (run_state), but PER-STEP for a run that
    reads RUNNING and is driven one step per process (`driven` "per-step": Argo, or `magnus
    execute_single_node` by hand). No process runs it whole, so nothing says whether a step runs now: ▶
    running made a run started by hand look hung (trial 7); PER-STEP says how it goes on (per_step_hint)."""
    return PER_STEP_STATE if state == "RUNNING" and driven == "per-step" else state


def plain_state(status: Any, run_config: Any) -> str:
    """What a run is now from its log's fields alone (a plain log's too: `magnus diff`'s, models.plain), as
    `magnus runs` and `magnus show` word it (logs.run_now): RUNNING for a run recorded running whose
    process lives (or cannot be asked: another host), INTERRUPTED when it is gone (process_gone), PER-STEP
    for one driven one step per process (list_state), else its status (SUCCESS, FAIL, INTERRUPTED)."""
    if status not in (PROCESSING, "CREATED"):
        return str(status)
    if driven_per_step(run_config):
        return PER_STEP_STATE
    return "INTERRUPTED" if process_gone(status, run_config) else "RUNNING"


def run_state(log: RunLog) -> str:
    """SUCCESS/FAIL/INTERRUPTED as recorded; PROCESSING is RUNNING if its process lives, else INTERRUPTED."""
    if log.status in (PROCESSING, "CREATED"):
        alive = process_alive(log)
        return "INTERRUPTED" if alive is False else "RUNNING"
    return log.status


def summarise(log: RunLog) -> RunSummary:
    """The summary of one run log (what the run index keeps of it, index/record.py)."""
    from magnus_core.index.record import dead_done, record_from_json
    from magnus_core.models.times import elapsed

    record = record_from_json(log.model_dump(mode="json"))
    state = list_state(run_state(log), record.driven)
    running = state == "RUNNING"  # no end yet; its duration is the time it has run so far
    # a run whose process is gone without ending it: its log's last time is its last write, not its end
    # (trial 12: killed after 4 s, it read 87.3ms); none is shown (`-`), as `magnus show` gives no `took`
    gone = state == "INTERRUPTED" and log.status in (PROCESSING, "CREATED")
    return RunSummary(
        run_id=record.run_id,
        status=record.status,
        state=state,
        tag=record.tag,
        start=record.start,
        end="" if running or gone else record.end,
        duration=elapsed(record.start) if running else None if gone else record.duration,
        steps=record.steps,
        original_run_id=record.original_run_id,
        steps_done=dead_done(record.steps_done, record.steps_running, record.status, state),
        pipeline=record.pipeline,
        dag_hash=record.dag_hash,
        commit=record.commit,
        dirty=record.dirty,
        failed_step=record.failed_step,
        failure=record.failure,
        user=record.user,
        driven=record.driven,
    )


def read_log(store: RunLogStore, run_id: str) -> tuple[RunLog | None, str]:
    """One run's log, or None and why it cannot be read; never raises for what is in the store.

    The rule every lister follows (`magnus runs`, the workbench, the run index): one bad log never hides
    the others. A log that cannot be read (RunLogError: not JSON, not a run log, a FIFO, too large, too
    deep; OSError) gives its reason; so does a fault nobody foresaw, named by its exception class so it is
    reported on that run's row, not hidden, and never ends the listing.
    """
    try:
        return store.get_run(run_id), ""
    except MagnusError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    except Exception as exc:
        return None, f"cannot read ({exc.__class__.__name__}: {one_line(exc)})"


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message on one line, at most `limit` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def list_runs(
    store: RunLogStore, *, tag: str | None = None, status: str | None = None, limit: int | None = None
) -> list[RunSummary]:
    """Every run in the store, newest first; a log that cannot be read is listed as BROKEN with the reason.

    Answered by the run index (magnus_core/index), which reads only logs it has not seen or that changed.
    """
    from magnus_core.index import RunQuery, open_index

    index = open_index(store)
    try:
        result = index.query(RunQuery(tag=tag, status=status, limit=limit))
    finally:
        index.close()
    return [run.summary for run in result.runs]


def provider_source(block: dict[str, Any] | None) -> Callable[[], Any]:
    """A function making the secrets provider `block` names (the default provider for None: the environment
    and `.env`) on its first call and returning that one after: for a store that may need a credential from
    it (stores.make_store), so a command that never connects never reads `.env`."""
    made: list[Any] = []

    def provider() -> Any:
        if not made:
            from magnus_core.registry import load_provider

            made.append(load_provider("secrets", block or {"type": "env-and-dotenv", "config": {}}))
        return made[0]

    return provider


def store_from_config(config_file: str | None = None) -> RunLogStore:
    """The run-log store the configuration names (defaults < magnus-config.yaml < --config-file)."""
    from magnus_core.loading import config_source, load_config
    from magnus_core.stores import make_store

    config = load_config(config_file, None)
    return make_store(
        config["run_log_store"],
        source=config_source(config, "run_log_store"),
        secrets=provider_source(config.get("secrets")),
    )


LATEST = ("last", "latest")  # what `magnus show last` names: the newest run


def resolve_run_id(store: RunLogStore, text: str) -> str:
    """The run id a user typed, completed as git completes a commit: the id itself; `last` (or `latest`)
    for the newest run, the one `magnus runs` lists first (newest_run_id); or the one id that starts or
    ends with `text` (`1b3bf9`, `20261130111426`).

    Raises RunNotFoundError (exit 2, with the nearest ids) when nothing matches, UsageError naming the
    candidates when several do. An id that exists is never matched further (a run named `last` is that run).
    """
    from magnus_core.errors import RunNotFoundError, UsageError

    ids = store.list_run_ids()
    if text in ids:
        return text
    if text in LATEST and ids:
        return newest_run_id(store) or ids[-1]
    found = [run_id for run_id in ids if text and (run_id.startswith(text) or run_id.endswith(text))]
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(sorted(found)[:5]) + (f" and {len(found) - 5:,} more" if len(found) > 5 else "")
        raise UsageError(f"run id '{text}' matches {len(found):,} runs: {shown}; give more of it")
    raise RunNotFoundError(text, ids, store.where())


def newest_run_id(store: RunLogStore) -> str | None:
    """The run `last` names in every command (show, logs, diff, stop, execute --use-cached, completion):
    the first run `magnus runs` lists, as the workbench's runs list shows it first: the newest by start
    time (the run index's order: start time as true time, then the id; a log with no start time by its
    modification time). None for an empty store. Trial 10: `last` was the newest by the time a generated
    id starts with, so after `--run-id zzz-custom` `magnus logs last` showed another run than the one
    `magnus runs` listed first."""
    from magnus_core.index import RunQuery, open_index

    index = open_index(store)
    try:
        runs = index.query(RunQuery(limit=1)).runs
    finally:
        index.close()
    return runs[0].summary.run_id if runs else None


def get_typed_run(store: RunLogStore, text: str) -> RunLog:
    """The run a user named on the command line: `store.get_run(text)`, and on a miss the run
    `resolve_run_id` completes `text` to (a unique prefix or suffix, `last`); its errors otherwise."""
    from magnus_core.errors import RunNotFoundError

    try:
        return settled(store, store.get_run(text))
    except RunNotFoundError:
        resolved = resolve_run_id(store, text)
        if resolved == text:
            raise
        return settled(store, store.get_run(resolved))


def settled(store: RunLogStore, log: RunLog) -> RunLog:
    """`log` as read from `store`, or read once more when it reads as a run whose process is gone (status
    PROCESSING or CREATED, process_alive False): the process may have written the run's end between the
    read and the look at its pid, and the run would read INTERRUPTED when it ended FAIL or SUCCESS (CI,
    session 12: `magnus logs R STEP --follow` of a run that ended within 200 ms said 'the run ended
    INTERRUPTED before it'). Once its process is gone a log no longer changes: the second read is its
    last word. What was found is kept for the copy returned (_ALIVE_WHEN_READ): every later look at it
    (run_state, logs.run_now) reads the run as it was when read, never RUNNING in one line of a command's
    output and INTERRUPTED in the next because the process ended in between. A loop that waits for a
    process to end reads the log afresh each time. Raises what store.get_run raises."""
    if log.status not in (PROCESSING, "CREATED"):
        return log
    alive = process_alive(log)
    if alive is False:
        log = store.get_run(log.run_id)
    key = id(log)
    _ALIVE_WHEN_READ[key] = (weakref.ref(log, lambda _gone: _ALIVE_WHEN_READ.pop(key, None)), alive)
    return log


# Whether a run's process lived when a copy of its log was read, for the copies runs.settled read: id(copy)
# -> (a weak reference to the copy, what process_alive found). Kept beside the model, not in it (a field
# would be written; a private attribute is made for every log read, at a cost): each copy forgets it as
# it goes.
_ALIVE_WHEN_READ: dict[int, tuple[weakref.ref[RunLog], bool | None]] = {}
