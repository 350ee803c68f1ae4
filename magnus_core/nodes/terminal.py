"""success and fail nodes: they end their graph; the graph's status is their type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magnus_core.models.run_log import SUCCESS, StepLog
from magnus_core.nodes.common import attempt, new_step_log

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.models.pipeline import FailNode, SuccessNode


def execute(
    node: SuccessNode | FailNode,
    name: str,
    internal_name: str,
    ctx: RunContext,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    step = new_step_log(node, name, internal_name, ctx)
    start = ctx.clock()
    step.attempts.append(attempt(0, start, ctx.clock(), SUCCESS))
    step.status = SUCCESS  # reaching the fail node succeeds; the graph's status says FAIL
    ctx.store.put_step_log(ctx.run_id, step, branch)
    return step
