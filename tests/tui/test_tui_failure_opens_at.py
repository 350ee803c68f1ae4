"""A failed or crashed step's Output tab opens where the failure is located, not at the end (session 12).

At 80x24 the Output tab of a step a segfault ended opened at its last line: the bottom of faulthandler's
frames (magnus's, click's, runpy's) and the `magnus:` lines, the user's frame (`mlproj/steps.py, line 12 in
segv`) a page up. Likewise a python step whose exception came from deep in a library: the end showed the
library's frames and the error, the user's own line out of view. The tab now opens from the line before the
crash dump or traceback when the user's frame then fits, else with that frame near the top; the rest is a
scroll away (End/G). When the end shows the frame, the end it is. Real runs (a real segfault, a real
JSONDecodeError) in subprocesses; the real app under App.run_test()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import open_run_screen, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_crash_hints import _project  # noqa: E402  (the steps that segfault, as the CLI's test has them)

JSON_STEPS = """import json


def parse():
    print("reading the config")
    for i in range(30):
        print(f"option {i} read")
    return json.loads("{not json")
"""

JSON_PIPELINE = """dag:
  start_at: parse
  steps:
    parse: {type: task, command: steps.parse, next: success}
    success: {type: success}
    fail: {type: fail}
"""


def _execute(folder: Path, pipeline: str, run_id: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", pipeline, "--run-id", run_id],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        timeout=120,
    )


async def _opened_output(pilot, run_id: str) -> OutputView:
    """The run screen of `run_id`, opened on its Output tab (a failed or crashed run opens there), once its
    lines are drawn and placed."""
    screen = await open_run_screen(pilot, run_id)
    output = screen.query_one(OutputView)
    await wait_for(pilot, lambda: output.source and not output.reading_now and len(output.lines) > 5)
    await wait_for(pilot, lambda: getattr(output, "_opening", None) is None, what="the view placed")
    await pilot.pause(0.3)
    return output


def _in_view(output: OutputView, text: str) -> bool:
    """Whether the output line holding `text` is drawn within the rows the log shows (its start may be cut
    at the right edge: faulthandler writes whole paths)."""
    log = output.log_widget
    index = next(i for i, line in enumerate(output.lines) if text in line)
    top, height = round(log.scroll_y), log.scrollable_content_region.height
    return top <= log.rows_of(index).start < top + height


def _shown(app) -> list[str]:
    return [" ".join(line.split()) for line in screen_lines(app)]


def _on_screen(app, text: str) -> bool:
    return any(text in line for line in _shown(app))


async def test_a_crashed_steps_output_opens_at_the_users_frame(git_repo: Path) -> None:
    _project(git_repo)
    _execute(git_repo, "at_once.yaml", "segv")
    app = MagnusApp(Project.open(None, git_repo), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        output = await _opened_output(pilot, "segv")
        assert output.source == "wait"
        frame = 'mlproj/steps.py", line 12 in segv'
        assert any(frame in line for line in output.lines), output.lines
        await wait_for(
            pilot, lambda: _in_view(output, frame), what="the user's frame in view", why=lambda: _shown(app)
        )
        # from the step's last line and the crash's first: what it did, and what happened
        assert _on_screen(app, "calling the C extension with batch 17"), _shown(app)
        assert _on_screen(app, "Fatal Python error: Segmentation fault"), _shown(app)
        assert not _on_screen(app, "magnus: wait (attempt 0) crashed"), _shown(app)  # (a scroll away)
        await pilot.press("G")  # the rest: the end, as before
        await wait_for(pilot, lambda: _on_screen(app, "magnus: wait (attempt 0) crashed"), what="the end")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_a_failed_steps_output_shows_the_users_line_of_a_deep_traceback(
    git_repo: Path, size: tuple[int, int]
) -> None:
    (git_repo / "steps.py").write_text(JSON_STEPS)
    (git_repo / "p.yaml").write_text(JSON_PIPELINE)
    _execute(git_repo, "p.yaml", "bad-json")
    app = MagnusApp(Project.open(None, git_repo), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        output = await _opened_output(pilot, "bad-json")
        assert output.source == "parse"
        frame = 'File "steps.py", line 8, in parse'
        assert frame in [line.strip() for line in output.lines], output.lines
        await wait_for(
            pilot, lambda: _on_screen(app, frame), what="the user's line on screen", why=lambda: _shown(app)
        )
        if size == (120, 40):  # the end shows it: the end it is, the error under it
            assert _on_screen(app, "json.decoder.JSONDecodeError"), _shown(app)
