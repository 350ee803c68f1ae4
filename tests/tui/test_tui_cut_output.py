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
