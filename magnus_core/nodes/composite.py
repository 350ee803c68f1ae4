"""parallel, map and dag nodes: a step whose work is running branches (sub-graphs).

A composite runs in three parts, which the per-step entry points of orchestrators call separately:
  fan_out(...)   creates the step log and one PROCESSING branch log per branch; returns the branches
  (each branch runs through the executor's execute_graph)
  fan_in(...)    the composite's commit point: its status, decided from its branches' statuses, and the
                 parameters its branches changed (returned_parameters), in ONE store write
Parameters: every branch starts from a copy of the parameters; what a branch changes is merged back in
branch order (parallel: as written; map: item order; dag: its only branch), never by finishing order, and
reaches the steps after the composite only once its fan-in is committed (docs/crash-safety.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magnus_core import graph
from magnus_core.crashpoints import crash_point
from magnus_core.errors import StepError
from magnus_core.models.pipeline import Dag, MapNode
from magnus_core.models.run_log import FAIL, PROCESSING, SUCCESS, BranchLog, StepLog
from magnus_core.nodes.common import new_step_log


@dataclass(frozen=True)
class Branch:
    """One branch to run: its internal name, its graph and the map variables its steps see.

    key: the declared branch's name (graph.BranchSpec.name); None for an instance of a branch run per item,
    which a per-step command line names with PLACEHOLDER and `--map-variable`.
    """

    internal_name: str  # e.g. "parallel step.branch a", "map step.a", "nested.dag"
    dag: Dag
    map_variable: dict[str, Any]
    key: str | None = ""

    @property
    def per_item(self) -> bool:
        return self.key is None


def map_items(node: MapNode, params: dict[str, Any]) -> list[Any]:
    """The list a map iterates on, or a StepError saying what is wrong with it."""
    if node.iterate_on not in params:
        raise StepError(
            f"field 'iterate_on': parameter '{node.iterate_on}' is not set "
            f"(known: {', '.join(sorted(params)) or 'none'})"
        )
    items = params[node.iterate_on]
    if not isinstance(items, list):
        raise StepError(
            f"field 'iterate_on': parameter '{node.iterate_on}' must be a list, got {type(items).__name__}"
        )
    bad = [i for i in items if isinstance(i, (dict, list))]
    if bad:
        raise StepError(f"field 'iterate_on': map items must be JSON scalars, got {type(bad[0]).__name__}")
    names = [graph.item_name(i) for i in items]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise StepError(f"field 'iterate_on': map items must be unique, '{dup}' appears twice")
    return items


def branches_of(
    node: Any,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """The branches `node` runs now, in merge order: each named branch once, a per-item branch once per
    item of the map's list. A map item's name in internal names is masked with `mask` (an item holding a
    secret value must not name a branch in the log or a file of the store). Raises StepError when the list
    is not usable or its items collide once masked; TypeError for a leaf node."""
    if not node.is_composite:
        raise TypeError(f"not a composite node: {node!r}")
    out: list[Branch] = []
    for spec in graph.branches(node):
        if spec.name is not None:
            out.append(Branch(f"{internal_name}.{spec.name}", spec.dag, dict(map_variable), spec.name))
            continue
        assert isinstance(node, MapNode), "only a map runs a branch per item here"
        items = map_items(node, params)
        names = [graph.item_name(item) for item in items]
        if mask is not None:
            masked = [mask(name) for name in names]
            if len(set(masked)) != len(masked):
                dup = next(n for n in masked if masked.count(n) > 1)
                raise StepError(
                    f"field 'iterate_on': map items must stay unique once secret values are masked, "
                    f"'{dup}' stands for several"
                )
            names = masked
        out.extend(
            Branch(f"{internal_name}.{name}", spec.dag, {**map_variable, node.iterate_as: item}, None)
            for name, item in zip(names, items, strict=True)
        )
    return out


def fan_out(
    node: Any,
    name: str,
    internal_name: str,
    ctx: Any,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> tuple[StepLog, list[Branch]]:
    """Create the composite's step log and a PROCESSING log for each branch."""
    step = new_step_log(node, name, internal_name, ctx)
    try:
        branches = branches_of(node, internal_name, params, map_variable, ctx.mask)
    except StepError as exc:
        step.status = FAIL
        step.message = ctx.mask(str(exc))
        ctx.store.put_step_log(ctx.run_id, step, branch)
        return step, []
    if isinstance(node, MapNode) and not branches:
        step.message = f"map over zero items: parameter '{node.iterate_on}' is an empty list"
    ctx.store.put_step_log(ctx.run_id, step, branch)
    for b in branches:
        ctx.store.put_branch_log(
            ctx.run_id, BranchLog(internal_name=b.internal_name, status=PROCESSING), internal_name
        )
    return step, branches


def fan_in(
    step: StepLog,
    ctx: Any,
    branch: str | None,
    statuses: dict[str, str],
    changed: dict[str, Any] | None = None,
    run_parameters: dict[str, Any] | None = None,
) -> StepLog:
    """The composite's commit: FAIL if any branch failed (saying which), PROCESSING while any is still
    running, else SUCCESS with `changed` (merged_changes of its branches) as its returned_parameters, all
    in one store write. `run_parameters`: a top-level composite's run parameters after it (for readers of
    the run log). The caller applies `changed` to its scope's parameters only after this returns."""
    if step.status == FAIL and not statuses:
        return step
    failed = [name for name, status in statuses.items() if status != SUCCESS and status != PROCESSING]
    running = [name for name, status in statuses.items() if status == PROCESSING]
    step.returned_parameters = {}
    conflicts: list[str] = getattr(ctx.catalog, "conflicts_under", lambda _: [])(step.internal_name)
    if conflicts and not running:  # the same message whichever branch put second (they may run at once)
        step.status = FAIL
        step.message = "catalog: " + "; ".join(conflicts) + " (a catalog name is put by one branch only)"
    elif failed:
        step.status = FAIL
        step.message = f"{len(failed)} of {len(statuses)} branches failed: {', '.join(failed[:10])}"
    elif running:
        step.status = PROCESSING
    else:
        step.status = SUCCESS
        # what the branches changed, recorded masked; the names masking changed, as a task lists its own
        step.returned_parameters, step.masked_parameters = ctx.recorded_parameters(dict(changed or {}))
    committed = step.status == SUCCESS and bool(changed) and run_parameters is not None
    recorded, masked = ctx.recorded_parameters(dict(run_parameters or {})) if committed else (None, [])
    ctx.store.commit_step(ctx.run_id, step, branch, parameters=recorded)
    crash_point("composite:committed", step.internal_name)
    if committed and masked != ctx.masked_recorded:  # the run's parameters recorded masked
        ctx.masked_recorded = masked
        ctx.store.update_run(ctx.run_id, masked_parameters=masked)
    return step


def merged_changes(before: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the branches changed in the parameters they started from (`before`), merged in branch order:
    a later branch wins a conflict. Branch parameters equal to `before` are not changes."""
    changed: dict[str, Any] = {}
    for branch_params in results:
        for key, value in branch_params.items():
            if key not in before or before[key] != value:
                changed[key] = value
    return changed


def execute(
    node: Any,
    name: str,
    internal_name: str,
    ctx: Any,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    step, branches = fan_out(node, name, internal_name, ctx, params, branch, map_variable)
    if step.status == FAIL:
        return step
    before = dict(params)
    outcomes = ctx.executor.run_branches(branches, ctx, before)
    statuses: dict[str, str] = {}
    for b, (status, _) in zip(branches, outcomes, strict=False):
        statuses[b.internal_name] = status
        ctx.store.put_branch_log(
            ctx.run_id, BranchLog(internal_name=b.internal_name, status=status), internal_name
        )
    crash_point("composite:branches", internal_name)
    changed = merged_changes(before, [branch_params for _, branch_params in outcomes])
    fan_in(step, ctx, branch, statuses, changed, {**params, **changed} if branch is None else None)
    if step.status == SUCCESS:  # committed: the steps after the composite see what its branches changed
        params.update(changed)
    return step
