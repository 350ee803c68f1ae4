"""Session 10, trial 14 fault F4: at 100-120 columns the Output tab wrapped lines wider than it is, and the
characters past its edge were never seen (no sideways scroll reached them): magnus's own lines (the output
cap's marker, the traceback the run log keeps) and, with `w`, the step's. RichLog wrapped at its min_width
(78) or at the app console's 80 columns, whatever the tab's width, so at 140+ columns lines broke at ~78
with room to spare; and a resize kept the old wrapping. Now every wrapped row fits the tab, at its width,
wrapped again on resize. A real run (`MAGNUS_OUTPUT_CAP=0`, as the trial's p2cap0) in a subprocess; the real
app under App.run_test(); what is checked is what the screen shows, row by row, scrolled through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import open_run_screen, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import json
import subprocess


def read_config(text):
    return json.loads(text)


def chained():
    try:
        read_config("{bad json")
    except ValueError as e:
        raise RuntimeError("could not load config") from e


def child():
    subprocess.run(["sh", "-c", "echo child stdout; echo child stderr >&2; echo and one more line from the child, long enough to wrap at 160 columns >&2; exit 3"], check=True)
"""

PIPELINE = """
dag:
  start_at: chained
  steps:
    chained: {type: task, command: steps.chained, next: success, on_failure: child}
    child: {type: task, command: steps.child, next: success}
    success: {type: success}
    fail: {type: fail}
"""

SIZES = [(80, 24), (100, 30), (120, 40), (160, 50)]


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with run `cap0`: both steps failed, their output cut at 0 bytes (the cap's marker is all
    each file holds; the Output tab shows the traceback as the run log keeps it after it)."""
    repo = tmp_path_factory.mktemp("wrap")
    (repo / "steps.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "MAGNUS_OUTPUT_CAP": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "cap0"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    return repo


async def rows_of(pilot, view: OutputView) -> list[str]:
    """The Output tab's rows as the screen draws them, from its first to its last (scrolled through a
    page at a time, each page drawn before it is read), right spaces dropped."""
    log = view.log_widget
    region = log.scrollable_content_region
    rows: dict[int, str] = {}
    log.scroll_to(y=0, animate=False, immediate=True)
    await pilot.pause(0.05)
    while True:
        screen = screen_lines(pilot.app)
        top = round(log.scroll_y)
        for y in range(region.height):
            rows[top + y] = screen[region.y + y][region.x : region.right].rstrip()
        if top >= log.max_scroll_y:
            break
        log.scroll_to(y=min(top + region.height, log.max_scroll_y), animate=False, immediate=True)
        await pilot.pause(0.05)
    return [rows[y] for y in sorted(rows) if y < len(log.lines)]


def assert_whole(lines: list[str], rows: list[str], width: int) -> None:
    """Every character of `lines` is in `rows`, in order (wrapping only breaks at spaces, which it may
    drop), and no row is wider than the tab."""
    assert all(len(row) <= width for row in rows), rows
    words = re.sub(r"\s+", "", "".join(lines))
    drawn = re.sub(r"\s+", "", "".join(rows))
    assert drawn == words, "drawn:\n" + "\n".join(rows)


async def open_output(pilot, step: str, wrap: bool) -> OutputView:
    screen = await open_run_screen(pilot, "cap0")
    if screen.selected != step:
        screen.query_one("#dag").select_key(step)
    await pilot.press("o")
    view = screen.query_one(OutputView)
    await wait_for(pilot, lambda: view.source == step and bool(view.lines), what=f"{step}'s output")
    if wrap:
        await pilot.press("w")
        await wait_for(pilot, lambda: view.log_widget.wrap, what="wrap on")
    await pilot.pause(0.1)
    return view


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_magnus_lines_and_wrapped_lines_are_whole_at_any_width(
    capped: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(capped)
    app = MagnusApp(Project.open(None, capped), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        # chained: the cap's marker, the traceback's title and its cause's line are magnus's: they wrap,
        # `w` off (the frames' lines run on past the edge, ←/→ scroll to them)
        view = await open_output(pilot, "chained", wrap=False)
        assert view.lines[0].startswith("[magnus: output cut here at 0 bytes")
        width = view.log_widget.scrollable_content_region.width
        rows = await rows_of(pilot, view)
        assert all(len(row) <= width for row in rows), rows
        drawn = re.sub(r"\s+", "", "".join(rows))
        own = [line for line in view.lines if line.startswith(("[magnus: ", "  caused by "))]
        assert len(own) >= 2, view.lines
        for line in own:
            assert re.sub(r"\s+", "", line) in drawn, (line, rows)
        # child, `w` on: every line wraps, its frame's source line (138 characters) among them
        view = await open_output(pilot, "child", wrap=True)
        long = max(view.lines, key=len)
        assert len(long) > 130, view.lines
        rows = await rows_of(pilot, view)
        assert_whole(view.lines, rows, width)
        if width > 100:  # the room is used: rows as wide as the tab allows, not ~78
            assert max(len(row) for row in rows) > 90, rows


async def test_lines_are_wrapped_again_when_the_terminal_is_resized(
    capped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(capped)
    app = MagnusApp(Project.open(None, capped), poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_output(pilot, "child", wrap=True)
        log = view.log_widget
        for size in [(160, 50), (100, 30), (80, 24), (120, 40)]:
            before = log.scrollable_content_region.width
            await pilot.resize_terminal(*size)
            await wait_for(
                pilot, lambda b=before: log.scrollable_content_region.width != b, what=f"the resize to {size}"
            )
            width = log.scrollable_content_region.width
            await wait_for(
                pilot, lambda w=width: log.virtual_size.width <= w, what=f"the lines wrapped at {width}"
            )
            await pilot.pause(0.1)
            rows = await rows_of(pilot, view)
            assert_whole(view.lines, rows, width)
            if width > 100:
                assert max(len(row) for row in rows) > 90, rows
