"""Metrics: track_this and MAGNUS_TRACK_* (python and shell steps), lower-cased, numbers kept numbers, cleared
after each step; get_run_id, get_tag and MAGNUS_RUN_ID inside steps."""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.models.run_log import SUCCESS, RunLog
from magnus_core.runner import RunRequest, execute, prepare

FUNCTIONS = """
import json, os
from magnus import track_this, get_run_id, get_tag

def tracks():
    track_this(Variance=0.6, count=3, label="best", nested={"a": [1, 2]})
    os.environ["MAGNUS_TRACK_Beta"] = "0.2"
    os.environ["MAGNUS_TRACK_words"] = "not a number"
    os.environ["MAGNUS_TRACK_int"] = "7"

def quiet():
    return None

def explicit_wins():
    os.environ["MAGNUS_TRACK_score"] = "1"
    track_this(score=2)

def ids():
    with open("ids.json", "w") as f:
        json.dump({"run_id": get_run_id(), "tag": get_tag(), "env": os.environ.get("MAGNUS_RUN_ID")}, f)
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("MAGNUS_PRM_", "MAGNUS_TRACK_", "MAGNUS_RUN_"))]:
        monkeypatch.delenv(key)


def run(repo: Path, steps: str, **request: object) -> RunLog:
    mod = f"met_{uuid.uuid4().hex[:8]}"
    (repo / f"{mod}.py").write_text(FUNCTIONS)
    body = textwrap.indent(textwrap.dedent(steps).replace("MOD", mod).strip(), " " * 4)
    (repo / "pipeline.yaml").write_text(
        f"dag:\n  start_at: s1\n  steps:\n{body}\n    success: {{type: success}}\n    fail: {{type: fail}}\n"
    )
    return execute(prepare(RunRequest(file=str(repo / "pipeline.yaml"), **request)))  # type: ignore[arg-type]


def test_python_step_metrics_from_track_this_and_environment(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.tracks, next: s2}
        s2: {type: task, command: MOD.quiet, next: success}
        """,
    )
    assert log.status == SUCCESS
    metrics = log.steps["s1"].user_defined_metrics
    assert metrics == {
        "variance": 0.6,
        "count": 3,
        "label": "best",
        "nested": {"a": [1, 2]},
        "beta": 0.2,
        "words": "not a number",
        "int": 7,
    }
    assert isinstance(metrics["int"], int) and isinstance(metrics["beta"], float)
    # Cleared after the step: nothing leaks into the next step's log or the environment.
    assert log.steps["s2"].user_defined_metrics == {}
    assert not [k for k in os.environ if k.startswith("MAGNUS_TRACK_")]


def test_shell_step_metrics_from_exported_variables(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1:
          type: task
          command_type: shell
          command: 'export MAGNUS_TRACK_Accuracy=0.93; export MAGNUS_TRACK_rows=120; export MAGNUS_TRACK_who=me'
          next: s2
        s2: {type: task, command_type: shell, command: 'true', next: success}
        """,
    )
    assert log.steps["s1"].user_defined_metrics == {"accuracy": 0.93, "rows": 120, "who": "me"}
    assert log.steps["s2"].user_defined_metrics == {}


def test_shell_step_does_not_inherit_tracking_variables_of_the_environment(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGNUS_TRACK_stale", "1")
    log = run(
        git_repo,
        """
        s1: {type: task, command_type: shell, command: 'true', next: success}
        """,
    )
    assert log.steps["s1"].user_defined_metrics == {}


def test_python_step_does_not_record_tracking_variables_set_before_the_run(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGNUS_TRACK_stale", "1")
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.quiet, next: success}
        """,
    )
    assert log.steps["s1"].user_defined_metrics == {}
    assert os.environ["MAGNUS_TRACK_stale"] == "1"  # the user's environment is left as it was


def test_track_this_wins_over_the_environment_for_one_name(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.explicit_wins, next: success}
        """,
    )
    assert log.steps["s1"].user_defined_metrics == {"score": 2}


def test_metrics_of_a_failed_step_are_not_recorded_as_its_result(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command_type: shell, command: 'export MAGNUS_TRACK_x=1; exit 1', next: success}
        """,
    )
    assert log.steps["s1"].status == "FAIL"
    assert log.steps["s1"].user_defined_metrics == {}


def test_run_id_and_tag_inside_python_and_shell_steps(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        s1: {type: task, command: MOD.ids, next: s2}
        s2:
          type: task
          command_type: shell
          command: 'echo "$MAGNUS_RUN_ID" > shell_id.txt'
          next: success
        """,
        tag="nightly",
        run_id="my-run-1",
    )
    assert log.status == SUCCESS
    ids = json.loads((git_repo / "ids.json").read_text())
    assert ids == {"run_id": "my-run-1", "tag": "nightly", "env": "my-run-1"}
    assert (git_repo / "shell_id.txt").read_text().strip() == "my-run-1"
    assert "MAGNUS_RUN_ID" not in os.environ  # restored after the run


def test_get_run_id_outside_a_step_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from magnus import get_run_id, get_tag, track_this

    monkeypatch.setenv("MAGNUS_RUN_ID", "outside")
    monkeypatch.setenv("MAGNUS_RUN_TAG", "t")
    assert get_run_id() == "outside" and get_tag() == "t"
    track_this(Loss=0.5)  # in a child process of a step: goes to the environment for magnus to collect
    assert os.environ["MAGNUS_TRACK_Loss"] == "0.5"
    monkeypatch.delenv("MAGNUS_TRACK_Loss")


NON_FINITE = """
from magnus import track_this


def diverges():
    for epoch in range(1, 4):
        track_this(step=epoch, loss=float("nan"))  # a series of NaN: one warning
    track_this(best=float("inf"), nested={"a": [1, float("-inf")]}, fine=0.5)
"""


def test_a_nan_or_infinite_metric_is_kept_as_null_with_one_warning_per_metric(git_repo: Path) -> None:
    from tests.conftest import run_magnus

    (git_repo / "nonfinite.py").write_text(NON_FINITE)
    (git_repo / "p.yaml").write_text(
        "dag:\n  start_at: py\n  steps:\n"
        "    py: {type: task, command: nonfinite.diverges, next: sh}\n"
        "    sh: {type: task, command_type: shell, command: 'export MAGNUS_TRACK_ratio=NaN', next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    result = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "which a run log (JSON) cannot hold" in line]
    assert len(warnings) == 4, result.stderr  # loss, best, nested (py) and ratio (sh): once each
    assert any("step py: metric 'loss' is nan" in line for line in warnings)
    assert any("step py: metric 'best' is inf" in line for line in warnings)
    assert any("step py: metric 'nested' is -inf" in line for line in warnings)
    assert any("step sh: metric 'ratio' is nan" in line for line in warnings)
    assert not any("'fine'" in line for line in warnings)
    steps = json.loads((git_repo / ".run_log_store" / "r.json").read_text())["steps"]
    assert steps["py"]["user_defined_metrics"] == {
        "loss": None,
        "best": None,
        "nested": {"a": [1, None]},
        "fine": 0.5,
    }
    assert [p["value"] for p in steps["py"]["metric_history"]["loss"]] == [None, None, None]
    assert steps["sh"]["user_defined_metrics"] == {"ratio": None}
