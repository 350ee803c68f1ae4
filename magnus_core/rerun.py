"""Re-runs (`--use-cached`): steps that succeeded in the original run are copied, not executed.

The rule: walking the dag in order, a step the original ran with SUCCESS (and whose definition did not
change) is copied with `mock: true` and message "reused"; a composite step that succeeded is copied whole.
At the first step that did not succeed the cache is dropped: it and every step after it run, each with the
reason in its message ("failed before", "not reached before", "dag changed", "an earlier step ran (...)").
When that step is a composite that failed and runs its branches one after another (a loop), the re-run
resumes inside it: its branches that succeeded are copied in order, up to the first that did not
(reuse_branch), so a loop resumes at the iteration that failed.

Parameters: the re-run starts from the original's initial parameters (with this command line's values
over them), and a reused step applies the parameters it returned in the original (its
returned_parameters, committed with its SUCCESS), exactly as if it had run. So the first step that runs
gets the parameters it got in the original, whatever instant the original was killed at
(docs/crash-safety.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magnus_core import jsonio as json
from magnus_core.crashpoints import crash_point
from magnus_core.errors import UsageError
from magnus_core.models.run_log import INTERRUPTED, PROCESSING, SUCCESS, BranchLog, RunLog, StepLog

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.loading import Pipeline
    from magnus_core.models.pipeline import Node
    from magnus_core.runner import PreparedRun, RunRequest
    from magnus_core.stores.base import RunLogStore

REUSED = "reused"
FAILED_BEFORE = "failed before"
INTERRUPTED_BEFORE = "interrupted before"
CUT_SHORT_BEFORE = (
    "cut short before"  # its run's process died while it ran (kill -9, a segfault, the OOM killer)
)
NOT_REACHED = "not reached before"
DAG_CHANGED = "dag changed"


def latest_failed_run(store: RunLogStore, pipeline: str = "") -> str:
    """The newest run with status FAIL (or killed) that no later re-run has finished, for `--use-cached`
    with no id: a failed run re-run to SUCCESS (by `--use-cached` of it, or of a re-run of it that failed
    too) is done, and the run before it is the one to take up (trial 24: the same failed run was re-run
    again, its steps run once more, after its re-run had succeeded). With `pipeline` (the file given to
    `magnus execute`), only a run of that file (trial 26: a project's other pipeline's failed run was
    taken, every step `dag changed`). Raises UsageError (exit 2) when there is none, naming the newest
    failed run of another pipeline, or the newest that was re-run."""
    from magnus_core.runs import list_runs

    finished: set[str] = set()  # runs a newer re-run took up and brought to SUCCESS
    skipped = other = ""
    for summary in list_runs(store):  # newest first
        ours = not pipeline or not summary.pipeline or _same_file(summary.pipeline, pipeline, Path.cwd())
        if summary.run_id in finished:
            if summary.original_run_id:
                finished.add(summary.original_run_id)
            skipped = skipped or (summary.run_id if ours else "")  # (trial 27: another pipeline's named)
            continue
        if summary.state == "SUCCESS" and summary.original_run_id:
            finished.add(summary.original_run_id)
        if summary.status != "FAIL" and summary.state != "INTERRUPTED":
            continue
        if not ours:
            other = other or f"{summary.run_id} ({summary.pipeline})"
            continue
        return summary.run_id
    said = f" (the newest, {skipped}, was re-run to SUCCESS since)" if skipped else ""
    if other:
        said += f"; the newest failed run of another pipeline: {other}, --use-cached ID re-runs it"
    what = f"failed run of {pipeline}" if pipeline else "failed run"
    raise UsageError(
        f"no {what} to re-run in {store.where()}{said}; name one: --use-cached RUN_ID", field="use_cached"
    )


def _first_commit(log: RunLog) -> str | None:
    for step in log.walk():
        for identity in step.code_identities:
            if identity.code_identifier_type == "git" and identity.code_identifier:
                return identity.code_identifier
    return None


def code_not_compared(original: RunLog, cwd: str | Path = ".") -> str:
    """Why a re-run of `original` from `cwd` cannot tell whether the code changed ("" when it can): the
    re-run's warnings compare git commits (and uncommitted files) only, so with no commit now (a repository
    with no commit yet, no repository: git_identity's message) or none recorded by `original`, an edited
    file is not seen, and "nothing changed" would be a guess (trial 12, fault 15: the workbench said
    "same code" after steps.py was edited in a repository with no commit)."""
    from magnus_core.identity import git_identity

    identity = git_identity(cwd)
    if not identity.code_identifier:
        return identity.code_identifier_message or "no git commit to compare"
    if _first_commit(original) is None:
        return f"run '{original.run_id}' recorded no git commit"
    return ""


def changed_files(identity: Any) -> list[str]:
    """The uncommitted files a code identity lists (identity.git_identity's message), sorted."""
    from magnus_core.identity import CHANGED

    message = identity.code_identifier_message or ""
    return sorted(message[len(CHANGED) :].split(", ")) if message.startswith(CHANGED) else []


def _uncommitted(log: RunLog) -> list[str] | None:
    """The uncommitted files of the code a run ran (its first git identity); None when not recorded."""
    for step in log.walk():
        for identity in step.code_identities:
            if identity.code_identifier_type == "git" and identity.code_identifier:
                return changed_files(identity)
    return None


def _wait_for_watcher(original: RunLog) -> None:
    """A run whose magnus died at once (kill -9, the OOM killer) has its watcher stopping what its steps
    started for up to MAGNUS_STOP_GRACE seconds (SIGTERM, then SIGKILL): a re-run started meanwhile ran its
    steps beside the ones still being stopped (trial 15 N7: a GPU job twice). Wait for it (saying so on
    stderr), up to the grace and two seconds more; then go on (a watcher that outlives that is not ours
    to wait for). A run whose magnus still lives has nothing being stopped: its watcher lives as long as
    that process (one per process), so a re-run made in the process that made the run (a script or a
    notebook calling magnus twice, the test suite) waited the whole 7 s for nothing (session 12)."""
    import sys
    import time

    from magnus_core.runs import process_alive, watcher_alive
    from magnus_core.settings import stop_grace

    pid = watcher_alive(original)
    if pid is None or process_alive(original) is not False:
        return
    limit = stop_grace() + 2.0
    print(
        f"magnus: the processes of run '{original.run_id}' are still being stopped (its watcher, pid {pid}): "
        f"waiting up to {limit:g} s",
        file=sys.stderr,
        flush=True,
    )
    deadline = time.monotonic() + limit
    while watcher_alive(original) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def prepare_rerun(prepared: PreparedRun, cwd: Path) -> None:
    """Load the run to re-run into prepared.original; warn (or refuse with --strict) about what changed."""
    from magnus_core.identity import git_identity

    request = prepared.request
    store = prepared.store
    if not store.keeps_runs:
        raise UsageError(
            f"the {store.service_name} run-log store keeps runs in memory only, for the process that ran "
            "them: there is no earlier run to re-run; keep runs in a store (run_log_store: {type: "
            "file-system}) to re-run them",
            field="use_cached",
        )
    from magnus_core.runs import get_typed_run, run_state

    # a unique prefix or suffix of an id, or `last`, names a run too; unknown: RunNotFoundError (nearest)
    original = get_typed_run(store, request.use_cached or latest_failed_run(store, request.file))
    old_id = original.run_id

    if run_state(original) == "RUNNING":
        raise UsageError(
            f"run '{old_id}' is still running (its process is alive); re-run it when it has ended",
            field="use_cached",
        )
    _wait_for_watcher(original)
    if not request.tag:  # the re-run stays in the original's experiment (runs --tag, compare --tag, the
        request.tag = original.tag or ""  # workbench's experiments), and its resume command says so
    warnings: list[str] = []
    if original.dag_hash and original.dag_hash != prepared.pipeline.dag_hash:
        warnings.append(
            f"the dag changed since run '{old_id}' (dag_hash {original.dag_hash[:12]} -> "
            f"{prepared.pipeline.dag_hash[:12]}): steps whose definition changed run again"
        )
    old_commit = _first_commit(original)
    identity = git_identity(cwd)
    new_commit = identity.code_identifier
    if old_commit and new_commit and old_commit != new_commit:
        warnings.append(
            f"the code changed since run '{old_id}' (git commit {old_commit[:12]} -> {new_commit[:12]})"
        )
    dirty_then, dirty_now = _uncommitted(original), changed_files(identity)
    if old_commit and new_commit and dirty_then is not None and dirty_now != dirty_then:
        now = f"uncommitted changes in {', '.join(dirty_now)}" if dirty_now else "no uncommitted changes"
        then = f"in {', '.join(dirty_then)}" if dirty_then else "none"
        warnings.append(f"the code changed since run '{old_id}': {now} (then: {then})")
    then_config = original.run_config.get("config_file") if isinstance(original.run_config, dict) else None
    if then_config and not _same_file(str(then_config), request.config_file, cwd):
        now_config = f"--config-file {request.config_file}" if request.config_file else "no --config-file"
        warnings.append(
            f"run '{old_id}' ran with --config-file {then_config}; this re-run has {now_config} (its "
            "executor, catalog and secrets are this command's)"
        )
    if prepared.catalog is not None:
        warnings.extend(prepared.catalog.check_original(original))
    plan = plan_rerun(prepared.pipeline, original, prepared.parameters)
    warnings.extend(plan.problems())
    prepared.plan = plan
    if request.strict and warnings:
        raise UsageError("refusing to re-run (--strict): " + "; ".join(warnings), field="use_cached")
    refuse_masked(original, prepared.parameters, request)
    # The run starts where the original started, with this command line's values over that; each reused
    # step then applies what it returned (reuse_step), so nothing a step returned is applied twice and
    # nothing it returned is missed (the plan above names reused steps that received other values).
    from magnus_core.parameters import starting_parameters

    prepared.parameters = {**starting_parameters(original), **prepared.parameters}
    prepared.original = original
    prepared.warnings.extend(warnings)


def _same_file(then: str, now: str | None, cwd: Path) -> bool:
    """Do the file recorded (a config file, a pipeline) and the one given now name one file (as typed, or
    resolved from `cwd`)?"""
    if now is None:
        return False
    return then == now or (cwd / then).resolve() == (cwd / now).resolve()


def resume_hint(request: RunRequest, run_id: str, store: RunLogStore, masked: Iterable[str] = ()) -> str:
    """What to tell the user after a failed run: the exact command that resumes it (resume_command;
    `masked`: the run's masked_parameters, given again as `--name VALUE`), or, when the store keeps
    nothing after this process (buffered), that it cannot be resumed and how to keep runs."""
    if not store.keeps_runs:
        return (
            f"Run '{run_id}' was kept in memory only (run_log_store type {store.service_name}): it cannot be "
            "resumed. To re-run from a failure, keep runs in a store (run_log_store: {type: file-system})."
        )
    return f"Resume with: {resume_command(request, run_id, masked)}"


def refuse_masked(original: RunLog, given: dict[str, Any], request: RunRequest) -> None:
    """A re-run would feed the original's parameters to the steps that run; one recorded masked (its
    value held a secret) would reach them as '*****...'. Refuse, naming them and how to pass them again,
    unless this command gives them (--name value, the parameters file, MAGNUS_PRM_<name>)."""
    masked = dict.fromkeys(original.masked_parameters)
    for step in original.walk():  # a reused step applies what it returned, as recorded
        masked.update(dict.fromkeys(step.masked_parameters))
    missing = [name for name in masked if name not in given]
    if not missing:
        return
    import shlex

    listed = ", ".join(f"'{name}'" for name in missing)
    again = " ".join(f"--{shlex.quote(name)} VALUE" for name in missing)
    from magnus_core.parameters import PRM_PREFIX

    variables = "; ".join(f"read -rs {PRM_PREFIX}{name}; export {PRM_PREFIX}{name}" for name in missing)
    raise UsageError(
        f"run '{original.run_id}' recorded parameter(s) {listed} masked (their value held a secret), so a "
        f"re-run would hand the masked value to the steps that run; pass them again: "
        f"{resume_command(request, original.run_id)} {again} (or, to keep the value off the command line "
        f"and out of shell history, from the environment: {variables})",
        field="use_cached",
    )


def resume_command(request: RunRequest, run_id: str, masked: Iterable[str] = ()) -> str:
    """The exact command that re-runs a failed run from where it failed (for a store that keeps runs): every
    option that shaped the run repeated (command_words), so pasting it makes the same run."""
    return command_words(
        run_id,
        file=request.file,
        config_file=request.config_file,
        parameters_file=request.parameters_file,
        var_file=request.var_file,
        tag=request.tag,
        parameters=request.parameters,
        masked=masked,
    )


def command_words(
    run_id: str,
    *,
    file: str | None,
    config_file: str | None = None,
    parameters_file: str | None = None,
    var_file: str | None = None,
    tag: str = "",
    parameters: Mapping[str, Any] | None = None,
    masked: Iterable[str] = (),
) -> str:
    """`magnus execute --file F [--config-file C] [--parameters-file P] [--var-file V] [--tag T] --use-cached
    RUN [--name value ...]`, shell-quoted: the resume command of a run, whether built from the command that
    started it (resume_command) or from its run log (stop.resume_command), so both print the same words.

    `parameters`: those given as `--name value` (written as typed, parameters.typed_text: `--name b`, not
    `--name '"b"'`, quoted only when type_value would read the bare text as another value); `masked`
    (names whose recorded value held a secret) are written `--name VALUE`, for the user to give again: a
    re-run refuses to feed a masked value (refuse_masked). A re-run starts from the parameters the
    original started with, so the others need not be repeated; they are, so the command reads as what was
    run."""
    import shlex

    from magnus_core.masking import MASK
    from magnus_core.parameters import typed_text
    from magnus_core.suggest import is_typo_of_option

    words = ["magnus", "execute"]
    for flag, value in (
        ("--file", file),
        ("--config-file", config_file),
        ("--parameters-file", parameters_file),
        ("--var-file", var_file),
        ("--tag", tag),
    ):
        if value:
            words += [flag, str(value)]
    words += ["--use-cached", run_id]
    hidden = list(dict.fromkeys(masked))
    given: list[tuple[str, str | None]] = []  # (name, its text; None: masked, the user gives it again)
    for name, value in (parameters or {}).items():
        if name in hidden or value == MASK:
            given.append((name, None))
            continue
        try:
            given.append((name, typed_text(value)))
        except ValueError:  # (not a value a command line can give: the re-run starts from it anyway)
            continue
    given += [(name, None) for name in hidden if name not in dict(given)]
    if any(is_typo_of_option(name, option) for name, _ in given for option in EXECUTE_OPTIONS):
        words.append("--")  # a parameter named like an option goes after '--' (parameters.parse_cli_args)
    shown = [shlex.quote(w) for w in words]
    for name, text in given:
        shown += [shlex.quote(f"--{name}"), "VALUE" if text is None else shlex.quote(text)]
    return " ".join(shown)


# `magnus execute`'s long options (cli/execute.py; a test holds them equal): a parameter named like one
EXECUTE_OPTIONS = (
    "file", "config-file", "parameters-file", "var-file", "log-level", "tag", "run-id", "use-cached",
    "strict", "json", "prompt-fd", "help", "version",
)  # fmt: skip


# -- the plan ----------------------------------------------------------------------------------------------
REUSE, RUN = "reuse", "run"


@dataclass(frozen=True)
class PlannedStep:
    """One top-level step of a re-run's plan.

    action: REUSE (copied from the original) or RUN; reason: why it runs ("failed before", "not reached
    before", "dag changed", "an earlier step ran (x)") or "" for a reused step; old_status: its status in the
    original ("" when not reached). changed (reused steps): parameter -> (the value it received in the
    original, the value given now), for each parameter given now that it received with another value;
    recorded: whether the original recorded what the step received (magnus 0.4 and later) — if not,
    `changed` compares with the original run's parameters instead. resumed (a step that runs and resumes
    inside, a loop that failed or was cut short: reuse_branch): (the steps its branches copied from the
    original hold, the branches copied, where it resumes: `at iteration 3`, or `after iteration 2` when every
    branch logged is copied); (0, 0, "") for any other step (trial 13 fault 9: the plan said `0 step(s)
    reused` of a loop that resumed at iteration 3 with 3 steps reused)."""

    name: str
    action: str
    reason: str = ""
    old_status: str = ""
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    recorded: bool = True
    resumed: tuple[int, int, str] = (0, 0, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "old_status": self.old_status,
            "changed": {k: {"received": a, "now": b} for k, (a, b) in self.changed.items()},
            "recorded": self.recorded,
            "reused_inside": self.resumed[0],
            "resume_at": self.resumed[2],
        }


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run of `original` will do, top-level step by step, in the order they run (the path the
    original took while steps are reused; `next` after that). Data only: the CLI prints it, the workbench
    shows it."""

    original: str
    steps: list[PlannedStep]

    @property
    def reused(self) -> list[PlannedStep]:
        return [s for s in self.steps if s.action == REUSE]

    @property
    def reused_steps(self) -> int:
        """The steps reused, as the run's summary counts them (`N reused`): each reused top-level step (a
        composite as one), and the steps inside a resumed loop's copied iterations."""
        return len(self.reused) + sum(s.resumed[0] for s in self.steps)

    @property
    def stale(self) -> list[PlannedStep]:
        """Reused steps whose recorded parameters differ from what they would receive now."""
        return [s for s in self.reused if s.changed]

    def problems(self) -> list[str]:
        """One sentence per stale step (warnings; `--strict` refuses them)."""
        out = []
        for step in self.stale:
            values = ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in step.changed.items())
            how = "received" if step.recorded else "ran in a run whose parameters had"
            out.append(
                f"step '{step.name}' is reused from run '{self.original}' but {how} other parameter values "
                f"than given now ({values}): the steps after it will see values it did not use"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {"original": self.original, "steps": [s.to_json() for s in self.steps]}


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 30 else text[:27] + "..."


def _received(step: StepLog) -> dict[str, Any] | None:
    """What a step (and, for a composite, every step in it) received, from the last attempt of each; None
    when nothing was recorded (logs of magnus before 0.4, and of the original tool)."""
    from magnus_core.masking import MASK

    found: dict[str, Any] = {}
    recorded = False
    for nested in step.walk():
        if nested.attempts and nested.attempts[-1].parameters is not None:
            recorded = True
            for key, value in nested.attempts[-1].parameters.items():
                if value != MASK:
                    found.setdefault(key, value)
    return found if recorded else None


def plan_rerun(pipeline: Any, original: RunLog, given: dict[str, Any]) -> RerunPlan:
    """The plan of re-running `original` with `pipeline` and the parameters `given` now (parameters file,
    MAGNUS_PRM_* and the command line: what the user passes, before the original's are merged in).

    A step is reused by the rule of reuse_step (it succeeded in the original, its definition did not change,
    and no step before it runs); the first that cannot be, and every step after it, runs."""
    from magnus_core.graph import next_step

    dag = pipeline.dag
    steps: list[PlannedStep] = []
    reusing, first_run = True, ""
    name: str | None = dag.start_at
    seen: set[str] = set()
    while name is not None and name not in seen and name in dag.steps:
        seen.add(name)
        node = dag.steps[name]
        if node.is_terminal:
            break
        old = original.steps.get(name)
        changed_definition = definition_changed(original, pipeline, name, node)
        if reusing and old is not None and old.status == SUCCESS and not changed_definition:
            received = _received(old)
            against = received if received is not None else original.parameters
            changed = {
                k: (against[k], v) for k, v in given.items() if k in against and not _same(against[k], v)
            }
            steps.append(PlannedStep(name, REUSE, "", old.status, changed, received is not None))
        else:
            reason = why_it_runs(changed_definition, old, first_run)
            resumed = (0, 0, "")
            if reusing:
                reusing, first_run = False, name
                if old is not None and reason in (FAILED_BEFORE, CUT_SHORT_BEFORE):
                    resumed = _resumed(node, old)
            steps.append(
                PlannedStep(name, RUN, reason, old.status if old is not None else "", resumed=resumed)
            )
        name = next_step(dag, name, True)
    return RerunPlan(original.run_id, steps)


def _resumed(node: Node, old: StepLog) -> tuple[int, int, str]:
    """PlannedStep.resumed of a composite that runs first in a re-run and failed (or was cut short) in the
    original: what reuse_branch will copy, by its rule (a composite whose branches run one after another,
    its branches in the order they ran, up to the first that did not succeed whole). Steps counted as the
    summary counts them: the work steps, not a branch's success or fail node."""
    if not node.is_composite or node.concurrent_branches or not old.branches:
        return 0, 0, ""
    unit = "iteration" if node.type == "loop" else "branch"
    copied = steps = 0
    last = ""
    for name, branch in old.branches.items():
        label = name[len(old.internal_name) + 1 :] if name.startswith(old.internal_name + ".") else name
        if branch.status != SUCCESS or any(s.status != SUCCESS for s in branch.walk()):
            return (steps, copied, f"at {unit} {label}") if copied else (0, 0, "")
        copied += 1
        steps += sum(1 for s in branch.walk() if s.step_type not in ("success", "fail") and not s.branches)
        last = label
    return steps, copied, f"after {unit} {last}"


def _same(a: Any, b: Any) -> bool:
    """Equal as the run log holds them (1 and 1.0 are equal; True and 1 are not)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str) or (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def format_plan(plan: RerunPlan) -> list[str]:
    """The plan as lines for a terminal: one per step, stale reused steps flagged."""
    reused = len(plan.reused)
    to_run = len(plan.steps) - reused
    lines = [f"Re-run of {plan.original}: {plan.reused_steps} step(s) reused, {to_run} to run"]
    width = max((len(s.name) for s in plan.steps), default=0)
    for step in plan.steps:
        note, action = step.reason, step.action
        if step.changed:
            values = ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in step.changed.items())
            note = f"! received other parameter values than given now: {values}"
        inside, branches, where = step.resumed
        if branches:  # a loop resuming inside: `resume  train  cut short before: at iteration 3 (3 reused)`
            action = "resume"
            unit = where.split()[1] if len(where.split()) > 1 else "branch"
            what = f"{branches} {unit}{'s' if branches != 1 else ''}"
            note = f"{note}: {where} ({inside} step(s) of {what} reused)"
        lines.append(f"  {action:<6} {step.name:<{width}}  {note}".rstrip())
    return lines


# -- during the run ---------------------------------------------------------------------------------------
def _original(ctx: RunContext) -> RunLog:
    assert ctx.original is not None, "only a re-run reuses steps"
    return ctx.original


def _index(ctx: RunContext) -> dict[str, StepLog]:
    """The original run's step logs by internal name (built once per run)."""
    if ctx.original_index is None:
        ctx.original_index = {step.internal_name: step for step in _original(ctx).walk()}
    return ctx.original_index


def _block(config: dict[str, Any], name: str) -> Any:
    dag = config.get("dag") if isinstance(config, dict) else None
    if not isinstance(dag, dict) or not isinstance(dag.get("steps"), dict):
        return None
    return dag["steps"].get(name)


def _definition_changed(node: Node, name: str, ctx: RunContext, branch: str | None) -> bool:
    """Did this top-level step's definition change since the original? (Nested steps only run once their
    composite runs, so the cache is already dropped there.) Unknown (an original without its dag): no."""
    if branch is not None:
        return False
    return definition_changed(_original(ctx), ctx.pipeline, name, node)


def definition_changed(original: RunLog, pipeline: Pipeline, name: str, node: Node) -> bool:
    """Did top-level step `name` change between the original's recorded dag and `pipeline`'s?"""
    before = _block(original.run_config, name)
    if before is None:
        return False
    now = _block({"dag": pipeline.dag_block}, name)
    if json.dumps(before, sort_keys=True, default=str) != json.dumps(now, sort_keys=True, default=str):
        return True
    from magnus_core.graph import branches

    if any(spec.source is not None for spec in branches(node)):  # a sub-graph read from another file
        return original.run_config.get("sub_dags") != _current_sub_dags(pipeline)
    return False


def _current_sub_dags(pipeline: Pipeline) -> dict[str, Any]:
    import os

    here = Path(pipeline.file).resolve().parent
    return {os.path.relpath(path, here): block for path, block in pipeline.sub_dags.items()}


def why_it_runs(changed_definition: bool, old: StepLog | None, first_run: str) -> str:
    """Why a step of a re-run runs instead of being reused, as its message and the plan say it."""
    if changed_definition:
        return DAG_CHANGED
    if old is None:
        return NOT_REACHED
    if old.status == INTERRUPTED:
        return INTERRUPTED_BEFORE
    if old.status == PROCESSING:  # the original's process died in it (trial 12: it read "failed before")
        return CUT_SHORT_BEFORE
    if old.status != SUCCESS:
        return FAILED_BEFORE
    return f"an earlier step ran ({first_run})"


def reuse_step(
    node: Node, name: str, internal_name: str, ctx: RunContext, branch: str | None, params: dict[str, Any]
) -> StepLog | None:
    """The original run's step log copied with mock=true when the step may be reused, else None (the step
    runs, and the reason is kept in ctx.reasons for note_reason). A reused step is committed in this run
    with what it returned in the original, which is then applied to `params`, as if it had run."""
    reasons: dict[str, str] = ctx.reasons
    if node.is_terminal:
        reasons[internal_name] = "end of the graph: always runs"
        return None
    with ctx.lock:
        old = _index(ctx).get(internal_name)
        changed = _definition_changed(node, name, ctx, branch)
        if ctx.cache_valid and old is not None and old.status == SUCCESS and not changed:
            step = _copy_reused(old, _original(ctx).run_id)
        else:
            reason = why_it_runs(changed, old, ctx.first_run)
            if ctx.cache_valid:
                ctx.cache_valid = False
                ctx.first_run = internal_name
                if (
                    reason in (FAILED_BEFORE, CUT_SHORT_BEFORE)
                    and node.is_composite
                    and not node.concurrent_branches
                ):
                    ctx.resume_inside = internal_name  # its branches that succeeded: see reuse_branch
            reasons[internal_name] = reason
            return None
    _write(step, ctx, branch, params)
    crash_point("rerun:reused", internal_name)
    params.update(step.returned_parameters)
    return step


def reuse_branch(
    ctx: RunContext, composite: str, branch: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """Resume inside the first step that runs, when it failed in the original and its branches run one
    after another (a loop's iterations; rerun.reuse_step marks it): branch `branch` of it is copied from the
    original (its steps mock, as reuse_step copies a step) when it succeeded there and every branch of it
    before this one was copied too. `params`, the branch's starting parameters, then holds what its steps
    returned, and comes back. Else None: the branch runs, and no later branch is copied."""
    if not ctx.resume_inside or ctx.resume_inside != composite or ctx.original is None:
        return None
    with ctx.lock:
        old = ctx.original.find_branch(branch)
        if old is None or old.status != SUCCESS or any(s.status != SUCCESS for s in old.walk()):
            ctx.resume_inside = ""
            return None
    ctx.store.put_branch_log(ctx.run_id, BranchLog(internal_name=branch, status=PROCESSING), composite)
    for nested in old.steps.values():
        copied = _copy_reused(nested, ctx.original.run_id)
        _write(copied, ctx, branch)
        params.update(copied.returned_parameters)
    ctx.store.put_branch_log(ctx.run_id, BranchLog(internal_name=branch, status=SUCCESS), composite)
    return params


def note_reason(step: StepLog, ctx: RunContext, branch: str | None) -> None:
    """After a step of a re-run executed: say why it ran (before its own error message, if it failed)."""
    reason = ctx.reasons.get(step.internal_name)
    if not reason or step.mock:
        return
    step.message = f"[{reason}] {step.message}" if step.message else reason
    ctx.store.put_step_log(ctx.run_id, step, branch)


def _copy_reused(old: StepLog, original_run: str) -> StepLog:
    """A copy of the original's step (and everything in it) saying it was reused, and from which run; its
    code identities stay the original's (the code that ran there), and diffs leave them out of this run's
    code (diff._code_of)."""
    step = old.model_copy(deep=True)
    for nested in step.walk():
        nested.mock = True
        nested.message = f"{REUSED} from run '{original_run}'"
        nested.attempts = []  # nothing was attempted in this run; the original's attempts are in its log
        nested.start_time = None  # nor begun: the original's time would read as this run's (run_span)
    return step


def _write(step: StepLog, ctx: RunContext, branch: str | None, params: dict[str, Any] | None = None) -> None:
    """Write a copied step and, for a composite, its branches and their steps, through the store; the step
    itself is committed last (a composite is PROCESSING until everything under it is written), with the
    run's parameters after it for a top-level step that returned some."""
    branches = step.branches
    top = step.model_copy()
    top.branches = {}
    if branches:
        top.status = PROCESSING
        ctx.store.put_step_log(ctx.run_id, top, branch)
        for branch_name, branch_log in branches.items():
            ctx.store.put_branch_log(
                ctx.run_id, BranchLog(internal_name=branch_name, status=branch_log.status), step.internal_name
            )
            for nested in branch_log.steps.values():
                _write(nested, ctx, branch_name)
        top.status = step.status
    top_level = branch is None and params is not None and step.returned_parameters
    after = {**params, **step.returned_parameters} if top_level and params is not None else None
    ctx.store.commit_step(ctx.run_id, top, branch, parameters=ctx.mask_data(after) if after else None)
