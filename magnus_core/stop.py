"""Stopping a running run from outside its process: `magnus stop RUN` and the workbench's stop key.

    outcome = stop_run(store, run_id, timeout=30)    # NotRunning, CannotStop or RunNotFoundError otherwise
    outcome.status                                   # INTERRUPTED (what was done is kept; resumable)

The run log names the process writing the run (run_config.process: pid, host and the process's start time,
runs.process_record). Only a process on this host whose pid *and* start time match is signalled, so a pid the
system has since given to another process is never touched. The process gets SIGTERM, which `magnus
execute` handles like Ctrl-C: the steps in progress are recorded INTERRUPTED, the run ends INTERRUPTED, and
`magnus execute --use-cached RUN` resumes it. If it has not ended after `timeout` seconds it gets SIGKILL
(as `docker stop` does); the run then reads INTERRUPTED all the same (its process is gone, runs.run_state),
and the stop waits for magnus's watcher to stop the steps' processes (processes.watch) before it returns.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magnus_core.errors import MagnusError
from magnus_core.models.run_log import FINISHED, RunLog
from magnus_core.runs import (
    driven_per_step,
    per_step_hint,
    process_of,
    process_start_time,
    run_state,
    same_start,
)
from magnus_core.stores.base import RunLogStore

DEFAULT_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL
KILL_WAIT = 5.0  # seconds to wait for a process to go after SIGKILL
# seconds to wait, once magnus is killed, for its watcher to stop its steps' processes (their grace, the
# killed magnus's MAGNUS_STOP_GRACE, 5 s by default, and a margin)
WATCHER_WAIT = 15.0


class NotRunning(MagnusError):
    """The run is not running (it ended, or its process is gone): nothing to stop, exit code 2, as `magnus
    show` and `magnus logs` exit for a run that is not there. Not 1: that says a run failed, and stopping
    an ended run fails nothing (the run's own status is its outcome); the message says how it ended and,
    when it can be resumed, how (trial 8 read exit 1 as a failure of the stop)."""

    exit_code = 2


class CannotStop(MagnusError):
    """The run may be running, but not by a process this command may signal (another host, a log without
    the process's start time, a process of another user): exit code 1, the message says what to do."""

    exit_code = 1


@dataclass(frozen=True)
class StopOutcome:
    """How a stop went: `run_id`, its `pid`, the run's `status` as recorded afterwards (INTERRUPTED when the
    process recorded it; PROCESSING when it had to be killed), `state` (what it means now: INTERRUPTED),
    `killed` (SIGKILL was needed) and `seconds` the stop took."""

    run_id: str
    pid: int
    status: str
    state: str
    killed: bool
    seconds: float
    resume: str = ""  # the command that resumes the run

    @property
    def on_its_own(self) -> bool:
        """Whether the run ended SUCCESS or FAIL, not stopped: its process went on after SIGTERM (a step that
        ignores the signal, a library's own handler) and finished first (trial 16 F4: `magnus stop` read
        that as `stopped ... SUCCESS; resume it with`)."""
        return self.status in ("SUCCESS", "FAIL")

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pid": self.pid,
            "status": self.status,
            "state": self.state,
            "killed": self.killed,
            "seconds": round(self.seconds, 3),
            "resume": self.resume if self.status != "SUCCESS" else "",
            "ended_on_its_own": self.on_its_own,
        }


@dataclass(frozen=True)
class Target:
    """The process writing a run, checked to be the one the run log names: `pid` and its `start_time`."""

    run_id: str
    pid: int
    host: str
    start_time: float


def stop_target(log: RunLog) -> Target:
    """The process to signal to stop this run, after every check; NotRunning or CannotStop say why not.

    The run must be PROCESSING (or CREATED) with a process record naming this host, a pid and the process's
    start time, and a process with that pid and that start time must be alive here."""
    run_id = log.run_id
    if log.status in FINISHED:
        resumable = log.status != "SUCCESS"
        again = f"; resume it with {resume_command(log)}" if resumable else ""
        raise NotRunning(f"run '{run_id}' is not running: it ended {log.status}, nothing to stop{again}")
    proc = process_of(log)
    pid, host, start = proc.get("pid"), proc.get("host"), proc.get("start_time")
    if driven_per_step(log.run_config):  # (single.per_step_process) no process of ours runs it whole
        raise CannotStop(f"run '{run_id}' is {per_step_hint(log)}")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise CannotStop(
            f"run '{run_id}' records no process (a log written by another tool): "
            "it cannot be stopped from here"
        )
    if host != socket.gethostname():
        raise CannotStop(
            f"run '{run_id}' runs on host '{host}' (pid {pid}), not on this one: stop it there "
            f"(magnus stop {run_id})"
        )
    if not isinstance(start, int | float) or isinstance(start, bool):
        raise CannotStop(
            f"run '{run_id}' records pid {pid} without the process's start time (a log of an older magnus): "
            "not signalling it, as that pid may belong to another process now"
        )
    actual = process_start_time(pid)
    if actual is None or not same_start(start, actual):
        why = "its process is gone" if actual is None else f"pid {pid} is another process now"
        raise NotRunning(
            f"run '{run_id}' is not running: {why}, so it was interrupted; resume it with "
            f"{resume_command(log)}"
        )
    return Target(run_id, pid, host, float(start))


def stop_run(
    store: RunLogStore,
    run_id: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll: float = 0.05,
    on_wait: Callable[[float], None] | None = None,
) -> StopOutcome:
    """Stop the run `run_id` (see the module's docstring); returns once its process has ended.

    Raises RunNotFoundError (exit 2) for an unknown run, NotRunning (exit 2) when it is not running,
    CannotStop (exit 1) when its process cannot be signalled from here. `on_wait(seconds so far)` is called
    while waiting (progress for a terminal)."""
    import psutil

    target = stop_target(store.get_run(run_id))
    began = time.monotonic()
    try:
        process = psutil.Process(target.pid)
        if not same_start(target.start_time, process.create_time()):
            raise NotRunning(f"run '{run_id}' is not running: pid {target.pid} is another process now")
        # psutil checks again, as it signals, that the pid is still this process (its own start time)
        process.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        raise NotRunning(f"run '{run_id}' is not running: its process ended just now") from None
    except psutil.AccessDenied:
        raise CannotStop(
            f"run '{run_id}' runs in process {target.pid} of another user: not allowed to stop it"
        ) from None
    watchers = _watchers(process)
    killed = not _wait_gone(process, timeout, poll, began, on_wait)
    if killed:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            killed = False
        else:
            _wait_gone(process, KILL_WAIT, poll, began, on_wait)
            for watcher in watchers:  # it stops the killed magnus's step processes (processes.watch)
                _wait_gone(watcher, WATCHER_WAIT, poll, began, on_wait)
    log = store.get_run(run_id)
    return StopOutcome(
        run_id=run_id,
        pid=target.pid,
        status=log.status,
        state=run_state(log),
        killed=killed,
        seconds=time.monotonic() - began,
        resume=resume_command(log),
    )


def _watchers(process: Any) -> list[Any]:
    """The watcher magnus started (magnus_core/watcher.py: a child of it), which stops the step processes
    of a magnus killed outright: `magnus stop` waits for it after its SIGKILL, so that a resume it then
    prints does not start a second copy beside a step's process still ending (trial 13 fault 1)."""
    import psutil

    found = []
    with contextlib.suppress(psutil.Error):
        for child in process.children():
            with contextlib.suppress(psutil.Error):
                command = child.cmdline()
                if len(command) > 1 and any(
                    part.endswith(os.path.join("magnus_core", "watcher.py")) for part in command
                ):
                    found.append(child)
    return found


def resume_line(log: RunLog) -> str:
    """The line `magnus show` ends a failed or interrupted run with: `Resume with: COMMAND`
    (resume_command), except for a run an Argo workflow drove: `magnus execute` with an argo config
    renders a workflow, which runs every step, and refuses `--use-cached` (docs/argo.md), so the command
    would be refused as typed (trial 14 F7); the line says how such a run is re-run instead. (A Dask run's
    command works: its re-run runs with the local executor, runner.prepare.)"""
    config = log.run_config if isinstance(log.run_config, dict) else {}
    executor = config.get("executor")
    if isinstance(executor, dict) and executor.get("type") == "argo":
        return (
            "Re-run: a workflow rendered again runs every step (docs/argo.md); to reuse this run's "
            "succeeded steps, re-run it with a config whose executor is local on the same run_log_store: "
            f"magnus execute --use-cached {shlex.quote(log.run_id)} ..."
        )
    return f"Resume with: {resume_command(log)}"


def resume_command(log: RunLog) -> str:
    """The command that resumes a run that ended without success, from what its run log recorded
    (rerun.command_words: the same words `magnus execute` printed when it ended): `--file`, the options
    that shaped it (`--config-file`, `--parameters-file`, `--var-file`, `--tag`), `--use-cached RUN` and
    the parameters given as `--name value` (those recorded masked as `--name VALUE`, see
    rerun.refuse_masked). Shell-quoted."""
    from magnus_core.rerun import command_words

    config = log.run_config if isinstance(log.run_config, dict) else {}
    start = config.get("parameters")
    start = start if isinstance(start, dict) else {}
    names = config.get("command_line_parameters")
    names = names if isinstance(names, list) else []
    given = {n: start[n] for n in names if isinstance(n, str) and n in start}

    def text(key: str) -> str | None:
        value = config.get(key)
        return str(value) if value else None

    return command_words(
        log.run_id,
        file=text("dag_file"),
        config_file=text("config_file"),
        parameters_file=text("parameters_file"),
        var_file=text("var_file"),
        tag=log.tag or "",
        parameters=given,
        masked=log.masked_parameters,
    )


def _wait_gone(
    process: Any, timeout: float, poll: float, began: float, on_wait: Callable[[float], None] | None
) -> bool:
    """Wait until `process` has ended (or is a zombie its parent has not reaped): True, or False after
    `timeout` seconds."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        if on_wait is not None:
            on_wait(time.monotonic() - began)
        time.sleep(poll)
