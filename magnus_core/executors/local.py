"""The local executor: traverses the dag in this process; branches one after another, or up to
`max_workers` at a time in threads."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from magnus_core.context import in_concurrent_branch
from magnus_core.executors.base import BranchOutcome, Executor
from magnus_core.graph import next_step
from magnus_core.models.pipeline import Dag
from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.nodes import execute_node
from magnus_core.registry import parse_options

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.nodes.composite import Branch


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_workers: int = Field(default=1, ge=1, le=256)
    enable_parallel: bool | str = False  # the original's flag, accepted; max_workers decides


class LocalExecutor(Executor):
    service_name = "local"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.options = parse_options(LocalOptions, self.config, "executor")

    def execute_graph(
        self,
        dag: Dag,
        ctx: RunContext,
        params: dict[str, Any],
        branch: str | None = None,
        map_variable: dict[str, Any] | None = None,
    ) -> str:
        """Run a (sub)graph from start_at to a terminal node; the graph's status is that node's type."""
        map_variable = map_variable or {}
        current = dag.start_at
        while True:
            node = dag.steps[current]
            step = execute_node(node, current, ctx, params, branch, map_variable)
            if node.is_terminal:
                return SUCCESS if node.type == "success" else FAIL
            following = next_step(dag, current, step.status == SUCCESS)
            assert following is not None
            current = following

    def run_branches(
        self, branches: list[Branch], ctx: RunContext, params: dict[str, Any]
    ) -> list[BranchOutcome]:
        """Run each branch on its own copy of the parameters; (status, parameters) per branch, in order:
        one after another, or up to `max_workers` at a time in threads."""
        if self.options.max_workers <= 1 or len(branches) <= 1:
            return super().run_branches(branches, ctx, params)

        def concurrent(b: Branch) -> BranchOutcome:
            in_concurrent_branch.set(True)
            return self.run_branch(b, ctx, params)

        with ThreadPoolExecutor(
            max_workers=min(self.options.max_workers, len(branches)), thread_name_prefix="magnus-branch"
        ) as pool:
            futures = [pool.submit(contextvars.copy_context().run, concurrent, b) for b in branches]
            return [f.result() for f in futures]
