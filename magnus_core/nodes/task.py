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
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core.crashpoints import crash_point
from magnus_core.errors import MagnusError, say_when_stopped, signal_name
from magnus_core.failure import (
    CommandFailed,
    ImportFailed,
    clean_text,
    describe,
    error_of,
    exit_outcome,
    import_exit,
    masked_error,
    say_retry,
    stopped_traceback,
    traceback_text,
)
from magnus_core.fatal import note_thread
from magnus_core.interaction import StepScope, enter_scope, exit_scope
from magnus_core.interrupts import from_signal, received
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
from magnus_core.output import PYTHON_STEP
from magnus_core.stepenv import in_concurrent_branch
from magnus_core.stepguard import (
    _Guard,
    _note_threads,
    _restore,
    _warn_non_finite,
    check_returned,
    process_settings,
    restore_process_settings,
)
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
    if ctx.attempts_before is not None and internal_name in ctx.attempts_before:  # run again (ctx field)
        step.attempts = list(ctx.attempts_before[internal_name])
    if ctx.step_process is not None:  # one step per process: which one runs it (trial 15 N8)
        step.process = ctx.step_process
    ctx.store.begin_step(ctx.run_id, step, branch)
    if in_concurrent_branch.get():  # which branch a fatal signal crashes in is then known (fatal.py)
        note_thread(internal_name)
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
    first = len(step.attempts)  # attempts it had before (a step run again: RunContext.attempts_before)
    for number in range(first, first + node.attempts):
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
            ctx.running[internal_name] = (branch, number, start, node.command_type)
        outcome = _run_attempt(runner, node, scope, ctx, number)
        with ctx.lock:
            ctx.running.pop(internal_name, None)
            if ctx.stopped is not None:  # the run is stopping: its record of this attempt wants the output
                ctx.stopped[internal_name] = (number, outcome.output)
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
                line = f"Interrupted: step {internal_name} (attempt {number}) is marked INTERRUPTED."
                raise say_when_stopped(outcome.interrupted, line)
            if outcome.status == SUCCESS or number + 1 == first + node.attempts:  # the last: held on
                kept, hold = hold, None
                break
            ctx.store.put_step_log(ctx.run_id, step, branch)
            cause = record.error.caused_by() if record.error is not None else ""
            say_retry(internal_name, number, first + node.attempts, record.message, cause)  # on the terminal
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
    step.attempts.append(attempt(len(step.attempts), start, ctx.clock(), FAIL, message))
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
    signals = received()  # a KeyboardInterrupt with no signal since is the step's own (interrupts.py)
    with capture.attempt(ctx, scope.internal_name, number) as kept:
        streams = (sys.stdout, sys.stderr)
        python = node.command_type == "python"
        # (a shell command's output has pipes of its own; beside other branches a notebook's kernel's cells
        # send what it writes to fd 1 and 2 as their output, kept: capture.AttemptFile.fds)
        shell = node.command_type == "shell"
        if kept.file is not None and (shell or (node.command_type == "notebook" and ctx.concurrent)):
            kept.file.fds = False
        threads = frozenset(threading.enumerate()) if python else frozenset()
        dispositions = process_settings() if python else None
        held = python and not ctx.concurrent  # (beside other branches output.BESIDE holds SIGPIPE)
        if held:  # magnus's writes into a pipe hold SIGPIPE while it runs (trial 21)
            PYTHON_STEP[0] += 1
        try:
            with ctx.redirect(), _Guard(ctx.concurrent):
                runner(node.command, node.command_config, scope, ctx)
            check_returned(scope, node.command if python else "", _root(ctx))
        except CommandFailed as exc:
            outcome = _Outcome(FAIL, clean_text(exc.message), _masked(exc.error, ctx))
        except ImportFailed as exc:  # its module raised as it was imported now (the per-step entry point)
            located = masked_error(exc.error, ctx.mask)
            outcome = _Outcome(FAIL, clean_text(f"field 'command': {exc.unplaced}"), located)
            kept.write_text(ctx.mask(exc.traceback))
        except MagnusError as exc:  # raised by magnus, or by a magnus function the step's code called
            located = error_of(exc, _root(ctx), ctx.mask)
            outcome = _Outcome(FAIL, clean_text(str(exc)), located if located.frames else None)
            if located.frames:
                kept.write_text(ctx.mask(traceback_text(exc, _root(ctx))))
        except SystemExit as exc:  # sys.exit() in a step ends the step, never the run
            succeeded, message, code = exit_outcome(exc)
            at_import = import_exit(exc, _root(ctx), ctx.mask)  # a module it imported exited (trial 20 N1)
            if at_import is not None:
                outcome = _Outcome(FAIL, at_import[0], at_import[1])
                kept.write_text(ctx.mask(traceback_text(exc, _root(ctx))))
            elif not succeeded:
                located = error_of(exc, _root(ctx), ctx.mask, exit_code=code)
                located.message = ctx.mask(message.removeprefix("SystemExit: "))
                outcome = _Outcome(FAIL, message, located)
                if not isinstance(exc.code, int):  # python prints sys.exit's message on stderr
                    kept.write_text(f"{located.message}\n")
        except KeyboardInterrupt as exc:
            if from_signal(signals):  # Ctrl-C, or SIGTERM (errors.Terminated): stop the run once recorded
                outcome = _Outcome(
                    INTERRUPTED, f"interrupted by {signal_name(exc)}: the run was stopped", interrupted=exc
                )
                if node.command_type == "python":  # where its code was, as python prints it (trial 11)
                    outcome.error = _interrupted_at(exc, ctx, kept)
            else:  # the step's code raised it, no signal came: it fails the step like any exception
                outcome = _raised(exc, scope, ctx, kept)
        except BaseException as exc:  # the user's code may raise anything; the run goes on
            outcome = _raised(exc, scope, ctx, kept)
        finally:
            try:
                exit_scope(token)
                _restore(folder, streams, ctx, scope.internal_name)
                if python:
                    restore_process_settings(dispositions, step=scope.internal_name)  # (SIGPIPE ignored)
                    _note_threads(scope.internal_name, threads)
            finally:
                if held:
                    PYTHON_STEP[0] -= 1
    outcome.output = kept.record
    if outcome.status == FAIL and outcome.error is not None:  # what it wrote to stderr last (trial 6)
        from magnus_core.logs import NOISE  # (ipykernel's TCP warning: no reason; trial 16 F7)

        outcome.error.stderr = [line for line in kept.stderr_lines() if not NOISE.search(line)]
    return outcome


def _interrupted_at(exc: BaseException, ctx: RunContext, kept: Any) -> AttemptError | None:
    """Where a python step's code was when Ctrl-C or SIGTERM stopped it: the interruption's frames (the
    user's code; magnus's own left out, failure.frames_of) recorded as the attempt's error, as a failure's
    are, and its traceback ending the kept output, as `python train.py` and Ctrl-C print it, its last line
    saying what stopped it (failure.stopped_traceback: `Terminated: the run was stopped by SIGTERM (magnus
    stop, ...)`, where python's read `magnus_core.errors.Terminated`) (trial 11: a hung step stopped by
    Ctrl-C or `magnus stop` kept no trace of where it was). None (nothing recorded) when none of its frames
    is the user's: the signal came while magnus itself ran."""
    located = error_of(exc, _root(ctx), ctx.mask)
    if not located.frames:
        return None
    with contextlib.suppress(Exception):  # (the interruption is recorded whatever the file can take)
        kept.write_text(ctx.mask(stopped_traceback(exc, _root(ctx))))
    return located


def _raised(exc: BaseException, scope: StepScope, ctx: RunContext, kept: Any) -> _Outcome:
    """A failed attempt of an exception the step's code raised: its type, message and frames; its traceback
    ends the kept output."""
    outcome = _Outcome(FAIL, describe(exc), error_of(exc, _root(ctx), ctx.mask))
    kept.write_text(ctx.mask(traceback_text(exc, _root(ctx))))
    log.debug("step %s failed", scope.internal_name, exc_info=True)
    return outcome


_CAPTURE: list[Any] = []


def _capture() -> Any:
    """magnus_core.capture, imported on the first attempt (not at import: the per-step process's start)."""
    if not _CAPTURE:
        from magnus_core import capture

        _CAPTURE.append(capture)
    return _CAPTURE[0]


def _root(ctx: RunContext) -> Path:
    """The project folder: where the run started (frames are shown relative to it, steps run in it)."""
    return ctx.root


def _masked(error: AttemptError | None, ctx: RunContext) -> AttemptError | None:
    if error is None:
        return None
    error.message = ctx.mask(clean_text(error.message))
    return error
