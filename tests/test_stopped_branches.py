"""A parallel's branch that reached its success node before its run was stopped is recorded SUCCESS, the
parallel and the branch still working INTERRUPTED (trial 15 N5: `magnus stop` of a run whose `quick` branch had
ended recorded `fan.quick INTERRUPTED {'fan.quick.s': 'SUCCESS', 'fan.quick.success': 'SUCCESS'}`, and the
workbench's dag marked it ■ like the branch stopped). A real `magnus execute` in a subprocess, stopped by
SIGTERM as `magnus stop` stops it."""

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


def quick():
    print("quick done", flush=True)


def slow():
    print("slow started", flush=True)
    while True:
        time.sleep(0.05)
"""

PARALLEL = """dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: success
      branches:
        quick: {start_at: s, steps: {s: {type: task, command: steps.quick, next: success}, success: {type: success}, fail: {type: fail}}}
        slow: {start_at: s, steps: {s: {type: task, command: steps.slow, next: success}, success: {type: success}, fail: {type: fail}}}
    success: {type: success}
    fail: {type: fail}
"""


def _log(repo: Path) -> dict:
    try:
        return json.loads((repo / ".run_log_store" / "st1.json").read_text())
    except (OSError, ValueError):
        return {}


def test_a_branch_that_ended_reads_success_when_its_run_is_stopped(git_repo: Path) -> None:
    (git_repo / "steps.py").write_text(STEPS)
    (git_repo / "p.yaml").write_text(PARALLEL)
    (git_repo / "cfg.yaml").write_text("executor:\n  type: local\n  config:\n    max_workers: 2\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-c", "cfg.yaml", "--run-id", "st1"],
        cwd=git_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # the quick branch's success node and the slow step's start are in the log
            fan = _log(git_repo).get("steps", {}).get("fan", {})
            quick = fan.get("branches", {}).get("fan.quick", {}).get("steps", {})
            slow = fan.get("branches", {}).get("fan.slow", {}).get("steps", {})
            if quick.get("fan.quick.success", {}).get("status") == "SUCCESS" and "fan.slow.s" in slow:
                break
            assert time.monotonic() < deadline and proc.poll() is None, proc.poll()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 143, out
    log = _log(git_repo)
    fan = log["steps"]["fan"]
    statuses = {name: branch["status"] for name, branch in fan["branches"].items()}
    assert statuses == {"fan.quick": "SUCCESS", "fan.slow": "INTERRUPTED"}, statuses
    assert (log["status"], fan["status"]) == ("INTERRUPTED", "INTERRUPTED")
    assert fan["branches"]["fan.slow"]["steps"]["fan.slow.s"]["status"] == "INTERRUPTED"
