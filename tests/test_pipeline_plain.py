"""models/pipeline_plain.py makes the pipeline models without their validators when every value is already
what its field holds, and refuses (None) otherwise, so that the models validate and say what is wrong. These
tests hold it to the models: the same fields and defaults, equal models for every input it accepts (the
project's own pipelines and generated ones), and nothing accepted that the models refuse or convert."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from magnus_core.models import pipeline as m
from magnus_core.models import pipeline_table as t
from magnus_core.models.pipeline_plain import plain_model
from tests.conftest import ROOT, run_magnus

PIPELINES = sorted(
    p
    for folder in ("examples", "tests/data")
    for p in (ROOT / folder).rglob("*.yaml")
    if p.read_text(errors="replace").lstrip().startswith(("dag:", "dag :"))
    or "\ndag:" in p.read_text(errors="replace")
)


def _deep_dump(model: BaseModel) -> Any:
    """A model as data, with which fields were set and each object's class (what == and dumps compare)."""
    out: dict[str, Any] = {"class": type(model).__name__, "set": sorted(model.model_fields_set)}
    for name, value in model:
        out[name] = _value(value)
    out["private"] = {k: _value(v) for k, v in (model.__pydantic_private__ or {}).items()}
    return out


def _value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _deep_dump(value)
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return (type(value).__name__, value)


def _validated(model: type[BaseModel], raw: Any) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _agrees(model: type[BaseModel], raw: Any) -> bool:
    """plain_model's answer for `raw` is the models' (or it refused): returns whether it accepted."""
    made = plain_model(model, raw)  # (neither changes its input)
    twin = t.plain(raw) if model is m.PipelineFile else None
    if (
        model is m.PipelineFile
    ):  # the plain objects (no pydantic) vouch for exactly what the models' making does
        assert (twin is None) == (made is None), raw
    if made is None:
        return False
    if twin is not None:
        assert _twin_dump(twin) == _deep_dump(made)
    validated = _validated(model, raw)
    assert validated is not None, f"accepted what the models refuse: {raw!r}"
    assert made == validated
    assert _deep_dump(made) == _deep_dump(validated)
    assert made.model_dump_json() == validated.model_dump_json()
    return True


def _twin_dump(obj: Any) -> Any:
    """A plain object (pipeline_table.PlainObject) as _deep_dump dumps its model."""
    if isinstance(obj, t.PlainObject):
        out: dict[str, Any] = {"class": obj.model, "set": sorted(obj.fields_set)}
        out.update({name: _twin_dump(value) for name, value in obj.values().items()})
        model = getattr(m, obj.model)
        made = model.model_construct(**{k: v for k, v in obj.values().items() if k in obj.fields_set})
        out["private"] = {k: _value(v) for k, v in (made.__pydantic_private__ or {}).items()}
        return out
    if isinstance(obj, dict):
        return {k: _twin_dump(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_twin_dump(v) for v in obj]
    return (type(obj).__name__, obj)


def test_the_table_has_every_field_of_every_model_with_its_default() -> None:
    for name, fields in t.FIELDS.items():
        model = getattr(m, name)
        model.model_rebuild()
        declared = model.model_fields
        assert [name for name, _, _ in fields] == list(declared), model.__name__
        for name, _, default in fields:
            info = declared[name]
            if default is t.REQUIRED:
                assert info.is_required(), (model.__name__, name)
            elif default in (dict, list):
                assert info.default_factory is default, (model.__name__, name)
            else:
                assert info.default is not PydanticUndefined and info.default == default, (
                    model.__name__,
                    name,
                )
    classes = {*m.NODE_CLASSES, m.Dag, m.PipelineFile, m.CatalogSettings, m.ServiceConfig}
    assert set(t.FIELDS) >= {c.__name__ for c in classes}
    assert tuple(c.__name__ for c in m.NODE_CLASSES) == t.NODE_MODELS
    assert set(t.NODE_MODEL) == set(m.NODE_TYPES)


def test_what_the_plain_objects_say_of_themselves_is_what_the_models_say() -> None:
    """Beside their fields: the node module, composite or terminal, the attempts (TaskNode's retry)."""
    from magnus_core.graph import PLACEHOLDER

    assert t._PLACEHOLDER == PLACEHOLDER
    for cls in m.NODE_CLASSES:
        name = cls.__name__
        assert (name in t.COMPOSITE) == cls.composite, name
        if not cls.composite:
            assert t.NODE_MODULES[name] == cls.node_module, name
    twin = t.plain(BASE)
    assert twin is not None
    made = plain_model(m.PipelineFile, BASE)
    assert made is not None
    for key, node in made.dag.steps.items():
        plain = twin.dag.steps[key]
        assert (plain.is_terminal, plain.is_composite, plain.attempts) == (
            node.is_terminal,
            node.is_composite,
            node.attempts,
        ), key
        assert plain.node_module == (None if node.is_composite else node.node_module), key
    for retry in (0, 1, 5):
        raw = _changed(BASE, ("dag", "steps", "a", "retry"), "set", retry)
        plain_model_made = plain_model(m.PipelineFile, raw)
        assert plain_model_made is not None
        assert t.plain(raw).dag.steps["a"].attempts == plain_model_made.dag.steps["a"].attempts  # type: ignore[union-attr]


def test_the_table_and_its_walk_import_no_pydantic() -> None:
    """What a step process reads its pipeline with needs neither pydantic nor a model class (issue 19)."""
    code = (
        "import sys, magnus_core.models.pipeline_table as t\n"
        "assert t.plain({'dag': {'start_at': 's', 'steps': {'s': {'type': 'success'}}}}) is not None\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'magnus_core.models.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['magnus_core.models.pipeline_table']"]


def _leaf_names(dag: Any, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every leaf step's name through map and parallel nodes (items: a text, a number, the placeholder)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for key, node in dag.steps.items():
        here = f"{prefix}{key}"
        if node.type == "map":
            for item, shown in (("a", "a"), (3, "3"), ("b", "map_variable_placeholder")):
                out.extend(
                    (n, {node.iterate_as: item, **mv})
                    for n, mv in _leaf_names(node.branch, f"{here}.{shown}.")
                )
        elif node.type == "parallel":
            for name, branch in node.branches.items():
                out.extend(_leaf_names(branch, f"{here}.{name}."))
        elif not node.is_composite:
            out.append((here, {}))
    return out


def _same_visit(model_dag: Any, twin_dag: Any, name: str, mv: dict[str, Any]) -> bool:
    """The plain locate finds what graph.locate finds, or leaves it to the models; returns whether found."""
    from magnus_core.graph import NotInDag, locate

    try:
        visit = locate(model_dag, name, mv)
    except NotInDag:
        visit = None
    try:
        plain = t.locate(twin_dag, name, mv)
    except t.NotLocated:
        return False
    assert visit is not None, name  # never finds what the models refuse
    assert (plain.name, plain.internal_name, plain.branch, plain.parents, plain.branches) == (
        visit.name,
        visit.internal_name,
        visit.branch,
        visit.parents,
        visit.branches,
    )
    assert plain.node.model == type(visit.node).__name__ and plain.node.type == visit.node.type
    assert list(plain.dag.steps) == list(visit.dag.steps)
    return True


def test_the_plain_locate_finds_each_leaf_as_the_models_do_or_leaves_it_to_them() -> None:
    found = 0
    for path in PIPELINES:
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or not isinstance(raw.get("dag"), dict):
            continue
        raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
        made, twin = plain_model(m.PipelineFile, raw), t.plain(raw)
        if made is None or twin is None:
            continue
        for name, mv in _leaf_names(made.dag):
            found += _same_visit(made.dag, twin.dag, name, mv)
            # and names that do not fit: a wrong item, a missing one, a branch, an unknown step
            for wrong, odd_mv in (
                (name, {}), (name, {k: [1] for k in mv}), (name, {k: 1.5 for k in mv}),
                (name.rsplit(".", 1)[0], mv), (name + ".x", mv), ("nope", mv), (name.replace(".a.", ".b."), mv),
            ):  # fmt: skip
                _same_visit(made.dag, twin.dag, wrong, odd_mv)
    assert found > 30


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_pipeline_of_the_project_is_made_as_the_models_make_it(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("dag"), dict):
        pytest.skip("not a pipeline")
    raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
    _agrees(m.PipelineFile, raw)
    _agrees(m.Dag, raw["dag"])


def test_the_bundled_pipelines_need_no_validator() -> None:
    accepted = [
        p
        for p in (ROOT / "examples").glob("*.yaml")
        if plain_model(m.PipelineFile, yaml.safe_load(p.read_text()))
    ]
    assert len(accepted) >= 5  # the ordinary case: written as the fields want, nothing to convert


BASE: dict[str, Any] = {
    "dag": {
        "description": "d",
        "start_at": "a",
        "max_time": 60,
        "secrets": ["S"],
        "steps": {
            "a": {
                "type": "task",
                "command": "m.f",
                "next": "p",
                "on_failure": "fail",
                "retry": 2,
                "command_config": {"k": [1]},
                "catalog": {"get": ["in/*"], "put": ["out.csv"], "compute_data_folder": "data"},
                "mode_config": {"x": 1},
            },
            "p": {
                "type": "parallel",
                "next": "c",
                "branches": {"one": {"start_at": "s", "steps": {"s": {"type": "stub", "next": "success"}}}},
            },
            "c": {
                "type": "conditional",
                "parameter": "w",
                "next": "l",
                "branches": {"1": {"start_at": "s", "steps": {"s": {"type": "as-is", "next": "success"}}}},
                "default": {"start_at": "s", "steps": {"s": {"type": "success"}}},
            },
            "l": {
                "type": "loop",
                "next": "m",
                "max_iterations": 3,
                "break_on": "done",
                "index_as": "i",
                "branch": {"start_at": "s", "steps": {"s": {"type": "fail"}}},
            },
            "m": {
                "type": "map",
                "next": "d",
                "iterate_on": "xs",
                "iterate_as": "x",
                "branch": {
                    "start_at": "s",
                    "steps": {
                        "s": {"type": "task", "command": "echo", "command_type": "shell", "next": "success"}
                    },
                },
            },
            "d": {"type": "dag", "dag_definition": "inner.yaml", "next": "success"},
            "success": {"type": "success"},
            "fail": {"type": "fail"},
        },
    },
    "run_log_store": {"type": "chunked-fs", "config": {"log_folder": "runs"}},
    "executor": {"type": "local"},
}

# values a field may be given instead of its own: some the models convert, some they refuse, some they take
ODD = [None, "", " ", "3", "1.5", "x", "/abs", "../up", "a/../b", 0, 1, -1, 3, 1001, 1.0, 2.5, True, False,
       [], ["a"], [""], ["/x"], [1], {}, {"a": 1}, {1: "a"}, {"type": "stub", "next": "success"}, "stub", "task"]  # fmt: skip


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*at, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*at, i)))
    return out


PLACES = _paths(BASE)[1:]


def _changed(raw: Any, at: tuple[Any, ...], how: str, odd: Any) -> Any:
    out = copy.deepcopy(raw)
    *parent, last = at
    holder = out
    for key in parent:
        holder = holder[key]
    if how == "set":
        holder[last] = copy.deepcopy(odd)
    elif how == "drop":
        del holder[last]
    elif how == "add" and isinstance(holder[last], dict):
        holder[last]["unknown_field" if not isinstance(odd, str) or not odd else odd] = copy.deepcopy(odd)
    return out


def test_the_example_with_every_node_type_is_accepted() -> None:
    assert _agrees(m.PipelineFile, BASE)


def test_every_single_change_is_made_as_the_models_make_it_or_left_to_them() -> None:
    """Every field of the example given every odd value, left out, or given an unknown key beside it."""
    accepted = 0
    for at in PLACES:
        for how, odd in [("drop", None), *(("set", v) for v in ODD), *(("add", v) for v in ("", "zz", 1))]:
            accepted += _agrees(m.PipelineFile, _changed(BASE, at, how, odd))
    assert accepted > 100  # (and refused the rest: the models converted or refused them)


@settings(
    max_examples=int(os.environ.get("MAGNUS_TEST_PLAIN_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PLACES), st.sampled_from(["set", "set", "drop", "add"]), st.sampled_from(ODD)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_a_changed_pipeline_is_made_as_the_models_make_it_or_left_to_them(changes: list[Any]) -> None:
    raw: Any = BASE
    for at, how, odd in changes:
        try:
            raw = _changed(raw, at, how, odd)
        except (KeyError, IndexError, TypeError):
            continue  # (a place an earlier change removed)
    _agrees(m.PipelineFile, raw)


def test_a_step_process_builds_no_pipeline_validator(tmp_path: Path) -> None:
    """The point of it: a step run alone (`magnus execute_single_node`) makes its pipeline's models without
    building their validators (about 50 ms of its start-up)."""
    (tmp_path / "probe.py").write_text(
        "import json\nfrom magnus_core.models import pipeline as m\n\n"
        "def probe():\n"
        "    json.dump([c.__name__ for c in (*m.NODE_CLASSES, m.Dag, m.PipelineFile) if c.__pydantic_complete__],"
        " open('built.json', 'w'))\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        "dag:\n  start_at: p\n  steps:\n    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = run_magnus("execute_single_node", "r1", "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "built.json").read_text()) == []


def test_a_model_with_a_field_the_table_lacks_is_left_to_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """A field added to a model and not to the table: that model is never made here (it would lack it)."""
    from magnus_core.models import pipeline_plain

    monkeypatch.setitem(t.FIELDS, "SuccessNode", (("type", ("success",), t.REQUIRED),))
    monkeypatch.setattr(pipeline_plain, "_AGREES", {})
    assert plain_model(m.PipelineFile, BASE) is None
    assert plain_model(m.Dag, {"start_at": "a", "steps": {"a": {"type": "fail"}}}) is not None


# a pipeline of the node types pipeline_table.valid looks at (task, stub, parallel, map, success, fail)
FLAT: dict[str, Any] = {
    "dag": {
        "start_at": "a",
        "steps": {
            "a": {"type": "task", "command": "m.f", "next": "p", "on_failure": "fail", "retry": 2},
            "p": {
                "type": "parallel",
                "next": "m",
                "branches": {
                    "one": {
                        "start_at": "s",
                        "steps": {
                            "s": {"type": "stub", "next": "success"},
                            "success": {"type": "success"},
                            "fail": {"type": "fail"},
                        },
                    }
                },
            },
            "m": {
                "type": "map",
                "next": "success",
                "iterate_on": "xs",
                "iterate_as": "x",
                "branch": {
                    "start_at": "s",
                    "steps": {
                        "s": {"type": "task", "command": "m.g", "next": "success"},
                        "success": {"type": "success"},
                        "fail": {"type": "fail"},
                    },
                },
            },
            "success": {"type": "success"},
            "fail": {"type": "fail"},
        },
    }
}
FLAT_CHANGES = [
    *(
        (at, how, odd)
        for at in _paths(FLAT)[1:]
        for how, odd in [("drop", None), ("set", "s"), ("set", "fail")]
    ),
    *(
        (at, "set", odd)
        for at in [("dag", "steps", "a", "next"), ("dag", "start_at")]
        for odd in ("a", "x", "m")
    ),
]


def _valid_agrees(raw: Any) -> bool:
    """pipeline_table.valid says a dag is valid only when loading.validate_dag finds nothing wrong."""
    from magnus_core.loading import validate_dag

    twin = t.plain(raw)
    if twin is None or not t.valid(twin.dag):
        return False
    made = plain_model(m.PipelineFile, raw)
    assert made is not None
    assert validate_dag(made.dag) == [], raw
    return True


def test_valid_vouches_only_for_dags_the_loader_finds_nothing_wrong_with() -> None:
    assert _valid_agrees(FLAT)
    accepted = sum(_valid_agrees(_changed(FLAT, at, how, odd)) for at, how, odd in FLAT_CHANGES)
    renamed = copy.deepcopy(FLAT)  # a map inside a map reusing its item name: the loader refuses it
    renamed["dag"]["steps"]["m"]["branch"]["steps"]["s"] = copy.deepcopy(FLAT["dag"]["steps"]["m"])
    renamed["dag"]["steps"]["m"]["branch"]["steps"]["s"]["next"] = "success"
    assert not _valid_agrees(renamed)
    cyclic = _changed(FLAT, ("dag", "steps", "m", "next"), "set", "a")
    assert not _valid_agrees(cyclic)
    assert accepted > 5  # (and refused the rest, or the loader found something)
    for path in PIPELINES:
        raw = yaml.safe_load(path.read_text())
        if isinstance(raw, dict) and isinstance(raw.get("dag"), dict):
            accepted += _valid_agrees({k: v for k, v in raw.items() if not str(k).startswith("x-")})
    assert accepted > 15
