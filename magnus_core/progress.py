"""A run against its plan: every step of the dag it runs, known before the steps run, and an estimate.

    dag = stored_dag(run_log)            # the dag recorded in run_config (None: not recorded / unreadable)
    for node in planned_nodes(dag):      # every step and named branch, in the order a run meets them
        node.internal_name, node.parent, node.kind, node.on_path
    previous = previous_success(index, run_log)   # the run to take an estimate from (or None)

A run log records the dag it ran (`run_config.dag`, with the `dag_definition` files in `run_config.sub_dags`),
so the whole pipeline can be shown from the start, however far the run has got, and for a run written by
another process. Structure comes from graph.py: a composite's named branches (a parallel's, a nested dag's)
are planned with their steps; branches run per item (a map's) are known only once the run fans out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnus_core.graph import branches, internal_name, next_step
from magnus_core.models.pipeline import Dag, DagNode
from magnus_core.models.run_log import RunLog

if TYPE_CHECKING:
    from magnus_core.index import RunIndex
    from magnus_core.runs import RunSummary

STEP, BRANCH = "step", "branch"


@dataclass(frozen=True)
class PlannedNode:
    """One step or named branch of a dag, before it runs.

    internal_name: as the run log will key it; name: its own name (a branch's: the branch name); parent: the
    internal name of what holds it (a branch for a step, a composite step for a branch; None at the top);
    kind: STEP or BRANCH; step_type: the node's type (`task`, `parallel`, ...; "" for a branch); on_path:
    whether a run in which every step succeeds passes through it (a step only reached on failure, the fail
    node, are not on it); attempts: how many attempts its `retry` allows it (1 for a branch, and where
    planned_nodes does not say)."""

    internal_name: str
    name: str
    parent: str | None
    kind: str
    step_type: str
    on_path: bool
    attempts: int = 1


def stored_dag(log: RunLog) -> Dag | None:
    """The dag `log` was run with, rebuilt from run_config (`dag`, and `sub_dags` for the steps of type dag);
    None when the log does not record it (the original tool's logs) or it no longer validates."""
    config = log.run_config if isinstance(log.run_config, dict) else {}
    block = config.get("dag")
    if not isinstance(block, dict):
        return None
    try:
        dag = Dag.model_validate(block)
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return None
    subs = config.get("sub_dags")
    _attach_sub_dags(dag, ".", subs if isinstance(subs, dict) else {}, depth=0)
    return dag


def _attach_sub_dags(dag: Dag, folder: str, subs: dict[str, Any], depth: int) -> None:
    """Give each dag node its sub-graph from `subs` (keyed by path relative to the pipeline's folder, as
    runner.run_config records them); a file not recorded leaves the node without branches."""
    if depth > 20:  # loading.MAX_NESTING: a recorded dag cannot be deeper
        return
    for node in dag.steps.values():
        if isinstance(node, DagNode):
            key = os.path.normpath(os.path.join(folder, node.dag_definition))
            block = subs.get(key)
            if not isinstance(block, dict):
                continue
            try:
                sub = Dag.model_validate(block)
            except (ValueError, TypeError):
                continue
            node._sub_dag = sub
            node._sub_file = key
            _attach_sub_dags(sub, os.path.dirname(key) or ".", subs, depth + 1)
        else:
            for spec in branches(node):
                _attach_sub_dags(spec.dag, folder, subs, depth + 1)


def success_path(dag: Dag) -> list[str]:
    """The steps a run takes when every step succeeds, from start_at to a terminal node (graph.next_step
    after each; a loop in a hand-made dag ends the path)."""
    path: list[str] = []
    name: str | None = dag.start_at
    while name is not None and name in dag.steps and name not in path:
        path.append(name)
        name = next_step(dag, name, succeeded=True)
    return path


def planned_nodes(dag: Dag) -> list[PlannedNode]:
    """Every step of `dag` and of its named branches, depth first: each graph's steps on its success path in
    the order they run, then its other steps (failure handlers, the fail node) as written; a composite's
    branches right after it. Branches run per item (a map's) are left out: they are named at run time."""
    out: list[PlannedNode] = []
    _plan(dag, None, None, True, out)
    return out


def _plan(dag: Dag, branch: str | None, parent: str | None, on_path: bool, out: list[PlannedNode]) -> None:
    path = success_path(dag)
    order = [*path, *(name for name in dag.steps if name not in path)]
    for name in order:
        node = dag.steps[name]
        here = internal_name(branch, name)
        step_on_path = on_path and name in path
        step_type = "as-is" if node.type == "stub" else node.type  # as its step log says (nodes/common.py)
        out.append(PlannedNode(here, name, parent, STEP, step_type, step_on_path))
        for spec in branches(node):
            if spec.name is None:  # one branch per item: known once the run fans out
                continue
            key = f"{here}.{spec.name}"
            out.append(PlannedNode(key, spec.name, here, BRANCH, "", step_on_path))
            _plan(spec.dag, key, key, step_on_path, out)


def _step_type(node: Any) -> str:
    """A node's type as its step log says it (nodes/common.py: a stub's log says `as-is`)."""
    return "as-is" if node.type == "stub" else str(node.type)


def planned_step(
    dag: Dag, name: str, branch_logs: set[str] | frozenset[str] = frozenset()
) -> PlannedNode | None:
    """The step of `dag` that the internal name `name` names, as planned_nodes describes it (`on_path`:
    every graph holding it takes it when every step succeeds), or None when the dag has no such step (a
    branch's name names no step). A branch run per item takes any item (`each.3.work`,
    `each.map_variable_placeholder.work`), unless `branch_logs` (the run log's branch names) holds branches
    of that step: then only theirs, since its items are known. Branch names and items may hold dots."""
    parts = name.split(".")
    return _planned_at(dag, parts, 0, None, None, True, branch_logs, depth=0)


def _planned_at(
    dag: Dag,
    parts: list[str],
    i: int,
    branch: str | None,
    parent: str | None,
    on_path: bool,
    branch_logs: set[str] | frozenset[str],
    depth: int,
) -> PlannedNode | None:
    if depth > 40 or parts[i] not in dag.steps:
        return None
    node = dag.steps[parts[i]]
    here = internal_name(branch, parts[i])
    here_on_path = on_path and parts[i] in success_path(dag)
    if i == len(parts) - 1:
        attempts = getattr(node, "retry", None) or 1
        return PlannedNode(here, parts[i], parent, STEP, _step_type(node), here_on_path, attempts)
    known = {key for key in branch_logs if key.startswith(f"{here}.")}
    for spec in branches(node):
        for end in range(len(parts) - 1, i + 1, -1):  # the longest key first: `1.5` before `1`
            key = ".".join(parts[i + 1 : end])
            if spec.name is not None and key != spec.name:
                continue
            if spec.name is None and known and f"{here}.{key}" not in known:
                continue
            # a branch the run did not choose (a conditional took another) is off the run's path
            chosen = not known or f"{here}.{key}" in known or node.type in PARALLEL_KINDS
            found = _planned_at(
                spec.dag,
                parts,
                end,
                f"{here}.{key}",
                f"{here}.{key}",
                here_on_path and chosen,
                branch_logs,
                depth + 1,
            )
            if found is not None:
                return found
    return None


def run_times(log: RunLog) -> tuple[str, str, float | None]:
    """(start, end, duration in seconds) of a run by the one rule every view uses (models.times.run_span:
    the process's recorded start, else the first own attempt; the last own attempt's end; reused steps
    left out). Times as the run log writes them; "" / None when the log does not say."""
    from magnus_core.models.run_log import time_span
    from magnus_core.models.times import run_span  # (not through index.record: the index is not needed)

    process = log.run_config.get("process") if isinstance(log.run_config, dict) else None
    started = process.get("started_at") if isinstance(process, dict) else None
    first, last = time_span(a for step in log.walk() if not step.mock for a in step.attempts)
    return run_span(
        started if isinstance(started, str) else "", [first] if first else [], [last] if last else []
    )


def previous_success(index: RunIndex, log: RunLog) -> RunSummary | None:
    """The run an estimate of this run's duration is taken from (estimate_from), or None."""
    found = estimate_from(index, log)
    return found[0] if found is not None else None


def estimate_from(index: RunIndex, log: RunLog) -> tuple[RunSummary, bool] | None:
    """The newest other successful run of the same pipeline file with the same dag hash that is not a
    re-run (`--use-cached`: its steps reused from another run took no time in it), preferring one
    run with the same parameters (every parameter this run has, equal there): (its summary, whether its
    parameters are the same). None when there is none, or the log does not say which pipeline it ran.
    Among the 20 newest such runs; an estimate from other parameters should say so."""
    from magnus_core.index import RunQuery
    from magnus_core.query import BoolOp, Compare, Key

    config = log.run_config if isinstance(log.run_config, dict) else {}
    pipeline = config.get("dag_file")
    if not isinstance(pipeline, str) or not pipeline or not log.dag_hash:
        return None
    where = BoolOp(
        "and",
        (
            Compare(Key("attr", "pipeline"), "=", pipeline),
            Compare(Key("attr", "dag_hash"), "=", log.dag_hash),
            # a re-run's time leaves out the steps it reused: not comparable (trial 8: "usually 80.7ms"
            # came from a re-run that reused 3 of 4 steps)
            Compare(Key("attr", "use_cached"), "=", False),
        ),
    )
    result = index.query(RunQuery(where=where, status="SUCCESS", limit=20, params=["*"]))
    candidates = [
        run for run in result.runs if run.summary.run_id != log.run_id and run.summary.duration is not None
    ]
    for run in candidates:
        if all(run.params.get(name) == value for name, value in log.parameters.items()):
            return run.summary, True
    return (candidates[0].summary, False) if candidates else None


# -- done / total: the one count every view of a run shows ----------------------------------------------
DONE_STATUSES = ("SUCCESS",)
PARALLEL_KINDS = ("parallel", "dag")  # composites whose named branches all run (the others run some)


@dataclass(frozen=True)
class Progress:
    """How far a run has got along its path (step_progress), counted the same way for every status and
    in every view: the run index (`magnus runs`' steps column, `--json`'s steps / steps_done), the workbench's
    runs list and run header, and the run summary's counts line (run_progress).

    What counts is what a user reads as "a step": the work steps (tasks, shell, notebook and stub steps; the
    steps inside a parallel's, a map's or a nested dag's branches in place of the composite, once its branches
    are known; never the dag's success node, nor its fail node). A fail node is where a graph ends, not a
    step that failed: it was counted once a graph's path led there by `next: fail` and not when a failure
    sent the run there, so `2 FAIL` sent a reader looking for a second failure (trial 10, fault 4).
    total: those on the run's path: the steps it took, then from where it is, the steps a run in which every
      step succeeds would take;
    done: those that succeeded (or were reused: a re-run's `mock`), the `✓`;
    failed: those that failed, whether the run stopped there or went on through the step's on_failure (a
      handled failure is still a failed step: `✗ 4` for a run with four failed steps, however many the run
      handled; trial 7 read `✓ 1999 ✗ 1` for a run whose summary listed 4 failures);
    interrupted: those cut short; running: those running now;
    not_run = total - everything above (pending, or never reached);
    fail_reached: a fail node was reached (the run's, or a branch's): the run or that branch failed there,
      every step before it done or not (`next: fail` after steps that all succeeded).
    A run that failed or was interrupted never shows 100%: it has a step not done, or reached a fail node."""

    done: int = 0
    total: int = 0
    failed: int = 0
    interrupted: int = 0
    running: int = 0
    fail_reached: bool = False
    # The total is a floor that may still grow: a composite on the path chooses its branches as it runs (a
    # map's items, a conditional's branch, a loop's iterations) and has not handed them all out yet (not
    # reached: it counts once; fanning out: the items logged so far; a loop: until it ends). Meaningful while
    # the run is live (an ended run's total is what it is): views then write the total `≥M` (trials 8 and 9:
    # a running map's N/M total grew as it fanned out, with nothing saying so).
    growing: bool = False

    @property
    def ran(self) -> int:
        """The steps that ran: succeeded, failed, were interrupted (Ctrl-C, SIGTERM: they ran until then),
        or were reused. The N of the `N/M` every view shows (`magnus runs`' steps column and `--json`'s
        steps_done, the workbench's runs list and run header, `magnus show`'s counts line): a run whose
        three steps all ran and failed reads 3/3, with its status FAIL and `✗ 3` beside it (trial 8 read
        0/3 as "none ran"); a run stopped in its second step of three reads 2/3 (trial 12 fault 7: `1/3
        steps ran: 1 SUCCESS, 1 INTERRUPTED` left out the step that ran 5 s). A step running now has not
        ran yet (the views count a dead run's PROCESSING step, cut short, as INTERRUPTED: ran)."""
        return self.done + self.failed + self.interrupted

    @property
    def not_run(self) -> int:
        return max(0, self.total - self.done - self.failed - self.interrupted - self.running)

    @property
    def percent(self) -> int:
        """Whole percent done, 100 only when every step on the path is done and no fail node was reached."""
        if not self.total:
            return 0
        percent = round(100 * self.done / self.total)
        return 99 if percent == 100 and (self.done < self.total or self.fail_reached) else percent


def step_progress(dag: Dag | None, steps: dict[str, tuple[str, bool]], branch_logs: set[str]) -> Progress:
    """Count a run's progress (Progress) from the dag it runs and what its log holds so far.

    steps: every step log but the dag's end nodes (step_type success / fail), by internal name, nested
    ones included -> (status, mock); a step cut short should be given as INTERRUPTED (the view settles a
    dead run's PROCESSING steps). branch_logs: the internal names of the branches the log holds (a map's
    items, a conditional's chosen branch, a loop's iterations are known only through them). Without a dag
    (the original tool's logs) the logged steps without branches are counted. Used by the run index
    (`magnus runs`' and the workbench's steps column) and the run screen's header."""
    counted: list[tuple[str, bool]] = []
    reached: list[bool] = []  # a fail node reached (Progress.fail_reached)
    if dag is None:
        holders = {key.rsplit(".", 1)[0] for key in branch_logs}  # composites: their steps count instead
        counted = [value for key, value in steps.items() if key not in holders]
    open_ended: list[tuple[str, bool]] = []  # composites that may add branches yet (Progress.growing)
    if dag is not None:
        _walk(dag, None, steps, branch_logs, counted, depth=0, reached=reached, open_ended=open_ended)
    growing = bool(open_ended) and _still_handing_out(open_ended, steps, branch_logs)
    done = failed = interrupted = running = 0
    for status, mock in counted:
        if mock or status in DONE_STATUSES:
            done += 1
        elif status == "FAIL":
            failed += 1
        elif status == "INTERRUPTED":
            interrupted += 1
        elif status in ("PROCESSING", "RUNNING"):
            running += 1
    return Progress(done, len(counted), failed, interrupted, running, bool(reached), growing)


def _still_handing_out(
    open_ended: list[tuple[str, bool]], steps: dict[str, tuple[str, bool]], branch_logs: set[str]
) -> bool:
    """Whether any of `open_ended` (composites on the path that choose their branches as they run, each
    with whether it is a loop, which hands out one iteration at a time) may still add branches: one not
    begun (no log), a loop not ended, or a map or conditional with no step logged in its branches yet. A
    map or a conditional logs every branch it runs at its fan-out, before any of them runs
    (nodes/composite.fan_out, a store write each): once a step of one is logged, they are all known."""
    stepped: set[str] | None = None
    for key, loop in open_ended:
        status = steps.get(key, ("PENDING", False))[0]
        if status not in ("PROCESSING", "RUNNING", "CREATED", "PENDING"):
            continue  # ended: every branch it ran is logged
        if status == "PENDING" or loop:
            return True
        if stepped is None:  # (once: the branches that hold a step)
            stepped = {name.rsplit(".", 1)[0] for name in steps if "." in name}
        prefix = key + "."
        if not any(b in stepped for b in branch_logs if b.startswith(prefix) and "." not in b[len(prefix) :]):
            return True
    return False


def not_run_steps(log: RunLog, dag: Dag | None = None) -> list[tuple[str, str]]:
    """(internal name, step type) of each step run_progress counts as not run (`N not run`: on the run's
    path, not begun), in the order of the path: nested ones too (`par.b1.x`) (a fail node is never a step).
    [] when the log records no dag. One walk of the path, however many there are (a lookup per name was
    quadratic: a 10,000-step run failed at its sixth step). `magnus show` lists the top-level ones of an
    ended run (`not run`), `magnus logs RUN` names them."""
    steps, branch_logs = _logged(log)
    dag = dag if dag is not None else run_dag(log)
    if dag is None:
        return []
    counted: list[tuple[str, bool]] = []
    names: list[tuple[str, str]] = []
    _walk(dag, None, steps, branch_logs, counted, depth=0, names=names)
    return [named for named, (status, _mock) in zip(names, counted, strict=True) if status == "PENDING"]


def _logged(log: RunLog) -> tuple[dict[str, tuple[str, bool]], set[str]]:
    """(status, mock) of every step log but the dag's end nodes, by internal name; the branch names."""
    steps: dict[str, tuple[str, bool]] = {}
    branch_logs: set[str] = set()
    for step in log.walk():
        if step.step_type not in ("success", "fail"):
            steps[step.internal_name] = (step.status, step.mock)
        if step.branches:
            branch_logs.update(step.branches)
    return steps, branch_logs


def run_dag(log: RunLog) -> Dag | None:
    """The dag `log` records (dag_of_config: parsed once per dag in a process); None when it records none."""
    config = log.run_config if isinstance(log.run_config, dict) else {}
    return dag_of_config(config, log.dag_hash or "")


def run_progress(log: RunLog, dag: Dag | None = None) -> Progress:
    """step_progress of a whole run log: the one count of a run's steps (Progress) that the run summary's
    counts line (`2,000 steps: 1,996 SUCCESS, 4 FAIL`) gives, as the run index and the workbench do.
    `dag`: the run's dag when the caller has it (else the one run_config records, parsed once per dag hash in
    a process: dag_of_config; a 10,000-step dag is ~75 ms of pydantic); statuses as the log has them."""
    steps, branch_logs = _logged(log)
    return step_progress(dag if dag is not None else run_dag(log), steps, branch_logs)


def _walk(
    dag: Dag,
    branch: str | None,
    steps: dict[str, tuple[str, bool]],
    branch_logs: set[str],
    counted: list[tuple[str, bool]],
    depth: int,
    names: list[tuple[str, str]] | None = None,
    reached: list[bool] | None = None,
    open_ended: list[tuple[str, bool]] | None = None,
) -> None:
    """The path of one graph as far as known (see Progress), appending its work steps to `counted` (and,
    when given, their internal names and step types to `names`, one for each, True to `reached` when its
    path arrived at its fail node, and to `open_ended` the composites on it that choose their branches as
    they run, with whether each is a loop)."""
    if depth > 40:
        return
    name: str | None = dag.start_at
    seen: set[str] = set()
    arrived = True  # the step before this one ended and the run went on (the start: nothing before it)
    while name is not None and name in dag.steps and name not in seen:
        seen.add(name)
        node = dag.steps[name]
        if node.is_terminal:
            # a fail node is where the graph ends, never a step (Progress): the path ended there (`next:
            # fail`) and got there, so the run (or the branch) failed with every step before it handled
            if node.type == "fail" and arrived and reached is not None:
                reached.append(True)
            return
        here = internal_name(branch, name)
        logged = steps.get(here)
        specs = branches(node)
        position = len(counted)
        if specs:
            known = sorted(
                key for key in branch_logs if key.startswith(here + ".") and "." not in key[len(here) + 1 :]
            )
            if node.type in PARALLEL_KINDS and all(spec.name is not None for spec in specs):
                for spec in specs:
                    _walk(
                        spec.dag,
                        f"{here}.{spec.name}",
                        steps,
                        branch_logs,
                        counted,
                        depth + 1,
                        names,
                        reached,
                        open_ended,
                    )
            else:
                if open_ended is not None:
                    open_ended.append((here, node.type == "loop"))
                by_name = {spec.name: spec for spec in specs if spec.name is not None}
                per_item = next((spec for spec in specs if spec.name is None), None)
                for key in known:
                    chosen = by_name.get(key[len(here) + 1 :], per_item)
                    if chosen is not None:
                        _walk(
                            chosen.dag,
                            key,
                            steps,
                            branch_logs,
                            counted,
                            depth + 1,
                            names,
                            reached,
                            open_ended,
                        )
            if len(counted) == position:  # branches not known yet (or empty): the step counts once
                counted.append(logged or ("PENDING", False))
                if names is not None:
                    names.append((here, _step_type(node)))
        else:
            counted.append(logged or ("PENDING", False))
            if names is not None:
                names.append((here, _step_type(node)))
        status = logged[0] if logged else ""
        arrived = logged is not None and (logged[1] or status in DONE_STATUSES)
        if status == "FAIL":
            after = next_step(dag, name, succeeded=False)
            handler = dag.steps.get(after) if after else None
            if (
                handler is not None
                and not handler.is_terminal
                and internal_name(branch, after or "") in steps
            ):
                # the run went on through the step's on_failure: the step stays a failed step (Progress)
                name = after
                continue
        name = next_step(dag, name, succeeded=True)


_DAGS: dict[tuple[str, tuple[Any, ...]], Dag | None] = {}  # stored dags by dag hash and outline (below)


def dag_outline(config: dict[str, Any]) -> tuple[Any, ...]:
    """The top level of a stored dag's shape: (step name, type, next, on_failure) per step, and the start.

    Part of the cache key beside the dag hash: magnus gives a changed dag a new hash, but a log edited by
    hand (or a test's fixture) can hold another dag under a hash seen before, and must not be counted with
    the first dag's steps. A few tuples per log: cheap beside parsing the log."""
    dag = config.get("dag")
    if not isinstance(dag, dict):
        return ()
    steps = dag.get("steps")
    if not isinstance(steps, dict):
        return (dag.get("start_at"),)
    outline = [
        (name, step.get("type"), step.get("next"), step.get("on_failure"))
        if isinstance(step, dict)
        else (name,)
        for name, step in steps.items()
    ]
    return (dag.get("start_at"), *outline)


def dag_of_config(config: dict[str, Any], dag_hash: str = "") -> Dag | None:
    """The dag a run log's run_config records (stored_dag), parsed once per dag hash and outline (dag_outline)
    in a process: the run index counts progress for thousands of runs of a few pipelines."""
    key = (dag_hash, dag_outline(config)) if dag_hash else None
    if key is not None and key in _DAGS:
        return _DAGS[key]
    dag = stored_dag(RunLog.model_construct(run_config=config))
    if key is not None:
        if len(_DAGS) > 256:
            _DAGS.clear()
        _DAGS[key] = dag
    return dag
