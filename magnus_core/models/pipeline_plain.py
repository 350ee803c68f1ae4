"""The pipeline models made without pydantic's validators, for a pipeline whose every value is already what
its field holds: each value is checked here, strictly (a `str` field takes a str, an `int` field an int and
not a bool), then the models are made with `model_construct`. The pipeline models are built lazily
(`defer_build`), so a process that only reads a pipeline such as this never builds their validators (about
a third of the start-up of `magnus execute_single_node`, what every Argo pod runs: issue 19).

    plain_model(model, raw) -> model | None    PipelineFile, Dag (a dag_definition file's block)

None whenever this check is not sure: a value pydantic would convert (`retry: "3"`, `max_time: 1.0`), a
field that is unknown, missing or of the wrong type, a value a validator refuses. The caller then validates
with the models (loading._parse), so every error, and every converted value, is exactly theirs
(tests/test_pipeline_plain.py checks that both ways give equal models for any input this accepts, and that
it accepts nothing they refuse).
"""

from __future__ import annotations

from typing import Any, TypeVar

from magnus_core.models import pipeline as m
from magnus_core.paths import relative_problem

M = TypeVar("M", bound=m.BaseModel)


_set = object.__setattr__


class _Refused(Exception):
    """A value this check does not vouch for: the models must read the input."""


_REQUIRED = object()

# Each model's fields as pipeline.py declares them: (name, kind, default); _REQUIRED when it has none. A
# default is a plain value, or `dict`/`list` for a new empty one (default_factory). Kinds: "str", "int",
# "dict" (str keys, any values), "strs" (a list of text), "node" (any node type, by its `type`), a model
# class, "{Dag}" (a dict of dags), a tuple of the allowed texts (a Literal); "?" after a kind's name, or a
# model class in a 1-tuple, allows null. Bounds and validators are checked in _check_field.
# tests/test_pipeline_plain.py checks this table against the models' fields.
_NODE = (("mode_config", "dict", dict),)
_FLOW = (*_NODE, ("next", "str", _REQUIRED), ("on_failure", "str?", None))
_CATALOG_FIELDS = (("get", "strs", list), ("put", "strs", list), ("compute_data_folder", "str?", None))
_FIELDS: dict[type, tuple[tuple[str, Any, Any], ...]] = {
    m.CatalogSettings: _CATALOG_FIELDS,
    m.TaskNode: (
        *_FLOW,
        ("type", ("task",), _REQUIRED),
        ("command", "str", _REQUIRED),
        ("command_type", ("python", "shell", "python-lambda", "notebook"), "python"),
        ("command_config", "dict", dict),
        ("retry", "int", 1),
        ("catalog", (m.CatalogSettings,), None),
    ),
    m.AsIsNode: (
        *_FLOW,
        ("type", ("as-is", "stub"), _REQUIRED),
        ("command", "str?", None),
        ("command_type", "str?", None),
        ("command_config", "dict", dict),
        ("retry", "int?", None),
        ("catalog", (m.CatalogSettings,), None),
    ),
    m.SuccessNode: (*_NODE, ("type", ("success",), _REQUIRED)),
    m.FailNode: (*_NODE, ("type", ("fail",), _REQUIRED)),
    m.ParallelNode: (*_FLOW, ("type", ("parallel",), _REQUIRED), ("branches", "{Dag}", _REQUIRED)),
    m.MapNode: (
        *_FLOW,
        ("type", ("map",), _REQUIRED),
        ("iterate_on", "str", _REQUIRED),
        ("iterate_as", "str", _REQUIRED),
        ("branch", m.Dag, _REQUIRED),
    ),
    m.DagNode: (*_FLOW, ("type", ("dag",), _REQUIRED), ("dag_definition", "str", _REQUIRED)),
    m.ConditionalNode: (
        *_FLOW,
        ("type", ("conditional",), _REQUIRED),
        ("parameter", "str", _REQUIRED),
        ("branches", "{Dag}", _REQUIRED),
        ("default", (m.Dag,), None),
    ),
    m.LoopNode: (
        *_FLOW,
        ("type", ("loop",), _REQUIRED),
        ("branch", m.Dag, _REQUIRED),
        ("max_iterations", "int", _REQUIRED),
        ("break_on", "str", _REQUIRED),
        ("index_as", "str", _REQUIRED),
    ),
    m.Dag: (
        ("description", "str?", None),
        ("start_at", "str", _REQUIRED),
        ("max_time", "int", 86400),
        ("steps", "{node}", _REQUIRED),
        ("secrets", "strs", list),
    ),
    m.ServiceConfig: (("type", "str", _REQUIRED), ("config", "dict", dict)),
    m.PipelineFile: (
        ("dag", m.Dag, _REQUIRED),
        *((name, (m.ServiceConfig,), None) for name in ("mode", "executor", "run_log_store", "catalog")),
        ("secrets", (m.ServiceConfig,), None),
    ),
}
# a node's class by its `type` (a type missing from the table is left to the models)
_NODE_CLASSES = {
    value: cls
    for cls in m.NODE_CLASSES
    for name, kind, _ in _FIELDS.get(cls, ())
    if name == "type"
    for value in kind
}
_AGREES: dict[type, bool] = {}  # model -> the table names its fields, as the model does (checked once)
# (model, field) -> (least, most) an int field may hold
_BOUNDS: dict[tuple[type, str], tuple[int | None, int | None]] = {
    (m.TaskNode, "retry"): (0, 1000),
    (m.LoopNode, "max_iterations"): (1, None),
    (m.Dag, "max_time"): (1, None),
}


def plain_model(model: type[M], raw: Any) -> M | None:
    """`model` (PipelineFile or Dag) made from `raw` (the YAML's plain values) when every value is what its
    field holds; None when the models must validate it (they may convert a value, or refuse it)."""
    try:
        return _make(model, raw)
    except _Refused:
        return None


def _make(model: type[M], raw: Any) -> M:
    if type(raw) is not dict:
        raise _Refused
    fields = _FIELDS[model]
    agrees = _AGREES.get(model)
    if agrees is None:  # a field added to the model and not here: never vouch for that model
        agrees = _AGREES[model] = [name for name, _, _ in fields] == list(model.__pydantic_fields__)
    if not agrees:
        raise _Refused
    if len(raw) > len(fields):
        raise _Refused  # a field the model does not know (extra="forbid")
    values: dict[str, Any] = {}
    given = 0
    for name, kind, default in fields:
        if name in raw:
            values[name] = _check_field(model, name, kind, raw[name])
            given += 1
        elif default is _REQUIRED:
            raise _Refused
        else:  # the model's default (model_construct's own lookup of it costs 20 us a field)
            values[name] = default() if default is dict or default is list else default
    if given != len(raw):
        raise _Refused  # (a key that is no field)
    # what model_construct does with every field given (the models have no aliases but `next`'s own name)
    made = model.__new__(model)
    _set(made, "__dict__", values)
    _set(made, "__pydantic_fields_set__", set(raw))
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    if model.__pydantic_post_init__:
        made.model_post_init(None)  # (private attributes: DagNode's, at their defaults)
    return made


def _check_field(model: type, name: str, kind: Any, value: Any) -> Any:
    if isinstance(kind, str) and kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "str":
        if type(value) is not str:
            raise _Refused
        if model is m.TaskNode and name == "command" and not value.strip():
            raise _Refused
        if model is m.CatalogSettings and relative_problem(value, name) is not None:
            raise _Refused
        return value
    if kind == "int":
        if type(value) is not int:
            raise _Refused
        least, most = _BOUNDS.get((model, name), (None, None))
        if (least is not None and value < least) or (most is not None and value > most):
            raise _Refused
        return value
    if kind == "dict":
        if type(value) is not dict or any(type(key) is not str for key in value):
            raise _Refused
        return dict(value)  # a new dict, as the model's validation makes (the values are the same objects)
    if kind == "strs":
        if type(value) is not list or any(type(item) is not str for item in value):
            raise _Refused
        if model is m.CatalogSettings and any(
            not item.strip() or relative_problem(item, "catalog pattern") is not None for item in value
        ):
            raise _Refused
        return list(value)
    if kind == "{Dag}" or kind == "{node}":
        if type(value) is not dict or any(type(key) is not str for key in value):
            raise _Refused
        make = _node if kind == "{node}" else (lambda raw: _make(m.Dag, raw))
        return {key: make(item) for key, item in value.items()}
    if isinstance(kind, tuple):
        if len(kind) == 1 and isinstance(kind[0], type):  # a model, or null
            return None if value is None else _make(kind[0], value)
        if type(value) is not str or value not in kind:
            raise _Refused
        return value
    if isinstance(kind, type):
        return _make(kind, value)
    raise _Refused  # (a kind this table does not know: never vouch for it)


def _node(raw: Any) -> Any:
    if type(raw) is not dict:
        raise _Refused
    cls = _NODE_CLASSES.get(raw.get("type")) if type(raw.get("type")) is str else None
    if cls is None:
        raise _Refused
    return _make(cls, raw)
