"""The pipeline models made without pydantic's validators, for a pipeline whose every value is already what
its field holds: each value is checked strictly by models/pipeline_table.py's walk (a `str` field takes a
str, an `int` field an int and not a bool; that module needs no model class, so a step process can read its
pipeline without pydantic), then the models are made as `model_construct` makes them. The pipeline models
are built lazily (`defer_build`), so a process that only reads a pipeline such as this never builds their
validators (about a third of the start-up of `magnus execute_single_node`, every Argo pod: issue 19).

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
from magnus_core.models.pipeline_table import FIELDS, Refused, walk

M = TypeVar("M", bound=m.BaseModel)


_set = object.__setattr__
_AGREES: dict[str, bool] = {}  # model -> the table names its fields, as the model does (checked once)


def plain_model(model: type[M], raw: Any) -> M | None:
    """`model` (PipelineFile or Dag) made from `raw` (the YAML's plain values) when every value is what its
    field holds; None when the models must validate it (they may convert a value, or refuse it). The
    values are checked by models/pipeline_table.py's walk, which needs no model class."""
    try:
        made: M = walk(model.__name__, raw, _make)
    except Refused:
        return None
    return made


def _make(name: str, values: dict[str, Any], keys: Any) -> Any:
    """What model_construct does with every field given (the models have no aliases but `next`'s own
    name), for a model whose fields the table lists in its order (else Refused: a field added to a model
    and not to the table would be missing)."""
    model: type[m.BaseModel] = getattr(m, name)
    agrees = _AGREES.get(name)
    if agrees is None:
        agrees = _AGREES[name] = [field for field, _, _ in FIELDS[name]] == list(model.__pydantic_fields__)
    if not agrees:
        raise Refused
    made = model.__new__(model)
    _set(made, "__dict__", values)
    _set(made, "__pydantic_fields_set__", set(keys))
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    if model.__pydantic_post_init__:
        made.model_post_init(None)  # (private attributes: DagNode's, at their defaults)
    return made
