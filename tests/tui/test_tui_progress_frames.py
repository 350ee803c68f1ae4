"""Trial 12, fault 13 (session 9, tui9 item 1): the Output tab showed each carriage-return frame of a progress
bar (tqdm writes `\\rtraining: 10%|...\\rtraining: 20%|...` on one line) as a line of its own, since
str.splitlines breaks at `\\r`: 532 lines for 25 real ones. `magnus logs` on a terminal and a failure's tail
(logs.last_frame) show a line's last frame; so does the Output tab now, in its search and in the whole run.
Real runs (`magnus execute` processes), the real app at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import sys
import time


def bar():
    print("epoch 0 start", flush=True)
    for i in range(0, 101, 10):
        sys.stdout.write(f"\\rtraining: {i:3d}%|" + "#" * (i // 10))
        sys.stdout.flush()
    sys.stdout.write("\\n")
    print("epoch 0 loss=0.5", flush=True)
    raise ValueError("loss diverged")


def slow_bar():
    print("start", flush=True)
    for i in range(600):
        sys.stdout.write(f"\\rstep {i:4d}")
        sys.stdout.flush()
        time.sleep(0.1)
"""

PIPELINE = """
dag:
  start_at: {step}
  steps:
    {step}: {{type: task, command: steps.{step}, next: success}}
    success: {{type: success}}
    fail: {{type: fail}}
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def write_project(repo: Path, step: str) -> list[str]:
    (repo / "steps.py").write_text(STEPS)
    (repo / f"{step}.yaml").write_text(PIPELINE.format(step=step))
    return [sys.executable, "-m", "magnus_core", "execute", "--file", f"{step}.yaml", "--run-id", step]


async def test_a_progress_bar_reads_as_its_last_frame(git_repo: Path) -> None:
    done = subprocess.run(
        write_project(git_repo, "bar"), cwd=git_repo, capture_output=True, env=ENV, timeout=120
    )
    assert done.returncode == 1, done.stderr
    kept = (git_repo / ".catalog" / "bar" / ".magnus" / "output" / "bar.0.log").read_bytes()
    assert kept.count(b"\r") == 11  # the file keeps every frame
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "bar")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: screen.query_one("#tabs").active == "output", what="the Output tab")
        await wait_for(pilot, lambda: any("ValueError" in line for line in output.lines))
        assert output.lines[:3] == ["epoch 0 start", "training: 100%|##########", "epoch 0 loss=0.5"]
        assert not any("50%" in line or "\r" in line for line in output.lines)
        assert "Traceback (most recent call last):" in output.lines  # the lines after it are whole lines
        count = len(output.lines)
        title = output.query_one("#output-title", Static)
        assert f"{count} lines" in plain(title)
        # what the lines' widget draws: one row a line (no frame drawn on a row of its own)
        await wait_for(pilot, lambda: len(output.log_widget.lines) == count, what=f"{count} rows drawn")
        # search: a frame before the last is not found, the last one is
        for text, found in (("50%", "0 matches"), ("100%", "1/1")):
            await pilot.press("slash", *text, "enter")
            await wait_for(pilot, lambda found=found: found in plain(title), what=f"/{text}: {found}")
        # the whole run (a): the same, under the step's heading
        await pilot.press("a")
        await wait_for(pilot, lambda: output.whole_run and any("ValueError" in line for line in output.lines))
        assert output.lines[:4] == [
            "==> bar (attempt 0) <==",
            "epoch 0 start",
            "training: 100%|##########",
            "epoch 0 loss=0.5",
        ]
        assert not any("50%" in line for line in output.lines)


async def test_a_live_progress_bar_is_one_line_redrawn(git_repo: Path) -> None:
    """While the step runs, its line being written shows its latest frame, drawn again in place: the
    lines' widget holds one row for it, however many frames came (not every line redrawn either)."""
    run = subprocess.Popen(
        write_project(git_repo, "slow_bar"),
        cwd=git_repo,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((git_repo / ".catalog").rglob("*.live")):  # its growing file: it has printed
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.2)
        app = MagnusApp(Project.open(None, git_repo))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_run_screen(pilot, "slow_bar")
            output = screen.query_one("#output-view")
            screen.query_one("#dag").select_key("slow_bar")
            await pilot.press("o")
            await wait_for(pilot, lambda: output.source == "slow_bar" and len(output.lines) == 2, timeout=30)
            first = output.lines[1]
            assert first.startswith("step ")
            log = output.log_widget
            await wait_for(pilot, lambda: len(log.lines) == 2, what="2 rows drawn")
            drawn = log.lines[0]
            await wait_for(pilot, lambda: output.lines[1] != first, what="a later frame", timeout=30)
            assert len(output.lines) == 2 and output.lines[0] == "start"
            await pilot.pause(0.1)
            assert [strip.text.rstrip() for strip in log.lines] == output.lines
            assert log.lines[0] is drawn  # the line before it was not drawn again
    finally:
        if run.poll() is None:
            os.killpg(run.pid, 9)
        run.wait(30)
