"""A run started from the workbench that segfaults (trial 13 fault 8): the toast said `ended: PROCESSING`
(the log's status: its process died without ending it) though the workbench knows the process's exit
status, and the Output tab said none of the step's output reached its file while the run's console file,
which the workbench keeps (docs/workbench.md), ends with the step's last line. Now the toast says `ended
INTERRUPTED: the process died of SIGSEGV (exit -11)` and the Output tab names the console and its last line.
The real app under App.run_test(), starting a real run whose step calls `ctypes.string_at(0)`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import RUN_WAIT, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

STEPS = """
import ctypes


def prep():
    print("loading 3 columns", flush=True)


def wait():
    print("calling the C extension with batch 17", flush=True)
    ctypes.string_at(0)
"""

PIPELINE = """
dag:
  start_at: prep
  steps:
    prep: {type: task, command: segv.prep, next: wait}
    wait: {type: task, command: segv.wait, next: after}
    after: {type: task, command: segv.prep, next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_a_segfaulted_run_started_here_says_how_its_process_died(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGNUS_CONSOLE_DIR", str(tmp_path / "console"))
    (git_repo / "segv.py").write_text(STEPS)
    (git_repo / "segv.yaml").write_text(PIPELINE)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        app.screen.query_one("#pipeline", Input).value = "segv.yaml"
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        launched = app.launched[screen.run_id]
        await wait_for(pilot, lambda: not launched.running, RUN_WAIT)
        assert launched.returncode == -11
        told = lambda: [n.message for n in app._notifications if screen.run_id in n.message]  # noqa: E731
        await wait_for(pilot, lambda: bool(told()), what="the notice of the run's end")
        assert told() == [f"{screen.run_id} ended INTERRUPTED: the process died of SIGSEGV (exit -11)"], (
            told()
        )
        await wait_for(pilot, lambda: screen.ready and not screen.following, RUN_WAIT)
        await wait_for(pilot, lambda: screen.selected == "wait", what="the run opening on its stopped step")
        await pilot.press("o")
        output = screen.query_one(OutputView)
        # the step's last line, printed just before the segfault, is on its Output tab: kept by the run's
        # held output (a6faf3f, trial 13 fault 5), so the console file need not be pointed to (ca1d447 named
        # it when the attempt's own file was empty; the file is no longer empty)
        line = "calling the C extension with batch 17"
        deadline = time.monotonic() + 30
        while line not in output.lines and "console" not in output.note:
            assert time.monotonic() < deadline, (output.note, output.lines)
            await pilot.pause(0.05)
        assert line in output.lines or output.note.endswith(f"ends: {line}"), (output.note, output.lines)
        assert line in launched.console.read_text()
