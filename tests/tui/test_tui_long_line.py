"""The Output tab of an attempt whose output is one 10 MB line (no newline) showed nothing (issue 16, point
4): the tab reads an attempt's last 2 MB and leaves out the first line read, a part of one, which was all
of it. Now it shows the line's beginning, cut at 10,000 characters, and a line of magnus's saying how much
is not shown and which `magnus logs` prints it; a line of 1 MB is cut the same way (the tab drew it whole,
slowly). A real run in a subprocess; the real app under App.run_test()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import open_run_screen, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import sys


def huge():
    print("before", flush=True)
    sys.stdout.write("BEGIN" + "x" * 10_000_000 + "END")
    sys.stdout.flush()


def wide():
    print("wide" + "y" * 1_000_000)
    print("after")
"""

PIPELINE = """
dag:
  start_at: huge
  steps:
    huge: {type: task, command: steps.huge, next: wide}
    wide: {type: task, command: steps.wide, next: success}
    success: {type: success}
    fail: {type: fail}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("long")
    (repo / "steps.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "long"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return repo


async def _output(pilot, step: str) -> OutputView:
    screen = await open_run_screen(pilot, "long")
    if screen.selected != step:
        screen.query_one("#dag").select_key(step)
    await pilot.press("o")
    view = screen.query_one(OutputView)
    await wait_for(
        pilot, lambda: view.source == step and bool(view.lines), timeout=20, what=f"{step}'s output"
    )
    await pilot.pause(0.1)
    return view


async def test_a_10_mb_line_without_a_newline_is_shown_cut(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        view = await _output(pilot, "huge")  # (the old code: no line ever came; the wait timed out)
        assert view.lines[0] == "BEGIN" + "x" * 9_995, view.lines[0][:80]
        assert view.lines[1:] == [
            "[magnus: the line above goes on for 9,990,008 more bytes, not shown: magnus logs long huge prints it]"
        ], view.lines[1:]
        assert "1 earlier line left out: magnus logs long huge prints them all" in view.note, view.note


async def test_a_1_mb_line_is_cut_with_the_rest_shown(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        view = await _output(pilot, "wide")
        assert view.lines == [
            "wide" + "y" * 9_996,
            "[magnus: the line above goes on for 990,004 more bytes, not shown: magnus logs long wide prints it]",
            "after",
        ], [line[:120] for line in view.lines]
