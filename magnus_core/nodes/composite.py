"""parallel, map and dag nodes: a step whose work is running branches (sub-graphs).

A composite runs in three parts, which the per-step entry points of orchestrators call separately:
  fan_out(...)   creates the step log and one PROCESSING branch log per branch; returns the branches
  (each branch runs through the executor's execute_graph)
  fan_in(...)    decides the step's status from its branches' statuses
Parameters: every branch starts from a copy of the parameters; what a branch changes is merged back in
branch order (parallel: as written; map: item order; dag: its only branch), never by finishing order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from magnus_core import graph
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
    node: Any, internal_name: str, params: dict[str, Any], map_variable: dict[str, Any]
) -> list[Branch]:
    """The branches `node` runs now, in merge order: each named branch once, a per-item branch once per
    item of the map's list. Raises StepError when the list is not usable; TypeError for a leaf node."""
    if not node.is_composite:
        raise TypeError(f"not a composite node: {node!r}")
    out: list[Branch] = []
    for spec in graph.branches(node):
        if spec.name is not None:
            out.append(Branch(f"{internal_name}.{spec.name}", spec.dag, dict(map_variable), spec.name))
            continue
        assert isinstance(node, MapNode), "only a map runs a branch per item here"
        out.extend(
            Branch(
                f"{internal_name}.{graph.item_name(item)}",
                spec.dag,
                {**map_variable, node.iterate_as: item},
                None,
            )
            for item in map_items(node, params)
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
        branches = branches_of(node, internal_name, params, map_variable)
    except StepError as exc:
        step.status = FAIL
        step.message = str(exc)
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


def fan_in(step: StepLog, ctx: Any, branch: str | None, statuses: dict[str, str]) -> StepLog:
    """FAIL if any branch failed, PROCESSING while any is still running, else SUCCESS; says which failed."""
    if step.status == FAIL and not statuses:
        return step
    failed = [name for name, status in statuses.items() if status != SUCCESS and status != PROCESSING]
    running = [name for name, status in statuses.items() if status == PROCESSING]
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
    ctx.store.put_step_log(ctx.run_id, step, branch)
    return step


def merge_parameters(params: dict[str, Any], before: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Merge what each branch changed into `params`, in branch order (a later branch wins a conflict)."""
    for branch_params in results:
        for key, value in branch_params.items():
            if key not in before or before[key] != value:
                params[key] = value


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
    merge_parameters(params, before, [branch_params for _, branch_params in outcomes])
    message = step.message
    fan_in(step, ctx, branch, statuses)
    if message and step.status == SUCCESS:
        step.message = message
        ctx.store.put_step_log(ctx.run_id, step, branch)
    return step
