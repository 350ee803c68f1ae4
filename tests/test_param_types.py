"""Parameters against the annotations of the python functions taking them (trial8 finding 5): refused
before anything runs when given by hand, the step failing when a step made them, with one message naming
the source, the parameter, the function, what it expects and what it got."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pytest

from magnus_core.param_types import check_arguments, check_initial, fits
from tests.conftest import git, run_magnus

STEPS = """from __future__ import annotations

from typing import Optional


def prep(n: int = 3):
    return {"made": "abc", "items": [1, 2]}


def train(lr: float = 0.1, epochs: int = 2, name: str = "m", flags: Optional[list[int]] = None):
    return {"loss": lr * epochs}


def uses_made(made: float):
    return None


def per_item(item: str):
    return None
"""

PIPELINE = """
dag:
  start_at: prep
  steps:
    prep: {type: task, command: mlp.steps.prep, next: train}
    train: {type: task, command: mlp.steps.train, next: %s}
    made: {type: task, command: mlp.steps.uses_made, next: success}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: one
        steps:
          one: {type: task, command: mlp.steps.per_item, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "mlp").mkdir()
    (git_repo / "mlp" / "__init__.py").write_text("")
    (git_repo / "mlp" / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE % "made")
    (git_repo / "map.yaml").write_text(PIPELINE % "each")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "project")
    return git_repo


@pytest.mark.parametrize(
    ("value", "annotation", "verdict"),
    [
        (3, int, True), (True, int, False), (2.5, int, False), ("3", int, False),
        (3, float, True), (0.5, float, True), ("abc", float, False), (False, float, False),
        (True, bool, True), (1, bool, False), ("x", str, True), (3, str, False), (None, str, False),
        (None, Optional[int], True), (2, Optional[int], True), ("a", Optional[int], False),  # noqa: UP045 (the typing spelling, as user code writes it)
        (2, int | str, True), ("a", Union[int, str], True), ([1], int | str, False),  # noqa: UP007
        ([1, 2], list[int], True), ([1, "x"], list[int], False), ([1], list, True), ({}, list, False),
        ([1, "a"], tuple[int, str], True), ([1], tuple[int, str], False), ([1, 2], tuple[int, ...], True),
        ({"a": 1.5}, dict[str, float], True), ({"a": "b"}, dict[str, float], False), ([], dict, False),
        ("a", Literal["a", "b"], True), ("c", Literal["a", "b"], False), (1, Annotated[int, "x"], True),
        ("x", Any, None), ({"a": 1}, Path, None), ("x", "float", None),
    ],
)  # fmt: skip
def test_what_fits_an_annotation(value: Any, annotation: Any, verdict: bool | None) -> None:
    assert fits(value, annotation) is verdict


def test_only_the_parameters_a_function_takes_are_checked_with_their_source() -> None:
    def train(lr: float, epochs: int = 2, data: Any = None) -> None:
        pass

    found = check_initial(
        {"m.train": train}, {"lr": "abc", "epochs": 2, "data": "x", "other": "y"}, "--{}".format
    )
    assert len(found) == 1
    assert found[0].startswith("--lr: parameter 'lr': ")
    assert found[0].endswith(" train expects lr: float, got 'abc' (text)")
    assert check_initial({"m.train": train}, {"lr": "abc"}, "--{}".format, skip={"lr"}) == []
    assert check_arguments(train, {"lr": 1}) is None
    assert "expects epochs: int, got 2.5 (a number)" in (
        check_arguments(train, {"lr": 1, "epochs": 2.5}) or ""
    )


def test_a_parameter_given_by_hand_is_refused_before_anything_runs(project: Path) -> None:
    done = run_magnus("execute", "--file", "p.yaml", "--lr", "abc", cwd=project)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "Error: --lr: parameter 'lr': mlp/steps.py:10 train expects lr: float, got 'abc' (text)"
    )
    assert not (project / ".run_log_store").exists()  # nothing ran, nothing was written
    (project / "params.yaml").write_text("epochs: 2\nLR: fast\n")
    done = run_magnus("execute", "--file", "p.yaml", "-p", "params.yaml", "--name", "3", cwd=project,
                      env={"MAGNUS_PRM_EPOCHS": "2.5"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert line.startswith("Error: 3 problems: ") and "\n" not in line
    assert "params.yaml:2: parameter 'lr': mlp/steps.py:10 train expects lr: float, got 'fast' (text)" in line
    assert "MAGNUS_PRM_EPOCHS: parameter 'epochs': mlp/steps.py:10 train expects epochs: int, got 2.5" in line
    assert "--name: parameter 'name': mlp/steps.py:10 train expects name: str, got 3 (a number)" in line
    assert "flags" not in line


def test_a_parameter_a_step_made_fails_the_step_taking_it(project: Path) -> None:
    done = run_magnus("execute", "--file", "p.yaml", "--lr", "1", "--json", cwd=project)
    assert done.returncode == 1
    log = json.loads(done.stdout)
    assert log["steps"]["train"]["status"] == "SUCCESS"  # an int for a float fits, uncast
    made = log["steps"]["made"]
    assert made["status"] == "FAIL"
    assert (
        "parameter 'made': mlp/steps.py:14 uses_made expects made: float, got 'abc' (text)"
        in (made["attempts"][-1]["message"])
    )


def test_a_maps_item_is_checked_when_its_step_runs(project: Path) -> None:
    done = run_magnus("execute", "--file", "map.yaml", "--item", "given", "--json", cwd=project)
    assert done.returncode == 1, done.stderr  # the item, not the parameter it is set over, is checked
    log = json.loads(done.stdout)
    messages = [s["attempts"][-1]["message"] for b in log["steps"]["each"]["branches"].values()
                for s in b["steps"].values() if s["status"] == "FAIL"]  # fmt: skip
    assert any(
        "parameter 'item': mlp/steps.py:18 per_item expects item: str, got 1 (a number)" in m
        for m in messages
    )
