"""The runs list's panel under a run a segfault ended (session 11, found trying the workbench at 80x24 and
120x40): it named the first step the crash cut short in the log's order, a victim branch (`fan.slow.s:
attempt 0 was cut short: the run's process crashed in fan.crashy.s`), where `magnus show` and the run's own
screen (4009ef8) lead with the crash (`fan.crashy.s: crashed (Segmentation fault) at steps.py:N in
crashy`); and at 80 columns its line wrapped to column 0 (` fan.crashy.s` under the indented text). Now it
says the step the crash hit, and a line too long for the panel wraps under its indent.

A real run that segfaults in a parallel branch (tests/crashing.py); the real app under App.run_test()."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import plain, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from tests.conftest import run_magnus
from tests.crashing import RUN, crashing_project


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = crashing_project(tmp_path_factory.mktemp("crash"))
    done = run_magnus("execute", *RUN, "--run-id", "crash1", cwd=folder, env={"CRASH": "segv"})
    assert done.returncode == -signal.SIGSEGV, done.stderr
    return folder


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_panel_names_the_step_the_crash_hit(
    crashed: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(crashed)
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "interrupted" in plain(reason), what="the runs list's panel")
        await pilot.pause(0.1)
        region = reason.content_region
        rows = [row[region.x : region.right].rstrip() for row in screen_lines(app)[region.y : region.bottom]]
        rows = [row for row in rows if row]
        assert rows[0].startswith("■ interrupted: 3 of 4 steps ran"), rows
        said = " ".join(row.strip() for row in rows[1:])
        assert said.startswith("fan.crashy.s: crashed (Segmentation fault) at steps.py:"), rows
        assert said.endswith(" in crashy"), rows
        assert all(row.startswith("  ") for row in rows[1:]), rows  # under the first row's text, indented
