"""A parallel's branch that reached its success node before another branch crashed the run's process reads
SUCCESS in the workbench's dag (✓), the crashed branch and the parallel INTERRUPTED (■), as a stopped run now
records them (runner._branch_end). Trial 15 N5: every branch read ■, so the dag did not say which still had
work to do. A real run that segfaults (ctypes.string_at(0)) in a subprocess; the real app under
App.run_test()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """
import ctypes
import time


def quick():
    print("quick done", flush=True)


def crashy():
    print("branch about to crash", flush=True)
    time.sleep(2.0)  # the quick branch reaches its success node first
    ctypes.string_at(0)
"""

PARALLEL = """dag:
  start_at: fan
  steps:
    fan:
      type: parallel
      next: success
      branches:
        quick: {start_at: s, steps: {s: {type: task, command: steps.quick, next: success}, success: {type: success}, fail: {type: fail}}}
        crashy: {start_at: s, steps: {s: {type: task, command: steps.crashy, next: success}, success: {type: success}, fail: {type: fail}}}
    success: {type: success}
    fail: {type: fail}
"""


async def test_a_branch_that_ended_reads_success_beside_the_crashed_one(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "p.yaml").write_text(PARALLEL)
    (tmp_path / "cfg.yaml").write_text("executor:\n  type: local\n  config:\n    max_workers: 2\n")
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "-c", "cfg.yaml", "--run-id", "pc1"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_run("pc1")
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, RunScreen) and app.screen.ready):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        rows = app.screen.view.rows
        statuses = {
            key: rows[key].status for key in ("fan", "fan.quick", "fan.quick.s", "fan.crashy", "fan.crashy.s")
        }
        assert statuses == {
            "fan": "INTERRUPTED",
            "fan.quick": "SUCCESS",
            "fan.quick.s": "SUCCESS",
            "fan.crashy": "INTERRUPTED",
            "fan.crashy.s": "INTERRUPTED",
        }, statuses
