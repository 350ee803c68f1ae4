"""The workbench's Step tab of a step whose run was killed with `kill -9` while it ran (trial 11, fault 11):
it said `Attempts: none` while the Output tab showed that attempt's lines. Now it lists the attempt, cut
short, and its message points to the Output tab. A real run in a subprocess, killed with SIGKILL; the real
app under App.run_test()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from textual.coordinate import Coordinate
from textual.widgets import DataTable

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

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
    s1: {type: task, command: live.s1, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _killed_run(folder: Path) -> None:
    (folder / "live.py").write_text(STEPS)
    (folder / "live.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", "killed"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((folder / ".catalog").rglob("*.live")):  # its growing file: it has printed
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


async def test_the_step_tab_lists_an_attempt_cut_short(tmp_path: Path, monkeypatch) -> None:
    _killed_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("killed")
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, RunScreen) and app.screen.ready):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        screen = app.screen
        assert screen.selected == "s1"  # the step cut short is the one opened
        await pilot.press("i")  # the Step tab
        await pilot.pause(0.2)
        attempts = screen.query_one("#attempts", DataTable)
        assert attempts.row_count == 1
        assert str(attempts.get_cell_at(Coordinate(0, 0))) == "0"
        assert "cut short" in str(attempts.get_cell_at(Coordinate(0, 1)))
