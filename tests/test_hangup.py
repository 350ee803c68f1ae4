"""SIGHUP (the run's terminal closed: an ssh session dropped, a tmux window killed) stops a run as SIGTERM
does, recorded, exit 129; `nohup` (SIGHUP ignored as magnus starts) keeps it running (trial 15 N9: magnus
died of the signal unrecorded, and every view read the run as a crash, the OOM killer's)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

STEPS = """
import time

def slow(seconds=30.0):
    print("working", flush=True)
    time.sleep(seconds)
"""

PIPELINE = """
dag:
  start_at: slow
  steps:
    slow: {type: task, command: hup_steps.slow, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _start(git_repo: Path, run_id: str, seconds: float, ignore_hup: bool) -> subprocess.Popen[str]:
    (git_repo / "hup_steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{git_repo}", "NO_COLOR": "1"}

    def before() -> None:
        if ignore_hup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", run_id,
         "--seconds", str(seconds)],
        cwd=git_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=before,
    )  # fmt: skip
    assert proc.stdout is not None
    assert "working" in proc.stdout.readline()
    time.sleep(0.3)
    return proc


def _show(git_repo: Path, run_id: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    shown = subprocess.run(
        [sys.executable, "-m", "magnus_core", "show", run_id, "--json"],
        cwd=git_repo, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return json.loads(shown.stdout)


def test_a_hang_up_stops_the_run_recorded(git_repo: Path) -> None:
    proc = _start(git_repo, "hup1", 30.0, ignore_hup=False)
    try:
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 129, err
    assert "Interrupted: the run is marked INTERRUPTED." in err
    log = _show(git_repo, "hup1")
    assert log["status"] == "INTERRUPTED"
    step = log["steps"]["slow"]
    assert step["status"] == "INTERRUPTED" and "SIGHUP" in step["message"], step["message"]


def test_nohup_keeps_the_run_going(git_repo: Path) -> None:
    proc = _start(git_repo, "hup2", 1.5, ignore_hup=True)
    try:
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert _show(git_repo, "hup2")["status"] == "SUCCESS"
