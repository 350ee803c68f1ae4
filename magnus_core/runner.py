"""One run, start to end: load and check everything first, then create the run log and execute.

`prepare()` does all validation (a UsageError means exit code 2 and nothing was written); `execute()` runs
a prepared run and returns its final run log. The CLI and the workbench both call these two.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import secrets as _secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from magnus_core.catalog import BaseCatalog
from magnus_core.context import RunContext, Services
from magnus_core.context import run_config as describe_run
from magnus_core.errors import (
    ConfigError,
    PipelineError,
    StoreError,
    UsageError,
    install_extra,
    missing,
    say_when_stopped,
    signal_name,
)
from magnus_core.events import RunEvent
from magnus_core.executors.base import Executor
from magnus_core.loading import (
    Pipeline,
    Problem,
    config_source,
    load_config,
    load_pipeline,
    locate_config_error,
    located,
    read_variables,
    step_places,
)
from magnus_core.models.pipeline import TaskNode
from magnus_core.models.run_log import (
    FAIL,
    INTERRUPTED,
    PROCESSING,
    SUCCESS,
    AttemptOutput,
    BranchLog,
    RunLog,
    StepLog,
)
from magnus_core.models.times import fmt_time, now
from magnus_core.nodes.common import attempt
from magnus_core.parameters import initial_parameters
from magnus_core.secrets import BaseSecrets
from magnus_core.stores.base import RunLogStore, check_run_id
from magnus_core.tracking import DoNothingTracker, ExperimentTracker

log = logging.getLogger("magnus")


@dataclass
class RunRequest:
    """What the user asked for: the CLI's options, or the workbench's form."""

    file: str = "pipeline.yaml"
    config_file: str | None = None
    parameters_file: str | None = None
    var_file: str | None = None
    run_id: str | None = None
    tag: str = ""  # empty: none, or, for a re-run, the original's (rerun.prepare_rerun sets it)
    parameters: dict[str, Any] = field(default_factory=dict)  # from --name value
    use_cached: str | None = None  # the run to re-run
    strict: bool = False


@dataclass
class PreparedRun:
    """A run checked and ready: its pipeline, config, services and starting parameters."""

    request: RunRequest
    pipeline: Pipeline
    config: dict[str, dict[str, Any]]
    store: RunLogStore
    executor: Executor
    secrets: BaseSecrets
    catalog: BaseCatalog
    parameters: dict[str, Any]
    run_id: str
    original: RunLog | None = None
    warnings: list[str] = field(default_factory=list)
    plan: Any = None  # a re-run's rerun.RerunPlan (which steps are reused, which run)
    tracker: ExperimentTracker = field(default_factory=DoNothingTracker)
    # when the run began: the instant its id was made (a run-log time), recorded as run_config.process's
    # started_at, so a generated id's time and the start every view shows are the same second
    started_at: str = ""


def new_run_id(clock: Callable[[], datetime] = datetime.now) -> str:
    """The seed's form: timestamp, '_', 6 random hex characters (two runs in one second never collide)."""
    return f"{clock().strftime('%Y%m%d%H%M%S')}_{_secrets.token_hex(3)}"


def _run_id_at(moment: datetime) -> str:
    return new_run_id(lambda: moment)


def prepare(request: RunRequest, *, cwd: Path | None = None) -> PreparedRun:
    """Load, validate and build everything a run needs; raise UsageError before anything is written."""
    from magnus_core.failure import json_problem
    from magnus_core.settings import check

    check()  # the MAGNUS_* settings a run reads as it goes (MAGNUS_OUTPUT_CAP at each attempt): now
    # the run log and the environment hold the tag
    if "\0" in request.tag or json_problem(request.tag) is not None:
        raise UsageError("--tag must be valid text without a NUL character", field="tag")
    variables = read_variables(request.var_file)
    pipeline = load_pipeline(request.file, variables)
    config = load_config(request.config_file, pipeline, cwd)
    try:
        services = Services.from_config(config)  # a misconfigured tracker too is refused before anything runs
    except ConfigError as exc:  # name the file the faulty block came from
        locate_config_error(exc, config)
        raise
    store, executor = services.store, services.executor
    rerun_note = ""
    if request.use_cached is not None and executor.service_name == "dask":
        # the dask executor does not reuse steps: a re-run runs with the local executor on the same store
        # and catalog, so the `Resume with:` command a failed Dask run prints works as typed (trial 14 F7:
        # it was refused, exit 2). Recorded in the re-run's run_config as the local executor.
        from magnus_core.executors.local import LocalExecutor

        executor = services.executor = LocalExecutor()
        rerun_note = (
            "the re-run runs with the local executor (the dask executor does not reuse steps): its steps run "
            "in this process, on the same store and catalog"
        )
    parameters = initial_parameters(request.parameters_file, request.parameters)
    check_commands(pipeline)
    check_parameter_types(pipeline, parameters, request)
    check_folders(pipeline, config, store, services.catalog, rerun=request.use_cached is not None)
    try:  # a bucket that is missing or refuses us: before anything is written
        services.catalog.check(services.secrets)
    except ConfigError as exc:
        locate_config_error(exc, config)
        raise
    try:  # what it cannot run is refused before anything is written
        executor.validate(pipeline, config, request)
    except ConfigError as exc:  # a config field: the file that set it, and its line
        locate_config_error(exc, config)
        raise
    moment = now()  # the run begins: its id (when generated) and its recorded start are this instant
    if request.run_id:
        run_id = check_run_id(request.run_id, field="--run-id")
        if store.exists(run_id):
            raise UsageError(
                f"a run '{run_id}' already exists in {store.where()}; choose another --run-id "
                "(or re-run it with --use-cached)",
                field="run_id",
            )
    else:
        run_id = _run_id_at(moment)
        while store.exists(run_id):  # (two runs in one second: a new random part, and a new instant)
            moment = now()
            run_id = _run_id_at(moment)
    prepared = PreparedRun(
        request=request,
        pipeline=pipeline,
        config=config,
        store=store,
        executor=executor,
        secrets=services.secrets,
        catalog=services.catalog,
        parameters=parameters,
        run_id=run_id,
        tracker=services.tracker,
        started_at=fmt_time(moment),
        warnings=[*getattr(config, "overridden", []), *([rerun_note] if rerun_note else [])],  # (the team's
    )
    if request.use_cached is not None:
        from magnus_core.rerun import prepare_rerun

        prepare_rerun(prepared, cwd or Path.cwd())
    return prepared


def check_commands(pipeline: Pipeline) -> None:
    """Every python command importable and callable, every lambda valid, the notebook extra installed when a
    step is a notebook: before anything runs."""
    from magnus_core.graph import nodes, walk
    from magnus_core.tasks.lambda_ import compile_lambda
    from magnus_core.tasks.python import resolve

    checked: dict[tuple[str, str], str | None] = {}  # each distinct command once: its problem, if any
    details: dict[tuple[str, str], str] = {}  # lines printed under the error, per command
    for node in nodes(pipeline.dag):
        if isinstance(node, TaskNode) and node.command_type == "notebook" and ("notebook", "") not in checked:
            needs = missing("papermill", "nbformat")  # the extra, looked up once (not imported here)
            text = f"notebook steps need papermill: {install_extra('notebook')}"
            checked["notebook", ""] = text if needs else None
        if isinstance(node, TaskNode) and node.command_type in ("python", "python-lambda"):
            key = (node.command_type, node.command)
            if key not in checked:
                try:
                    if node.command_type == "python":  # (its step named only when its import is said)
                        resolve(node.command, step=functools.partial(_first_step, pipeline, node))
                    else:
                        compile_lambda(node.command)
                    checked[key] = None
                except UsageError as exc:
                    checked[key] = exc.message
                    if exc.detail:  # the user's traceback of a module that raised as imported (trial 12)
                        details[key] = exc.detail
    if not any(problem is not None for problem in checked.values()):
        return
    problems: list[Problem] = []  # each step at fault, named by its place in the dag and in its file
    for visit, (_, file, path) in zip(
        walk(pipeline.dag, item="<item>"), step_places(pipeline.dag), strict=True
    ):
        node = visit.node
        if isinstance(node, TaskNode) and node.command_type in ("python", "python-lambda", "notebook"):
            problem = checked[(node.command_type, "" if node.command_type == "notebook" else node.command)]
            if problem is not None:
                text = f"step '{visit.internal_name}': field 'command': {problem}"
                problems.append(Problem(text, (*path, "command"), file))
    error = PipelineError(located(problems, pipeline.file), file=pipeline.file)
    error.detail = "".join(details.values())
    raise error


def _first_step(pipeline: Pipeline, node: TaskNode) -> str:
    """The internal name of `node` in the pipeline (a walk of the dag: only for a warning)."""
    from magnus_core.graph import walk

    return next((visit.internal_name for visit in walk(pipeline.dag) if visit.node is node), node.command)


def check_parameter_types(pipeline: Pipeline, parameters: dict[str, Any], request: RunRequest) -> None:
    """Each initial parameter against the annotations of the python step functions taking it
    (param_types.check_initial), before anything runs: a UsageError naming, per problem, where the value
    was given (`--lr`, `params.yaml:3`, `MAGNUS_PRM_LR`), the parameter, the function (file:line name),
    what it expects and what was given. The functions are the ones check_commands imported (resolve keeps
    them: nothing is imported again). Names a map or loop gives its branch (the item, the index) are left
    to the check when the step runs (tasks.python.call_bound), as are parameters made by steps."""
    if not parameters:
        return
    from magnus_core.graph import branches, nodes

    functions: dict[str, Callable[..., Any]] = {}
    skip: set[str] = set()
    for node in nodes(pipeline.dag):
        skip.update(spec.item_variable.lower() for spec in branches(node) if spec.item_variable)
        if isinstance(node, TaskNode) and node.command_type == "python" and node.command not in functions:
            from magnus_core.tasks.python import resolve

            functions[node.command] = resolve(node.command)
    if not functions:
        return
    from magnus_core.param_types import check_initial
    from magnus_core.parameters import parameter_source

    found = check_initial(
        functions,
        parameters,
        lambda name: parameter_source(name, request.parameters_file, request.parameters),
    )
    if found:
        many = f"{len(found)} problems: " if len(found) > 1 else ""
        raise UsageError(many + "; ".join(found), field=None)


FOLDER_NAMES = {"run_log_store": "run-log store folder", "catalog": "catalog folder"}


def check_folders(
    pipeline: Pipeline, config: Any, store: RunLogStore, catalog: BaseCatalog | None, *, rerun: bool
) -> None:
    """The folders the run will write can be written (paths.check_writable: a UsageError naming the folder
    and the config key that moves it), before anything is written. The catalog's only when a step declares
    catalog files, a notebook step puts its output there, or a re-run copies the original's catalog."""
    from magnus_core.graph import nodes
    from magnus_core.paths import check_writable

    folders = list(store.folders())
    uses_catalog = rerun or any(
        isinstance(node, TaskNode) and (node.catalog is not None or node.command_type == "notebook")
        for node in nodes(pipeline.dag)
    )
    if uses_catalog and catalog is not None:
        folders += catalog.folders()
    for folder, key in folders:
        what = FOLDER_NAMES.get(key.split(".")[0], "folder")
        try:
            check_writable(folder, what=what, key=key, file=config_source(config, key))
        except UsageError as exc:  # the line of the key that set the folder, in that file
            locate_config_error(exc, config)
            raise


def run_config(prepared: PreparedRun) -> dict[str, Any]:
    """What run_config records for a prepared run (context.run_config), with the command's options that
    shaped it, as typed: `config_file` (the workbench's start form opens on it), `parameters_file`,
    `var_file`, and `command_line_parameters` (the names given as `--name value`), so the resume command
    made from the log (stop.resume_command) repeats them."""
    services = Services(
        prepared.executor, prepared.store, prepared.catalog, prepared.secrets, prepared.tracker
    )
    described = describe_run(prepared.pipeline, services)
    if prepared.started_at:
        described["process"]["started_at"] = prepared.started_at
    request = prepared.request
    for key, value in (
        ("config_file", request.config_file),
        ("parameters_file", request.parameters_file),
        ("var_file", request.var_file),
    ):
        if value:
            described[key] = str(value)
    if request.parameters:  # the names given as --name value (their values: `parameters`), for the resume
        described["command_line_parameters"] = list(request.parameters)  # command (stop.resume_command)
    return described


def execute(
    prepared: PreparedRun,
    *,
    output: IO[str] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> RunLog:
    """Create the run log and run the dag; the final run log comes back (status SUCCESS or FAIL)."""
    from magnus_core.identity import git_identity

    request = prepared.request
    store = prepared.store
    from magnus_core.secrets import missing_secrets

    missing = [
        n for n in missing_secrets(prepared.pipeline.dag, prepared.secrets) if not prepared.secrets.ask(n)
    ]
    if missing:  # all of them at once, before anything is written
        raise UsageError(
            f"secrets declared by the pipeline are missing: {', '.join(missing)} (the "
            f"{prepared.secrets.service_name} secrets provider has none of them; run on a terminal "
            "to be asked for them)",
            field="dag.secrets",
        )
    unsubscribe = store.events.subscribe(on_event) if on_event else None
    ctx = RunContext(
        run_id=prepared.run_id,
        tag=request.tag or "",
        pipeline=prepared.pipeline,
        store=store,
        secrets=prepared.secrets,
        executor=prepared.executor,
        catalog=prepared.catalog,
        code_identity=git_identity(Path.cwd()),
        original=prepared.original,
        output=output,
        cache_valid=prepared.original is not None,
    )
    if prepared.catalog is not None:
        prepared.catalog.bind(ctx)
    params = dict(prepared.parameters)
    from magnus_core.code_patch import KEY, keep, make_patch

    patch = make_patch(ctx.code_identity, ctx, prepared.catalog)  # uncommitted changes, as content
    run_log = RunLog(
        run_id=prepared.run_id,
        dag_hash=prepared.pipeline.dag_hash,
        use_cached=prepared.original is not None,
        tag=request.tag or "",
        original_run_id=prepared.original.run_id if prepared.original else "",
        status=PROCESSING,
        parameters=dict(params),
        # what the run started with, never changed: a re-run starts there (parameters.starting_parameters)
        run_config={
            **run_config(prepared),
            "parameters": dict(params),
            **({KEY: patch[1]} if patch is not None else {}),
        },
    )
    # recorded masked, with masked_parameters: nothing reaches the store with a secret in it
    try:
        store.create_run(run_log, masker=ctx.masker)
    except ConfigError as exc:  # the store's folder cannot take a run log: name the file that configured it
        locate_config_error(exc, prepared.config)
        raise
    ctx.masked_recorded = list(store.get_run(prepared.run_id).masked_parameters)
    if patch is not None and prepared.catalog is not None:
        keep(prepared.catalog, prepared.run_id, patch[0])
    from magnus_core.tracking import follow

    stop_tracking = follow(store, prepared.run_id, prepared.tracker, start=True)
    status = FAIL
    from magnus_core import output as seam
    from magnus_core.fatal import recorded
    from magnus_core.secrets import watch_requests

    failure: BaseException | None = None
    try:
        if prepared.original is not None and prepared.catalog is not None:
            prepared.catalog.sync_from(prepared.original, prepared.run_id)
        with (
            seam.installed(),
            seam.routed(ctx.masker, output),
            watch_requests(prepared.secrets),
            _secrets_for_children(prepared.secrets),
            _fewer_collections(),
            recorded(prepared.catalog, prepared.run_id),  # a segfault's traceback kept (trial 13 fault 4)
        ):
            status = prepared.executor.execute_graph(prepared.pipeline.dag, ctx, params)
    except KeyboardInterrupt as exc:
        status, failure = INTERRUPTED, exc
        _stop(ctx, signal_name(exc))
        say_when_stopped(exc, "Interrupted: the run is marked INTERRUPTED.", replace=True)
        raise
    except BaseException as exc:
        failure = exc
        _settle(ctx, exc)  # no step stays PROCESSING in an ended run: each says why it ended
        raise
    finally:
        ctx.env_bridge.restore()
        try:
            from magnus_core.capture import settled

            settled()  # every attempt's output is in the catalog before the run says it ended
            # the run log keeps parameters with secret values masked; steps still got the real values
            ctx.keep_parameters(params)
            store.update_run(prepared.run_id, status=status)
        except StoreError:
            if failure is None:
                raise
            log.debug("the run's last write failed too", exc_info=True)  # the first error is the one told
        finally:
            stop_tracking()
            try:
                final = store.get_run(prepared.run_id)
                store.close(prepared.run_id)
            except StoreError:
                if failure is None:
                    raise
            if unsubscribe:
                unsubscribe()
    return final


def _stop(ctx: RunContext, signal: str) -> None:
    """SIGINT/SIGTERM stopped the run (docs/crash-safety.md#stopping a run): from now on only this thread
    writes it (branches still running are abandoned: what they try to write is refused), every process
    the run started is stopped (processes.stop_children: SIGTERM, a grace period, SIGKILL), and every
    attempt, step and branch still in progress is recorded INTERRUPTED. Committed steps are untouched."""
    from magnus_core.processes import stop_children

    store, run_id = ctx.store, ctx.run_id
    store.stop_writers(run_id)
    with ctx.lock:  # before the children end: their threads then end their attempts as failures
        running = dict(ctx.running)
        ctx.stopped = {}  # (what those attempts kept of their output: _stopped_outputs)
    try:
        stop_children()
        message = f"interrupted by {signal}: the run was stopped"
        end = ctx.clock()
        outputs = _stopped_outputs(ctx, running)
        for step, branch in _in_progress(store.get_run(run_id)):
            marked = step.model_copy()
            marked.attempts = list(step.attempts)
            if step.internal_name in running:
                _, number, start, _kind = running[step.internal_name]
                kept = {"output": outputs[step.internal_name]} if step.internal_name in outputs else {}
                marked.attempts.append(attempt(number, start, end, INTERRUPTED, message, **kept))
            marked.status, marked.message = INTERRUPTED, message
            store.put_step_log(run_id, marked, branch)
            for name, held in step.branches.items():
                if held.status == PROCESSING:
                    ended = BranchLog(internal_name=name, status=_branch_end(held))
                    store.put_branch_log(run_id, ended, step.internal_name)
    except KeyboardInterrupt:  # asked again: what is recorded so far stays, the run still ends INTERRUPTED
        pass


def _branch_end(branch: BranchLog) -> str:
    """What a branch still PROCESSING when its run was stopped is recorded as: SUCCESS when it reached its
    success node (its work was done; the composite holding it waited for its other branches), FAIL when it
    reached its fail node, else INTERRUPTED (trial 15 N5: a parallel's finished branches read INTERRUPTED
    beside the branch stopped, and the workbench's dag marked them ■ like it)."""
    for node in branch.steps.values():
        if node.step_type == "success" and node.status == SUCCESS:
            return SUCCESS
        if node.step_type == "fail" and node.status == SUCCESS:  # (the fail node's log says SUCCESS)
            return FAIL
    return INTERRUPTED


STOP_OUTPUT_WAIT = 1.0  # seconds a stop waits for stopped shell and notebook steps to keep their output


def _stopped_outputs(
    ctx: RunContext, running: dict[str, tuple[str | None, int, datetime, str]]
) -> dict[str, Any]:
    """Where each attempt running when the run was stopped kept its output (capture's record), by step:
    a shell or notebook step in a branch thread ends once its process is stopped (processes.stop_children
    has returned), and its thread's capture keeps the file then, but its own record of the attempt is
    refused (the stop writes the run: store guarantee 5), so the stop's record names the file (trial 12
    fault 12: `fan.shellhang.s.0.log` was in the catalog and its attempt said no output was recorded).
    Waits at most STOP_OUTPUT_WAIT seconds for them, polling every 10 ms; a python step in a branch thread
    is abandoned (it cannot be stopped from outside) and never waited for: its output is the `.live` file
    it leaves, if any (logs.OutputReader)."""
    import time

    wanted = {
        name: number for name, (_, number, _start, kind) in running.items() if kind in ("shell", "notebook")
    }
    deadline = time.monotonic() + STOP_OUTPUT_WAIT
    while True:
        with ctx.lock:
            ended = dict(ctx.stopped or {})
        if all(name in ended for name in wanted) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return {
        name: output
        for name, (number, output) in ended.items()
        if name in running and running[name][1] == number and output is not None
    }


def _settle(ctx: RunContext, exc: BaseException) -> None:
    """An error raised out of the dag (not a step's: nodes/task keeps those in their attempts) ends the run
    FAIL: every step, attempt and branch still in progress is recorded FAIL with the reason (stopped_by),
    so `magnus show` and `magnus logs` say why and no step reads running in an ended run (trial 10:
    MAGNUS_OUTPUT_CAP=lots left a step PROCESSING with no attempt). The store failing too leaves the first
    error the one told."""
    try:
        from magnus_core.failure import stopped_by

        message = ctx.mask(stopped_by(exc))
        with ctx.lock:
            running = dict(ctx.running)
        end = ctx.clock()
        # what the attempt printed was not recorded: `magnus logs` says so, with the reason
        unkept = AttemptOutput(written=0, error=message)
        for step, branch in _in_progress(ctx.store.get_run(ctx.run_id)):
            marked = step.model_copy()
            marked.attempts = list(step.attempts)
            if step.internal_name in running:
                _, number, start, _kind = running[step.internal_name]
                marked.attempts.append(attempt(number, start, end, FAIL, message, output=unkept))
            elif not step.attempts and not step.branches:  # it never began an attempt: say so in one
                marked.attempts.append(attempt(0, end, end, FAIL, message, output=unkept))
            marked.status, marked.message = FAIL, message
            ctx.store.put_step_log(ctx.run_id, marked, branch)
            for name, held in step.branches.items():
                if held.status == PROCESSING:
                    ctx.store.put_branch_log(
                        ctx.run_id, BranchLog(internal_name=name, status=FAIL), step.internal_name
                    )
    except Exception:
        log.debug("the steps in progress could not be recorded failed", exc_info=True)


def _in_progress(run: RunLog) -> list[tuple[StepLog, str | None]]:
    """Every step still PROCESSING, with the branch holding it (None: top level), outermost first."""
    found: list[tuple[StepLog, str | None]] = []

    def visit(steps: dict[str, StepLog], branch: str | None) -> None:
        for step in list(steps.values()):
            if step.status == PROCESSING:
                found.append((step, branch))
            for name, held in list(step.branches.items()):
                visit(held.steps, name)

    visit(run.steps, None)
    return found


@contextlib.contextmanager
def _secrets_for_children(secrets: BaseSecrets) -> Iterator[None]:
    """For the whole run: processes the steps start (a subprocess of a python step) find the provider and
    the values given at a prompt, so get_secret() works there (MAGNUS_SECRETS_CONFIG, _GIVEN)."""
    from magnus_core.secrets import CONFIG_VARIABLE, GIVEN_VARIABLE

    names = (CONFIG_VARIABLE, GIVEN_VARIABLE)
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(secrets.child_environment())
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


RUN_GC_THRESHOLD = 10_000  # python's first-generation threshold while a run executes (its default: 700)
_GC_LOCK = threading.Lock()
_GC_RUNS: list[tuple[int, int, int]] = []  # the thresholds before the first run still executing, per run


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """While runs execute in this process, python's cyclic garbage collector looks at young objects every
    RUN_GC_THRESHOLD allocations instead of every 700: a step allocates a few thousand objects (its log,
    attempts, scope, records), most of them kept by the run log, and each early collection walked them
    again (5-15 % of a quick step's CPU, measured at 3,000-5,000 steps). Garbage that only the collector
    frees (reference cycles) waits at most that many allocations longer; the thresholds the process had
    are put back when the last run executing ends (runs in threads of one process share them)."""
    with _GC_LOCK:
        before = gc.get_threshold()
        if not _GC_RUNS and before[0] < RUN_GC_THRESHOLD:
            gc.set_threshold(RUN_GC_THRESHOLD, max(before[1], 20), before[2])
        _GC_RUNS.append(before)
    try:
        yield
    finally:
        with _GC_LOCK:
            first = _GC_RUNS[0]
            _GC_RUNS.pop()
            if not _GC_RUNS and gc.get_threshold()[0] == RUN_GC_THRESHOLD:  # (unless changed meanwhile)
                gc.set_threshold(*first)
