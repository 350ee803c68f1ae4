"""The pipeline file: a dag of typed nodes. Pure data; it knows nothing of execution.

Each node type declares here what the rest of the package needs to know about it, so that adding a type
touches this file and the type's own node module only:
  declared_branches()   its sub-graphs (graph.py walks them; executors run them)
  problems()            rules pydantic cannot express (the loader reports them with the step's name)
  attempts              how many times its command may be tried
  composite / concurrent_branches / node_module   class-level facts (see `_Node`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from magnus_core.paths import relative_problem

COMMAND_TYPES = ("python", "shell", "python-lambda", "notebook")


class _Strict(BaseModel):
    # defer_build: the validators are built when a pipeline is first validated, not at import: a process
    # reading a pipeline whose values need no conversion makes the models without them (pipeline_plain.py)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


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
    problem = relative_problem(path, what)
    if problem is not None:
        raise ValueError(problem)


@dataclass(frozen=True)
class BranchSpec:
    """A branch as a node declares it: a sub-graph, and its name in internal names.

    name: the branch's name after the step's in internal names (`par.branch a`, `nested.dag`); None for a
      branch run once per item or iteration (map, loop), whose names are only known at run time.
    dag: the sub-graph.
    item_variable: for a branch run per item, the map variable whose value names the instance
      (`--map-variable '{"chunk": "a"}'` selects `map step.a`).
    source: the file the sub-graph was read from, when not the pipeline file (a dag node's dag_definition).
    """

    name: str | None
    dag: Dag
    item_variable: str | None = None
    source: str | None = None

    @property
    def per_item(self) -> bool:
        return self.name is None


class _Node(_Strict):
    mode_config: dict[str, Any] = Field(default_factory=dict)

    # The node module that executes this type (magnus_core/nodes/...): `nodes.module_for` imports it.
    node_module: ClassVar[str] = "magnus_core.nodes.task"
    # True for a node whose work is running its branches (fan-out, branches, fan-in).
    composite: ClassVar[bool] = False
    # True when its branches run at the same time (they must not share a single-writer store).
    concurrent_branches: ClassVar[bool] = False

    @property
    def is_terminal(self) -> bool:
        return False

    @property
    def is_composite(self) -> bool:
        return self.composite

    @property
    def attempts(self) -> int:
        """How many times the step's command may run (retries included): 1 unless the type retries."""
        return 1

    def neighbours(self) -> list[str]:
        return []

    def declared_branches(self) -> list[BranchSpec]:
        """The node's sub-graphs, in the order they run and are merged; [] for a leaf node."""
        return []

    def problems(self) -> list[str]:
        """What is wrong with this node beyond its fields' types, as 'field ...: what' phrases."""
        return []

    def reads_parameters(self) -> list[str]:
        """The parameters the node itself reads to decide its branches (a map's `iterate_on`); a step run
        alone refuses them when the run log holds them only masked. [] for a node that reads none."""
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
    node_module: ClassVar[str] = "magnus_core.nodes.terminal"

    @property
    def is_terminal(self) -> bool:
        return True


class FailNode(_Node):
    type: Literal["fail"]
    node_module: ClassVar[str] = "magnus_core.nodes.terminal"

    @property
    def is_terminal(self) -> bool:
        return True


class ParallelNode(_Flow):
    """Every branch runs (at the same time when the executor allows); succeeds if all do."""

    type: Literal["parallel"]
    branches: dict[str, Dag]
    node_module: ClassVar[str] = "magnus_core.nodes.composite"
    composite: ClassVar[bool] = True
    concurrent_branches: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        return [BranchSpec(name, dag) for name, dag in self.branches.items()]

    def problems(self) -> list[str]:
        out = []
        if not self.branches:
            out.append("field 'branches': a parallel step needs at least one branch")
        out.extend(
            f"branch '{name}' must not contain '.' or '%'"
            for name in self.branches
            if "." in name or "%" in name
        )
        return out


class MapNode(_Flow):
    """One branch per item of the list parameter `iterate_on`, the item given as `iterate_as`."""

    type: Literal["map"]
    iterate_on: str
    iterate_as: str
    branch: Dag
    node_module: ClassVar[str] = "magnus_core.nodes.composite"
    composite: ClassVar[bool] = True
    concurrent_branches: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        return [BranchSpec(None, self.branch, item_variable=self.iterate_as)]

    def reads_parameters(self) -> list[str]:
        return [self.iterate_on]


class DagNode(_Flow):
    """The dag of another file, run as this step's one branch (called `dag`)."""

    type: Literal["dag"]
    dag_definition: str
    _sub_dag: Dag | None = PrivateAttr(default=None)
    _sub_file: str | None = PrivateAttr(default=None)
    node_module: ClassVar[str] = "magnus_core.nodes.composite"
    composite: ClassVar[bool] = True

    @property
    def sub_dag(self) -> Dag:
        assert self._sub_dag is not None, "dag_definition is resolved when the pipeline is loaded"
        return self._sub_dag

    def declared_branches(self) -> list[BranchSpec]:
        # Before loading resolves dag_definition (a model built by hand) there is no sub-graph yet.
        if self._sub_dag is None:
            return []
        return [BranchSpec("dag", self._sub_dag, source=self._sub_file)]


DEFAULT_BRANCH = "default"  # the internal name of a conditional's `default` branch: `<step>.default`


class ConditionalNode(_Flow):
    """Runs exactly one of its branches: the one whose key is the value of parameter `parameter` (numbers,
    booleans and null compared as their JSON text, `1`, `1.5`, `true`, `null`; a string as itself), else
    `default`. Field names are runnable's (the original's successor), so pipelines move between the two."""

    type: Literal["conditional"]
    parameter: str
    branches: dict[str, Dag]
    default: Dag | None = None
    node_module: ClassVar[str] = "magnus_core.nodes.conditional"
    composite: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        out = [BranchSpec(key, dag) for key, dag in self.branches.items()]
        if self.default is not None:
            out.append(BranchSpec(DEFAULT_BRANCH, self.default))
        return out

    def reads_parameters(self) -> list[str]:
        return [self.parameter]

    def problems(self) -> list[str]:
        out = []
        if not self.parameter.strip():
            out.append("field 'parameter': the name of a parameter, not empty")
        if not self.branches:
            out.append("field 'branches': a conditional step needs at least one branch")
        for key in self.branches:
            if not key or "%" in key:
                out.append(f"field 'branches': key {key!r} must not be empty or contain '%'")
        if self.default is not None and DEFAULT_BRANCH in self.branches:
            out.append(
                f"field 'branches': key '{DEFAULT_BRANCH}' and field 'default' would both be branch "
                f"'{DEFAULT_BRANCH}'; rename the key or fold it into default"
            )
        return out


class LoopNode(_Flow):
    """Runs its branch again and again: iteration i as `<step>.<i>`, from 0, each starting from the
    parameters the one before ended with, until an iteration leaves parameter `break_on` true or
    `max_iterations` have run; the number of the iteration reaches its steps as parameter `index_as`.
    Field names are runnable's (the original's successor)."""

    type: Literal["loop"]
    branch: Dag
    max_iterations: int = Field(ge=1)
    break_on: str
    index_as: str
    node_module: ClassVar[str] = "magnus_core.nodes.loop"
    composite: ClassVar[bool] = True

    def declared_branches(self) -> list[BranchSpec]:
        return [BranchSpec(None, self.branch, item_variable=self.index_as)]

    def problems(self) -> list[str]:
        out = [
            f"field '{field}': '{value}' must be a parameter name (letters, digits and _, not starting "
            "with a digit)"
            for field, value in (("break_on", self.break_on), ("index_as", self.index_as))
            if not value.isidentifier()
        ]
        if self.break_on.isidentifier() and self.break_on != self.break_on.lower():
            out.append(
                f"field 'break_on': parameter names are lower-cased where they are set, so "
                f"'{self.break_on}' is never set: write '{self.break_on.lower()}'"
            )
        if self.break_on == self.index_as:
            out.append(f"field 'index_as': '{self.index_as}' is also break_on; they name two parameters")
        return out


NODE_CLASSES: tuple[type[_Node], ...] = (
    TaskNode,
    AsIsNode,
    SuccessNode,
    FailNode,
    ParallelNode,
    MapNode,
    DagNode,
    ConditionalNode,
    LoopNode,
)
Node = Annotated[
    TaskNode
    | AsIsNode
    | SuccessNode
    | FailNode
    | ParallelNode
    | MapNode
    | DagNode
    | ConditionalNode
    | LoopNode,
    Field(discriminator="type"),
]


def _type_names(classes: tuple[type[_Node], ...]) -> tuple[str, ...]:
    from typing import get_args

    return tuple(name for cls in classes for name in get_args(cls.model_fields["type"].annotation))


# Every `type:` a step may have, and those whose work is running branches: derived from the classes above.
NODE_TYPES = _type_names(NODE_CLASSES)
COMPOSITE_TYPES = _type_names(tuple(cls for cls in NODE_CLASSES if cls.composite))


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
