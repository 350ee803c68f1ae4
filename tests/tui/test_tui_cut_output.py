"""The workbench's Output tab of a step whose run was killed with `kill -9` while it ran (trial 12, fault
9): its title said `complete (the run has ended)`, as if the output were whole, while the Step tab says
`■ cut short` and `magnus logs` says the attempt was cut short. Now the title says `cut short (attempt 0 did
not finish)`. A real run in a subprocess, killed with SIGKILL; the real app under App.run_test()."""

from __future__ import annotations

import time
from pathlib import Path

from test_tui_cut_short import _killed_run
from textual.widgets import Static
from tui_helpers import plain

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView


async def test_the_output_tab_says_an_attempt_was_cut_short(tmp_path: Path, monkeypatch) -> None:
    _killed_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_run("killed")
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, RunScreen) and app.screen.ready):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        screen = app.screen
        assert screen.selected == "s1"
        await pilot.press("o")  # the Output tab
        output = screen.query_one(OutputView)
        deadline = time.monotonic() + 30
        while not any(line.startswith("sleepy") for line in output.lines):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        title = plain(output.query_one("#output-title", Static))
        assert "cut short (attempt 0 did not finish)" in title, title
        assert "complete" not in title, title


QUIET = """
import time


def s1():
    time.sleep(600)
"""


async def test_the_output_tab_of_a_cut_short_attempt_that_printed_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    """Its note said `running (attempt 0): nothing printed yet` for a run whose process was gone."""
    import json
    import os
    import signal
    import subprocess
    import sys

    (tmp_path / "live.py").write_text(QUIET)
    (tmp_path / "live.yaml").write_text(
        "dag:\n  start_at: s1\n  steps:\n    s1: {type: task, command: live.s1, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "live.yaml", "--run-id", "killed"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    store = tmp_path / ".run_log_store" / "killed.json"
    try:
        deadline = time.monotonic() + 60
        while True:  # s1 has begun: its log says PROCESSING, since when
            try:
                s1 = json.loads(store.read_text())["steps"]["s1"]
                if s1["status"] == "PROCESSING" and s1.get("start_time"):
                    break
            except (OSError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        app.open_run("killed")
        deadline = time.monotonic() + 30
        while not (isinstance(app.screen, RunScreen) and app.screen.ready):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        screen = app.screen
        await pilot.press("o")
        output = screen.query_one(OutputView)
        deadline = time.monotonic() + 30
        while not output.note:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        assert output.note.startswith("attempt 0 was cut short"), output.note
        assert "nothing printed yet" not in output.note
        assert "cut short" in plain(output.query_one("#output-title", Static))
