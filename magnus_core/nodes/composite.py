"""parallel, map and dag nodes: a step whose work is running branches (sub-graphs); and what every
composite node type shares (conditional and loop reuse it with their own choices).

A composite runs in three parts, which the per-step entry points of orchestrators call separately:
  fan_out(...)   creates the step log and one PROCESSING branch log per branch of the first round; returns
                 those branches (each runs through the executor's execute_graph)
  next_round(...) when a round's branches have ended: the branches of the next round, one after another (a
                 loop's next iteration), or [] when the step is decided (parallel, map, dag, conditional:
                 one round only)
  fan_in(...)    the composite's commit point: its status, decided from its branches' statuses, and the
                 parameters its branches changed (returned_parameters), in ONE store write
Each node type's module (`node_module` on the model) provides the choices: branches_of (the first round),
branches_ran (at a per-step fan-in: the branches handed out so far), next_round, merged_changes and
outputs (values an engine routes on, as Argo's output parameters); fan_out, fan_in and execute are these.
Parameters: every branch starts from a copy of the parameters (or from where its Branch says: a loop's
iteration from the previous one's); what branches change is merged back in branch order (parallel: as
written; map: item order; dag: its only branch), never by finishing order, and reaches the steps after the
composite only once its fan-in is committed (docs/crash-safety.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnus_core import graph
from magnus_core.crashpoints import crash_point
from magnus_core.errors import StepError
from magnus_core.models.pipeline import Dag, MapNode
from magnus_core.models.run_log import FAIL, PROCESSING, SUCCESS, BranchLog, StepLog
from magnus_core.nodes.common import new_step_log

if TYPE_CHECKING:
    from magnus_core.context import RunContext


@dataclass(frozen=True)
class Branch:
    """One branch to run: its internal name, its graph and the map variables its steps see.

    key: the declared branch's name (graph.BranchSpec.name); None for an instance of a branch run per item,
    which a per-step command line names with PLACEHOLDER and `--map-variable`.
    parameters: where the branch starts; None: a copy of its composite's parameters.
    """

    internal_name: str  # e.g. "parallel step.branch a", "map step.a", "nested.dag"
    dag: Dag
    map_variable: dict[str, Any]
    key: str | None = ""
    parameters: dict[str, Any] | None = None

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


def branches_ran(
    node: Any,
    internal_name: str,
    params: dict[str, Any],
    map_variable: dict[str, Any],
    step: StepLog,
    mask: Callable[[str], str] | None = None,
) -> list[Branch]:
    """At a per-step fan-in: the branches handed out so far, in merge order (`step`: the composite's log so
    far; `mask` as for branches_of). One round only: the branches fan-out handed out."""
    return branches_of(node, internal_name, params, map_variable, mask)


def next_round(
    node: Any,
    internal_name: str,
    ran: list[Branch],
    statuses: dict[str, str],
    results: list[dict[str, Any]],
    map_variable: dict[str, Any],
) -> list[Branch]:
    """The branches to run after those in `ran` ended (with `statuses` and the parameters they ended with,
    `results`, in the same order); [] when the step is decided. Raises StepError when what they left makes
    the step fail (the last branch of `ran` is then recorded FAIL). parallel, map and dag: one round."""
    return []


def outputs(node: Any, ran: list[Branch], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Values an engine may route on after a fan-out or fan-in (Argo's output parameters): none here."""
    return {}


def fan_out(
    node: Any,
    name: str,
    internal_name: str,
    ctx: RunContext,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> tuple[StepLog, list[Branch]]:
    """Create the composite's step log and a PROCESSING log for each branch of its first round (chosen by
    its type's module: `branches_of`). A StepError choosing them fails the step, with its message."""
    from magnus_core.nodes import composite_module_for

    step = new_step_log(node, name, internal_name, ctx)
    try:
        branches = composite_module_for(node).branches_of(node, internal_name, params, map_variable, ctx.mask)
    except StepError as exc:
        step.status = FAIL
        step.message = ctx.mask(str(exc))
        ctx.store.put_step_log(ctx.run_id, step, branch)
        return step, []
    if isinstance(node, MapNode) and not branches:
        step.message = f"map over zero items: parameter '{node.iterate_on}' is an empty list"
    ctx.store.put_step_log(ctx.run_id, step, branch)
    open_branches(ctx, internal_name, branches)
    return step, branches


def open_branches(ctx: RunContext, internal_name: str, branches: list[Branch], existing: Any = ()) -> None:
    """A PROCESSING branch log for each of `branches` not in `existing` (names already logged)."""
    for b in branches:
        if b.internal_name not in existing:
            ctx.store.put_branch_log(
                ctx.run_id, BranchLog(internal_name=b.internal_name, status=PROCESSING), internal_name
            )


def fan_in(
    step: StepLog,
    ctx: RunContext,
    branch: str | None,
    statuses: dict[str, str],
    changed: dict[str, Any] | None = None,
    run_parameters: dict[str, Any] | None = None,
    failure: str | None = None,
) -> StepLog:
    """The composite's commit: FAIL if any branch failed (saying which) or with `failure` (what the
    branches left made the step fail: next_round's StepError), PROCESSING while any is still running, else
    SUCCESS with `changed` (merged_changes of its branches) as its returned_parameters, all in one store
    write. `run_parameters`: a top-level composite's run parameters after it (for readers of the run log).
    The caller applies `changed` to its scope's parameters only after this returns."""
    if step.status == FAIL and not statuses:
        return step
    failed = [name for name, status in statuses.items() if status != SUCCESS and status != PROCESSING]
    running = [name for name, status in statuses.items() if status == PROCESSING]
    step.returned_parameters = {}
    conflicts = ctx.catalog.conflicts_under(step.internal_name) if ctx.catalog is not None else []
    if failure is not None:
        step.status = FAIL
        step.message = ctx.mask(failure)
    elif conflicts and not running:  # the same message whichever branch put second (they may run at once)
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
    ctx: RunContext,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    """Run a composite step here: fan-out, its branches round after round (a round's branches through the
    executor's run_branches, at the same time where it allows), then fan-in. Its committed step log comes
    back, and `params` then holds what its branches changed (only if it succeeded)."""
    from magnus_core.nodes import composite_module_for

    module = composite_module_for(node)
    step, branches = fan_out(node, name, internal_name, ctx, params, branch, map_variable)
    if step.status == FAIL:
        return step
    before = dict(params)
    ran: list[Branch] = []
    statuses: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    failure: str | None = None
    while branches:
        for b, (status, branch_params) in zip(
            branches, _run_round(branches, ctx, before, internal_name), strict=True
        ):
            ran.append(b)
            statuses[b.internal_name] = status
            results.append(branch_params)
            ctx.store.put_branch_log(
                ctx.run_id, BranchLog(internal_name=b.internal_name, status=status), internal_name
            )
        crash_point("composite:branches", internal_name)
        try:
            branches = module.next_round(node, internal_name, ran, statuses, results, map_variable)
        except StepError as exc:
            failure, branches = str(exc), []
            statuses[ran[-1].internal_name] = FAIL
            ctx.store.put_branch_log(
                ctx.run_id, BranchLog(internal_name=ran[-1].internal_name, status=FAIL), internal_name
            )
        open_branches(ctx, internal_name, branches)
    changed = module.merged_changes(before, results)
    after = {**params, **changed} if branch is None else None
    fan_in(step, ctx, branch, statuses, changed, after, failure)
    if step.status == SUCCESS:  # committed: the steps after the composite see what its branches changed
        params.update(changed)
    return step


def _run_round(
    branches: list[Branch], ctx: RunContext, before: dict[str, Any], internal_name: str
) -> list[tuple[str, dict[str, Any]]]:
    """(status, parameters at its end) of each branch of one round, in order. Branches that start from the
    composite's parameters run together (at the same time where the executor allows); one with a start
    of its own (a loop's iteration) runs alone. A re-run may copy a branch of the original instead of
    running it (rerun.reuse_branch decides)."""
    outcomes: list[tuple[str, dict[str, Any]] | None] = [None] * len(branches)
    together: list[int] = []
    for i, b in enumerate(branches):
        if ctx.original is not None:
            from magnus_core.rerun import reuse_branch

            start = dict(b.parameters if b.parameters is not None else before)
            reused = reuse_branch(ctx, internal_name, b.internal_name, start)
            if reused is not None:
                outcomes[i] = (SUCCESS, reused)
                continue
        if b.parameters is None:
            together.append(i)
        else:
            outcomes[i] = ctx.executor.run_branches([b], ctx, b.parameters)[0]
    if together:
        ran = ctx.executor.run_branches([branches[i] for i in together], ctx, before)
        for i, outcome in zip(together, ran, strict=True):
            outcomes[i] = outcome
    return [o for o in outcomes if o is not None]
