"""Session 9, tui9 item 2: since de8914d a python step stopped by Ctrl-C or SIGTERM keeps where its code was,
and `magnus show` / `magnus logs` say `interrupted at steps.py:7 in hang (SIGINT: the run was stopped)`;
the workbench said only `interrupted by SIGINT: the run was stopped` (Step tab), nothing above the Output
tab's lines, and `interrupted after 0 of 1 steps` in the runs list's panel. A real run stopped by SIGINT, the
real app at 80x24."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """import time


def hang():
    print("waiting", flush=True)
    while True:
        time.sleep(0.05)
"""

PIPELINE = """
dag:
  start_at: hang
  steps:
    hang: {type: task, command: steps.hang, next: success}
    success: {type: success}
    fail: {type: fail}
"""

SAID = "interrupted at steps.py:7 in hang (SIGINT: the run was stopped)"
# the output's last line: what stopped it, in the user's words (session 12; it read `KeyboardInterrupt`, and
# `magnus_core.errors.Terminated` for a stop)
BY_CTRL_C = "KeyboardInterrupt: the run was stopped by Ctrl-C (SIGINT)"


def stopped_run(repo: Path, run_id: str) -> None:
    """Run the hanging step and stop it with SIGINT (Ctrl-C) once it has printed."""
    (repo / "steps.py").write_text(STEPS)
    (repo / "hang.yaml").write_text(PIPELINE)
    run = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "hang.yaml", "--run-id", run_id],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((repo / ".catalog").rglob("*.live")):  # its growing file: it has printed
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.1)
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(30)
    shown = subprocess.run(
        [sys.executable, "-m", "magnus_core", "show", run_id],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"hang: {SAID}" in shown.stdout  # what the workbench should say too


async def test_an_interrupted_step_says_where_its_code_was(git_repo: Path) -> None:
    stopped_run(git_repo, "stopped")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "interrupted" in plain(reason), what="the runs list's panel")
        assert plain(reason).splitlines() == ["■ interrupted: 1 of 1 steps ran", f"  hang: {SAID}"]
        screen = await open_run_screen(pilot, "stopped")
        assert screen.selected == "hang"
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: SAID in plain(message), what="the Step tab's message")
        output = screen.query_one("#output-view")
        await pilot.press("o")
        await wait_for(pilot, lambda: output.source == "hang" and BY_CTRL_C in output.lines)
        header = output.query_one("#output-failure", Static)
        await wait_for(pilot, lambda: header.display, what="the Output tab's header")
        assert plain(header).startswith(f"■ {SAID}")
        assert header.region.height == 2  # at 80 columns: whole, its `i` hint wrapped under it


async def test_an_interrupted_run_opens_on_the_output_of_the_step_it_stopped_in(git_repo: Path) -> None:
    """tui9: an interrupted run opened on its step's Step tab, a failed run on the Output tab; the last lines
    of the step it stopped in are what is looked for (a hung step's last print). The Step tab is `i` away."""
    stopped_run(git_repo, "stopped")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "stopped")
        tabs = screen.query_one("#tabs")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: tabs.active == "output", what="the Output tab")
        await wait_for(pilot, lambda: output.source == "hang" and "waiting" in output.lines)
        assert plain(output.query_one("#output-failure", Static)).startswith(f"■ {SAID}")
        await pilot.press("i")
        await wait_for(pilot, lambda: tabs.active == "step", what="the Step tab on i")
        assert SAID in plain(screen.query_one("#step-message", Static))


async def test_o_on_the_runs_list_opens_the_step_an_interrupted_run_stopped_in(git_repo: Path) -> None:
    """Session 11 (views10's left item): `o` (or `l`) on the runs list opened a failed run on its failed
    step's output but an interrupted one on the whole run's, though Enter opens it on the step it stopped
    in (above) and `magnus show` names that step: `o` now opens that step's output too."""
    stopped_run(git_repo, "stopped")
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: bool(app.screen.query("#runs")) and app.screen.highlighted() == "stopped"
        )
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ready, what="the run")
        screen = app.screen
        tabs = screen.query_one("#tabs")
        output = screen.query_one("#output-view")
        await wait_for(pilot, lambda: tabs.active == "output", what="the Output tab")
        await wait_for(
            pilot, lambda: output.source == "hang" and "waiting" in output.lines, what="hang's lines"
        )
        assert not output.whole_run and screen.selected == "hang"
        assert plain(output.query_one("#output-failure", Static)).startswith(f"■ {SAID}")
        await pilot.press("a")  # the whole run is a key away, as for a failed run
        await wait_for(pilot, lambda: output.whole_run, what="the whole run on a")
