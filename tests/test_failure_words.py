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
