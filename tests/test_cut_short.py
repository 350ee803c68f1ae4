"""A run killed with `kill -9` while a step ran (trial 11, fault 11): `magnus show` said `0` attempts and
the workbench's Step tab `Attempts: none`, while `magnus logs` showed that attempt's output. Now the
attempt reads as what it was, begun and cut short, in `magnus show` (counted, with the command that shows
its output), `magnus logs` (a line saying so) and the workbench's view of the run. A real run in a
subprocess, killed with SIGKILL, in a temporary git repository."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

STEPS = """
import time


def s1():
    for i in range(600):
        print(f"sleepy {i}", flush=True)
        time.sleep(0.1)
"""

PIPELINE = """dag:
  start_at: s1
  steps:
    s1: {type: task, command: live.s1, next: s2}
    s2: {type: task, command: live.s1, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_killed_runs_step_reads_as_an_attempt_cut_short(git_repo: Path, magnus: Any) -> None:
    (git_repo / "live.py").write_text(STEPS)
    (git_repo / "live.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", "killed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "sleepy 3" not in magnus("logs", "killed", "s1").stdout:  # it has printed: then kill it
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    shown = magnus("show", "killed").stdout.splitlines()
    row = next(line.split() for line in shown if line.startswith("s1 "))
    assert row[2:5] == ["INTERRUPTED", "(PROCESSING)", "1"], shown  # the attempt begun is counted
    at = shown.index("s1: attempt 0 was cut short: the run's process ended while it ran")
    assert shown[at + 1] == "  its output until then: magnus logs killed s1", shown
    logs = magnus("logs", "killed")
    assert "sleepy 3" in logs.stdout
    assert "magnus: s1 (attempt 0) was cut short: the run's process ended while it ran" in logs.stderr
    # the workbench's view of the run: the attempt, not `Attempts: none`
    from magnus_core.models.run_log import RunLog
    from magnus_tui.view import RunView

    log = RunLog.model_validate(json.loads((git_repo / ".run_log_store" / "killed.json").read_text()))
    view = RunView.from_runlog(log, "INTERRUPTED")
    row_s1 = view.rows["s1"]
    assert row_s1.status == "INTERRUPTED" and row_s1.cut_attempt is not None and row_s1.cut_attempt[0] == 0
    assert row_s1.running_since is None  # not ticking as if it still ran
    assert "attempt 0" in row_s1.message and "Output (o)" in row_s1.message
