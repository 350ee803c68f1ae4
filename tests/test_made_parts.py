"""A step run alone (`magnus execute_single_node`) builds no pydantic validator (issue 19, target 4): the
provider options (registry.plain_options), its code identity (run_log.code_identity) and the run-log parts
it reads (run_log.made_from_json, in stores/parts.assemble) are made without validating when validating
could only give the same object. Each must give exactly the object the models give (values, classes,
fields set, extras), and leave everything else to the models (their error, their conversion)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from magnus_core.models import run_log as models
from magnus_core.models.plain import _MODELS
from magnus_core.registry import plain_options
from tests.conftest import run_magnus
from tests.test_hostile_logs import EXAMPLES, VALUES
from tests.test_plain_reading import _MISSING, ODD, PLACES, RUNS, STEP, _full_log


def _deep(value: Any) -> Any:
    """Everything that makes a model object what it is, nested: class, fields in order, fields set,
    extras, private attributes; datetimes with their class and zone."""
    if isinstance(value, BaseModel):
        return (
            type(value).__qualname__,
            [(k, _deep(v)) for k, v in value.__dict__.items()],
            sorted(value.model_fields_set),
            _deep(value.__pydantic_extra__),
            value.__pydantic_private__,
        )
    if isinstance(value, datetime):
        return (type(value).__name__, value.isoformat(), str(value.tzinfo), value.fold)
    if isinstance(value, dict):
        return ("dict", [(k, _deep(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_deep(v) for v in value])
    return (type(value).__name__, value)


def _agrees(model: type[BaseModel], data: Any) -> bool:
    """made_from_json(model, data) is None, or what model_validate makes of the same data (True: made)."""
    made = models.made_from_json(model, copy.deepcopy(data))
    try:
        validated = model.model_validate(copy.deepcopy(data))
    except (ValidationError, RecursionError):
        assert made is None, data
        return False
    if made is None:
        return False
    assert _deep(made) == _deep(validated), data
    assert _dump(made) == _dump(validated)
    return True


def _dump(model: BaseModel) -> str:
    try:
        return model.model_dump_json(indent=4)
    except ValueError as exc:  # (text no JSON can hold: a lone surrogate)
        return f"error: {exc}"


def _part(step: dict[str, Any]) -> dict[str, Any]:
    """A step as a store keeps it: without its branches."""
    return {k: v for k, v in step.items() if k != "branches"}


def test_the_parts_of_a_log_with_every_model_are_made_as_the_models_make_them() -> None:
    log = _full_log()
    for name, step in log["steps"].items():
        assert _agrees(models.StepLog, _part(step)), name
        for branch in step.get("branches", {}).values():
            assert _agrees(models.BranchLog, {**branch, "steps": {}})
            for inner in branch["steps"].values():
                assert _agrees(models.StepLog, _part(inner))
    assert _agrees(models.RunLog, log)
    # a run log holding step objects already made (as stores.parts.assemble gives it): kept as they are
    made = models.StepLog.model_validate(_part(log["steps"]["s"]))
    whole = models.made_from_json(models.RunLog, {"run_id": "r", "steps": {"s": made}, "parameters": {}})
    assert whole is not None and whole.steps["s"] is made


@pytest.mark.parametrize("model", list(_MODELS))
def test_every_field_of_every_model_with_any_odd_value_is_made_as_the_models_do_or_left_to_them(
    model: str,
) -> None:
    """Each field set, one at a time, to a value of each JSON type (or left out), in every model: what is
    made is the models' object; what the models refuse or convert is not made."""
    good = _full_log()
    made = 0
    for name, _kind, _default in _MODELS[model]:
        for value in [*ODD, _MISSING]:
            log = json.loads(json.dumps(good))
            target = log
            for key in PLACES[model]:
                target = target[key]
            if value is _MISSING:
                target.pop(name, None)
            else:
                target[name] = value
            made += _agrees(models.RunLog, log)
            for step in log["steps"].values() if isinstance(log.get("steps"), dict) else ():
                if isinstance(step, dict):
                    _agrees(models.StepLog, _part(step))
    assert made > len(_MODELS[model])  # (the models accept a good share: the test can fail)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(log=st.one_of(RUNS, VALUES), step=STEP)
def test_any_run_log_json_is_made_as_the_models_make_it_or_left_to_them(log: Any, step: Any) -> None:
    _agrees(models.RunLog, log)
    _agrees(models.StepLog, step)
    if isinstance(step, dict):
        _agrees(models.StepLog, _part(step))
        for branch in (step.get("branches") or {}).values() if isinstance(step.get("branches"), dict) else ():
            _agrees(models.BranchLog, branch)


def test_a_table_that_is_not_the_models_makes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A field added to a model and not to models/plain.py's table: every part is left to the models."""
    from magnus_core.models import plain

    monkeypatch.setitem(plain._MODELS, "Frame", plain._MODELS["Frame"][:-1])
    monkeypatch.setattr(models, "_TABLES", {})
    assert models.made_from_json(models.StepLog, {"name": "a", "internal_name": "a"}) is None
    monkeypatch.undo()
    monkeypatch.setattr(models, "_TABLES", {})
    assert models.made_from_json(models.StepLog, {"name": "a", "internal_name": "a"}) is not None


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"code_identifier": "a" * 40, "code_identifier_type": "git", "code_identifier_dependable": True},
        {"code_identifier": None, "code_identifier_dependable": False, "code_identifier_message": "no git"},
        {"code_identifier_url": "https://x/y.git", "code_identifier_message": None},
        {"code_identifier_dependable": 1},  # converted by the model: validated
        {"code_identifier": 5},  # refused by the model
        {"other": "x"},  # an extra field: the model keeps it
    ],
)
def test_a_code_identity_is_the_models(given: dict[str, Any]) -> None:
    try:
        validated = models.CodeIdentity(**given)
    except ValidationError:
        with pytest.raises(ValidationError):
            models.made(models.CodeIdentity, **given)
        return
    assert _deep(models.made(models.CodeIdentity, **given)) == _deep(validated)


def _options_models() -> list[type[BaseModel]]:
    from magnus_core import catalog, secrets
    from magnus_core.executors import argo, dask, local
    from magnus_core.stores import chunked, file_system, postgres

    found = [
        chunked.ChunkedOptions,
        file_system._options_model(),
        postgres.PostgresOptions,
        local.LocalOptions,
        argo.ArgoOptions,
        dask.DaskOptions,
        catalog._FileSystemOptions,
        secrets._DotEnvOptions,
        secrets._EnvOptions,
        secrets._EnvAndDotEnvOptions,
    ]
    try:
        from magnus_core import catalog_fsspec

        found.append(catalog_fsspec.FsspecOptions)
    except ImportError:  # pragma: no cover - fsspec is a dependency
        pass
    return found


OPTION_VALUES: list[Any] = [
    "x",
    "",
    "100MB",
    3,
    0,
    -1,
    300,
    1.5,
    True,
    False,
    None,
    [],
    ["a"],
    [{"claim_name": "c", "mount_path": "/m"}],
    {},
    {"A": "b"},
    {"A": 1},
    {"requests": {"cpu": "1"}},
    {"requests": {"cpu": 1}},
    "s/k",
    "bad",
]


def _options_agree(model: type[BaseModel], config: dict[str, Any]) -> bool:
    made = plain_options(model, copy.deepcopy(config))
    try:
        validated = model.model_validate(copy.deepcopy(config))
    except ValidationError:
        assert made is None, (model, config)
        return False
    if made is None:
        return False
    assert _deep(made) == _deep(validated), (model, config)
    return True


@pytest.mark.parametrize("model", _options_models(), ids=lambda m: m.__qualname__)
def test_provider_options_are_made_as_their_model_makes_them_or_left_to_it(model: type[BaseModel]) -> None:
    """Every option of every provider given each odd value, alone and beside the required ones, and an
    unknown option: what is made is the model's object; the rest is validated by the model."""
    required = {n: f for n, f in model.model_fields.items() if f.is_required()}
    base = {n: {"image": "img:1", "connection_string": "postgresql://x"}.get(n, "x") for n in required}
    made = _options_agree(model, base)
    for name in model.model_fields:
        for value in OPTION_VALUES:
            made += _options_agree(model, {**base, name: value})
    _options_agree(model, {**base, "typo": "x"})
    assert made, model  # (some are made: the test can fail)


def test_a_step_process_builds_no_validator(tmp_path: Path) -> None:
    """The point of it: the second step of a run on chunked-fs, run alone as a new process, reads the
    run's parts and writes its own without building any pydantic validator (10-25 ms of its start-up)."""
    (tmp_path / "probe.py").write_text(
        "import atexit, json\n\n"
        "def first():\n    return {'x': 1}\n\n"
        "def probe(x):\n"
        "    def report():\n"
        "        from pydantic import BaseModel\n"
        "        found, todo = [], [BaseModel]\n"
        "        while todo:\n"
        "            cls = todo.pop()\n"
        "            todo.extend(cls.__subclasses__())\n"
        "            if cls.__module__.startswith('magnus_core') and cls.__dict__.get('__pydantic_complete__'):\n"
        "                found.append(cls.__qualname__)\n"
        "        json.dump(sorted(found), open('built.json', 'w'))\n"
        "    atexit.register(report)\n"
        "    return {'x': x + 1}\n"
    )
    (tmp_path / "pipeline.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: probe.first, next: p}\n"
        "    p: {type: task, command: probe.probe, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    (tmp_path / "config.yaml").write_text("run_log_store: {type: chunked-fs}\n")
    for step in ("a", "p"):
        result = run_magnus("execute_single_node", "r1", step, "-c", "config.yaml", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "built.json").read_text()) == []
    part = json.loads((tmp_path / ".run_log_store" / "r1" / "steps" / "p.json").read_text())
    assert part["status"] == "SUCCESS" and part["returned_parameters"] == {"x": 2}


def test_a_process_that_makes_many_objects_builds_the_validator_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first PLAIN_BUDGET objects of a model whose validator is not built are made without it (a step
    run alone makes a handful); past them, or once it is built, the model validates (pydantic-core is several
    times faster per object than the plain walk, so a whole run or a big read builds it once)."""
    part = {"name": "a", "internal_name": "a", "status": "SUCCESS"}
    models.AttemptOutput(written=0), models.StepLog.model_validate(part)  # built: restored as built
    monkeypatch.setattr(models, "_spent", {})
    monkeypatch.setattr(models.AttemptOutput, "__pydantic_complete__", False)
    made = [models.made_few(models.AttemptOutput, {"written": n}) for n in range(models.PLAIN_BUDGET + 2)]
    assert all(m is not None for m in made[: models.PLAIN_BUDGET])
    assert made[models.PLAIN_BUDGET :] == [None, None]
    assert models.made(models.AttemptOutput, written=3) == models.AttemptOutput(written=3)
    assert models.made_few(models.StepLog, part) is None  # built: validated


def test_the_three_quick_makers_are_one_helper_and_make_what_validation_makes() -> None:
    """capture's output records, nodes.common's step logs and attempts, and made_from_json's objects are put
    together by one helper (models.run_log.assembled; `duplicates` found three copies of it); what it makes
    is what validating the given fields makes (class, fields in order, fields set, extras, private)."""
    import inspect

    from magnus_core import capture
    from magnus_core.nodes import common

    for code in (capture._record, common, models._plain_model):
        assert "__pydantic_fields_set__" not in inspect.getsource(code)
    given = {"name": "out", "size": 3, "written": 3}
    validated = models.AttemptOutput(**given)
    made = models.assembled(models.AttemptOutput, dict(validated.__dict__), set(given))
    assert _deep(made) == _deep(validated) and _dump(made) == _dump(validated)
    record = capture._record(3, 3, name="out", where=("a/b", "cat"), sha256="f" * 64)
    validated = models.AttemptOutput(
        name="out",
        catalog_relative_path="a/b",
        catalog_handler_location="cat",
        size=3,
        sha256="f" * 64,
        written=3,
    )
    assert _deep(record) == _deep(validated) and _dump(record) == _dump(validated)
