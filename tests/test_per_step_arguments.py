"""The per-step commands' refusals name the command line's argument or option at fault (`argument STEP:`,
`argument RUN_ID:`, `option '--map-variable':`), as click and `magnus logs` do, never `field 'step'` as if
it were a field of a file (trials 8 and 9). Real commands in subprocesses; each refusal writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = "def ok():\n    print('ok')\n"
PIPELINE = """\
dag:
  start_at: par
  steps:
    par:
      type: parallel
      branches:
        b1:
          start_at: x
          steps:
            x: {type: task, command: steps.ok, next: success}
            success: {type: success}
            fail: {type: fail}
      next: each
    each:
      type: map
      iterate_on: items
      iterate_as: item
      branch:
        start_at: work
        steps:
          work: {type: task, command: steps.ok, next: success}
          success: {type: success}
          fail: {type: fail}
      next: last
    last: {type: task, command: steps.ok, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("perstep")
    (folder / "steps.py").write_text(STEPS)
    (folder / "p.yaml").write_text(PIPELINE)
    (folder / "params.yaml").write_text("items: [a, b]\n")
    done = run_magnus("execute", "-f", "p.yaml", "-p", "params.yaml", "--run-id", "done", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


REFUSED = {
    "a composite run as a task": (
        ["execute_single_node", "new1", "par"],
        "Error: argument STEP: step 'par' is a parallel node: fan it out with `magnus fan new1 par --mode out "
        "--file p.yaml`, run its branches, then fan it in: the same command with `--mode in`",
    ),
    "a task fanned": (
        ["fan", "new2", "last", "--mode", "out"],
        "Error: argument STEP: step 'last' is a task node, not parallel, map, dag, conditional or loop",
    ),
    "a fan-in before its fan-out": (
        ["fan", "done", "par.b1.x", "--mode", "in"],
        "Error: argument STEP: step 'par.b1.x' is a task node",
    ),
    "a step of a finished run": (
        [
            "execute_single_node",
            "done",
            "each.map_variable_placeholder.work",
            "--map-variable",
            '{"item": "c"}',
        ],
        "Error: argument RUN_ID: run 'done' is already finished (SUCCESS); step 'each.c.work' cannot run in it",
    ),
    "a run id that cannot be a file name": (
        ["execute_single_node", "../up", "last"],
        "Error: argument RUN_ID: run id '../up' is not allowed",
    ),
    "a --map-variable that is not JSON": (
        ["execute_single_node", "new3", "each.map_variable_placeholder.work", "--map-variable", "{item"],
        "Error: option '--map-variable': not valid JSON",
    ),
    "a --map-variable that is not an object": (
        ["fan", "new4", "each", "--mode", "out", "--map-variable", "[1]"],
        "Error: option '--map-variable': expected a JSON object, got list",
    ),
    "a step not in the dag": (
        ["execute_single_node", "new5", "lats"],
        "Error: argument STEP: step 'lats' is not in the dag of p.yaml: no step 'lats'; did you mean last?",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refusal_names_the_argument_or_option(project: Path, case: str) -> None:
    args, expected = REFUSED[case]
    refused = run_magnus(*args, "-f", "p.yaml", cwd=project)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith(expected), refused.stderr
    assert "field '" not in refused.stderr
    made = sorted(p.stem for p in (project / ".run_log_store").glob("*.json"))
    assert made == ["done"]  # a usage error writes nothing


def test_the_fan_in_of_a_composite_not_fanned_out_names_the_argument(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    first = run_magnus(
        "execute_single_node", "fresh", "last", "-f", "p.yaml", cwd=tmp_path
    )  # makes run fresh
    assert first.returncode == 0, first.stderr
    refused = run_magnus("fan", "fresh", "par", "--mode", "in", "-f", "p.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "Error: argument STEP: step 'par' has not been fanned out: run `magnus fan fresh par --mode out "
        "--file p.yaml` first"
    ), refused.stderr


def test_help_and_click_name_the_argument_as_the_messages_do(project: Path) -> None:
    for command in ("execute_single_node", "fan"):
        shown = run_magnus(command, "--help", cwd=project)
        assert f"Usage: magnus {command} [OPTIONS] RUN_ID STEP" in shown.stdout
        missing = run_magnus(command, "r", cwd=project)
        assert missing.returncode == 2 and "Missing argument 'STEP'" in missing.stderr
