"""A step that closes file descriptor 1 or 2 and runs on past the moment its output goes to a growing file
(capture.SPILL_AFTER, 50 ms) keeps what it prints later in its own file, once, and the next step gets fd 1
and 2 back (trial 14 fault 12: the growing file took the number the step freed, the seam's repair pointed
it at its pipe, and closing the file closed fd 1 again: the later line reached the terminal twice and
not the step's file, and the next, innocent step failed `OSError: [Errno 9] Bad file descriptor`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_magnus

STEPS = """
import os, subprocess, sys, time

def close_fd1_then_sleep():
    print("start", flush=True)
    os.close(1)
    time.sleep(0.3)
    print("after os.close(1) and a sleep")

def close_fd2_then_sleep():
    sys.stderr.write("err start\\n")
    sys.stderr.flush()
    os.close(2)
    time.sleep(0.3)
    sys.stderr.write("err after close\\n")

def after():
    print("after: python print", flush=True)
    subprocess.run(["sh", "-c", "echo 'after: child fd1'; echo 'after: child fd2' >&2"], check=True)
    os.write(1, b"after: os.write fd1\\n")
"""

PIPELINE = """
dag:
  start_at: closer
  steps:
    closer: {{type: task, command: steps.{function}, next: after}}
    after: {{type: task, command: steps.after, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""


@pytest.mark.parametrize(
    "function, late",
    [("close_fd1_then_sleep", "after os.close(1) and a sleep"), ("close_fd2_then_sleep", "err after close")],
)
def test_a_step_closing_a_descriptor_keeps_its_later_output_and_the_next_step_works(
    git_repo: Path, function: str, late: str
) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE.format(function=function))
    done = run_magnus("execute", "-f", "p.yaml", "--run-id", "r", cwd=git_repo)
    assert done.returncode == 0, done.stdout + done.stderr
    log = json.loads((git_repo / ".run_log_store" / "r.json").read_text())
    assert [log["steps"][s]["status"] for s in ("closer", "after")] == ["SUCCESS", "SUCCESS"]
    output = git_repo / ".catalog" / "r" / ".magnus" / "output"
    assert late in (output / "closer.0.log").read_text()  # kept in the closing step's own file
    assert (done.stdout + done.stderr).count(late) == 1  # on the terminal once
    kept = (output / "after.0.log").read_text()  # the next step's fd 1 and 2 are captured again
    for line in ("after: python print", "after: child fd1", "after: child fd2", "after: os.write fd1"):
        assert line in kept
    assert late not in kept
