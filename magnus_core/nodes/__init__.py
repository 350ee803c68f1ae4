"""Node types: each module owns how its nodes execute. A node's type names its module (`node_module` on the
model); `execute_node` runs any node through it, so no executor knows the types by name.

Every node module has `execute(node, name, internal_name, ctx, params, branch, map_variable) -> StepLog`.
A composite's module also has the halves the per-step entry points call separately (see `CompositeModule`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from magnus_core.graph import internal_name as _internal_name
from magnus_core.models.run_log import StepLog

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.models.pipeline import Node
    from magnus_core.nodes.composite import Branch


class NodeModule(Protocol):
    """What every node module provides."""

    def execute(
        self,
        node: Any,
        name: str,
        internal_name: str,
        ctx: RunContext,
        params: dict[str, Any],
        branch: str | None,
        map_variable: dict[str, Any],
    ) -> StepLog: ...


class CompositeModule(NodeModule, Protocol):
    """What the module of a node that runs branches provides, for orchestrators that run each part in its
    own process (magnus_core.single): fan-out, the branches to run (round after round: a loop's iterations
    one after another), the parameters' merge, values an engine routes on, and fan-in (the composite's
    commit). nodes/composite.py has the shared parts and the one-round defaults."""

    def fan_out(
        self,
        node: Any,
        name: str,
        internal_name: str,
        ctx: RunContext,
        params: dict[str, Any],
        branch: str | None,
        map_variable: dict[str, Any],
    ) -> tuple[StepLog, list[Branch]]: ...

    def branches_of(
        self,
        node: Any,
        internal_name: str,
        params: dict[str, Any],
        map_variable: dict[str, Any],
        mask: Callable[[str], str] | None = None,
    ) -> list[Branch]: ...

    def branches_ran(
        self,
        node: Any,
        internal_name: str,
        params: dict[str, Any],
        map_variable: dict[str, Any],
        step: StepLog,
        mask: Callable[[str], str] | None = None,
    ) -> list[Branch]: ...

    def next_round(
        self,
        node: Any,
        internal_name: str,
        ran: list[Branch],
        statuses: dict[str, str],
        results: list[dict[str, Any]],
        map_variable: dict[str, Any],
    ) -> list[Branch]: ...

    def outputs(self, node: Any, ran: list[Branch], results: list[dict[str, Any]]) -> dict[str, Any]: ...

    def fan_in(
        self,
        step: StepLog,
        ctx: RunContext,
        branch: str | None,
        statuses: dict[str, str],
        changed: dict[str, Any] | None = None,
        run_parameters: dict[str, Any] | None = None,
        failure: str | None = None,
    ) -> StepLog: ...

    def merged_changes(self, before: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]: ...


_MODULES: dict[type, NodeModule] = {}  # node class -> its module (import_module costs a few us a step)


def module_for(node: Node) -> NodeModule:
    """The module that executes `node`'s type (imported on first use)."""
    kind = type(node)
    found = _MODULES.get(kind)
    if found is None:
        found = _MODULES[kind] = cast(NodeModule, importlib.import_module(kind.node_module))
    return found


def composite_module_for(node: Node) -> CompositeModule:
    """The module of a composite node (its fan-out and fan-in); TypeError for a leaf node."""
    if not node.is_composite:
        raise TypeError(f"a {node.type} node has no branches")
    return cast(CompositeModule, importlib.import_module(type(node).node_module))


def execute_node(
    node: Node,
    name: str,
    ctx: RunContext,
    params: dict[str, Any],
    branch: str | None,
    map_variable: dict[str, Any],
) -> StepLog:
    """Run one node; its step log (already written to the store) comes back."""
    internal_name = _internal_name(branch, name)
    if ctx.original is not None:
        from magnus_core.rerun import reuse_step

        reused = reuse_step(node, name, internal_name, ctx, branch, params)
        if reused is not None:
            return reused
    step = module_for(node).execute(node, name, internal_name, ctx, params, branch, map_variable)
    if ctx.original is not None:
        from magnus_core.rerun import note_reason

        note_reason(step, ctx, branch)
    return step
