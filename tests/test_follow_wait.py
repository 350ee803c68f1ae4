"""`magnus logs R --follow` of a run not created yet (trial 11, fault 10): `magnus execute --run-id R &`
then `magnus logs R --follow` raced, exiting 2 at once. Now it waits for the run to appear (saying so once
on stderr), up to --wait seconds, and follows it. Real processes in a temporary git repository."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

STEPS = """
def s1():
    print("s1 line")
    raise RuntimeError("slow failure")
"""

PIPELINE = """dag:
  start_at: s1
  steps:
    s1: {type: task, command: slow.s1, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_follow_waits_for_a_run_that_starts_later(git_repo: Path, magnus: Any) -> None:
    (git_repo / "slow.py").write_text(STEPS)
    (git_repo / "slow.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    follow = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "logs", "later", "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # (not a timing assertion: the follower is then waiting, whatever its speed)
        assert follow.poll() is None, follow.communicate()
        assert magnus("execute", "-f", "slow.yaml", "--run-id", "later").returncode == 1
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 1, err  # the run's outcome: it failed
    assert "s1 line" in out and "RuntimeError: slow failure" in out, out
    lines = err.splitlines()
    assert lines[0] == "magnus: waiting for run later to start (up to 60 s; --wait SECONDS)", err
    assert sum("waiting for run" in line for line in lines) == 1, err
    assert lines[-1] == "run later ended FAIL: s1: RuntimeError: slow failure", err


def test_the_wait_is_bounded_and_needs_follow(git_repo: Path, magnus: Any) -> None:
    gone = magnus("logs", "nosuch", "--follow", "--wait", "0.5")
    assert gone.returncode == 2
    assert (
        gone.stderr.splitlines()[0] == "magnus: waiting for run nosuch to start (up to 0.5 s; --wait SECONDS)"
    )
    assert "no run 'nosuch'" in gone.stderr
    alone = magnus("logs", "nosuch", "--wait", "5")
    assert alone.returncode == 2 and "use it with --follow" in alone.stderr
    at_once = magnus("logs", "nosuch")  # without --follow: at once, as before
    assert at_once.returncode == 2 and "waiting" not in at_once.stderr
