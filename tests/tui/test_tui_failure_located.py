"""Trial 11, fault 12: a failed step whose output file is missing opened on the Step tab (docs/workbench.md:
a failed run opens on the failed step's Output), and where it was raised (`at steps.py:12 in train`) was
shown nowhere in the workbench, though `magnus logs` prints it and the traceback's frames from the run log.
Real runs (`magnus execute` processes), the real app at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import FRAMES_TITLE
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import logging


def load():
    print("loaded")


def train():
    for i in range(3):
        logging.getLogger("t").warning("logwarn %d", i)
    params = {}
    return params["z"]


def multiline():
    raise RuntimeError("first line of reason\\nsecond line: details\\nthird line")
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: steps.load, next: train}
    train: {type: task, command: steps.train, next: success, on_failure: ml}
    ml: {type: task, command: steps.multiline, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def failed_run(repo: Path, run_id: str, config: str = "", env: dict[str, str] | None = None) -> None:
    (repo / "steps.py").write_text(STEPS)
    (repo / "fail.yaml").write_text(config + PIPELINE)
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "fail.yaml", "--run-id", run_id],
        cwd=repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr


async def test_a_failed_step_with_no_output_file_opens_on_output_located(git_repo: Path) -> None:
    failed_run(git_repo, "gone")
    kept = git_repo / ".catalog" / "gone" / ".magnus" / "output" / "train.0.log"
    assert "KeyError" in kept.read_text()
    kept.unlink()  # as the trial did: the output file is missing
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "gone")
        tabs = screen.query_one("#tabs")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: tabs.active == "output", what="the Output tab")
        assert screen.selected == "train"
        await wait_for(pilot, lambda: output.source == "train" and not output.reading_now)
        header = plain(output.query_one("#output-failure", Static))
        assert "✗ KeyError: 'z'" in header and "at steps.py:12 in train" in header
        assert "stderr:" not in header  # its logging lines are not the reason (trial 10, fault 6)
        # the frames the run log keeps, where the traceback would have been; the note says why
        assert '  File "steps.py", line 12, in train' in output.lines
        assert '    return params["z"]' in output.lines
        assert "cannot be read" in plain(output.query_one("#output-note", Static))
        # the Step tab says where too
        await pilot.press("i")
        await wait_for(pilot, lambda: tabs.active == "step")
        assert "at steps.py:12 in train" in plain(screen.query_one("#step-message", Static))


async def test_a_failed_step_with_its_file_says_where_above_its_lines(git_repo: Path) -> None:
    failed_run(git_repo, "kept")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "kept")
        tabs = screen.query_one("#tabs")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: tabs.active == "output", what="the Output tab")
        await wait_for(pilot, lambda: any("KeyError" in line for line in output.lines))
        header = plain(output.query_one("#output-failure", Static))
        assert "✗ KeyError: 'z'" in header and "at steps.py:12 in train" in header
        # the file holds the traceback: no frames from the run log are added to it
        assert not any(line == FRAMES_TITLE for line in output.lines)
        # a step that succeeded: no failure, no location
        screen.query_one("#dag").select_key("load")
        await wait_for(pilot, lambda: output.lines == ["loaded"])
        assert not output.query_one("#output-failure").display


async def test_no_output_kept_still_opens_on_output_with_the_frames(git_repo: Path) -> None:
    """The do-nothing catalog keeps no output: the same as a missing file."""
    failed_run(git_repo, "nothing", config="catalog: {type: do-nothing}\n")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "nothing")
        tabs = screen.query_one("#tabs")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: tabs.active == "output", what="the Output tab")
        await wait_for(pilot, lambda: output.source == "train" and not output.reading_now)
        assert "at steps.py:12 in train" in plain(output.query_one("#output-failure", Static))
        assert '  File "steps.py", line 12, in train' in output.lines
        assert "no output is kept" in plain(output.query_one("#output-note", Static))


async def test_output_cut_before_its_traceback_gets_the_frames_after_the_cut(git_repo: Path) -> None:
    """MAGNUS_OUTPUT_CAP=0 keeps only the cap's marker: the traceback is in no file, so the run log's
    frames follow it (and its logging lines are not set apart as stderr: trial 11, fault 3)."""
    failed_run(git_repo, "capped", env={"MAGNUS_OUTPUT_CAP": "0"})
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "capped")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: screen.query_one("#tabs").active == "output", what="the Output tab")
        await wait_for(pilot, lambda: output.source == "train" and not output.reading_now)
        assert "output cut here" in output.lines[0]
        assert output.lines[1:3] == [FRAMES_TITLE, '  File "steps.py", line 12, in train']
        header = plain(output.query_one("#output-failure", Static))
        assert "at steps.py:12 in train" in header and "stderr:" not in header


async def test_a_message_of_several_lines_keeps_the_place_in_view(git_repo: Path) -> None:
    """Trial 11, fault 4 in the workbench: the header holds 3 lines; the place comes after the message's
    first line (as `magnus logs` says it), its further lines indented under it."""
    failed_run(git_repo, "lines")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "lines")
        output = screen.query_one("#output-view")
        screen.query_one("#dag").select_key("ml")
        await pilot.press("o")
        await wait_for(pilot, lambda: output.source == "ml" and not output.reading_now)
        box = output.query_one("#output-failure", Static)
        assert plain(box).splitlines() == [
            "✗ RuntimeError: first line of reason, at steps.py:16 in multiline",
            "    second line: details",
            "    third line  i: the step's detail",
        ]
        assert box.region.height == 3


ONLY_ML = """
dag:
  start_at: ml
  steps:
    ml: {type: task, command: steps.multiline, next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_the_runs_panel_keeps_the_place_of_a_message_of_several_lines(git_repo: Path) -> None:
    """The runs list's panel at 80x24: the message's first line, how many more, and `at steps.py:16 in
    multiline` in view (its further lines at column 0 pushed the place out: trial 11, fault 4)."""
    failed_run(git_repo, "setup")  # writes steps.py
    (git_repo / "ml.yaml").write_text(ONLY_ML)
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "ml.yaml", "--run-id", "zml"],
        cwd=git_repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(reason), what="the panel")
        assert plain(reason).splitlines()[:2] == [
            "✗ ml: RuntimeError: first line of reason (+2 lines: o shows them)",
            "  at steps.py:16 in multiline",
        ]
