"""Node types: each module owns how its nodes execute. `execute_node` dispatches on the node's type."""

from __future__ import annotations

from typing import Any

from magnus_core.models.run_log import StepLog


def execute_node(
    node: Any, name: str, ctx: Any, params: dict[str, Any], branch: str | None, map_variable: dict[str, Any]
) -> StepLog:
    """Run one node; its step log (already written to the store) comes back."""
    internal_name = f"{branch}.{name}" if branch else name
    if ctx.original is not None:
        from magnus_core.rerun import reuse_step

        reused = reuse_step(node, name, internal_name, ctx, branch)
        if reused is not None:
            return reused
    if node.type in ("task", "as-is", "stub"):
        from magnus_core.nodes.task import execute
    elif node.type in ("success", "fail"):
        from magnus_core.nodes.terminal import execute
    else:
        from magnus_core.nodes.composite import execute
    step = execute(node, name, internal_name, ctx, params, branch, map_variable)
    if ctx.original is not None:
        from magnus_core.rerun import note_reason

        note_reason(step, ctx, branch)
    return step
