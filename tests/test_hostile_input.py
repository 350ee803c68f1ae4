"""Property-based tests: whatever a user (or a broken disk) hands the loaders, the answer is either a model
or one MagnusError with a clear line, never another exception."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magnus_core.errors import MagnusError
from magnus_core.loading import load_config, load_pipeline
from magnus_core.parameters import initial_parameters, parse_cli_args
from magnus_core.stores.file_system import load_run_log

# 200 examples per property in CI (about 15 s of CPU for the file); MAGNUS_HYPOTHESIS_EXAMPLES=1000 for the
# full count (70 s of CPU)
EXAMPLES = int(os.environ.get("MAGNUS_HYPOTHESIS_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMES = st.sampled_from(
    [
        "dag",
        "start_at",
        "steps",
        "type",
        "next",
        "on_failure",
        "command",
        "command_type",
        "retry",
        "catalog",
        "get",
        "put",
        "branches",
        "branch",
        "iterate_on",
        "iterate_as",
        "dag_definition",
        "success",
        "fail",
        "a",
        "b",
        "a.b",
        "x%y",
        "task",
        "as-is",
        "stub",
        "parallel",
        "map",
        "max_time",
        "description",
        "secrets",
        "mode",
        "run_log_store",
        "config",
        "compute_data_folder",
        "command_config",
        "mode_config",
    ]
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12), NAMES
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(NAMES, kids, max_size=5)),
    max_leaves=30,
)


def _node() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["task", "as-is", "stub", "success", "fail", "parallel", "map", "dag", "bogus"]
            )
        },
        optional={
            "next": NAMES,
            "on_failure": NAMES,
            "command": st.sampled_from(["os.getcwd", "nope.nope", "", "lambda x: x", "echo hi"]),
            "command_type": st.sampled_from(["python", "shell", "python-lambda", "notebook", "sql"]),
            "retry": st.one_of(st.integers(-2, 5), st.text(max_size=3)),
            "catalog": st.dictionaries(
                st.sampled_from(["get", "put", "compute_data_folder"]),
                st.one_of(
                    st.lists(st.sampled_from(["*.csv", "../x", "/etc/passwd", "a/**"]), max_size=3),
                    st.text(max_size=5),
                ),
                max_size=3,
            ),
            "branches": st.dictionaries(NAMES, VALUES, max_size=2),
            "branch": VALUES,
            "iterate_on": NAMES,
            "iterate_as": NAMES,
            "dag_definition": st.text(max_size=10),
            "typo": SCALARS,
        },
    )


DAGS = st.fixed_dictionaries(
    {
        "start_at": st.one_of(NAMES, SCALARS),
        "steps": st.one_of(st.dictionaries(NAMES, _node(), max_size=6), VALUES),
    },
    optional={"description": SCALARS, "max_time": SCALARS, "secrets": VALUES},
)
PIPELINES = st.one_of(
    st.fixed_dictionaries({"dag": DAGS}, optional={"mode": VALUES, "catalog": VALUES}), VALUES
)


def _write(text: str | bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "wb") as handle:
        handle.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return Path(name)


def _dump(value: object) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return json.dumps(value, default=str)


def _check(call, path: Path) -> None:
    try:
        call(path)
    except MagnusError as exc:
        text = str(exc)
        assert (text and "\n" not in text.strip()) or "problems" in text, text
        assert "Traceback" not in text
    finally:
        path.unlink(missing_ok=True)


@SETTINGS
@given(PIPELINES)
def test_pipeline_files_load_or_fail_clearly(data) -> None:
    _check(load_pipeline, _write(_dump(data)))


@SETTINGS
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_garbage_pipeline_text_fails_clearly(text) -> None:
    _check(load_pipeline, _write(text))


@SETTINGS
@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(
                ["mode", "executor", "run_log_store", "catalog", "secrets", "defaults", "extensions", "other"]
            ),
            st.one_of(
                VALUES, st.fixed_dictionaries({"type": NAMES}, optional={"config": VALUES, "extra": SCALARS})
            ),
            max_size=4,
        ),
        VALUES,
    )
)
def test_config_files_load_or_fail_clearly(data) -> None:
    from magnus_core.executors import make_executor
    from magnus_core.secrets import make_secrets
    from magnus_core.stores import make_store

    def load(path: Path) -> None:
        blocks = load_config(str(path), None, cwd=path.parent)
        make_store(blocks["run_log_store"])
        make_executor(blocks["executor"])
        if blocks["secrets"]["type"] != "dotenv":
            make_secrets(blocks["secrets"])

    _check(load, _write(_dump(data)))


@SETTINGS
@given(VALUES)
def test_parameter_files_load_or_fail_clearly(data) -> None:
    _check(lambda p: initial_parameters(str(p), {}, environ={}), _write(_dump(data)))


@SETTINGS
@given(
    st.lists(
        st.one_of(st.text(max_size=8), st.sampled_from(["--x", "--", "-x", "--a=1", "--b", "3"])), max_size=6
    )
)
def test_cli_parameters_parse_or_fail_clearly(args) -> None:
    try:
        parse_cli_args(args)
    except MagnusError as exc:
        assert str(exc)


RUN_LOG_KEYS = st.sampled_from(
    [
        "run_id",
        "dag_hash",
        "use_cached",
        "tag",
        "original_run_id",
        "status",
        "steps",
        "parameters",
        "run_config",
        "name",
        "internal_name",
        "attempts",
        "branches",
        "data_catalog",
        "code_identities",
        "user_defined_metrics",
    ]
)
RUN_LOG_VALUES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(RUN_LOG_KEYS, kids, max_size=6)),
    max_leaves=40,
)


@SETTINGS
@given(
    st.one_of(
        st.fixed_dictionaries(
            {"run_id": SCALARS},
            optional={
                "steps": st.dictionaries(
                    NAMES, st.dictionaries(RUN_LOG_KEYS, RUN_LOG_VALUES, max_size=6), max_size=3
                ),
                "status": SCALARS,
                "parameters": RUN_LOG_VALUES,
            },
        ),
        RUN_LOG_VALUES,
    )
)
def test_run_logs_load_or_fail_clearly(data) -> None:
    _check(load_run_log, _write(json.dumps(data, default=str)))


@SETTINGS
@given(st.binary(max_size=300))
def test_garbage_run_log_bytes_fail_clearly(data) -> None:
    _check(load_run_log, _write(data))
