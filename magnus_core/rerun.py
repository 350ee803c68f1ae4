"""Re-runs (`--use-cached`): steps that succeeded in the original run are copied, not executed.

The rule: walking the dag in order, a step the original ran with SUCCESS (and whose definition did not
change) is copied with `mock: true` and message "reused"; a composite step that succeeded is copied whole.
At the first step that did not succeed the cache is dropped: it and every step after it run, each with the
reason in its message ("failed before", "not reached before", "dag changed", "an earlier step ran (...)").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magnus_core.errors import UsageError
from magnus_core.models.run_log import SUCCESS, BranchLog, RunLog, StepLog

REUSED = "reused"
FAILED_BEFORE = "failed before"
NOT_REACHED = "not reached before"
DAG_CHANGED = "dag changed"


def latest_failed_run(store: Any) -> str:
    """The newest run with status FAIL (or killed), for `--use-cached` with no id."""
    from magnus_core.runs import list_runs

    for summary in list_runs(store):
        if summary.status == "FAIL" or summary.state == "INTERRUPTED":
            return summary.run_id
    raise UsageError(
        f"no failed run to re-run in {store.where()}; name one: --use-cached RUN_ID", field="use_cached"
    )


def _first_commit(log: RunLog) -> str | None:
    for step in log.walk():
        for identity in step.code_identities:
            if identity.code_identifier_type == "git" and identity.code_identifier:
                return identity.code_identifier
    return None


def prepare_rerun(prepared: Any, cwd: Path) -> None:
    """Load the run to re-run into prepared.original; warn (or refuse with --strict) about what changed."""
    from magnus_core.identity import git_identity

    request = prepared.request
    store = prepared.store
    old_id = request.use_cached or latest_failed_run(store)
    original = store.get_run(old_id)  # unknown ids: RunNotFoundError lists the nearest
    from magnus_core.runs import run_state

    if run_state(original) == "RUNNING":
        raise UsageError(
            f"run '{old_id}' is still running (its process is alive); re-run it when it has ended",
            field="use_cached",
        )
    warnings: list[str] = []
    if original.dag_hash and original.dag_hash != prepared.pipeline.dag_hash:
        warnings.append(
            f"the dag changed since run '{old_id}' (dag_hash {original.dag_hash[:12]} -> "
            f"{prepared.pipeline.dag_hash[:12]}): steps whose definition changed run again"
        )
    old_commit = _first_commit(original)
    new_commit = git_identity(cwd).code_identifier
    if old_commit and new_commit and old_commit != new_commit:
        warnings.append(
            f"the code changed since run '{old_id}' (git commit {old_commit[:12]} -> {new_commit[:12]})"
        )
    if prepared.catalog is not None:
        warnings.extend(prepared.catalog.check_original(original))
    if request.strict and warnings:
        raise UsageError("refusing to re-run (--strict): " + "; ".join(warnings), field="use_cached")
    # Reused steps do not run again, so what they returned must come from the original; what the user
    # gives on this command line (file, --name value) still wins.
    prepared.parameters = {**original.parameters, **prepared.parameters}
    prepared.original = original
    prepared.warnings.extend(warnings)


def resume_command(request: Any, run_id: str) -> str:
    """The exact command that re-runs a failed run from where it failed."""
    import shlex

    parts = ["magnus", "execute", "--file", request.file]
    for flag, value in (
        ("--config-file", request.config_file),
        ("--parameters-file", request.parameters_file),
        ("--var-file", request.var_file),
    ):
        if value:
            parts += [flag, value]
    parts += ["--use-cached", run_id]
    return " ".join(shlex.quote(p) for p in parts)


# -- during the run ---------------------------------------------------------------------------------------
def _index(ctx: Any) -> dict[str, StepLog]:
    index = getattr(ctx, "_original_index", None)
    if index is None:
        index = {step.internal_name: step for step in ctx.original.walk()}
        ctx._original_index = index
    return index


def _block(config: dict[str, Any], name: str) -> Any:
    dag = config.get("dag") if isinstance(config, dict) else None
    if not isinstance(dag, dict) or not isinstance(dag.get("steps"), dict):
        return None
    return dag["steps"].get(name)


def _definition_changed(node: Any, name: str, ctx: Any, branch: str | None) -> bool:
    """Did this top-level step's definition change since the original? (Nested steps only run once their
    composite runs, so the cache is already dropped there.) Unknown (an original without its dag): no."""
    if branch is not None:
        return False
    before = _block(ctx.original.run_config, name)
    if before is None:
        return False
    now = _block({"dag": ctx.pipeline.dag_block}, name)
    if json.dumps(before, sort_keys=True, default=str) != json.dumps(now, sort_keys=True, default=str):
        return True
    from magnus_core.graph import branches

    if any(spec.source is not None for spec in branches(node)):  # a sub-graph read from another file
        return ctx.original.run_config.get("sub_dags") != _current_sub_dags(ctx)
    return False


def _current_sub_dags(ctx: Any) -> dict[str, Any]:
    import os

    pipeline = ctx.pipeline
    here = Path(pipeline.file).resolve().parent
    return {os.path.relpath(path, here): block for path, block in pipeline.sub_dags.items()}


def reuse_step(node: Any, name: str, internal_name: str, ctx: Any, branch: str | None) -> StepLog | None:
    """The original run's step log copied with mock=true when the step may be reused, else None (the step
    runs, and the reason is kept in ctx.reasons for note_reason)."""
    reasons: dict[str, str] = ctx.reasons
    if node.is_terminal:
        reasons[internal_name] = "end of the graph: always runs"
        return None
    with ctx.lock:
        old = _index(ctx).get(internal_name)
        changed = _definition_changed(node, name, ctx, branch)
        if ctx.cache_valid and old is not None and old.status == SUCCESS and not changed:
            step = _copy_reused(old)
        else:
            if changed:
                reason = DAG_CHANGED
            elif old is None:
                reason = NOT_REACHED
            elif old.status != SUCCESS:
                reason = FAILED_BEFORE
            else:
                reason = f"an earlier step ran ({ctx.first_run})"
            if ctx.cache_valid:
                ctx.cache_valid = False
                ctx.first_run = internal_name
            reasons[internal_name] = reason
            return None
    _write(step, ctx, branch)
    return step


def note_reason(step: StepLog, ctx: Any, branch: str | None) -> None:
    """After a step of a re-run executed: say why it ran (before its own error message, if it failed)."""
    reason = ctx.reasons.get(step.internal_name)
    if not reason or step.mock:
        return
    step.message = f"[{reason}] {step.message}" if step.message else reason
    ctx.store.put_step_log(ctx.run_id, step, branch)


def _copy_reused(old: StepLog) -> StepLog:
    step = old.model_copy(deep=True)
    for nested in step.walk():
        nested.mock = True
        nested.message = REUSED
        nested.attempts = []  # nothing was attempted in this run; the original's attempts are in its log
    return step


def _write(step: StepLog, ctx: Any, branch: str | None) -> None:
    """Write a copied step and, for a composite, its branches and their steps, through the store."""
    branches = step.branches
    top = step.model_copy()
    top.branches = {}
    ctx.store.put_step_log(ctx.run_id, top, branch)
    for branch_name, branch_log in branches.items():
        ctx.store.put_branch_log(
            ctx.run_id, BranchLog(internal_name=branch_name, status=branch_log.status), step.internal_name
        )
        for nested in branch_log.steps.values():
            _write(nested, ctx, branch_name)
