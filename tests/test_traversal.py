"""Traversal: success, the fail node, on_failure, retry (attempts numbered from 0, each with its message)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from magnus_core.models.run_log import FAIL, SUCCESS, RunLog
from magnus_core.runner import RunRequest, execute, prepare

FUNCTIONS = """
import os

def ok():
    return {"done": True}

def boom():
    raise RuntimeError("this step always fails")

def flaky(fail_times: int = 1):
    path = ".flaky_count"
    n = int(open(path).read()) if os.path.exists(path) else 0
    open(path, "w").write(str(n + 1))
    if n < fail_times:
        raise ValueError(f"attempt {n} fails")

def returns_list():
    return [1, 2]
"""


def module(repo: Path) -> str:
    """A fresh module of step functions (a unique name: modules stay imported between tests)."""
    name = f"trav_{uuid.uuid4().hex[:8]}"
    (repo / f"{name}.py").write_text(FUNCTIONS)
    return name


def run(repo: Path, dag_yaml: str, **request: object) -> RunLog:
    mod = module(repo)
    path = repo / "pipeline.yaml"
    path.write_text(textwrap.dedent(dag_yaml).replace("MOD", mod))
    return execute(prepare(RunRequest(file=str(path), **request)))  # type: ignore[arg-type]


def test_linear_run_reaches_success(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.ok, next: b}
            b: {type: as-is, next: c}
            c: {type: stub, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert log.status == SUCCESS
    assert list(log.steps) == ["a", "b", "c", "success"]
    assert all(s.status == SUCCESS for s in log.steps.values())
    assert log.steps["c"].step_type == "as-is"  # stub is recorded as as-is, like the original
    assert log.parameters == {"done": True}


def test_failing_step_without_on_failure_goes_to_fail_node(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.boom, next: b}
            b: {type: task, command: MOD.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert log.status == FAIL
    assert list(log.steps) == ["a", "fail"]
    assert log.steps["a"].status == FAIL
    assert "this step always fails" in log.steps["a"].message
    assert log.steps["fail"].status == SUCCESS  # reaching the fail node succeeds; the run says FAIL


def test_on_failure_names_the_next_step(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.boom, next: success, on_failure: cleanup}
            cleanup: {type: task, command: MOD.ok, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert list(log.steps) == ["a", "cleanup", "success"]
    assert log.steps["a"].status == FAIL
    assert log.status == SUCCESS  # the failure was handled and the success node reached


def test_on_failure_can_lead_to_the_fail_node(git_repo: Path) -> None:
    # The original's failure.yaml: flaky (retry 2) -> boom -(on_failure)-> cleanup -> fail.
    log = run(
        git_repo,
        """
        dag:
          start_at: flaky
          steps:
            flaky: {type: task, command: MOD.flaky, retry: 2, next: boom}
            boom: {type: task, command: MOD.boom, on_failure: cleanup, next: success}
            cleanup: {type: as-is, next: fail}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert log.status == FAIL
    assert [(k, s.status) for k, s in log.steps.items()] == [
        ("flaky", SUCCESS),
        ("boom", FAIL),
        ("cleanup", SUCCESS),
        ("fail", SUCCESS),
    ]


def test_retry_records_every_attempt_numbered_from_zero(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.flaky, retry: 3, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
        parameters={"fail_times": 2},
    )
    step = log.steps["a"]
    assert step.status == SUCCESS
    assert [a.attempt_number for a in step.attempts] == [0, 1, 2]
    assert [a.status for a in step.attempts] == [FAIL, FAIL, SUCCESS]
    assert step.attempts[0].message == "ValueError: attempt 0 fails"
    assert step.attempts[1].message == "ValueError: attempt 1 fails"
    assert step.attempts[2].message == ""
    for a in step.attempts:
        assert a.start_time <= a.end_time and a.duration.startswith("0:00:")
    assert step.attempts[0].end_time <= step.attempts[1].start_time
    assert step.message == ""


def test_retry_exhausted_fails_with_the_last_attempts_message(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.flaky, retry: 2, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
        parameters={"fail_times": 5},
    )
    step = log.steps["a"]
    assert step.status == FAIL and log.status == FAIL
    assert [a.attempt_number for a in step.attempts] == [0, 1]
    assert step.message == "ValueError: attempt 1 fails"


def test_without_retry_there_is_one_attempt(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.boom, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert [a.attempt_number for a in log.steps["a"].attempts] == [0]


def test_returning_something_other_than_a_dict_fails_the_step(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command: MOD.returns_list, next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert log.status == FAIL
    assert "returned list" in log.steps["a"].message


def test_shell_exit_code_decides(git_repo: Path) -> None:
    log = run(
        git_repo,
        """
        dag:
          start_at: a
          steps:
            a: {type: task, command_type: shell, command: "exit 3", next: success, on_failure: b}
            b: {type: task, command_type: shell, command: "true", next: success}
            success: {type: success}
            fail: {type: fail}
        """,
    )
    assert log.steps["a"].status == FAIL
    assert "exited with code 3" in log.steps["a"].message
    assert log.steps["b"].status == SUCCESS and log.status == SUCCESS


@pytest.mark.parametrize("command_type", ["python", "shell"])
def test_every_step_has_the_same_code_identity(git_repo: Path, command_type: str) -> None:
    command = "MOD.ok" if command_type == "python" else "true"
    log = run(
        git_repo,
        f"""
        dag:
          start_at: a
          steps:
            a: {{type: task, command_type: {command_type}, command: "{command}", next: success}}
            success: {{type: success}}
            fail: {{type: fail}}
        """,
    )
    ids = {s.code_identities[0].code_identifier for s in log.steps.values()}
    assert len(ids) == 1 and len(next(iter(ids))) == 40
