"""task and as-is nodes: a step's whole lifecycle, in one place.

    1. start     the step log is written PROCESSING (watchers see the step begin)
    2. get       catalog get, once
    3. attempts  the command, up to `retry` times (_run_attempt: nothing it does escapes but an
                 interruption); a failed attempt is written as it ends; a signal that stops the run
                 meanwhile records the attempt INTERRUPTED (here, or by runner.execute for a branch
                 thread it abandons)
    4. put       catalog put, once, whatever the outcome: the files land before any record names them
    5. COMMIT    ONE store write (store.commit_step): attempts, status, metrics, catalog records and
                 returned_parameters together
    6. publish   only now do the returned parameters reach `params`, the parameters of the steps after

The invariant (docs/crash-safety.md): nothing a step produced is visible to a re-run, or to the steps
after it, before its commit. A kill at any instant before 5 leaves the step not done (a re-run runs it
again from the parameters it was given: `params` was never touched); from 5 on it is done with everything
it produced. A fault while writing (disk full, a read-only catalog) fails the step with the reason, its
attempts kept; a fault of the run-log store itself stops the run (StoreError) with the last commit intact.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from magnus_core.crashpoints import crash_point
from magnus_core.errors import MagnusError, StepError, signal_name
from magnus_core.failure import (
    CommandFailed,
    HardExit,
    clean_text,
    describe,
    error_of,
    exit_outcome,
    traceback_text,
    value_message,
)
from magnus_core.interaction import StepScope, enter_scope, exit_scope
from magnus_core.models.run_log import (
    FAIL,
    INTERRUPTED,
    SUCCESS,
    AttemptError,
    AttemptOutput,
    MetricPoint,
    StepLog,
)
from magnus_core.nodes.common import attempt, new_step_log
from magnus_core.tasks import TaskRunner, runner_for

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.models.pipeline import AsIsNode, TaskNode

log = logging.getLogger("magnus")


def execute(
    node: TaskNode | AsIsNode,
    name: str,
    internal_name: str,
    ctx: RunContext,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    """Run one task (or as-is/stub) node on `params`; its committed step log comes back, and `params` then
    holds what the step returned (only if it succeeded)."""
    # 1. start
    step = new_step_log(node, name, internal_name, ctx)
    ctx.store.begin_step(ctx.run_id, step, branch)
    crash_point("task:started", internal_name)
    if node.type != "task":  # as-is / stub: a placeholder that succeeds
        start = ctx.clock()
        step.attempts.append(attempt(0, start, ctx.clock(), SUCCESS))
        step.status = SUCCESS
        return _commit(step, ctx, params, branch, {})

    # 2. get
    catalog = ctx.catalog
    if catalog is not None and node.catalog is not None and node.catalog.get:
        try:
            step.data_catalog.extend(catalog.get_patterns(node.catalog.get, node.catalog.compute_data_folder))
        except MagnusError as exc:
            return _fail_before_start(step, ctx, branch, _catalog_message("get", clean_text(str(exc))))
        except Exception as exc:  # a data folder that cannot be written, say
            return _fail_before_start(step, ctx, branch, f"catalog get: {describe(exc)}")

    # 3. attempts; the last one's record, the outcome and the commit mask with the patterns of one moment,
    # held from the moment its command returned (its secrets are known then: Masker.held)
    scope, hold = _attempts(node, internal_name, ctx, step, {**params, **map_variable}, branch, map_variable)
    try:
        crash_point("task:returned", internal_name)
        return _record(node, internal_name, ctx, step, scope, params, branch)
    finally:
        hold.__exit__(None, None, None)


def _record(
    node: TaskNode,
    internal_name: str,
    ctx: RunContext,
    step: StepLog,
    scope: StepScope,
    params: dict[str, Any],
    branch: str | None,
) -> StepLog:
    """What follows the attempts: the outcome, the catalog put, the commit (steps 4 to 6 of execute)."""
    catalog = ctx.catalog
    step.data_catalog.extend(scope.catalog_records)
    returned: dict[str, Any] = {}
    if step.attempts[-1].status == SUCCESS:
        try:  # keys that collide once secret values are masked fail the step, naming the masked key
            # (nothing tracked or returned: nothing to mask, and the secrets' patterns need not be asked for)
            step.user_defined_metrics = ctx.mask_data(scope.metrics, where="metrics") if scope.metrics else {}
            if scope.params_out:
                _, step.masked_parameters = ctx.mask_parameters(scope.params_out)
        except MagnusError as exc:
            step.attempts[-1].status = FAIL
            step.attempts[-1].message = str(exc)
    if step.attempts[-1].status == SUCCESS:
        _warn_non_finite(internal_name, scope)
        if scope.history:
            step.metric_history = {
                name: [MetricPoint.model_validate(p) for p in sorted(points, key=lambda p: p["step"])]
                for name, points in ctx.mask_data(scope.history, strict=False).items()
            }
        returned = dict(scope.params_out)
        step.status = SUCCESS
    else:
        step.status = FAIL
        step.message = step.attempts[-1].message

    # 4. put
    if catalog is not None and node.catalog is not None and node.catalog.put:
        try:
            step.data_catalog.extend(
                catalog.put_patterns(
                    node.catalog.put, node.catalog.compute_data_folder, branch=branch, step=internal_name
                )
            )
        except MagnusError as exc:  # a full disk, a read-only folder: the step fails, its attempts kept
            step.status = FAIL
            step.message = ctx.mask(_catalog_message("put", clean_text(str(exc))))
        except Exception as exc:  # a file the step made that cannot be read or copied
            step.status = FAIL
            step.message = ctx.mask(f"catalog put: {describe(exc)}")
    crash_point("task:put", internal_name)

    # 5. commit and 6. publish
    return _commit(step, ctx, params, branch, returned if step.status == SUCCESS else {})


def _attempts(
    node: Any,
    internal_name: str,
    ctx: RunContext,
    step: StepLog,
    inputs: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> tuple[StepScope, contextlib.AbstractContextManager[None]]:
    """Run the command until an attempt succeeds or `node.attempts` are used; each attempt is appended to
    `step.attempts` (a failed one written at once, so a watcher sees it). The last attempt's scope comes
    back: what it returned, tracked and put in the catalog, with the masker's hold (Masker.held) entered
    when its command returned, for the caller to exit once the step is committed (no command runs until
    then: one look at the secrets' version per step instead of two). An interruption (Ctrl-C, SIGTERM) is
    recorded, the attempt and the step INTERRUPTED, then raised: the run stops."""
    runner = runner_for(node.command_type)
    scope: StepScope | None = None
    kept: contextlib.AbstractContextManager[None] | None = None
    for number in range(node.attempts):
        scope = StepScope(
            run_id=ctx.run_id,
            tag=ctx.tag,
            parameters=inputs,
            internal_name=internal_name,
            map_variable=dict(map_variable),
            services=ctx,
            branch=branch,
        )
        start = ctx.clock()
        with ctx.lock:  # a run stopped meanwhile records this attempt INTERRUPTED (runner.execute)
            ctx.running[internal_name] = (branch, number, start)
        outcome = _run_attempt(runner, node, scope, ctx, number)
        with ctx.lock:
            ctx.running.pop(internal_name, None)
        hold: contextlib.AbstractContextManager[None] | None = ctx.masker.held()
        assert hold is not None
        hold.__enter__()  # the command returned: its secrets are known (Masker.held)
        try:
            # as magnus 0.4 records it: what this attempt's command received (`inputs` stays the step's
            # parameters: the next attempt gets them again)
            received: dict[str, Any] = {}
            if scope.inputs is not None:
                received = {"parameters": ctx.mask_data(scope.inputs, strict=False) if scope.inputs else {}}
            record = attempt(
                number,
                start,
                ctx.clock(),
                outcome.status,
                ctx.mask(outcome.message),
                error=outcome.error,
                output=outcome.output,
                **received,
            )
            step.attempts.append(record)
            if outcome.interrupted is not None:  # Ctrl-C or SIGTERM: the attempt is recorded, the run stops
                step.status, step.message = INTERRUPTED, record.message
                ctx.store.put_step_log(ctx.run_id, step, branch)
                raise outcome.interrupted
            if outcome.status == SUCCESS or number + 1 == node.attempts:  # the last attempt: held on
                kept, hold = hold, None
                break
            ctx.store.put_step_log(ctx.run_id, step, branch)
        finally:
            if hold is not None:
                hold.__exit__(None, None, None)
    assert scope is not None and kept is not None
    return scope, kept


def _commit(
    step: StepLog, ctx: RunContext, params: dict[str, Any], branch: str | None, returned: dict[str, Any]
) -> StepLog:
    """5. One store write makes the step done with everything it produced; 6. then `params` gets what it
    returned. A top-level step also hands the store the run's parameters after it, for readers of the run
    log (the store may write them after the step: nothing relies on them, see stores/base.py)."""
    step.returned_parameters = ctx.mask_data(returned, strict=False) if returned else {}
    after = {**params, **returned} if branch is None and returned else None
    recorded, masked = ctx.recorded_parameters(after) if after is not None else (None, [])
    ctx.store.commit_step(ctx.run_id, step, branch, parameters=recorded)
    crash_point("task:committed", step.internal_name)
    if after is not None and masked != ctx.masked_recorded:  # the run's parameters recorded masked
        ctx.masked_recorded = masked
        ctx.store.update_run(ctx.run_id, masked_parameters=masked)
    params.update(returned)
    return step


def _catalog_message(stage: str, text: str) -> str:
    return text if text.startswith(f"catalog {stage}") else f"catalog {stage}: {text}"


def _fail_before_start(step: StepLog, ctx: RunContext, branch: str | None, message: str) -> StepLog:
    start = ctx.clock()
    message = ctx.mask(message)
    step.attempts.append(attempt(0, start, ctx.clock(), FAIL, message))
    step.status = FAIL
    step.message = message
    ctx.store.commit_step(ctx.run_id, step, branch)
    return step


@dataclass
class _Outcome:
    """How one attempt ended: its status, the message and located error of a failure, and the interruption
    (Ctrl-C, SIGTERM) to re-raise once the attempt is recorded."""

    status: str = SUCCESS
    message: str = ""
    error: AttemptError | None = None
    interrupted: BaseException | None = None
    output: AttemptOutput | None = None


def _run_attempt(
    runner: TaskRunner, node: TaskNode, scope: StepScope, ctx: RunContext, number: int
) -> _Outcome:
    """Run the command once, its output captured (capture.attempt: the attempt's file in the catalog),
    and say how it ended; the outcome's `output` is where the output is kept.

    Nothing the command does escapes as an exception except an interruption, and that only once recorded:
    sys.exit() ends the step (code 0 or None a success), any other exception (BaseException included)
    fails the attempt with its type, message and frames, its traceback ending the kept output; what it
    returned or tracked must fit in a run log (else the attempt fails naming it); a working folder or
    sys.stdout it changed and did not restore is put back."""
    capture = _capture()
    folder = str(_root(ctx))
    token = enter_scope(scope)
    outcome = _Outcome()
    with capture.attempt(ctx, scope.internal_name, number) as kept:
        streams = (sys.stdout, sys.stderr)
        threads = frozenset(threading.enumerate()) if node.command_type == "python" else frozenset()
        try:
            with ctx.redirect(), _Guard(ctx.concurrent):
                runner(node.command, node.command_config, scope, ctx)
            _check_outputs(scope)
        except CommandFailed as exc:
            outcome = _Outcome(FAIL, clean_text(exc.message), _masked(exc.error, ctx))
        except MagnusError as exc:  # raised by magnus, or by a magnus function the step's code called
            located = error_of(exc, _root(ctx), ctx.mask)
            outcome = _Outcome(FAIL, clean_text(str(exc)), located if located.frames else None)
            if located.frames:
                kept.write_text(ctx.mask(traceback_text(exc, _root(ctx))))
        except SystemExit as exc:  # sys.exit() in a step ends the step, never the run
            succeeded, message, code = exit_outcome(exc)
            if not succeeded:
                located = error_of(exc, _root(ctx), ctx.mask, exit_code=code)
                located.message = ctx.mask(message.removeprefix("SystemExit: "))
                outcome = _Outcome(FAIL, message, located)
                if not isinstance(exc.code, int):  # python prints sys.exit's message on stderr
                    kept.write_text(f"{located.message}\n")
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated): stop the run once recorded
            outcome = _Outcome(
                INTERRUPTED, f"interrupted by {signal_name(exc)}: the run was stopped", interrupted=exc
            )
        except BaseException as exc:  # the user's code may raise anything; the run goes on
            outcome = _Outcome(FAIL, describe(exc), error_of(exc, _root(ctx), ctx.mask))
            kept.write_text(ctx.mask(traceback_text(exc, _root(ctx))))
            log.debug("step %s failed", scope.internal_name, exc_info=True)
        finally:
            exit_scope(token)
            _restore(folder, streams, ctx)
            if node.command_type == "python":
                _note_threads(scope.internal_name, threads)
    outcome.output = kept.record
    if outcome.status == FAIL and outcome.error is not None:  # what it wrote to stderr last (trial 6)
        outcome.error.stderr = kept.stderr_lines()
    return outcome


_CAPTURE: list[Any] = []


def _capture() -> Any:
    """magnus_core.capture, imported on the first attempt (not at import: the per-step process's start)."""
    if not _CAPTURE:
        from magnus_core import capture

        _CAPTURE.append(capture)
    return _CAPTURE[0]


# Threads a python step started and left running that python would wait for at exit (not daemon threads):
# thread ident -> (the step that was running, the thread). cli._leave says so and does not wait for them.
LEFT_RUNNING: dict[int, tuple[str, threading.Thread]] = {}


def _note_threads(step: str, before: frozenset[threading.Thread]) -> None:
    """Remember the non-daemon threads started while the step ran (not in `before`) that are still alive
    (magnus's own are daemons; a thread the workbench runs the run in was there before)."""
    for thread in before.symmetric_difference(threading.enumerate()):  # (in C: usually none, per step)
        if thread in before or thread.daemon or thread.ident is None:
            continue
        LEFT_RUNNING[thread.ident] = (step, thread)


def threads_left() -> list[tuple[str, threading.Thread]]:
    """(step, thread) for every thread a python step left that is still running (see LEFT_RUNNING)."""
    return [(step, thread) for step, thread in LEFT_RUNNING.values() if thread.is_alive()]


class _Guard:
    """Around a step's command (one object per attempt, not two generators):

    - os._exit() called by the step's own thread in this process raises HardExit (a SystemExit) instead
      of ending the process with the run log unfinished. A child process (multiprocessing's fork) or
      another thread still exits as asked. Not beside other branches (`concurrent`): there os._exit is left
      as it is (replacing a module attribute from several threads cannot be undone in order).
    - A process the step forked (os.fork()) that returns or raises instead of exiting would go on running
      the rest of the dag beside magnus, writing the same run log and printing a second summary: it ends
      here, flushed, with 0 when it returned and 1 when it raised (what a child process's exit code says).
    """

    __slots__ = ("concurrent", "pid", "real")

    def __init__(self, concurrent: bool) -> None:
        self.concurrent = concurrent
        self.pid = 0
        self.real: Any = None

    def __enter__(self) -> None:
        self.pid = pid = os.getpid()
        if self.concurrent:
            return
        real = os._exit
        thread = threading.get_ident()

        def guarded(status: int) -> NoReturn:
            if os.getpid() == pid and threading.get_ident() == thread:
                raise HardExit(status)
            real(status)

        os._exit = guarded
        self.real = real

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if os.getpid() != self.pid:  # a forked copy of magnus: it ends here
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(1 if exc_type is not None else 0)
        if self.real is not None:
            os._exit = self.real
            self.real = None


def _root(ctx: RunContext) -> Path:
    """The project folder: where the run started (frames are shown relative to it, steps run in it)."""
    return ctx.root


def _masked(error: AttemptError | None, ctx: RunContext) -> AttemptError | None:
    if error is None:
        return None
    error.message = ctx.mask(clean_text(error.message))
    return error


def _restore(folder: str, streams: tuple[Any, Any], ctx: RunContext) -> None:
    """What a step may change for the whole process and forget to put back: the working folder (later steps,
    the catalog and a store with a relative folder would work elsewhere) and sys.stdout / sys.stderr (later
    output, the summary, would go where the step pointed them). Not beside other branches: there another
    thread's step may be using its own redirection."""
    try:
        moved = os.getcwd() != folder
    except OSError:  # the step removed the folder it was in
        moved = True
    if moved:
        os.chdir(folder)
        log.warning("a step changed the working folder and did not change it back; magnus did")
    if ctx.concurrent:
        return
    if (sys.stdout, sys.stderr) != streams:
        sys.stdout, sys.stderr = streams
    _disarm_alarm()


def _disarm_alarm() -> None:
    """An alarm a step set (signal.alarm) with no handler of its own would kill magnus when it rings, later,
    with the run log unfinished: it is cancelled (an alarm whose handler the step installed stays)."""
    import signal

    if not hasattr(signal, "alarm"):  # pragma: no cover - not on Windows
        return
    remaining = signal.alarm(0)
    if not remaining:
        return
    if signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None):
        log.warning("a step left an alarm (signal.alarm) that would have ended magnus; magnus cancelled it")
    else:
        signal.alarm(remaining)


def _warn_non_finite(step: str, scope: StepScope) -> None:
    """A metric holding NaN or an infinity (a diverged loss) is kept as null: a run log is JSON, which has
    no such numbers. Said once per metric (a series of NaN points is one warning), naming the step."""
    for name in dict.fromkeys([*scope.metrics, *scope.history]) if scope.metrics or scope.history else ():
        found = _non_finite(scope.metrics.get(name))
        if found is None:
            for point in scope.history.get(name, ()):
                found = _non_finite(point["value"])
                if found is not None:
                    break
        if found is not None:
            log.warning(
                "step %s: metric '%s' is %s, which a run log (JSON) cannot hold: it is kept as null",
                step,
                name,
                found,
            )


def _non_finite(value: Any) -> str | None:
    """'nan', 'inf' or '-inf' for the first such float in `value` (lists, tuples, mappings walked)."""
    if value is None or value.__class__ is int or value.__class__ is str:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return next((bad for item in value if (bad := _non_finite(item)) is not None), None)
    return None


def _check_outputs(scope: StepScope) -> None:
    """What a step returned and tracked must fit in a run log: else the attempt fails naming the value, its
    type and what to do, instead of the run log failing to be written (failure.value_message)."""
    for what, values in (("returned parameter", scope.params_out), ("metric", scope.metrics)):
        for key, value in values.items():
            problem = value_message(what, key, value)
            if problem:
                raise StepError(problem)
    for key, points in scope.history.items():
        for point in points:
            problem = value_message("metric", f"{key} (step {point['step']})", point["value"])
            if problem:
                raise StepError(problem)
