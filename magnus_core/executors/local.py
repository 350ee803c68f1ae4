"""The local executor: traverses the dag in this process, step after step."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from magnus_core.models.pipeline import Dag
from magnus_core.models.run_log import FAIL, SUCCESS
from magnus_core.nodes import execute_node
from magnus_core.registry import parse_options


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

    def execute_graph(self, dag: Dag, ctx: Any, params: dict[str, Any], branch: str | None = None,
                      map_variable: dict[str, Any] | None = None) -> str:
        """Run a (sub)graph from start_at to a terminal node; the graph's status is that node's type."""
        map_variable = map_variable or {}
        current = dag.start_at
        while True:
            node = dag.steps[current]
            step = execute_node(node, current, ctx, params, branch, map_variable)
            if node.is_terminal:
                return SUCCESS if node.type == "success" else FAIL
            current = node.next if step.status == SUCCESS else (node.on_failure or dag.fail_node)
