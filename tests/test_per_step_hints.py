"""Every command the per-step entry points print in a refusal works as typed (session 9, fault 3).

`magnus execute_single_node` and `magnus fan` (what Argo's pods run, and what a user types to run a step
by hand) refuse a composite given as a task, a task given to fan, a fan-in before its fan-out and a step of
a branch not fanned out, each naming the command to run instead. Those commands carried neither the
`--file` nor the `--config-file` (nor the `--map-variable`) the user gave, so on any pipeline not named
pipeline.yaml or store not the default they failed as printed, and one read `--mode out|in`, which a shell
takes for a pipe. Each test runs the real command line in a subprocess, in a temporary git repository, then
runs the printed command as typed (shlex.split) and the refused command again."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

STEPS = """
def prepare():
    print("prepared")


def add(item):
    print(f"add {item}")


def work(x):
    print(f"work {x}")
"""

PIPELINE = """
dag:
  start_at: prepare
  steps:
    prepare: {type: task, command: steps.prepare, next: each}
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: par
      branch:
        start_at: add
        steps:
          add: {type: task, command: steps.add, next: success}
          success: {type: success}
          fail: {type: fail}
    par:
      type: parallel
      next: success
      branches:
        A:
          start_at: inner
          steps:
            inner:
              type: map
              iterate_on: items
              iterate_as: x
              next: success
              branch:
                start_at: w
                steps:
                  w: {type: task, command: steps.work, next: success}
                  success: {type: success}
                  fail: {type: fail}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

BASE = ("-f", "pipes/p.yaml", "-c", "shared.yaml")


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "pipes").mkdir()
    (git_repo / "pipes" / "p.yaml").write_text(PIPELINE)
    (git_repo / "params.yaml").write_text("items: [a, b]\n")
    (git_repo / "shared.yaml").write_text(
        "run_log_store: {type: chunked-fs, config: {log_folder: shared runs}}\n"
        "catalog: {type: file-system, config: {catalog_location: shared catalog}}\n"
    )
    return git_repo


def _refused(magnus: Any, *args: str) -> str:
    """Run a command that is refused (exit 2); the one command its message names, between backticks."""
    done = magnus(*args)
    assert done.returncode == 2, (args, done.stderr)
    commands = re.findall(r"`(magnus [^`]*)`", done.stderr)
    assert len(commands) == 1, done.stderr
    assert "|" not in commands[0], commands[0]  # (a shell reads `--mode out|in` as a pipe)
    return commands[0]


def _as_typed(magnus: Any, command: str) -> Any:
    words = shlex.split(command)
    assert words[0] == "magnus", command
    done = magnus(*words[1:])
    assert done.returncode == 0, (command, done.stderr)
    return done


def test_a_step_of_a_run_not_created_yet_names_the_fan_out_that_creates_it(
    project: Path, magnus: Any
) -> None:
    step = (
        "execute_single_node",
        "r1",
        "each.map_variable_placeholder.add",
        "--map-variable",
        '{"item": "a"}',
    )
    hint = _refused(magnus, *step, *BASE, "-p", "params.yaml")
    assert hint == (
        "magnus fan r1 each --mode out --file pipes/p.yaml --config-file shared.yaml --parameters-file params.yaml"
    )
    assert _as_typed(magnus, hint).stdout.strip() == '["{\\"item\\": \\"a\\"}", "{\\"item\\": \\"b\\"}"]'
    assert "add a" in _as_typed(magnus, shlex.join(["magnus", *step, *BASE])).stdout  # the step now runs


def test_each_refusal_of_a_run_names_a_command_that_works(project: Path, magnus: Any) -> None:
    assert magnus("execute_single_node", "r2", "prepare", *BASE, "-p", "params.yaml").returncode == 0
    assert magnus("fan", "r2", "each", "--mode", "out", *BASE).returncode == 0
    item = ("--map-variable", '{"item": "a"}')
    assert (
        magnus("execute_single_node", "r2", "each.map_variable_placeholder.add", *item, *BASE).returncode == 0
    )

    # a composite given as a task: its fan-out (then `--mode in`, said in words)
    hint = _refused(magnus, "execute_single_node", "r2", "each", *BASE)
    assert hint == "magnus fan r2 each --mode out --file pipes/p.yaml --config-file shared.yaml"
    _as_typed(magnus, hint)

    # a task given to fan: execute_single_node, with the item that names it
    hint = _refused(magnus, "fan", "r2", "each.map_variable_placeholder.add", "--mode", "in", *item, *BASE)
    assert hint == (
        'magnus execute_single_node r2 each.a.add --map-variable \'{"item": "a"}\' --file pipes/p.yaml '
        "--config-file shared.yaml"
    )
    assert "already succeeded" in _as_typed(magnus, hint).stderr

    # a fan-in before its fan-out
    hint = _refused(magnus, "fan", "r2", "par", "--mode", "in", *BASE)
    assert hint == "magnus fan r2 par --mode out --file pipes/p.yaml --config-file shared.yaml"
    _as_typed(magnus, hint)

    # a step of a branch not fanned out, inside a named branch: no item names the composite
    inner = (
        "execute_single_node",
        "r2",
        "par.A.inner.map_variable_placeholder.w",
        "--map-variable",
        '{"x": "b"}',
    )
    hint = _refused(magnus, *inner, *BASE)
    assert hint == "magnus fan r2 par.A.inner --mode out --file pipes/p.yaml --config-file shared.yaml"
    _as_typed(magnus, hint)
    assert "work b" in _as_typed(magnus, shlex.join(["magnus", *inner, *BASE])).stdout
