"""The local executor: traverses the dag in this process; branches one after another, or up to
`max_workers` at a time in threads."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from magnus_core.graph import next_step
from magnus_core.models.pipeline import Dag
from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.nodes import execute_node
from magnus_core.registry import parse_options

# True inside a branch that may run beside others: steps there must not use process-wide state
# (os.environ) to pass metrics and parameters; the step scope carries them instead.
in_concurrent_branch: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "magnus_concurrent", default=False
)


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_workers: int = Field(default=1, ge=1, le=256)
    enable_parallel: bool | str = False  # the original's flag, accepted; max_workers decides


class LocalExecutor:
    service_name = "local"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.options = parse_options(LocalOptions, self.config, "executor")

    def describe(self) -> dict[str, Any]:
        return {"type": self.service_name, "config": dict(self.config)}

    def execute_graph(
        self,
        dag: Dag,
        ctx: Any,
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
        self, branches: list[Any], ctx: Any, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        """Run each branch on its own copy of the parameters; (status, parameters) per branch, in order."""

        def one(b: Any) -> tuple[str, dict[str, Any]]:
            branch_params = dict(params)
            try:
                status = self.execute_graph(b.dag, ctx, branch_params, b.internal_name, b.map_variable)
            except Exception as exc:
                import logging

                logging.getLogger("magnus").debug("branch %s crashed", b.internal_name, exc_info=True)
                ctx.errors.append(f"{b.internal_name}: {exc.__class__.__name__}: {exc}")
                status = FAIL
            return status, branch_params

        if self.options.max_workers <= 1 or len(branches) <= 1:
            return [one(b) for b in branches]

        def concurrent(b: Any) -> tuple[str, dict[str, Any]]:
            in_concurrent_branch.set(True)
            return one(b)

        with ThreadPoolExecutor(
            max_workers=min(self.options.max_workers, len(branches)), thread_name_prefix="magnus-branch"
        ) as pool:
            futures = [pool.submit(contextvars.copy_context().run, concurrent, b) for b in branches]
            return [f.result() for f in futures]
