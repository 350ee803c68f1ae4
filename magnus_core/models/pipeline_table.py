"""The pipeline's fields as a table, and a strict walk over a pipeline's raw YAML values, without pydantic.

    walk(model_name, raw, make) -> what `make` builds   (Refused: the walk cannot vouch for a value)
    plain(raw) -> PlainObject | None                    the pipeline file as plain objects, nested
    locate(dag, name, map_variable) -> PlainVisit       a leaf step through map and parallel nodes

The walk checks every value against its field in FIELDS, strictly: a `str` field takes a str, an `int` field
an int and not a bool, every bound and validator of the models checked here; a value pydantic would convert
(`retry: "3"`), an unknown, missing or mistyped field, a value a validator refuses: Refused. `make(name,
values, keys)` then builds each object from its checked values (every field, defaults filled in) and the
keys the YAML gave. models/pipeline_plain.py makes the pydantic models that way (a process that reads a
pipeline never builds their validators); `plain` makes plain objects holding the same values, so a process
that runs one step (`magnus execute_single_node`, what every Argo pod runs: issue 19) can read its pipeline
without importing pydantic at all. When the walk refuses, the caller leaves the input to the models, which
convert it or say what is wrong: every message stays theirs.

tests/test_pipeline_plain.py checks this table against the models' fields and defaults, and that both
makers give the same values for any input the walk accepts, and that it accepts nothing the models refuse.
This module imports no model and no pydantic (tests/test_pipeline_plain.py checks that too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnus_core.paths import relative_problem


class Refused(Exception):
    """A value this walk does not vouch for: the models must read the input."""


REQUIRED = object()


@dataclass(frozen=True)
class Model:
    """A field holding another model of the table (`nullable`: or null)."""

    name: str
    nullable: bool = False


# Each model's fields as models/pipeline.py declares them, in its order: (name, kind, default); REQUIRED
# when it has none. A default is a plain value, or `dict`/`list` for a new empty one (default_factory).
# Kinds: "str", "int", "dict" (str keys, any values), "strs" (a list of text), "{node}" (a dict of nodes,
# each by its `type`), "{Dag}" (a dict of dags), a Model, a tuple of the allowed texts (a Literal); "?"
# after a kind's name allows null. Bounds and validators are checked in _check_field.
_NODE = (("mode_config", "dict", dict),)
_FLOW = (*_NODE, ("next", "str", REQUIRED), ("on_failure", "str?", None))
_OPTIONAL_CATALOG = ("catalog", Model("CatalogSettings", nullable=True), None)
FIELDS: dict[str, tuple[tuple[str, Any, Any], ...]] = {
    "CatalogSettings": (("get", "strs", list), ("put", "strs", list), ("compute_data_folder", "str?", None)),
    "TaskNode": (
        *_FLOW,
        ("type", ("task",), REQUIRED),
        ("command", "str", REQUIRED),
        ("command_type", ("python", "shell", "python-lambda", "notebook"), "python"),
        ("command_config", "dict", dict),
        ("retry", "int", 1),
        _OPTIONAL_CATALOG,
    ),
    "AsIsNode": (
        *_FLOW,
        ("type", ("as-is", "stub"), REQUIRED),
        ("command", "str?", None),
        ("command_type", "str?", None),
        ("command_config", "dict", dict),
        ("retry", "int?", None),
        _OPTIONAL_CATALOG,
    ),
    "SuccessNode": (*_NODE, ("type", ("success",), REQUIRED)),
    "FailNode": (*_NODE, ("type", ("fail",), REQUIRED)),
    "ParallelNode": (*_FLOW, ("type", ("parallel",), REQUIRED), ("branches", "{Dag}", REQUIRED)),
    "MapNode": (
        *_FLOW,
        ("type", ("map",), REQUIRED),
        ("iterate_on", "str", REQUIRED),
        ("iterate_as", "str", REQUIRED),
        ("branch", Model("Dag"), REQUIRED),
    ),
    "DagNode": (*_FLOW, ("type", ("dag",), REQUIRED), ("dag_definition", "str", REQUIRED)),
    "ConditionalNode": (
        *_FLOW,
        ("type", ("conditional",), REQUIRED),
        ("parameter", "str", REQUIRED),
        ("branches", "{Dag}", REQUIRED),
        ("default", Model("Dag", nullable=True), None),
    ),
    "LoopNode": (
        *_FLOW,
        ("type", ("loop",), REQUIRED),
        ("branch", Model("Dag"), REQUIRED),
        ("max_iterations", "int", REQUIRED),
        ("break_on", "str", REQUIRED),
        ("index_as", "str", REQUIRED),
    ),
    "Dag": (
        ("description", "str?", None),
        ("start_at", "str", REQUIRED),
        ("max_time", "int", 86400),
        ("steps", "{node}", REQUIRED),
        ("secrets", "strs", list),
    ),
    "ServiceConfig": (("type", "str", REQUIRED), ("config", "dict", dict)),
    "PipelineFile": (
        ("dag", Model("Dag"), REQUIRED),
        *(
            (name, Model("ServiceConfig", nullable=True), None)
            for name in ("mode", "executor", "run_log_store", "catalog", "secrets")
        ),
    ),
}
NODE_MODELS: tuple[str, ...] = (
    *("TaskNode", "AsIsNode", "SuccessNode", "FailNode"),
    *("ParallelNode", "MapNode", "DagNode", "ConditionalNode", "LoopNode"),
)
# a node's model by its `type` (a type missing from the table is left to the models)
NODE_MODEL = {
    value: name for name in NODE_MODELS for key, kind, _ in FIELDS[name] if key == "type" for value in kind
}
# (model, field) -> (least, most) an int field may hold
BOUNDS: dict[tuple[str, str], tuple[int | None, int | None]] = {
    ("TaskNode", "retry"): (0, 1000),
    ("LoopNode", "max_iterations"): (1, None),
    ("Dag", "max_time"): (1, None),
}

Make = Callable[[str, dict[str, Any], Any], Any]  # (model name, checked values, the raw keys) -> object


Table = dict[str, tuple[tuple[str, Any, Any], ...]]


def walk(model: str, raw: Any, make: Make, fields: Table = FIELDS) -> Any:
    """`make`'s object for `raw` read as `model`, each nested model made by `make` first; Refused when a
    value is not exactly what its field holds (see the module's doc). `raw` is not changed."""
    if type(raw) is not dict:
        raise Refused
    table = fields[model]
    if len(raw) > len(table):
        raise Refused  # a field the model does not know (extra="forbid")
    values: dict[str, Any] = {}
    given = 0
    for name, kind, default in table:
        if name in raw:
            values[name] = _check_field(model, name, kind, raw[name], make, fields)
            given += 1
        elif default is REQUIRED:
            raise Refused
        else:  # the model's default (model_construct's own lookup of it costs 20 us a field)
            values[name] = default() if default is dict or default is list else default
    if given != len(raw):
        raise Refused  # (a key that is no field)
    return make(model, values, raw.keys())


def _check_field(model: str, name: str, kind: Any, value: Any, make: Make, fields: dict[str, Any]) -> Any:
    if isinstance(kind, str) and kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "str":
        if type(value) is not str:
            raise Refused
        if model == "TaskNode" and name == "command" and not value.strip():
            raise Refused
        if model == "CatalogSettings" and relative_problem(value, name) is not None:
            raise Refused
        return value
    if kind == "int":
        if type(value) is not int:
            raise Refused
        least, most = BOUNDS.get((model, name), (None, None))
        if (least is not None and value < least) or (most is not None and value > most):
            raise Refused
        return value
    if kind == "dict":
        if type(value) is not dict or any(type(key) is not str for key in value):
            raise Refused
        return dict(value)  # a new dict, as the model's validation makes (the values are the same objects)
    if kind == "strs":
        if type(value) is not list or any(type(item) is not str for item in value):
            raise Refused
        if model == "CatalogSettings" and any(
            not item.strip() or relative_problem(item, "catalog pattern") is not None for item in value
        ):
            raise Refused
        return list(value)
    if kind == "{Dag}" or kind == "{node}":
        if type(value) is not dict or any(type(key) is not str for key in value):
            raise Refused
        if kind == "{Dag}":
            return {key: walk("Dag", item, make, fields) for key, item in value.items()}
        return {key: _node(item, make, fields) for key, item in value.items()}
    if isinstance(kind, Model):
        if value is None and kind.nullable:
            return None
        return walk(kind.name, value, make, fields)
    if isinstance(kind, tuple):
        if type(value) is not str or value not in kind:
            raise Refused
        return value
    raise Refused  # (a kind this table does not know: never vouch for it)


def _node(raw: Any, make: Make, fields: dict[str, Any]) -> Any:
    if type(raw) is not dict:
        raise Refused
    model = NODE_MODEL.get(raw.get("type")) if type(raw.get("type")) is str else None
    if model is None:
        raise Refused
    return walk(model, raw, make, fields)


# -- plain objects: the same values, no pydantic ----------------------------------------------------------
# What models/pipeline.py's classes say of themselves beyond their fields, by model: the node module that
# runs the type, whether it is composite, terminal (tests/test_pipeline_plain.py checks these against them).
NODE_MODULES = {
    "TaskNode": "magnus_core.nodes.task",
    "AsIsNode": "magnus_core.nodes.task",
    "SuccessNode": "magnus_core.nodes.terminal",
    "FailNode": "magnus_core.nodes.terminal",
}
TERMINAL = frozenset({"SuccessNode", "FailNode"})
COMPOSITE = frozenset({"ParallelNode", "MapNode", "DagNode", "ConditionalNode", "LoopNode"})


class PlainObject:
    """A pipeline object as plain values: `model` (its model's name), its fields as attributes, and
    `fields_set` (the keys the YAML gave, as the model's `model_fields_set`)."""

    model: str
    fields_set: frozenset[str]

    def __init__(self, model: str, values: dict[str, Any], keys: Any) -> None:
        self.__dict__.update(values)
        self.model = model
        self.fields_set = frozenset(keys)

    if TYPE_CHECKING:  # the fields (type, steps, next, ...) are attributes of the object itself

        def __getattr__(self, name: str) -> Any: ...

    def values(self) -> dict[str, Any]:
        """The fields, in the model's order."""
        return {name: self.__dict__[name] for name, _, _ in FIELDS[self.model]}

    @property
    def is_terminal(self) -> bool:
        return self.model in TERMINAL

    @property
    def is_composite(self) -> bool:
        return self.model in COMPOSITE

    @property
    def attempts(self) -> int:
        """How many times the step's command may run, as the models say (TaskNode: `retry`, at least 1)."""
        if self.model == "TaskNode":
            return max(1, self.__dict__["retry"])
        return 1

    @property
    def node_module(self) -> str | None:
        """The module of magnus_core.nodes that runs this node (None: not a leaf this table knows)."""
        return NODE_MODULES.get(self.model)


def _plain(model: str, values: dict[str, Any], keys: Any) -> PlainObject:
    return PlainObject(model, values, keys)


def plain(raw: Any) -> PlainObject | None:
    """The pipeline file `raw` (its YAML's values, variables substituted) as plain objects (PipelineFile,
    then Dag, nodes and the rest, nested as the models nest); None when the models must read it."""
    try:
        made: PlainObject = walk("PipelineFile", raw, _plain)
    except Refused:
        return None
    return made


def valid(dag: PlainObject, items: tuple[str, ...] = ()) -> bool:
    """True when loading.validate_dag would find nothing wrong with `dag` (plain objects): every step name
    usable, every `next`/`on_failure` and `start_at` a step, one success and one fail node, no cycle, each
    parallel's branches named and there, no map's item name reused inside it, and each branch the same.
    False for anything else, and for what it does not look at: a conditional, loop or dag node, a step with
    a `catalog` (the shared-puts rule): the models then validate and say what is wrong, or that nothing is.
    `items`: the item names of the map branches holding `dag`."""
    steps = dag.steps
    counts = {"success": 0, "fail": 0}
    for name, node in steps.items():
        if not name.strip() or "." in name or "%" in name:
            return False
        if node.model not in _VALIDATED:
            return False
        if node.type in counts:
            counts[node.type] += 1
        for target in (getattr(node, "next", None), getattr(node, "on_failure", None)):
            if target and target not in steps:
                return False
        if getattr(node, "catalog", None) is not None:
            return False
        if node.model == "ParallelNode":
            named = node.branches
            if not named or any("." in b or "%" in b for b in named):
                return False
            if not all(valid(branch, items) for branch in named.values()):
                return False
        elif node.model == "MapNode" and (
            node.iterate_as in items or not valid(node.branch, (*items, node.iterate_as))
        ):
            return False
    return dag.start_at in steps and counts == {"success": 1, "fail": 1} and acyclic(steps, _neighbours)


_VALIDATED = frozenset({"TaskNode", "AsIsNode", "SuccessNode", "FailNode", "ParallelNode", "MapNode"})


def acyclic(steps: dict[str, Any], neighbours: Callable[[Any], list[str]]) -> bool:
    """True when no path of edges (`neighbours(node)`: the steps it goes to, each a step of `steps`) comes
    back to a step: a depth-first search with three states, in one pass (loading.validate_dag's check too,
    over the models' nodes)."""
    done: set[str] = set()
    for root in steps:
        if root in done:
            continue
        path = {root}  # the steps on the current path
        stack = [(root, iter(neighbours(steps[root])))]
        while stack:
            name, following = stack[-1]
            for target in following:
                if target in path:
                    return False
                if target not in done:
                    path.add(target)
                    stack.append((target, iter(neighbours(steps[target]))))
                    break
            else:
                stack.pop()
                path.discard(name)
                done.add(name)
    return True


def _neighbours(node: PlainObject) -> list[str]:
    return [n for n in (getattr(node, "next", None), getattr(node, "on_failure", None)) if n]


class NotLocated(Exception):
    """A step name the plain locate does not resolve: the models' locate says what is wrong, or finds it."""


@dataclass(frozen=True)
class PlainVisit:
    """A leaf step found in plain objects: as graph.Visit names it (the map items filled in)."""

    name: str
    internal_name: str
    node: PlainObject
    dag: PlainObject
    branch: str | None
    parents: tuple[str, ...]
    branches: tuple[str, ...]


def locate(dag: PlainObject, name: str, map_variable: dict[str, Any]) -> PlainVisit:
    """The leaf step `name` (a dot path, spaces as written: 'each.<item or PLACEHOLDER>.add',
    'par.b1.step') names in `dag`, through map and parallel nodes only, as graph.locate resolves it; the
    item of a map branch comes from `map_variable` (its `iterate_as`), written as graph.item_name writes
    it. NotLocated for anything else (a dag, conditional or loop node on the way, a name with more dots
    than its parts, an item that is not a plain str or int, a step not in the dag): the models decide."""
    parts = name.split(".")
    branch: str | None = None
    parents: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    i = 0
    while True:
        step = parts[i]
        node = dag.steps.get(step)
        if node is None:
            raise NotLocated(step)
        here = step if branch is None else f"{branch}.{step}"
        if i == len(parts) - 1:
            if node.is_composite:
                raise NotLocated(here)
            return PlainVisit(step, here, node, dag, branch, parents, chain)
        if node.model == "MapNode":
            item = map_variable.get(node.iterate_as, _MISSING)
            if type(item) is not str and type(item) is not int:
                raise NotLocated(here)  # (a float, a list, none given: graph.item_name and the models')
            key = str(item)
            if "." in key or i + 1 >= len(parts) or parts[i + 1] not in (key, _PLACEHOLDER):
                raise NotLocated(here)
            inner = node.branch
        elif node.model == "ParallelNode":
            named = node.branches
            if i + 1 >= len(parts) or any("." in b for b in named) or parts[i + 1] not in named:
                raise NotLocated(here)
            key = parts[i + 1]
            inner = node.branches[key]
        else:
            raise NotLocated(here)
        if i + 2 >= len(parts):
            raise NotLocated(here)  # a branch, not a step
        dag, branch, parents = inner, f"{here}.{key}", (*parents, here)
        chain = (*chain, branch)
        i += 2


_MISSING = object()
_PLACEHOLDER = "map_variable_placeholder"  # graph.PLACEHOLDER (tests/test_pipeline_plain.py checks)
