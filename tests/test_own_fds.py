"""A python step that closes file descriptors it did not open (`os.closerange(3, 64)`, as code that makes a
daemon does) no longer closes magnus's own (trial 17 F1): magnus lost the terminal it prints to and exited
2 with no summary, and the number of its watcher's pipe, taken by the step's next file, got the watcher's
lines. magnus's own stay open, said once on one line; everything else in the range is closed as asked.
Real runs in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STEPS = """
import os

def closer():
    mine = os.open("scratch.txt", os.O_WRONLY | os.O_CREAT)
    os.closerange(3, 64)
    try:
        os.fstat(mine)
    except OSError:
        print("the step's own file was closed", flush=True)

def after():
    with open("mine.txt", "w") as handle:
        handle.write("user data\\n")
    print("after", flush=True)
"""

PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "echo shell first", next: closer}
    closer: {type: task, command: steps.closer, next: after}
    after: {type: task, command: steps.after, next: last}
    last: {type: task, command_type: shell, command: "echo why it failed >&2; exit 4", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_step_closing_a_range_of_descriptors_leaves_magnus_its_own(git_repo: Path, magnus: Any) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    done = magnus("execute", "-f", "p.yaml", "--run-id", "r")
    assert done.returncode == 1, done.stderr  # the run's failure (the old code: 2, an internal error)
    assert "the step's own file was closed" in done.stdout  # what is not magnus's is closed as asked
    assert "Run r: FAIL" in done.stdout and "last: shell command exited with code 4" in done.stdout
    assert "why it failed" in done.stdout + done.stderr
    assert (git_repo / "mine.txt").read_text() == "user data\n"  # no line of magnus's in the step's file
    said = [line for line in done.stderr.splitlines() if "closed file descriptor" in line]
    assert len(said) == 1 and "magnus kept them open: " in said[0], done.stderr
    assert " (stdout), " in said[0] and "(fatal file)" in said[0], said
    # each kind in a few words (issue 16 F5: the old line was 535 characters for 8 descriptors)
    assert len(said[0]) < 300, said
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert log["status"] == "FAIL" and log["steps"]["after"]["status"] == "SUCCESS"
