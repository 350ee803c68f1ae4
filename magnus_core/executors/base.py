"""The executor contract: what the runner, the CLI, the workbench and composite nodes call on an executor.

An executor is chosen by the config's `executor.type` (entry-point group `magnus.executor`) and built with
that block's `config` mapping. It either runs the dag itself (`execute_graph`), or hands the run to another
system (`render` writes that system's definition, e.g. an Argo Workflow, and `execute_graph` refuses).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from magnus_core.errors import StoreError
from magnus_core.models.run_log import FAIL

if TYPE_CHECKING:
    from magnus_core.context import RunContext
    from magnus_core.loading import Pipeline
    from magnus_core.models.pipeline import Dag
    from magnus_core.nodes.composite import Branch
    from magnus_core.runner import PreparedRun, RunRequest

log = logging.getLogger("magnus")

BranchOutcome = tuple[str, dict[str, Any]]  # (the branch's status, its parameters when it ended)


class Executor(ABC):
    """Runs a dag's nodes. Subclasses implement `execute_graph`; the rest has defaults."""

    service_name: ClassVar[str] = "base"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = config or {}

    def describe(self) -> dict[str, Any]:
        """The block run_config records: {"type": ..., "config": {...}}."""
        return {"type": self.service_name, "config": dict(self.config)}

    def credentials(self) -> dict[str, str]:
        """{what: value} of credentials this executor hands the processes running steps (the argo
        executor's `secret_env`, read in a pod): masked in everything a run writes. The default: {}."""
        return {}

    def validate(
        self, pipeline: Pipeline, config: dict[str, dict[str, Any]], request: RunRequest | None = None
    ) -> None:
        """Refuse what this executor cannot run, before anything is written (raises UsageError or
        ConfigError naming the field). The default accepts everything."""
        return None

    def render(self, prepared: PreparedRun) -> Path | None:
        """For an executor that hands the run to another system: write that system's definition and return
        its path (the CLI prints it and runs nothing). The default, None, means: run with execute_graph."""
        return None

    @abstractmethod
    def execute_graph(
        self,
        dag: Dag,
        ctx: RunContext,
        params: dict[str, Any],
        branch: str | None = None,
        map_variable: dict[str, Any] | None = None,
    ) -> str:
        """Run `dag` (the top-level dag, or the graph of branch `branch`) from start_at to a terminal node;
        `params` is updated in place with what the steps return. Returns the graph's status (SUCCESS or
        FAIL: the type of the terminal node reached)."""

    def run_branches(
        self, branches: list[Branch], ctx: RunContext, params: dict[str, Any]
    ) -> list[BranchOutcome]:
        """Run a composite step's branches, each on its own copy of `params`; (status, parameters) per
        branch, in the order given. The default runs them one after another; a branch that crashes magnus
        itself is FAIL, with the crash kept in ctx.errors."""
        return [self.run_branch(b, ctx, params) for b in branches]

    def run_branch(self, branch: Branch, ctx: RunContext, params: dict[str, Any]) -> BranchOutcome:
        """One branch on a copy of `params` (see run_branches)."""
        branch_params = dict(params)
        try:
            status = self.execute_graph(
                branch.dag, ctx, branch_params, branch.internal_name, branch.map_variable
            )
        except StoreError:
            raise  # the run-log store cannot write: the run stops (resumable), not just this branch
        except Exception as exc:
            log.debug("branch %s crashed", branch.internal_name, exc_info=True)
            ctx.errors.append(f"{branch.internal_name}: {exc.__class__.__name__}: {exc}")
            status = FAIL
        return status, branch_params
