"""The pipeline file: a dag of typed nodes. Pure data; it knows nothing of execution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

COMMAND_TYPES = ("python", "shell", "python-lambda", "notebook")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CatalogSettings(_Strict):
    """Files a step gets from the catalog before it runs and puts into it after."""

    get: list[str] = Field(default_factory=list)
    put: list[str] = Field(default_factory=list)
    compute_data_folder: str | None = None

    @field_validator("get", "put")
    @classmethod
    def _patterns_stay_inside(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise ValueError("a catalog pattern must be a non-empty string")
            _check_relative(pattern, "catalog pattern")
        return patterns

    @field_validator("compute_data_folder")
    @classmethod
    def _folder_stays_inside(cls, folder: str | None) -> str | None:
        if folder is not None:
            _check_relative(folder, "compute_data_folder")
        return folder


def _check_relative(path: str, what: str) -> None:
    from pathlib import PurePosixPath, PureWindowsPath

    if path.startswith(("/", "\\")) or PureWindowsPath(path).drive:
        raise ValueError(f"{what} '{path}' must be relative, not absolute")
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        raise ValueError(f"{what} '{path}' must not contain '..'")


class _Node(_Strict):
    mode_config: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return False

    @property
    def is_composite(self) -> bool:
        return False

    def neighbours(self) -> list[str]:
        return []


class _Flow(_Node):
    next: str = Field(alias="next")
    on_failure: str | None = None

    def neighbours(self) -> list[str]:
        return [n for n in (self.next, self.on_failure) if n]


class TaskNode(_Flow):
    type: Literal["task"]
    command: str
    command_type: Literal["python", "shell", "python-lambda", "notebook"] = "python"
    command_config: dict[str, Any] = Field(default_factory=dict)
    retry: int = Field(default=1, ge=0, le=1000)
    catalog: CatalogSettings | None = None

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, command: str) -> str:
        if not command.strip():
            raise ValueError("command must not be empty")
        return command

    @property
    def attempts(self) -> int:
        return self.retry or 1


class AsIsNode(_Flow):
    """Does nothing and succeeds; later versions call it stub."""

    type: Literal["as-is", "stub"]
    command: str | None = None
    command_type: str | None = None
    command_config: dict[str, Any] = Field(default_factory=dict)
    retry: int | None = None
    catalog: CatalogSettings | None = None


class SuccessNode(_Node):
    type: Literal["success"]

    @property
    def is_terminal(self) -> bool:
        return True


class FailNode(_Node):
    type: Literal["fail"]

    @property
    def is_terminal(self) -> bool:
        return True


class ParallelNode(_Flow):
    type: Literal["parallel"]
    branches: dict[str, Dag]

    @property
    def is_composite(self) -> bool:
        return True


class MapNode(_Flow):
    type: Literal["map"]
    iterate_on: str
    iterate_as: str
    branch: Dag

    @property
    def is_composite(self) -> bool:
        return True


class DagNode(_Flow):
    type: Literal["dag"]
    dag_definition: str
    _sub_dag: Dag | None = PrivateAttr(default=None)
    _sub_file: str | None = PrivateAttr(default=None)

    @property
    def is_composite(self) -> bool:
        return True

    @property
    def sub_dag(self) -> Dag:
        assert self._sub_dag is not None, "dag_definition is resolved when the pipeline is loaded"
        return self._sub_dag


Node = Annotated[
    TaskNode | AsIsNode | SuccessNode | FailNode | ParallelNode | MapNode | DagNode,
    Field(discriminator="type"),
]
NODE_TYPES = ("task", "as-is", "stub", "success", "fail", "parallel", "map", "dag")


class Dag(_Strict):
    """A graph of steps: the top level of a pipeline and every branch of a composite node."""

    description: str | None = None
    start_at: str
    max_time: int = Field(default=86400, gt=0)
    steps: dict[str, Node]
    secrets: list[str] = Field(default_factory=list)

    def node(self, name: str) -> Node:
        return self.steps[name]

    @property
    def success_node(self) -> str:
        return next(n for n, node in self.steps.items() if node.type == "success")

    @property
    def fail_node(self) -> str:
        return next(n for n, node in self.steps.items() if node.type == "fail")


class ServiceConfig(_Strict):
    """One configuration block: a provider chosen by `type` and its options."""

    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class PipelineFile(_Strict):
    """The whole pipeline file: the dag and, optionally, config blocks beside it."""

    dag: Dag
    mode: ServiceConfig | None = None
    executor: ServiceConfig | None = None
    run_log_store: ServiceConfig | None = None
    catalog: ServiceConfig | None = None
    secrets: ServiceConfig | None = None


ParallelNode.model_rebuild()
MapNode.model_rebuild()
Dag.model_rebuild()
PipelineFile.model_rebuild()
