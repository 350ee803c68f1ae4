"""The per-step entry point: run exactly one node of a run, in this process, against a shared store.

Orchestrators (Argo, Dask) own the traversal; each of their tasks calls one of
  execute_single_node(job)   a leaf node (task, as-is/stub, success, fail)
  fan_out(job) / fan_in(job) the two halves of a composite node; a fan-in may hand out another round of
                             branches instead of deciding (a loop's next iteration: FanResult.branches)
Every call is safe to repeat: a step already SUCCESS is not run again.
Parameters are never written apart from a step's commit: the parameters of a scope are derived from the
step logs committed in it (parameters.scope_parameters): the run's initial parameters, or a branch's copy
of its composite's (one JSON file per branch beside the run log, written at fan-out), updated by each
SUCCESS step's returned_parameters in the order they ran. A pod or worker killed at any instant therefore
leaves its step either not done or done with everything it returned (docs/crash-safety.md). At fan-in, what
the branches changed is merged in branch order, exactly as the local executor merges it, and committed
with the composite's status.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnus_core import graph
from magnus_core import jsonio as json
from magnus_core.context import RunContext, Services, run_config
from magnus_core.errors import RunLogError, StepError, UsageError
from magnus_core.graph import PLACEHOLDER, encode_name
from magnus_core.loading import Pipeline, load_config, load_pipeline, read_mapping, read_variables
from magnus_core.models.pipeline import COMPOSITE_TYPES, Dag, Node
from magnus_core.models.run_log import (
    FAIL,
    FINISHED,
    PROCESSING,
    SUCCESS,
    BranchLog,
    CodeIdentity,
    RunLog,
    StepLog,
)
from magnus_core.nodes.composite import Branch
from magnus_core.stores.base import RunLogStore

log = logging.getLogger("magnus")

__all__ = [
    "PLACEHOLDER",
    "Branch",
    "FanResult",
    "Located",
    "NodeJob",
    "branch_items",
    "encode_name",
    "execute_single_node",
    "fan_in",
    "fan_in_result",
    "fan_out",
    "fan_out_branches",
    "fan_out_result",
]
_identities: dict[str, CodeIdentity] = {}  # per run, per process: git is read once


@dataclass
class NodeJob:
    """Everything one per-step call needs; picklable, so Dask can ship it to a worker."""

    run_id: str
    step: str  # internal name: '%' for spaces, PLACEHOLDER (or the item) for map items
    pipeline: Pipeline
    config: dict[str, dict[str, Any]]
    map_variable: dict[str, Any] = field(default_factory=dict)
    tag: str = ""
    parameters_file: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # `--name value`: used if this creates the run
    code_identity: CodeIdentity | None = None
    # the files as typed, recorded by the step that creates the run (runs.next_step_command repeats them)
    config_file: str | None = None
    var_file: str | None = None
    # Secrets given at a prompt in the process that traverses (the Dask driver), for the provider here:
    # in memory only, never in a repr (Dask may log a task's arguments).
    secrets_given: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class Located:
    """A node found by internal name: where it sits and what it is called once map items are filled in."""

    node: Node
    name: str
    internal_name: str
    branch: str | None  # the branch holding it (None: the top-level dag)
    parent_step: str | None  # the composite step holding that branch
    dag: Dag  # the graph it belongs to
    parents: tuple[str, ...] = ()  # the composite steps holding it, outermost first
    branches: tuple[str, ...] = ()  # the branches holding it, outermost first

    def needs(self) -> tuple[list[str], list[str]]:
        """The step logs and branch logs running this step reads: the composite steps and branches that
        hold it, and every step of its own graph (its parameters are derived from them; a sibling still
        running is a dead one). Nothing of the other branches of a map or parallel."""
        steps = [*self.parents, *(graph.internal_name(self.branch, name) for name in self.dag.steps)]
        return steps, list(self.branches)


def parse_map_variable(text: str | None) -> dict[str, Any]:
    """--map-variable: a JSON object of map item names to items."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        from magnus_core.models.reading import json_problem

        raise UsageError(
            f'not valid JSON: {json_problem(exc)}; expected an object like \'{{"chunk": "a"}}\'',
            field="--map-variable",
        ) from None
    except (ValueError, RecursionError):  # a number of more than 4300 digits, or nesting too deep
        raise UsageError("a number too long or nesting too deep to read", field="--map-variable") from None
    if not isinstance(value, dict):
        raise UsageError(f"expected a JSON object, got {type(value).__name__}", field="--map-variable")
    return value


def job_from_files(
    run_id: str,
    step: str,
    *,
    file: str,
    config_file: str | None = None,
    parameters_file: str | None = None,
    var_file: str | None = None,
    map_variable: str | None = None,
    tag: str = "",
    parameters: dict[str, Any] | None = None,
) -> NodeJob:
    """A job from the command line's files and parameters (all validated before anything is written)."""
    from magnus_core.stores.base import check_run_id

    check_run_id(run_id, field="RUN_ID")  # the command line's argument, named as such (not a log's field)
    variables = read_variables(var_file)
    pipeline = load_pipeline(file, variables)
    config = load_config(config_file, pipeline)
    if parameters_file:
        read_mapping(parameters_file, "parameters file")
    job = NodeJob(
        run_id=run_id,
        step=step,
        pipeline=pipeline,
        config=config,
        map_variable=parse_map_variable(map_variable),
        tag=tag,
        parameters_file=parameters_file,
        parameters=dict(parameters or {}),
        config_file=config_file,
        var_file=var_file,
    )
    locate(pipeline, step, job.map_variable)  # a step not in the dag is a usage error, before any write
    return job


def locate(pipeline: Pipeline, step: str, map_variable: dict[str, Any]) -> Located:
    """Find a node by its (%-encoded) internal name; items of branches run per item come from the map
    variable. UsageError (naming the pipeline file) when the name does not fit the dag."""
    try:
        visit = graph.locate(pipeline.dag, step.replace("%", " "), map_variable)
    except graph.NotInDag as exc:
        # a command-line argument, named as one (`argument STEP:`), the pipeline file in the message (trial
        # 9: `p1k.yaml: field 'step'` pointed into the file)
        if exc.field == "map-variable":
            raise UsageError(f"step '{step}': {exc.message}", field="--map-variable") from None
        raise UsageError(
            f"step '{step}' is not in the dag of {pipeline.file}: {exc.message}", field="STEP"
        ) from None
    return Located(
        node=visit.node,
        name=visit.name,
        internal_name=visit.internal_name,
        branch=visit.branch,
        parent_step=visit.parents[-1] if visit.parents else None,
        dag=visit.dag,
        parents=visit.parents,
        branches=visit.branches,
    )


def hint_command(job: NodeJob, command: str, name: str, *, mode: str | None = None) -> str:
    """The command a refusal of this job prints (`magnus fan R each --mode out --file p.yaml --config-file
    c.yaml`), shell-quoted, so it works as typed (session 9, fault 3: the refusals named `magnus fan R S
    --mode out|in` with neither the --file nor the --config-file given, so the printed command failed with
    `pipeline.yaml: pipeline file not found`, or read `--mode out|in`, which a shell takes for a pipe).

    `command`: `fan` or `execute_single_node`; `name`: the step's internal name, items filled in (encoded:
    `%` for spaces); `mode`: fan's --mode. It carries what the user gave: the --map-variable (only the
    items of the maps and loops holding `name`, which naming it needs: graph.locate), the --file,
    --config-file, --var-file, --parameters-file and --tag, and the `--name value` parameters (as
    `-- --name=value`, parameters.command_parameters). The last three are used only by a command that
    creates the run (the run may not exist yet), and are not read again by one that does not."""
    import shlex

    words = ["magnus", command, job.run_id, encode_name(name)]
    if mode:
        words += ["--mode", mode]
    items = _items_holding(job, name)
    if items:
        words += ["--map-variable", json.dumps(items, ensure_ascii=False)]
    words += ["--file", job.pipeline.file]
    given = [
        ("--config-file", job.config_file),
        ("--var-file", job.var_file),
        ("--parameters-file", job.parameters_file),
        ("--tag", job.tag),
    ]
    for flag, value in given:
        if value:
            words += [flag, value]
    if job.parameters:
        from magnus_core.parameters import command_parameters

        # (a value no command line gives back the same is refused there: none comes from a command line)
        with contextlib.suppress(UsageError):
            words += command_parameters(job.parameters)
    return " ".join(shlex.quote(word) for word in words)


def _items_holding(job: NodeJob, name: str) -> dict[str, Any]:
    """The entries of the job's map variable that the composites holding step `name` run per (a map's
    `iterate_as`, a loop's index): what --map-variable must give to name it. {} when none holds it."""
    try:
        visit = graph.locate(job.pipeline.dag, name, job.map_variable)
        keys = {
            spec.item_variable
            for parent in visit.parents
            for spec in graph.branches(graph.locate(job.pipeline.dag, parent, job.map_variable).node)
            if spec.item_variable
        }
    except graph.NotInDag:  # (names this module found in the dag: not expected)
        return dict(job.map_variable)
    return {key: value for key, value in job.map_variable.items() if key in keys}


# -- the run, opened in this process ---------------------------------------------------------------


@dataclass
class _Session:
    job: NodeJob
    store: RunLogStore
    ctx: RunContext
    run: RunLog
    created: bool = False  # this process created the run


def _open(
    job: NodeJob, scope: Located | None = None, *, at: Located | None = None, fan_in: bool = False
) -> _Session:
    """Make the services, create the run log if this is the first step, and take the run up for writing:
    all of it, or with `scope` only what that leaf step needs (Located.needs: its cost then does not grow
    with the run on a store that keeps steps apart, issue 19). `at` (the step this process works on): a
    run that does not exist is created only if that step may be a run's first (_refuse_new), so a usage
    error writes nothing (trial 9: a refused command left a run reading PER-STEP for ever)."""
    from magnus_core.settings import check

    check()  # the MAGNUS_* settings the step reads as it goes: refused before a run is created
    services = Services.from_config(job.config)
    store = services.store
    if store.service_name == "buffered":
        raise UsageError(
            "the buffered run-log store lives in one process; steps run one per process need a "
            "shared store (chunked-fs, or file-system for dags without parallel or map)",
            field="run_log_store.type",
        )
    services.secrets.overrides.update(job.secrets_given)
    identity = job.code_identity or _identity(job.run_id)
    ctx = RunContext(
        run_id=job.run_id,
        tag=job.tag or "",  # the run's own, once it is read below
        pipeline=job.pipeline,
        store=store,
        secrets=services.secrets,
        executor=services.executor,
        catalog=services.catalog,
        code_identity=identity,
    )
    services.catalog.bind(ctx)
    created = False
    patch = None
    if not store.exists(job.run_id):
        if at is not None:
            _refuse_new(job, at, store, fan_in=fan_in)
        from magnus_core.code_patch import make_patch

        # the uncommitted changes, kept as `magnus execute` keeps them (code_patch): the process that makes
        # the run records them, so `magnus diff --code` shows a per-step run's code as content too
        patch = make_patch(identity, ctx, services.catalog)
        created = _create_run(job, services, patch[1] if patch is not None else None)
    run = store.attach(job.run_id) if scope is None else store.attach_scope(job.run_id, *scope.needs())
    ctx.tag = run.tag or job.tag or ""
    if job.parameters and not created:
        _warn_unused_parameters(job, run)
    from magnus_core.tracking import follow

    # this process's steps go to the experiment tracker's run that the run log names (for the life of the
    # process, which runs one step)
    follow(store, job.run_id, services.tracker, start=created)
    if created and patch is not None:
        from magnus_core.code_patch import keep

        keep(services.catalog, job.run_id, patch[0])
    # an engine retries a killed step in this same run: what a killed try put may then be replaced
    services.catalog.write_ahead = True
    store.mask_with(job.run_id, ctx.masker)  # nothing reaches the store with a secret in it
    ctx.masked_recorded = list(run.masked_parameters)
    from magnus_core.runs import step_process

    ctx.step_process = step_process()
    return _Session(job=job, store=store, ctx=ctx, run=run, created=created)


def _refuse_new(job: NodeJob, where: Located, store: RunLogStore, *, fan_in: bool) -> None:
    """Raise (exit 2, nothing written) when run `job.run_id`, which does not exist, cannot start at
    `where`: a fan-in of a run that does not exist (RunNotFoundError, as `magnus show` says it), or a step
    inside a branch, whose parameters only its composite's fan-out writes (RunLogError)."""
    from magnus_core.errors import RunNotFoundError

    if fan_in:
        raise RunNotFoundError(job.run_id, store.list_run_ids(), store.where())
    if where.branch is not None:  # the run starts at the outermost composite holding it (parents[0])
        first = hint_command(job, "fan", where.parents[0], mode="out")
        raise RunLogError(
            f"no run '{job.run_id}', so branch '{where.branch}' has no parameters: run `{first}` first",
            file=store.where(),
        )


def _warn_unused_parameters(job: NodeJob, run: RunLog) -> None:
    """`--name value` given to a step of a run that exists already are not used (its parameters come from
    its log, as every step's after the first): said when one differs from what the run started with (the
    pods of one workflow all carry the same ones, which then match)."""
    from magnus_core.parameters import starting_parameters

    started = starting_parameters(run)
    differ = [name for name, value in job.parameters.items() if started.get(name, object()) != value]
    if differ:
        log.warning(
            "run %s exists already: its parameters come from its log, not from the command line (%s not "
            "used); start a new run id to run with them",
            job.run_id,
            ", ".join(f"--{name}" for name in differ),
        )


def _identity(run_id: str) -> CodeIdentity:
    if run_id not in _identities:
        from magnus_core.identity import git_identity

        _identities[run_id] = git_identity(Path.cwd())
    return _identities[run_id]


PER_STEP = "per-step"  # run_config.process.driven of a run an orchestrator drives one step per process


def per_step_process(record: dict[str, Any]) -> dict[str, Any]:
    """The process record of a run driven one step per process (by Argo, Dask, a script): no pid, since
    the process that created the run runs its first step only and no process runs the whole of it, so
    its end says nothing of the run (it showed as INTERRUPTED after any step, found by trial 6), and
    `driven: per-step`, which `magnus show` and `magnus stop` say (docs/argo.md). The `user` is the one
    who started it (the runs lists' user column: a run started by hand is someone's)."""
    return {
        "driven": PER_STEP,
        "host": record.get("host"),
        "started_at": record.get("started_at"),
        "user": record.get("user", ""),
    }


def _create_run(job: NodeJob, services: Services, patch: dict[str, Any] | None = None) -> bool:
    """The first step of a run in any process creates its log (its parameters masked, those masking
    changed listed in masked_parameters; `patch`, the record of its uncommitted code changes
    (code_patch.make_patch), in run_config); False when another process did first."""
    from magnus_core.code_patch import KEY
    from magnus_core.masking import masker_of
    from magnus_core.parameters import initial_parameters

    params = initial_parameters(job.parameters_file, job.parameters)
    config = run_config(job.pipeline, services)
    config["process"] = per_step_process(config["process"])
    config.update({k: v for k, v in (("config_file", job.config_file), ("var_file", job.var_file)) if v})
    run = RunLog(
        run_id=job.run_id,
        dag_hash=job.pipeline.dag_hash,
        tag=job.tag or "",
        status=PROCESSING,
        parameters=dict(params),
        run_config={**config, "parameters": dict(params), **({KEY: patch} if patch is not None else {})},
    )
    try:  # recorded masked, as every process that starts a run does (stores.base.create_run)
        services.store.create_run(run, masker=masker_of(services.secrets))
    except UsageError:
        if not services.store.exists(job.run_id):
            raise
        log.debug("run %s was created by another process first", job.run_id)
        return False
    return True


# -- parameters of a scope (the top-level dag, or one branch) ------------------------------------------


def read_params(session: _Session, branch: str | None, *, feed: list[str] | None = None) -> dict[str, Any]:
    """The parameters of a scope now: where it started, updated by its committed steps, in order.

    They come from the run log, where a value that held a secret is recorded masked: such a parameter
    cannot be handed on from there, so when one is in `feed` (None: all of them, for a step that receives
    every parameter) MaskedParameterError names it. The names are remembered (ctx.inherited_masked), so
    they stay listed as masked when the parameters are recorded again."""
    from magnus_core.parameters import scope_parameters, starting_parameters

    run = session.run
    if branch is None:
        start, masked, steps = starting_parameters(run), list(run.masked_parameters), list(run.steps.values())
    else:
        held = run.find_branch(branch)
        (start, masked), steps = _branch_start(session, branch), list(held.steps.values()) if held else []
    for step in steps:
        masked += [n for n in step.masked_parameters if n not in masked]
    params = scope_parameters(start, steps)
    ctx = session.ctx
    ctx.inherited_masked.extend(n for n in masked if n not in ctx.inherited_masked)
    refuse_masked([n for n in masked if n in params and (feed is None or n in feed)], session.job.run_id)
    return params


class MaskedParameterError(UsageError):
    """A step would be handed a parameter the run log holds only masked."""


def refuse_masked(names: list[str], run_id: str) -> None:
    """MaskedParameterError naming `names` (parameters recorded masked), if any."""
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise MaskedParameterError(
            f"parameter(s) {listed} of run '{run_id}' held a secret value and are recorded masked; steps "
            "run one per process (argo, dask) get their parameters from the run log, so they would get "
            "'*****'. Return the secret's name instead and call get_secret() in the step that needs it",
            field="parameters",
        )


_BRANCH_FORMAT = "magnus_branch_parameters"  # ours since masking: {format: 1, parameters, masked_parameters}


def _branch_start(session: _Session, branch: str) -> tuple[dict[str, Any], list[str]]:
    """A branch's parameters as its composite's fan-out copied them (masked), and the names masked."""
    found = session.store.get_branch_parameters(session.job.run_id, branch)
    if found is None:
        fan_out = hint_command(session.job, "fan", branch.rsplit(".", 1)[0], mode="out")
        raise RunLogError(
            f"branch '{branch}' has no parameters: run `{fan_out}` first", file=session.store.where()
        )
    return _unwrap(dict(found))


def _unwrap(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    if _BRANCH_FORMAT in data:
        return dict(data.get("parameters") or {}), list(data.get("masked_parameters") or [])
    return dict(data), []  # written before masking: parameters only


def write_branch_start(session: _Session, branch: str, params: dict[str, Any]) -> None:
    """Where a branch starts: a copy of its composite's parameters at fan-out (kept if already there: a
    repeated fan-out keeps what the branch's committed steps built on)."""
    masked, names = session.ctx.recorded_parameters(params)  # store files hold no secret either
    data = {_BRANCH_FORMAT: 1, "parameters": masked, "masked_parameters": names}
    session.store.put_branch_parameters(session.job.run_id, branch, data, only_new=True)


# -- the entry points --------------------------------------------------------------------------------


def execute_single_node(job: NodeJob, *, say_failure: bool = False) -> int:
    """Run one leaf node; the exit code: 0 it succeeded, 1 it failed (or it is the fail node).

    `say_failure` (the command line, `magnus execute_single_node`: what every Argo pod runs, so its log is
    where a user looks first): a step that failed is said on stderr as the summary of `magnus execute`
    says it (say_failed_step), the fail node says the run has failed, and a step already SUCCESS says it
    was not run again (exit 0 still: a retried pod must find its step done, docs/argo.md)."""
    from magnus_core.nodes import execute_node, module_for

    where = locate(job.pipeline, job.step, job.map_variable)
    run_id = job.run_id
    if where.node.is_composite:  # refused before the run is opened: a usage error writes nothing
        fan_out = hint_command(job, "fan", where.internal_name, mode="out")
        raise UsageError(
            f"step '{where.internal_name}' is a {where.node.type} node: fan it out with `{fan_out}`, run "
            "its branches, then fan it in: the same command with `--mode in`",
            field="STEP",
        )
    session = _open(job, where, at=where)
    store = session.store
    try:
        existing = session.run.find_step(where.internal_name)
        if existing is not None and existing.status == SUCCESS:
            log.info("step %s already succeeded in run %s: not run again", where.internal_name, run_id)
            if say_failure:  # by hand, silence left the user unsure it ran (trial 7); exit 0 still (argo.md)
                done = f"{where.internal_name} already succeeded in run {run_id}"
                if where.node.type == "fail":  # its log says SUCCESS (the original's format): it ended FAIL
                    graph = _graph_of(where, run_id)
                    done = f"{where.internal_name}: the fail node already ended {graph} FAIL"
                    done += f" in run {run_id}" if where.branch is not None else ""
                print(
                    f"magnus: {done}: not run again",
                    file=sys.stderr,
                )
            if where.node.is_terminal:
                _end_graph(session, where, read_params(session, where.branch, feed=[]))
            return _exit_code(where, existing)
        if session.run.status in FINISHED:
            raise UsageError(
                f"run '{run_id}' is already finished ({session.run.status}); step "
                f"'{where.internal_name}' cannot run in it",
                field="RUN_ID",
            )
        if say_failure:  # by hand, a run id or step one letter off ran in silence (trial 9, finding 3)
            _say_order(session, where)
        if existing is not None and where.node.type == "task":
            _keep_attempts(session, existing, say=say_failure)
        _fail_dead_siblings(session, where)
        try:
            params = read_params(session, where.branch, feed=[] if where.node.is_terminal else None)
        except MaskedParameterError as exc:  # the step fails, saying why, before it runs
            _fail_step(session, where, str(exc))
            print(f"magnus: step '{where.internal_name}' not run: {exc}", file=sys.stderr, flush=True)
            return 1
        from magnus_core import output
        from magnus_core.fatal import recorded
        from magnus_core.gcpause import step_starts
        from magnus_core.secrets import watch_requests
        from magnus_core.stepenv import own_environment

        module_for(where.node)  # (its module imported with the set-up)
        step_starts()  # (a process made for this step: the collector, paused for the set-up, runs again)
        with (
            own_environment(),  # the step commits what it returned with its SUCCESS (nodes/task.py)
            output.installed(),
            output.routed(session.ctx.masker),
            watch_requests(session.ctx.secrets),
            # a segfault's traceback and what the step held in memory, in this process's own files (cut10)
            recorded(session.ctx.catalog, run_id, where.internal_name),
        ):
            try:
                step = execute_node(
                    where.node, where.name, session.ctx, params, where.branch, dict(job.map_variable)
                )
            except Exception as exc:  # magnus's, not the step's (nodes/task keeps those): the step says why
                from magnus_core.failure import stopped_by

                with contextlib.suppress(Exception):
                    _fail_step(session, where, session.ctx.mask(stopped_by(exc)))
                raise
        from magnus_core.capture import settled

        settled()  # the step's output is in the catalog before this process (or Dask task) is done
        if where.node.is_terminal:
            _end_graph(session, where, params)
        code = _exit_code(where, step)
        if code and say_failure:
            say_failed_step(session, where, step)
        return code
    finally:
        _release(store, run_id)


def _say_order(session: _Session, where: Located) -> None:
    """On stderr, one line when the run was created at a step not the dag's first (`start_at`), or when a
    top-level step runs before its predecessor in the dag succeeded (single_plain.order_note); the exit
    code is unchanged (Argo's first pod creates the run; a user may mean it)."""
    from magnus_core.single_plain import order_note

    run_id, start = session.job.run_id, session.job.pipeline.dag.start_at
    if session.created and where.internal_name != start:
        note: str | None = (
            f"run '{run_id}' does not exist: created it at step '{where.internal_name}', not at the dag's "
            f"first step '{start}'"
        )
    elif where.branch is None:

        def status_of(name: str) -> str | None:
            step = session.run.find_step(name)
            return None if step is None else step.status

        note = order_note(run_id, session.job.pipeline.dag, where.internal_name, status_of)
    else:
        note = None
    if note:
        print(f"magnus: {note}", file=sys.stderr, flush=True)


def say_failed_step(session: _Session, where: Located, step: StepLog) -> None:
    """On stderr, what the summary of `magnus execute` says of this failed step (summary.failure_block:
    its error, where it was raised, its output's last lines, the `magnus logs` command), masked; for the
    fail node, what ended FAIL there (fail_node_line). Found by trial 6: a failed pod's log was empty."""
    from magnus_core.logs import OutputReader, failure_of
    from magnus_core.summary import SHOWN_LINES, failure_block

    run_id = session.job.run_id
    if where.node.type == "fail":
        lines = [fail_node_line(session.job, where)]
    else:
        reader = OutputReader(session.run, session.ctx.catalog)
        config = session.job.config_file
        lines = failure_block(failure_of(run_id, step, reader, lines=SHOWN_LINES, config_file=config))
    text = "".join(f"magnus: {session.ctx.mask(line)}\n" for line in lines)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stderr never changes the step's outcome
        pass


def fail_node_line(job: NodeJob, where: Located) -> str:
    """What running a fail node ended, as execute_single_node says it (exit 1 either way, docs/argo.md):
    the dag's own, the run (`fail: the fail node: run R ended FAIL`); a branch's (a parallel's, a map
    item's, a nested dag's), only that branch, which the spec's fail node ends ("ends the (sub)graph"):
    the run goes on at its composite's fan-in, which decides the composite and takes its on_failure (or
    its graph's fail node). Session 9, fault 4: a branch's fail node said `run R ended FAIL` while the run
    went on. The fan-in's command is given as typed (hint_command)."""
    if where.branch is None or where.parent_step is None:
        return f"{where.internal_name}: the fail node: run {job.run_id} ended FAIL"
    fan_in = hint_command(job, "fan", where.parent_step, mode="in")
    return (
        f"{where.internal_name}: the fail node of branch {where.branch}: the branch ended FAIL, not the "
        f"run; once its branches have ended, `{fan_in}` decides {where.parent_step}"
    )


def _graph_of(where: Located, run_id: str) -> str:
    """`branch par.A` for a node inside a branch, `run R` for one of the dag's own."""
    return f"branch {where.branch}" if where.branch is not None else f"run {run_id}"


@dataclass
class FanResult:
    """What a fan-out or a fan-in tells the engine: its exit code (0, or 1 the step failed), the branches
    to run now in merge order (a fan-in hands out the next round of a composite that runs in rounds, a
    loop's next iteration; [] once the step is decided), and values it may route on (`outputs`: Argo's
    output parameters, e.g. a conditional's chosen branch, a loop's break value and iteration count), and,
    when the step failed, the line to say on stderr (`said`: fan_failed_line)."""

    code: int
    branches: list[Branch] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    said: str = ""


def fan_failed_line(session: _Session, internal_name: str, step: StepLog | None) -> str:
    """`each: 1 of 3 branches failed: each.b c; their output: magnus logs R each [--config-file C]`: what
    a failed fan-out or fan-in says on stderr (masked), as execute_single_node says a failed step (trial
    11: `magnus fan R S --mode in` exited 1 with no word, so a failed fan-in pod's log was empty). The
    message is the step's in the run log (nodes.composite.fan_in: which branches failed); the command
    only when branches ran (a fan-out that failed has no output to show)."""
    from magnus_core.logs import logs_command

    message = " ".join((step.message if step is not None and step.message else "failed").split())
    line = f"{internal_name}: {message}"
    if step is not None and step.branches:
        command = logs_command(session.job.run_id, internal_name, config_file=session.job.config_file)
        line += f"; their output: {command}"
    return session.ctx.mask(line)


def fan_out(job: NodeJob) -> tuple[int, list[str]]:
    """Create a composite's step log, its branch logs and their parameters. The exit code, and the list an
    engine fans out on: each item the JSON --map-variable of one branch run per item (a map's)."""
    result = fan_out_result(job)
    return result.code, branch_items(result.branches)


def fan_out_branches(job: NodeJob) -> tuple[int, list[Branch]]:
    """fan_out, returning the branches the engine must now run (in merge order) instead of their items."""
    result = fan_out_result(job)
    return result.code, result.branches


def fan_out_result(job: NodeJob) -> FanResult:
    """fan_out, with everything the engine may use (FanResult)."""
    from magnus_core.nodes import composite_module_for

    where = _composite(job)  # before the run is opened: a usage error writes nothing
    session = _open(job, at=where)
    try:
        composite = composite_module_for(where.node)
        # the parameters a fan-out chooses branches by (a map's list): one recorded masked would choose wrong
        params = read_params(session, where.branch, feed=where.node.reads_parameters())
        existing = session.run.find_step(where.internal_name)
        if existing is None or existing.status == FAIL:
            if session.run.status in FINISHED:
                raise UsageError(
                    f"run '{job.run_id}' is already finished ({session.run.status})", field="RUN_ID"
                )
            _fail_dead_siblings(session, where)
            step, branches = composite.fan_out(
                where.node,
                where.name,
                where.internal_name,
                session.ctx,
                params,
                where.branch,
                dict(job.map_variable),
            )
            if step.status == FAIL:
                said = fan_failed_line(session, where.internal_name, step)
                return FanResult(1, [], composite.outputs(where.node, [], []), said)
        else:  # a repeated fan-out: keep what the branches did, add only what is missing
            branches = composite.branches_of(
                where.node, where.internal_name, params, dict(job.map_variable), session.ctx.mask
            )
            _open_branches(session, where, branches, existing.branches)
        for b in branches:
            write_branch_start(session, b.internal_name, b.parameters if b.parameters is not None else params)
        return FanResult(0, branches, composite.outputs(where.node, branches, []))
    finally:
        _release(session.store, job.run_id)


def _open_branches(session: _Session, where: Located, branches: list[Branch], existing: Any) -> None:
    from magnus_core.nodes.composite import open_branches

    open_branches(session.ctx, where.internal_name, branches, existing)


def branch_items(branches: list[Branch]) -> list[str]:
    """The JSON --map-variable of each branch run per item; [] when the step has only named branches."""
    return [json.dumps(b.map_variable) for b in branches if b.per_item]


def fan_in(job: NodeJob) -> int:
    """Decide a composite step's status from its branches and merge their parameters into its scope (or,
    for a composite that runs in rounds, hand out its next round: fan_in_result); the exit code."""
    return fan_in_result(job).code


def fan_in_result(job: NodeJob) -> FanResult:
    """After the branches handed out so far ended (the engine says so): the next round of branches if the
    step's type runs another (their logs and parameters are written; the step stays PROCESSING), else the
    step's status and parameters committed in one write. A loop's fan-in is given the map variable of the
    iteration that ended (its `index_as`), so a repeated fan-in decides the same."""
    from magnus_core.nodes import composite_module_for

    where = _composite(job)  # before the run is opened: a usage error writes nothing
    session = _open(job, at=where, fan_in=True)
    try:
        composite = composite_module_for(where.node)
        mv = dict(job.map_variable)
        step = session.run.find_step(where.internal_name)
        if step is None:
            fan_out = hint_command(job, "fan", where.internal_name, mode="out")
            raise UsageError(
                f"step '{where.internal_name}' has not been fanned out: run `{fan_out}` first", field="STEP"
            )
        if step.status == SUCCESS:
            return FanResult(0)
        if step.status == FAIL and not step.branches:  # fan-out failed (a map of no parameter)
            return FanResult(1, said=fan_failed_line(session, where.internal_name, step))
        params = read_params(session, where.branch, feed=[])
        try:
            ran = composite.branches_ran(where.node, where.internal_name, params, mv, step, session.ctx.mask)
        except StepError:
            ran = []
        statuses: dict[str, str] = {}
        results: list[dict[str, Any]] = []
        for b in ran:
            branch_log = step.branches.get(b.internal_name)
            status = branch_log.status if branch_log is not None else FAIL
            if status == PROCESSING:  # the engine says the branch is over: it ended without reaching its end
                status = FAIL
                _branch_status(session, where, b.internal_name, FAIL)
            statuses[b.internal_name] = status
            results.append(read_params(session, b.internal_name, feed=[]))
        failure: str | None = None
        try:
            following = composite.next_round(where.node, where.internal_name, ran, statuses, results, mv)
        except StepError as exc:
            failure, following = str(exc), []
            statuses[ran[-1].internal_name] = FAIL
            _branch_status(session, where, ran[-1].internal_name, FAIL)
        outputs = composite.outputs(where.node, ran, results)
        if following:
            _open_branches(session, where, following, step.branches)
            for b in following:
                write_branch_start(
                    session, b.internal_name, b.parameters if b.parameters is not None else params
                )
            return FanResult(0, following, outputs)
        changed = composite.merged_changes(params, results)
        after = {**params, **changed} if where.branch is None else None
        composite.fan_in(step.model_copy(), session.ctx, where.branch, statuses, changed, after, failure)
        final = session.store.get_run(job.run_id).find_step(where.internal_name)
        if final is not None and final.status == SUCCESS:
            return FanResult(0, [], outputs)
        return FanResult(1, [], outputs, fan_failed_line(session, where.internal_name, final))
    finally:
        _release(session.store, job.run_id)


def _branch_status(session: _Session, where: Located, branch: str, status: str) -> None:
    session.store.put_branch_log(
        session.job.run_id, BranchLog(internal_name=branch, status=status), where.internal_name
    )


def mark_failed(job: NodeJob, message: str) -> None:
    """Record that a leaf step could not finish (its worker died and no retry is left)."""
    session = _open(job)
    try:
        _fail_step(session, locate(job.pipeline, job.step, job.map_variable), message)
    finally:
        _release(session.store, job.run_id)


def _fail_step(session: _Session, where: Located, message: str) -> None:
    """A failed attempt with `message` on the leaf step at `where` (unless it already succeeded)."""
    from magnus_core.nodes.common import attempt, new_step_log

    step = session.run.find_step(where.internal_name)
    step = (
        step.model_copy()
        if step is not None
        else new_step_log(where.node, where.name, where.internal_name, session.ctx)
    )
    if step.status == SUCCESS:
        return
    now = session.ctx.clock()
    step.attempts = [*step.attempts, attempt(len(step.attempts), now, now, FAIL, message)]
    step.status, step.message = FAIL, message
    session.store.put_step_log(session.job.run_id, step, where.branch)


# -- helpers -----------------------------------------------------------------------------------------


def _release(store: RunLogStore, run_id: str) -> None:
    """Done with the run in this process: whatever the store batches is written, so the next process (the
    next step, the engine reading the run) sees it."""
    store.flush(run_id)


def _composite(job: NodeJob) -> Located:
    where = locate(job.pipeline, job.step, job.map_variable)
    if not where.node.is_composite:
        run = hint_command(job, "execute_single_node", where.internal_name)
        raise UsageError(
            f"step '{where.internal_name}' is a {where.node.type} node, not {_composite_types()}: "
            f"run it with `{run}`",
            field="STEP",
        )
    return where


def _composite_types() -> str:
    """'parallel, map or dag': the node types a fan-out applies to."""
    *first, last = COMPOSITE_TYPES
    return f"{', '.join(first)} or {last}" if first else last


def _exit_code(where: Located, step: StepLog) -> int:
    if where.node.type == "fail":
        return 1  # the graph it ends has failed: the engine's route (and the workflow) fail too
    return 0 if step.status == SUCCESS else 1


def _end_graph(session: _Session, where: Located, params: dict[str, Any]) -> None:
    """A success or fail node ends its graph: the run's status, or its branch's."""
    status = SUCCESS if where.node.type == "success" else FAIL
    if where.branch is None:
        session.ctx.keep_parameters(params)  # masked, with masked_parameters
        session.store.update_run(session.job.run_id, status=status)
    else:
        assert where.parent_step is not None
        session.store.put_branch_log(
            session.job.run_id, BranchLog(internal_name=where.branch, status=status), where.parent_step
        )


def _keep_attempts(session: _Session, step: StepLog, *, say: bool) -> None:
    """A task step this run already has (it failed, or the process running it died: an engine running its
    pod again, or a user typing `magnus execute_single_node` again) keeps its attempts: the new ones are
    numbered after them (RunContext.attempts_before), as `retry` numbers its own, so each attempt's record
    and output stay (trial 14 F5: running a failed step again replaced its attempts and their output
    files). An attempt the dead process was running (models.run_log.running_attempt) is recorded first as
    INTERRUPTED, its end unknown (its end time is its start). `say`: one stderr line names what is kept."""
    from magnus_core.models.run_log import INTERRUPTED, running_attempt
    from magnus_core.nodes.common import attempt

    kept = list(step.attempts)
    running = running_attempt(step)
    if running is not None:
        number, start = running
        pid = step.process.get("pid") if isinstance(step.process, dict) else None
        which = f" (pid {pid})" if isinstance(pid, int) else ""
        cut = f"cut short: the process running it{which} ended before it finished"
        kept.append(attempt(number, start, start, INTERRUPTED, cut))
    if not kept:
        return
    session.ctx.attempts_before = {step.internal_name: kept}
    if say:
        ended = ", ".join(f"{a.attempt_number} {a.status}" for a in kept[-3:])
        more = f"{len(kept) - 3} earlier, " if len(kept) > 3 else ""
        print(
            f"magnus: {step.internal_name} ran before in run {session.job.run_id} (attempts {more}{ended}): "
            f"kept; this is attempt {len(kept)}",
            file=sys.stderr,
            flush=True,
        )


def _fail_dead_siblings(session: _Session, where: Located) -> None:
    """A graph runs one node at a time: a sibling still PROCESSING when the next one starts has died."""
    run = session.run
    holder = run.steps if where.branch is None else getattr(run.find_branch(where.branch), "steps", {})
    for sibling in list(holder.values()):
        if sibling.status == PROCESSING and sibling.internal_name != where.internal_name:
            dead = sibling.model_copy()
            dead.status = FAIL
            dead.message = dead.message or "did not finish: the process running it ended first"
            session.store.put_step_log(session.job.run_id, dead, where.branch)
