"""Ctrl-C and SIGTERM stop a run cleanly: the run log says INTERRUPTED and the exit code says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

SLOW = """
dag:
  start_at: a
  steps:
    a: {type: task, command_type: shell, command: "touch started; sleep 20", next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_marks_the_run_interrupted(git_repo: Path, sig: int, code: int) -> None:
    (git_repo / "p.yaml").write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log_file = git_repo / ".run_log_store" / "r.json"
    deadline = time.time() + 20
    while time.time() < deadline and not (git_repo / "started").exists():  # the attempt is running
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "INTERRUPTED" in err and "Traceback" not in err
    assert "Resume with: magnus execute --file p.yaml --use-cached r" in err  # how to go on, said at once
    log = json.loads(log_file.read_text())
    assert log["status"] == "INTERRUPTED"
    step = log["steps"]["a"]  # the step that was running says so, with the attempt the signal cut short
    assert step["status"] == "INTERRUPTED" and [a["status"] for a in step["attempts"]] == ["INTERRUPTED"]


SWALLOWING = """
import gc, os, signal, time

class Holder:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands while the garbage collector runs this finalizer
        time.sleep(0.5)

def step():
    holder = Holder()
    holder.cycle = holder  # only the collector frees it
    del holder
    gc.collect()
    time.sleep(20)
"""

SWALLOWED = """
dag:
  start_at: a
  steps:
    a: {type: task, command: swallow.step, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def test_a_ctrl_c_inside_a_finalizer_still_stops_the_run(git_repo: Path) -> None:
    """A KeyboardInterrupt raised inside a finalizer (GitPython's Repo.__del__ run by the collector, say)
    is swallowed by Python ("Exception ignored in ..."): the run must stop on it all the same, promptly."""
    (git_repo / "swallow.py").write_text(SWALLOWING)
    (git_repo / "p.yaml").write_text(SWALLOWED)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "r"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode == 130, result.stderr
    assert took < 15, f"the step slept on after the interrupt ({took:.1f} s)"
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
    assert json.loads((git_repo / ".run_log_store" / "r.json").read_text())["status"] == "INTERRUPTED"
