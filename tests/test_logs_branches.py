"""`magnus logs RUN BRANCH`: a parallel's branch (`fan.B`) or a map's item (`each.c`) shows the output of
the steps in it, in the order they ran, as a composite step's name does (trial 10, fault 11: `magnus logs R
fan.B` was refused with `did you mean fan, fan.B.wb, fan.C.sh?`). Real runs in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = """
def say(text):
    print(text)


def a():
    say("a says hi")


def b1():
    say("b1 first")


def b2():
    say("b2 second")
    raise RuntimeError("b2 broke")


def work(item):
    say(f"item {item}")
"""

PIPELINE = """
dag:
  start_at: each
  steps:
    each:
      type: map
      iterate_on: items
      iterate_as: item
      branch:
        start_at: work
        steps:
          work: {type: task, command: steps.work, next: success}
          success: {type: success}
          fail: {type: fail}
      next: fan
    fan:
      type: parallel
      branches:
        A:
          start_at: a
          steps:
            a: {type: task, command: steps.a, next: success}
            success: {type: success}
            fail: {type: fail}
        B:
          start_at: b1
          steps:
            b1: {type: task, command: steps.b1, next: b2}
            b2: {type: task, command: steps.b2, next: success}
            success: {type: success}
            fail: {type: fail}
      next: success
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("branches")
    (folder / "steps.py").write_text(STEPS)
    (folder / "p.yaml").write_text(PIPELINE)
    (folder / "items.yaml").write_text("items: [a, b, c]\n")
    (folder / "one.yaml").write_text("items: [solo]\n")
    for run_id, params in (("r", "items.yaml"), ("one", "one.yaml")):
        done = run_magnus("execute", "-f", "p.yaml", "-p", params, "--run-id", run_id, cwd=folder)
        assert done.returncode == 1, done.stdout + done.stderr  # fan.B.b2 fails
    return folder


def test_a_parallel_branch_shows_its_steps_in_order(project: Path) -> None:
    shown = run_magnus("logs", "r", "fan.B", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(
        "==> fan.B.b1 (attempt 0) <==\nb1 first\n==> fan.B.b2 (attempt 0) <==\nb2 second\nTraceback"
    ), shown.stdout
    assert "a says hi" not in shown.stdout and "item" not in shown.stdout
    assert "magnus: fan.B.b2 (attempt 0) failed: RuntimeError: b2 broke, at steps.py:" in shown.stderr
    alone = run_magnus("logs", "r", "fan.A", cwd=project)  # a branch of one step: its output as written
    assert (alone.returncode, alone.stdout) == (0, "a says hi\n"), alone.stderr


def test_a_map_item_shows_its_steps(project: Path) -> None:
    shown = run_magnus("logs", "r", "each.c", cwd=project)
    assert (shown.returncode, shown.stdout) == (0, "item c\n"), shown.stderr
    data = json.loads(run_magnus("logs", "r", "each.b", "--json", cwd=project).stdout)
    assert [(a["step"], a["text"]) for a in data["attempts"]] == [("each.b.work", "item b\n")]


def test_the_item_placeholder_names_the_one_item_or_asks_for_one(project: Path) -> None:
    solo = run_magnus("logs", "one", "each.map_variable_placeholder", cwd=project)
    assert (solo.returncode, solo.stdout) == (0, "item solo\n"), solo.stderr
    several = run_magnus("logs", "r", "each.map_variable_placeholder", cwd=project)
    assert several.returncode == 2
    assert "stands for each map item in run 'r': name one (each.a, each.b, each.c)" in several.stderr


def test_following_a_branch_of_a_run_that_ended(project: Path) -> None:
    followed = run_magnus("logs", "r", "fan.B", "--follow", cwd=project, timeout=60)
    assert followed.returncode == 1  # the run's outcome
    assert followed.stdout.startswith("==> fan.B.b1 (attempt 0) <==\nb1 first\n==> fan.B.b2"), followed.stdout
    assert "run r ended FAIL: fan.B.b2: RuntimeError: b2 broke" in followed.stderr


def test_a_mistyped_branch_is_offered_with_the_branches(project: Path) -> None:
    wrong = run_magnus("logs", "r", "fan.b", cwd=project)
    assert wrong.returncode == 2 and "has no step 'fan.b'; did you mean fan.B" in wrong.stderr, wrong.stderr
    far = run_magnus("logs", "r", "nosuch", cwd=project)
    assert far.returncode == 2
    assert "(steps and branches: each, each.a, each.a.work, each.a.success, each.b," in far.stderr, far.stderr
