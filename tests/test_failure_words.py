"""How a failure is worded where a user reads it (trial 11): a shell step killed by a signal names the
signal (`killed by signal 9 (SIGKILL)`), never `at exit code -9` (Python's returncode convention, and "at"
reads as a place). Real runs of the command line in subprocesses, in a temporary git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

KILLED = """
dag:
  start_at: sh
  steps:
    sh: {type: task, command_type: shell, command: 'echo before; kill -9 $$', next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "killed.yaml").write_text(KILLED)
    return git_repo


def test_a_shell_step_killed_by_a_signal_names_it(project: Path, magnus: Any) -> None:
    ran = magnus("execute", "--file", "killed.yaml", "--run-id", "k1")
    assert ran.returncode == 1, ran.stderr
    assert "sh: shell command killed by signal 9 (SIGKILL)" in ran.stdout.splitlines(), ran.stdout
    assert "exit code -9" not in ran.stdout and "  at " not in ran.stdout, ran.stdout

    shown = magnus("show", "k1")
    assert "sh: shell command killed by signal 9 (SIGKILL)" in shown.stdout.splitlines(), shown.stdout
    assert "exit code -9" not in shown.stdout

    logs = magnus("logs", "k1", "sh")
    assert "exit code -9" not in logs.stdout + logs.stderr
    assert "killed by signal 9 (SIGKILL)" in logs.stdout + logs.stderr

    runs = json.loads(magnus("runs", "--json").stdout)
    (run,) = [r for r in runs["runs"]] if isinstance(runs, dict) else runs
    assert run["failure"] == "shell command killed by signal 9 (SIGKILL)", run

    log = json.loads((project / ".run_log_store" / "k1.json").read_text())
    error = log["steps"]["sh"]["attempts"][0]["error"]
    assert error["exit_code"] == -9  # (the run log keeps the number as subprocess gives it)
    assert error["message"] == "killed by signal 9 (SIGKILL)"


MAP = """
dag:
  start_at: each
  steps:
    each:
      type: map
      iterate_on: chunks
      iterate_as: chunk
      next: success
      branch:
        start_at: work
        steps:
          work: {type: task, command: steps.work, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""

STEPS = """
def work(chunk):
    print(f"working on {chunk}")
    if chunk == "b c":
        raise ValueError(f"bad chunk {chunk}")
"""


def test_a_failed_fan_in_says_which_branches_failed_and_where_to_look(project: Path, magnus: Any) -> None:
    (project / "map.yaml").write_text(MAP)
    (project / "steps.py").write_text(STEPS)
    (project / "params.yaml").write_text('chunks: ["a", "b c", "d"]\n')
    (project / "pod.yaml").write_text("run_log_store: {type: chunked-fs, config: {log_folder: shared}}\n")
    common = ("--file", "map.yaml", "--config-file", "pod.yaml")
    out = magnus("fan", "mrun", "each", "--mode", "out", *common, "-p", "params.yaml")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # (a fan-out that worked says nothing on stderr)
    for item in json.loads(out.stdout):
        step = "each.map_variable_placeholder.work"
        ran = magnus("execute_single_node", "mrun", step, *common, "--map-variable", item)
        assert ran.returncode == (1 if "b c" in item else 0), ran.stderr
        end = "each.map_variable_placeholder." + ("fail" if ran.returncode else "success")  # as Argo runs
        magnus("execute_single_node", "mrun", end, *common, "--map-variable", item)
    fan_in = magnus("fan", "mrun", "each", "--mode", "in", *common)
    assert fan_in.returncode == 1
    assert fan_in.stderr == (
        "magnus: each: 1 of 3 branches failed: each.b c; "
        "their output: magnus logs mrun each --config-file pod.yaml\n"
    ), fan_in.stderr
    shown = magnus("logs", "mrun", "each", "--config-file", "pod.yaml")  # the command, as printed
    assert "bad chunk b c" in shown.stdout + shown.stderr, shown

    again = magnus("fan", "mrun", "each", "--mode", "in", *common)  # a repeated fan-in says it again
    assert again.returncode == 1 and again.stderr == fan_in.stderr


def test_a_failed_fan_out_says_why(project: Path, magnus: Any) -> None:
    (project / "map.yaml").write_text(MAP)
    (project / "steps.py").write_text(STEPS)
    out = magnus("fan", "mrun2", "each", "--mode", "out", "--file", "map.yaml")  # no 'chunks' parameter
    assert out.returncode == 1
    assert out.stderr == (
        "magnus: each: field 'iterate_on': parameter 'chunks' is not set (known: none)\n"
    ), out.stderr


FAILING = """
dag:
  start_at: train
  steps:
    train: {type: task, command: steps.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""

TRAIN = """
def train():
    print("epoch 1")
    raise KeyError("z")
"""


def test_execute_json_says_the_failure_on_stderr_and_keeps_stdout_json(project: Path, magnus: Any) -> None:
    (project / "train.yaml").write_text(FAILING)
    (project / "steps.py").write_text(TRAIN)
    ran = magnus("execute", "--file", "train.yaml", "--json", "--run-id", "j1")
    assert ran.returncode == 1
    assert json.loads(ran.stdout)["status"] == "FAIL"  # stdout is the run log, whole and alone
    lines = ran.stderr.splitlines()
    start = lines.index("magnus: Run j1: FAIL")
    assert lines[start + 1 : start + 3] == [
        "magnus: train: KeyError: 'z'",
        "magnus:   at steps.py:4 in train",
    ]
    assert "magnus:   | epoch 1" in lines
    assert "magnus:   all of it: magnus logs j1 train" in lines
    assert lines[-1] == "Resume with: magnus execute --file train.yaml --use-cached j1"

    (project / "steps.py").write_text("def train():\n    print('epoch 1')\n")
    good = magnus("execute", "--file", "train.yaml", "--json", "--run-id", "j2")
    assert good.returncode == 0 and json.loads(good.stdout)["status"] == "SUCCESS"
    assert "magnus: " not in good.stderr, good.stderr
