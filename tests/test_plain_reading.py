"""Plain run logs (magnus_core.models.plain): what `magnus diff` reads instead of the models. They must
accept and refuse exactly what the models do, with the same error, and a diff of plain logs must be the
diff of the same logs read as models."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magnus_core.diff import compare
from magnus_core.errors import MagnusError, RunLogError
from magnus_core.models import run_log as models
from magnus_core.models.plain import _MODELS, OPTIONAL, REQUIRED, plain_from_json, read_plain_run_log
from magnus_core.models.reading import parse_run_log_json, run_log_from_dict
from magnus_core.models.times import parse_time, since_epoch
from tests.test_hostile_logs import ATTEMPT, EXAMPLES, SCALARS, TIMES, VALUES


def test_the_plain_table_has_each_model_s_fields_in_order_with_their_defaults() -> None:
    for name, fields in _MODELS.items():
        model = getattr(models, name)
        model.model_rebuild()
        assert [f[0] for f in fields] == list(model.model_fields), name
        for field, _kind, default in fields:
            info = model.model_fields[field]
            if info.is_required():
                assert default is REQUIRED, (name, field)
            elif info.exclude_if is not None:  # written only when set: absent from a dump when not
                assert default is OPTIONAL, (name, field)
            else:
                expected = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
                assert default == expected and type(default) is type(expected), (name, field)


def _careful(raw: bytes) -> Any:
    """The models' reading of `raw` (json.loads, its checks, the models), or the text of its error."""
    try:
        return run_log_from_dict(parse_run_log_json(raw, "x"), "x")
    except RunLogError as exc:
        return str(exc)


def _plain(raw: bytes) -> Any:
    try:
        return plain_from_json(raw, "x")
    except RunLogError as exc:
        return str(exc)


def _diff_text(a: Any, b: Any) -> str:
    try:
        return json.dumps(compare(a, b, repo=None).to_json(include_equal=True), default=str)
    except MagnusError as exc:
        return f"error: {exc}"


GOOD = {
    "run_id": "good",
    "status": "SUCCESS",
    "steps": {
        "s": {
            "name": "s",
            "internal_name": "s",
            "status": "SUCCESS",
            "attempts": [
                {"start_time": "2026-03-29 01:59:59.5+01:00", "end_time": "2026-03-29 03:00:01+02:00"}
            ],
        }
    },
}


def ok(valid: Any) -> Any:
    """Mostly a value of the field's type, sometimes any scalar: a log is then often wrong in one field
    only, which is where two readings could disagree."""
    return st.integers(0, 7).flatmap(lambda n: SCALARS if n == 0 else valid)


TEXT = st.one_of(st.sampled_from(["SUCCESS", "FAIL", "task", "map", ""]), st.text(max_size=4))
MAPPING = st.dictionaries(st.text(max_size=3), VALUES, max_size=2)
POINTS = st.lists(
    st.fixed_dictionaries({"step": ok(st.integers())}, optional={"value": VALUES, "time": ok(TEXT)}),
    max_size=2,
)
PLAIN_ATTEMPT = st.fixed_dictionaries(
    {},
    optional={
        "start_time": TIMES,
        "end_time": TIMES,
        "status": ok(TEXT),
        "attempt_number": ok(st.integers()),
        "parameters": ok(st.one_of(st.none(), MAPPING)),
        "error": ok(st.fixed_dictionaries({"type": ok(TEXT)}, optional={"exit_code": SCALARS})),
    },
)
LEAF = st.fixed_dictionaries(
    {"name": ok(TEXT), "internal_name": ok(st.sampled_from(["s", "t", "m.0.s"]))},
    optional={
        "status": ok(TEXT),
        "step_type": ok(TEXT),
        "mock": ok(st.booleans()),
        "message": ok(TEXT),
        "attempts": ok(st.lists(st.one_of(PLAIN_ATTEMPT, ATTEMPT), max_size=3)),
        "user_defined_metrics": ok(MAPPING),
        "metric_history": ok(st.dictionaries(st.text(max_size=3), POINTS, max_size=2)),
        "data_catalog": ok(
            st.lists(
                st.fixed_dictionaries(
                    {"name": ok(TEXT)}, optional={"data_hash": ok(TEXT), "stage": ok(TEXT)}
                ),
                max_size=2,
            )
        ),
        "code_identities": ok(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "code_identifier": ok(st.one_of(st.none(), TEXT)),
                        "code_identifier_dependable": ok(st.booleans()),
                        "code_identifier_message": ok(st.one_of(st.none(), TEXT)),
                    },
                ),
                max_size=2,
            )
        ),
        "returned_parameters": ok(MAPPING),
        "masked_parameters": ok(st.lists(TEXT, max_size=2)),
        "start_time": TIMES,
        "unknown_field": VALUES,
    },
)
STEP = st.one_of(
    LEAF,
    st.builds(
        lambda step, branch_steps, status: {
            **step,
            "step_type": "map",
            "branches": {"m.0": {"internal_name": "m.0", "status": status, "steps": branch_steps}},
        },
        LEAF,
        st.dictionaries(st.text(max_size=3), LEAF, max_size=2),
        ok(TEXT),
    ),
    SCALARS,
)
RUNS = st.fixed_dictionaries(
    {"run_id": ok(st.text(min_size=1, max_size=6))},
    optional={
        "status": ok(TEXT),
        "tag": ok(st.one_of(st.none(), TEXT)),
        "dag_hash": ok(st.one_of(st.none(), TEXT)),
        "use_cached": ok(st.booleans()),
        "original_run_id": ok(st.one_of(st.none(), TEXT)),
        "steps": ok(st.dictionaries(st.text(max_size=3), STEP, max_size=3)),
        "parameters": ok(MAPPING),
        "run_config": ok(st.dictionaries(st.text(max_size=6), VALUES, max_size=3)),
        "masked_parameters": ok(st.lists(TEXT, max_size=2)),
        "extra_field": VALUES,
    },
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(log=st.one_of(RUNS, VALUES), mangle=st.sampled_from(["json", "ascii", "truncate"]))
def test_any_json_reads_plain_as_the_models_read_it_and_diffs_alike(log: Any, mangle: str) -> None:
    text = json.dumps(log, ensure_ascii=mangle == "ascii", default=str)
    raw = text.encode("utf-8", "surrogatepass")
    if mangle == "truncate":
        raw = raw[: len(raw) // 2]
    careful, plain = _careful(raw), _plain(raw)
    if isinstance(careful, str) or isinstance(plain, str):
        assert plain == careful  # the same one-line error, file and field
        return
    good = plain_from_json(json.dumps(GOOD).encode(), "good")
    for a, b, ma, mb in (
        (plain, good, careful, good),
        (good, plain, good, careful),
        (plain, plain, careful, careful),
    ):
        assert _diff_text(a, b) == _diff_text(ma, mb)


def _full_log() -> dict[str, Any]:
    """A log holding every model of the run log once."""
    attempt = {
        "attempt_number": 1,
        "start_time": "2026-01-01 10:00:00+00:00",
        "end_time": "2026-01-01 10:00:02+00:00",
        "status": "FAIL",
        "parameters": {"x": 1},
        "error": {"type": "KeyError", "frames": [{"file": "a.py", "line": 3}], "exit_code": 1},
        "output": {"name": "out", "size": 3, "written": 3},
    }
    step = {
        "name": "s",
        "internal_name": "s",
        "status": "FAIL",
        "attempts": [attempt],
        "code_identities": [{"code_identifier": "a" * 40, "code_identifier_dependable": True}],
        "data_catalog": [{"name": "d.csv", "data_hash": "h", "stage": "put"}],
        "metric_history": {"loss": [{"step": 1, "value": 0.5, "time": "t"}]},
        "user_defined_metrics": {"loss": 0.5},
    }
    branch_step = {**step, "name": "s", "internal_name": "m.0.s"}
    mapped = {
        "name": "m",
        "internal_name": "m",
        "step_type": "map",
        "branches": {"m.0": {"internal_name": "m.0", "status": "FAIL", "steps": {"m.0.s": branch_step}}},
    }
    return {"run_id": "r", "dag_hash": "d", "steps": {"s": step, "m": mapped}, "parameters": {"p": 1}}


# where each model sits in _full_log()
PLACES: dict[str, tuple[Any, ...]] = {
    "RunLog": (),
    "StepLog": ("steps", "s"),
    "BranchLog": ("steps", "m", "branches", "m.0"),
    "StepAttempt": ("steps", "s", "attempts", 0),
    "AttemptError": ("steps", "s", "attempts", 0, "error"),
    "Frame": ("steps", "s", "attempts", 0, "error", "frames", 0),
    "AttemptOutput": ("steps", "s", "attempts", 0, "output"),
    "CodeIdentity": ("steps", "s", "code_identities", 0),
    "DataCatalog": ("steps", "s", "data_catalog", 0),
    "MetricPoint": ("steps", "s", "metric_history", "loss", 0),
}
ODD = [5, 1.5, "x", "", True, None, [1], {"a": 1}, "2026-01-01", -(10**30)]


@pytest.mark.parametrize("model", list(_MODELS))
def test_every_field_of_every_model_with_any_odd_value_reads_and_diffs_as_the_models_do(model: str) -> None:
    """Each field set, one at a time, to values of each JSON type (or left out): the plain reading gives
    the models' error, or a log whose diff against itself and a good log is the models' diff."""
    assert set(PLACES) == set(_MODELS)
    good = _full_log()
    other = plain_from_json(json.dumps(good).encode(), "good")
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
            raw = json.dumps(log).encode()
            careful, plain = _careful(raw), _plain(raw)
            if isinstance(careful, str) or isinstance(plain, str):
                assert plain == careful, (model, name, value)
                continue
            assert _diff_text(plain, other) == _diff_text(careful, other), (model, name, value)
            assert _diff_text(plain, plain) == _diff_text(careful, careful), (model, name, value)


_MISSING = object()


@pytest.mark.parametrize(
    ("log", "field"),
    [
        ({"steps": {}}, "run_id"),
        (
            {"run_id": "r", "steps": {"a": {"name": "a", "internal_name": "a", "attempts": [{"status": 5}]}}},
            "steps.a.attempts.0.status",
        ),
        ({"run_id": "r", "steps": {"a": 5}}, "steps.a"),
        ({"run_id": "r", "steps": {"a": {"name": "a"}}}, "steps.a.internal_name"),
        ({"run_id": "r", "tag": 5}, "tag"),
        ({"run_id": "r", "parameters": []}, "parameters"),
    ],
)
def test_a_bad_log_is_refused_with_the_models_error_naming_file_and_field(
    tmp_path: Path, log: Any, field: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(log))
    with pytest.raises(RunLogError) as plain:
        read_plain_run_log(path)
    with pytest.raises(RunLogError) as careful:
        run_log_from_dict(log, str(path))
    assert str(plain.value) == str(careful.value)
    assert f"field '{field}'" in str(plain.value) and str(path) in str(plain.value)


@settings(max_examples=max(EXAMPLES, 200), deadline=None, derandomize=True)
@given(start=TIMES, end=TIMES)
def test_since_epoch_gives_parse_time_s_durations(start: str, end: str) -> None:
    a, b = parse_time(start), parse_time(end)
    x, y = since_epoch(start), since_epoch(end)
    assert (a is None, b is None) == (x is None, y is None)
    if a is not None and b is not None:
        assert x is not None and y is not None
        assert y - x == b - a and isinstance(y - x, timedelta)
