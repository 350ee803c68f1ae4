"""Metric histories: track_this(step=N, ...) and MAGNUS_TRACK_<N>_<name> record a series per metric in the
step log's `metric_history`, the last value stays in `user_defined_metrics`, the run log validates against
its JSON Schema, and `magnus diff` compares series by last value and length."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path

import jsonschema
import pytest

from magnus_core.interaction import StepScope, parse_track_variable, track_this
from magnus_core.models.run_log import SUCCESS, RunLog
from magnus_core.runner import RunRequest, execute, prepare
from tests.conftest import ORIGINAL, ROOT

FUNCTIONS = """
import os
from magnus import track_this

def train(epochs=3):
    for epoch in range(1, epochs + 1):
        track_this(step=epoch, loss=round(1.0 / epoch, 4), acc=epoch / 10)
    track_this(auc=0.91)

def env_series():
    os.environ["MAGNUS_TRACK_2_loss"] = "0.5"
    os.environ["MAGNUS_TRACK_1_loss"] = "0.9"
    os.environ["MAGNUS_TRACK_10_loss"] = "0.1"
    os.environ["MAGNUS_TRACK_plain"] = "3"

def from_zero(epochs=3):
    for epoch in range(epochs):  # the usual loop: epoch 0 is a point too
        track_this(step=epoch, loss=10 - epoch)
    os.environ["MAGNUS_TRACK_0_acc"] = "0.5"
    os.environ["MAGNUS_TRACK_1_acc"] = "0.6"

def bad_step():
    track_this(step=-1, loss=1)
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("MAGNUS_PRM_", "MAGNUS_TRACK_", "MAGNUS_RUN_"))]:
        monkeypatch.delenv(key)


def run(repo: Path, steps: str, **request: object) -> RunLog:
    mod = f"hist_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    body = textwrap.indent(textwrap.dedent(steps).replace("MOD", mod).strip(), " " * 4)
    (repo / "pipeline.yaml").write_text(
        f"dag:\n  start_at: s1\n  steps:\n{body}\n    success: {{type: success}}\n    fail: {{type: fail}}\n"
    )
    return execute(prepare(RunRequest(file=str(repo / "pipeline.yaml"), **request)))  # type: ignore[arg-type]


def series(log: RunLog, step: str, name: str) -> list[tuple[int, object]]:
    found = log.find_step(step)
    assert found is not None
    return [(p.step, p.value) for p in found.metric_history[name]]


def test_track_this_with_step_records_a_series_and_keeps_the_last_value(git_repo: Path) -> None:
    log = run(git_repo, "s1: {type: task, command: MOD.train, next: success}")
    assert log.status == SUCCESS
    step = log.find_step("s1")
    assert step is not None
    assert series(log, "s1", "loss") == [(1, 1.0), (2, 0.5), (3, 0.3333)]
    assert series(log, "s1", "acc") == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert step.user_defined_metrics == {"loss": 0.3333, "acc": 0.3, "auc": 0.91}
    assert "auc" not in step.metric_history  # a metric tracked without a step has no series
    times = [p.time for p in step.metric_history["loss"]]
    assert times == sorted(times) and all(t.startswith("20") for t in times)


def test_step_zero_given_explicitly_is_a_point(git_repo: Path) -> None:
    log = run(git_repo, "s1: {type: task, command: MOD.from_zero, next: success}")
    assert series(log, "s1", "loss") == [(0, 10), (1, 9), (2, 8)]
    assert series(log, "s1", "acc") == [(0, 0.5), (1, 0.6)]
    step = log.find_step("s1")
    assert step is not None and step.user_defined_metrics == {"loss": 8, "acc": 0.6}


def test_environment_series_are_ordered_by_step_number(git_repo: Path) -> None:
    log = run(git_repo, "s1: {type: task, command: MOD.env_series, next: success}")
    assert series(log, "s1", "loss") == [(1, 0.9), (2, 0.5), (10, 0.1)]  # 10 after 2: numbers, not text
    step = log.find_step("s1")
    assert step is not None
    assert step.user_defined_metrics == {"loss": 0.1, "plain": 3}


def test_shell_step_series_in_the_original_04_form(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1:
          type: task
          command_type: shell
          command: for e in 1 2 3; do export MAGNUS_TRACK_${e}_loss=$((10 - e)); done; export MAGNUS_TRACK_rows=7
          next: success
        """,
    )
    assert series(log, "s1", "loss") == [(1, 9), (2, 8), (3, 7)]
    step = log.find_step("s1")
    assert step is not None and step.user_defined_metrics == {"loss": 7, "rows": 7}


def test_a_bad_step_number_fails_the_step_with_a_clear_message(git_repo: Path) -> None:
    log = run(git_repo, "s1: {type: task, command: MOD.bad_step, next: success}")
    step = log.find_step("s1")
    assert step is not None and step.status == "FAIL"
    assert "step must be a whole number >= 0, got -1" in step.message


def test_outside_a_step_track_this_uses_the_04_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    track_this(step=4, Loss=0.25)
    track_this(auc=0.5)
    track_this(step=0, acc=0.1)
    assert os.environ.pop("MAGNUS_TRACK_4_Loss") == "0.25"
    assert os.environ.pop("MAGNUS_TRACK_auc") == "0.5"
    assert os.environ.pop("MAGNUS_TRACK_0_acc") == "0.1"
    assert parse_track_variable("MAGNUS_TRACK_4_Loss") == (4, "loss")
    assert parse_track_variable("MAGNUS_TRACK_loss_4") == (None, "loss_4")
    assert parse_track_variable("MAGNUS_TRACK_0_loss") == (0, "loss")
    assert parse_track_variable("MAGNUS_TRACK_") == (None, "")


def test_a_repeated_step_replaces_its_point() -> None:
    scope = StepScope(run_id="r", tag="", parameters={})
    scope.track("loss", 1.0, step=1)
    scope.track("loss", 0.8, step=1)
    scope.track("loss", 0.5, step=2)
    assert [(p["step"], p["value"]) for p in scope.history["loss"]] == [(1, 0.8), (2, 0.5)]


def test_a_repeated_step_is_found_among_many_and_any_step_is_taken() -> None:
    """Each point's place is kept (trial 17 F6: the series was searched at every point, 8,000 points of
    one metric took 6.6 s): a step repeated anywhere replaces its own point, and a step that cannot be a
    key (a list) is still matched along the series."""
    scope = StepScope(run_id="r", tag="", parameters={})
    for i in range(1000):
        scope.track("loss", float(i), step=i)
    scope.track("loss", -1.0, step=3)
    scope.track("loss", -2.0, step=999)
    series = scope.history["loss"]
    assert len(series) == 1000 and series[3]["value"] == -1.0 and series[999]["value"] == -2.0
    scope.track("odd", 1, step=[1, 2])  # type: ignore[arg-type]
    scope.track("odd", 2, step=[1, 2])  # type: ignore[arg-type]
    assert [p["value"] for p in scope.history["odd"]] == [2]


def test_logs_without_series_keep_the_original_shape(git_repo: Path) -> None:
    log = run(git_repo, "s1: {type: task, command: MOD.train, next: success}")
    data = json.loads(log.model_dump_json())
    assert "metric_history" in data["steps"]["s1"]
    assert "metric_history" not in data["steps"]["success"]  # no series: no key, as the original wrote


def test_run_logs_validate_against_the_run_log_schema(git_repo: Path) -> None:
    schema = json.loads((ROOT / "docs" / "run-log.schema.json").read_text())
    log = run(git_repo, "s1: {type: task, command: MOD.train, next: success}")
    jsonschema.validate(json.loads(log.model_dump_json()), schema)
    for path in sorted((ORIGINAL / "run_logs").glob("*.json")):  # the original tool's logs too
        jsonschema.validate(json.loads(path.read_text()), schema)
    bad = json.loads(log.model_dump_json())
    bad["steps"]["s1"]["metric_history"]["loss"][0]["step"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_diff_compares_series_by_last_value_and_length(git_repo: Path, magnus) -> None:
    run(git_repo, "s1: {type: task, command: MOD.train, next: success}", run_id="a")
    run(git_repo, "s1: {type: task, command: MOD.train, next: success}", run_id="b", parameters={"epochs": 5})
    result = magnus("diff", "a", "b", "--json", "--exit-code")
    assert result.returncode == 1, result.stderr
    changes = {c["key"]: c for c in json.loads(result.stdout)["groups"]["metrics"]["changes"]}
    assert changes["s1 › loss history › length"]["before"] == 3
    assert changes["s1 › loss history › length"]["after"] == 5
    assert changes["s1 › loss history › last"]["after"] == 0.2
