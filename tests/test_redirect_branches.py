"""One branch's contextlib.redirect_stdout beside others (`max_workers` > 1) replaces sys.stdout for every
thread: what the other branches print meanwhile goes into its target, not their files. magnus cannot route
it back (python has one sys.stdout), so each attempt that ran while it was replaced says so in its file
(trial 16 F11: the lines were silently missing) and docs/logs.md lists the limit. The real `magnus execute`
in a subprocess, in a temporary git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STEPS = """
import contextlib
import time


def hijack():
    with open("hijack.txt", "w") as f, contextlib.redirect_stdout(f):
        print("x into its file")
        time.sleep(1.0)
    print("x back on stdout")


def ticker():
    for i in range(8):
        print(f"y tick {i}", flush=True)
        time.sleep(0.2)


def fine():
    print("fine")
"""

PIPELINE = """
dag:
  start_at: par
  steps:
    par:
      type: parallel
      next: after
      branches:
        x:
          start_at: s
          steps:
            s: {type: task, command: steps.hijack, next: success}
            success: {type: success}
            fail: {type: fail}
        y:
          start_at: s
          steps:
            s: {type: task, command: steps.ticker, next: success}
            success: {type: success}
            fail: {type: fail}
    after: {type: task, command: steps.fine, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_branch_redirecting_stdout_is_said_in_the_files_it_emptied(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    (git_repo / "config.yaml").write_text("executor:\n  type: local\n  config:\n    max_workers: 2\n")
    result = magnus("execute", "-f", "p.yaml", "-c", "config.yaml", "--run-id", "r")
    assert result.returncode == 0, (result.stdout, result.stderr)
    output = git_repo / ".catalog" / "r" / ".magnus" / "output"
    ticks = (output / "par.y.s.0.log").read_text()
    assert "y tick 7" in ticks
    assert "a step replaced sys.stdout or sys.stderr" in ticks, ticks
    assert "a step replaced sys.stdout" in (output / "par.x.s.0.log").read_text()
    assert "replaced" not in (output / "after.0.log").read_text()  # a step alone: nothing to say
