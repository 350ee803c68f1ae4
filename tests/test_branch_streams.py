"""A step in a branch thread (a parallel run with max_workers > 1) that sets sys.stdout to None and does not
put it back no longer ends magnus in an internal error at its summary (trial 17 F3: AttributeError, exit
2, after a run that succeeded): once the branches have ended, sys.stdout and sys.stderr are put back and it
is said. Real runs in subprocesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STEPS = """
import sys

def none_out():
    sys.stdout = None

def fine():
    print("fine", flush=True)
"""

PIPELINE = """
dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: after
      branches:
        one: {start_at: a, steps: {a: {type: task, command: steps.none_out, next: success}, success: {type: success}, fail: {type: fail}}}
        two: {start_at: b, steps: {b: {type: task, command: steps.fine, next: success}, success: {type: success}, fail: {type: fail}}}
    after: {type: task, command_type: shell, command: "echo after", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_branch_step_that_drops_stdout_leaves_the_summary(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "conf.yaml").write_text("executor: {type: local, config: {max_workers: 2}}\n")
    done = magnus("execute", "-f", "p.yaml", "-c", "conf.yaml", "--run-id", "r")
    assert done.returncode == 0, done.stderr  # (the old code: 2, internal error)
    assert "Run r: SUCCESS" in done.stdout and "after" in done.stdout, done.stdout
    assert (
        "magnus: a step in a branch replaced sys.stdout or sys.stderr and did not put it back; magnus did "
        "once the branches had ended" in done.stderr.splitlines()
    ), done.stderr
