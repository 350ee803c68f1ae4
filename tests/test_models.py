"""The pydantic models: pipeline nodes (strict) and the run log (field names and order of the original)."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from magnus_core.errors import MagnusError, PipelineError, StepError, UsageError
from magnus_core.models.pipeline import AsIsNode, CatalogSettings, Dag, Node, PipelineFile, TaskNode
from magnus_core.models.run_log import (
    SCHEMA_VERSION,
    BranchLog,
    CodeIdentity,
    DataCatalog,
    RunLog,
    StepAttempt,
    StepLog,
)
from tests.conftest import FIXTURES, ORIGINAL

NODE = TypeAdapter(Node)


# -- pipeline --------------------------------------------------------------------------------------
def test_task_defaults() -> None:
    node = NODE.validate_python({"type": "task", "command": "m.f", "next": "b"})
    assert isinstance(node, TaskNode)
    assert node.command_type == "python" and node.retry == 1 and node.attempts == 1
    assert node.on_failure is None and node.catalog is None and node.neighbours() == ["b"]


def test_retry_zero_still_makes_one_attempt() -> None:
    node = NODE.validate_python({"type": "task", "command": "m.f", "next": "b", "retry": 0})
    assert node.attempts == 1


@pytest.mark.parametrize("kind", ["as-is", "stub"])
def test_as_is_and_stub(kind: str) -> None:
    node = NODE.validate_python({"type": kind, "next": "b", "on_failure": "c", "command": "ignored"})
    assert isinstance(node, AsIsNode) and node.neighbours() == ["b", "c"]


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "task", "command": "m.f", "next": "b", "nxt": "c"},  # a typo
        {"type": "task", "command": "m.f"},  # next is required
        {"type": "task", "next": "b"},  # command is required
        {"type": "task", "command": "  ", "next": "b"},  # and not empty
        {"type": "task", "command": "m.f", "next": "b", "command_type": "r"},  # unknown command type
        {"type": "task", "command": "m.f", "next": "b", "retry": -1},
        {"type": "sucess"},  # unknown node type
        {"type": "success", "next": "x"},  # terminal nodes have no next
        {"next": "b"},  # no type
    ],
)
def test_bad_nodes_are_refused(raw: dict) -> None:
    with pytest.raises(ValidationError):
        NODE.validate_python(raw)


@pytest.mark.parametrize(
    "field, value",
    [
        ("get", ["/etc/passwd"]),
        ("put", ["../outside/*"]),
        ("get", [""]),
        ("compute_data_folder", "/abs"),
    ],
)
def test_catalog_paths_stay_inside_the_project(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        CatalogSettings.model_validate({field: value})


def test_catalog_settings_parse() -> None:
    settings = CatalogSettings.model_validate(
        {"get": ["*.csv"], "put": ["out/*"], "compute_data_folder": "d"}
    )
    assert settings.get == ["*.csv"] and settings.put == ["out/*"] and settings.compute_data_folder == "d"


def test_dag_terminal_nodes() -> None:
    dag = Dag.model_validate(
        {
            "start_at": "a",
            "steps": {
                "a": {"type": "as-is", "next": "ok"},
                "ok": {"type": "success"},
                "ko": {"type": "fail"},
            },
        }
    )
    assert dag.success_node == "ok" and dag.fail_node == "ko" and dag.max_time == 86400


def test_pipeline_file_accepts_config_blocks_and_nothing_else() -> None:
    base = {"dag": {"start_at": "s", "steps": {"s": {"type": "success"}, "f": {"type": "fail"}}}}
    PipelineFile.model_validate({**base, "mode": {"type": "local"}, "run_log_store": {"type": "buffered"}})
    with pytest.raises(ValidationError):
        PipelineFile.model_validate({**base, "dagg": {}})


# -- run log ---------------------------------------------------------------------------------------
def test_run_log_field_order_matches_the_original() -> None:
    original = json.loads((ORIGINAL / "run_logs" / "gs_run.json").read_text())
    step = next(iter(original["steps"].values()))
    # `masked_parameters` (issue 17) is ours, last, and absent from the JSON when empty
    assert list(RunLog.model_fields) == [*original, "masked_parameters"]
    assert (
        "masked_parameters"
        not in RunLog(run_id="r", steps={"a": StepLog(name="a", internal_name="a")}).model_dump_json()
    )
    # `metric_history` is ours (series of track_this(step=N)), written last and only when a step has one
    # `returned_parameters` is ours too (what the step committed with its SUCCESS), only when it has some;
    # and `start_time`, when the step began (the attempt in progress starts there: running_attempt);
    # `process`, the per-step entry point's process running the step (trial 15 N8), only when recorded
    assert list(StepLog.model_fields) == [
        *step,
        "metric_history",
        "returned_parameters",
        "masked_parameters",
        "start_time",
        "process",
    ]
    # `parameters` is magnus 0.4's addition, written after `message` as 0.4.22 writes it; `error` and
    # `output` are ours (a located failure, where the captured output is), after everything else
    ours = ["error", "output"]
    assert list(StepAttempt.model_fields) == [*step["attempts"][0], "parameters", *ours]
    v04 = json.loads((FIXTURES / "peer-runs" / "s11-rerun" / "v0.4.22" / "rerun-1.json").read_text())
    assert list(StepAttempt.model_fields) == [*next(iter(v04["steps"].values()))["attempts"][0], *ours]
    assert list(CodeIdentity.model_fields) == list(step["code_identities"][0])
    data = json.loads((ORIGINAL / "run_logs" / "data_run.json").read_text())
    entry = next(s for s in data["steps"].values() if s["data_catalog"])["data_catalog"][0]
    assert list(DataCatalog.model_fields) == list(entry)
    composite = json.loads((ORIGINAL / "run_logs" / "composite_run.json").read_text())
    branch = next(iter(composite["steps"]["parallel step"]["branches"].values()))
    assert list(BranchLog.model_fields) == list(branch)


def test_unknown_fields_are_kept() -> None:
    log = RunLog.model_validate(
        {
            "run_id": "r",
            "future_field": {"x": 1},
            "steps": {"a": {"name": "a", "internal_name": "a", "extra": True}},
        }
    )
    dumped = log.model_dump(mode="json")
    assert dumped["future_field"] == {"x": 1} and dumped["steps"]["a"]["extra"] is True


def _nested() -> RunLog:
    inner = StepLog(name="x", internal_name="p.b.x", status="SUCCESS")
    branch = BranchLog(internal_name="p.b", status="SUCCESS", steps={"p.b.x": inner})
    return RunLog(
        run_id="r",
        steps={
            "a": StepLog(name="a", internal_name="a"),
            "p": StepLog(name="p", internal_name="p", step_type="parallel", branches={"p.b": branch}),
            "z": StepLog(name="z", internal_name="z"),
        },
    )


def test_walk_is_depth_first_in_execution_order() -> None:
    assert [s.internal_name for s in _nested().walk()] == ["a", "p", "p.b.x", "z"]


def test_find_step_and_branch_by_internal_name() -> None:
    log = _nested()
    assert log.find_step("p.b.x").name == "x"
    assert log.find_branch("p.b").status == "SUCCESS"
    assert log.find_step("nope") is None and log.find_branch("nope") is None


def test_schema_version_is_an_int() -> None:
    assert isinstance(SCHEMA_VERSION, int) and SCHEMA_VERSION >= 1


# -- errors ----------------------------------------------------------------------------------------
def test_error_messages_name_file_step_and_field() -> None:
    err = UsageError("expected a mapping", file="p.yaml", step="a", field="next")
    assert str(err) == "p.yaml: step 'a': field 'next': expected a mapping"
    assert err.exit_code == 2 and isinstance(err, MagnusError)
    assert StepError("x").exit_code == 1
    many = PipelineError(["one", "two"], file="p.yaml")
    assert str(many) == "p.yaml: 2 problems: one; two" and many.problems == ["one", "two"]
