"""The workbench's whole-run output and Step tab of a run whose process crashed (session 10, trial 13
fault 5): the whole-run view (`o`, `a`) said `complete (the run has ended)` / `no step has printed anything
yet` where `magnus logs RUN` listed the step cut short and the file lost with the process, and for a
parallel that crashed it had no cut-short line for either branch; the Step tab said `what it wrote until
then: Output (o)` of a step none of whose output reached its file. Now the view carries the lines `magnus
logs` says (the crashing thread's frames, `crashed (...)`, `was cut short: ... crashed in fan.crashy.s`,
`output lost with the run's process`), its title says `cut short`, and the Step tab says none reached its
file. Real runs that segfault (ctypes.string_at(0)) in subprocesses; the real app under App.run_test()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Static
from tui_helpers import plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_crash_hints import _project  # noqa: E402  (the same steps and pipelines as the CLI's test)


def _crashed(folder: Path, pipeline: str, run_id: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", pipeline, "--run-id", run_id],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGSEGV, done.stderr


async def _opened(pilot, app: MagnusApp, run_id: str) -> RunScreen:
    app.open_run(run_id)
    deadline = time.monotonic() + 30
    while not (isinstance(app.screen, RunScreen) and app.screen.ready):
        assert time.monotonic() < deadline
        await pilot.pause(0.05)
    assert isinstance(app.screen, RunScreen)
    return app.screen


async def _whole_run(pilot, app: MagnusApp, run_id: str) -> tuple[RunScreen, OutputView]:
    screen = await _opened(pilot, app, run_id)
    await pilot.press("o")
    output = screen.query_one(OutputView)
    await pilot.press("a")  # the whole run
    await wait_for(pilot, lambda: output.whole_run and not output.reading_now and bool(output.lines))
    await pilot.pause(0.1)
    return screen, output


async def test_the_whole_run_says_a_crash_in_a_steps_first_instant(tmp_path: Path, monkeypatch) -> None:
    _project(tmp_path)
    _crashed(tmp_path, "silent.yaml", "segv1")
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, output = await _whole_run(pilot, app, "segv1")
        lines = output.lines
        said = (
            "magnus: wait (attempt 0) crashed (Segmentation fault) at mlproj/steps.py:34 in segv_silent; none of its "
            "output reached its file"
        )
        assert said in lines, lines
        at = lines.index("==> wait (attempt 0) <==")
        assert lines[at + 1] == "Fatal Python error: Segmentation fault", lines
        assert lines[:2] == ["==> prep (attempt 0) <==", "loading 3 columns"], lines  # (kept, or held)
        title = plain(output.query_one("#output-title", Static))
        assert "cut short (wait's attempt 0 did not finish)" in title and "complete" not in title, title
        assert "no step has printed" not in output.note
        # the Step tab's message: no pointer to output that is not there
        message = screen.view.rows["wait"].message
        assert "none of its output reached its file" in message and "Output (o)" not in message, message


async def test_the_whole_run_names_the_branch_that_crashed(tmp_path: Path, monkeypatch) -> None:
    _project(tmp_path)
    _crashed(tmp_path, "parallel.yaml", "pc1")
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, output = await _whole_run(pilot, app, "pc1")
        lines = output.lines
        assert (
            "magnus: fan.slow.s (attempt 0) was cut short: the run's process crashed in fan.crashy.s" in lines
        )
        crashed = "magnus: fan.crashy.s (attempt 0) crashed (Segmentation fault) at mlproj/steps.py:30 in crash_later"
        assert crashed in lines, lines
        title = plain(output.query_one("#output-title", Static))
        assert "cut short (2 attempts did not finish)" in title, title
        # each branch had printed: its Step tab points to its output
        assert "Output (o)" in screen.view.rows["fan.slow.s"].message


async def test_the_run_screen_opens_on_the_branch_that_crashed_and_says_the_crash(
    tmp_path: Path, monkeypatch
) -> None:
    """Trial 15 N2 (major): the run screen of a crashed parallel opened on `fan.slow.s`, a branch the crash
    took down, and its Step and Output tabs said what a kill -9 says; the crash was named only in the runs
    list's panel and the whole-run view's last line. It opens on the crashing branch, whose Step tab and
    Output header say the crash as `magnus show` does, and the other branch says where the crash was."""
    _project(tmp_path)
    _crashed(tmp_path, "parallel.yaml", "pc2")
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _opened(pilot, app, "pc2")
        assert screen.selected == "fan.crashy.s"
        crashed = "crashed (Segmentation fault) at mlproj/steps.py:30 in crash_later"
        assert crashed in screen.view.rows["fan.crashy.s"].message
        assert "the run's process crashed in fan.crashy.s" in screen.view.rows["fan.slow.s"].message
        output = screen.query_one(OutputView)
        await wait_for(pilot, lambda: not output.reading_now and bool(output.lines))
        await pilot.pause(0.2)
        header = plain(output.query_one("#output-failure", Static))
        assert crashed in " ".join(header.split()), header


async def test_the_whole_run_says_where_every_threads_frames_are(tmp_path: Path, monkeypatch) -> None:
    """Session 12 (crash11's 'Left alone'): after the crashing thread's frames, `magnus logs RUN` says where
    every thread's are (`magnus: every thread's frames at the crash: .catalog/RUN/.magnus/fatal.log`); the
    whole run's view left that line out, so the other threads' frames were nowhere to be found from it. The
    view's lines around the crash are those `magnus logs RUN` prints (stdout and stderr, in order)."""
    _project(tmp_path)
    _crashed(tmp_path, "at_once.yaml", "segv2")
    monkeypatch.chdir(tmp_path)
    printed = subprocess.run(
        [sys.executable, "-m", "magnus_core", "logs", "segv2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    where = "magnus: every thread's frames at the crash: .catalog/segv2/.magnus/fatal.log"
    assert where in printed, printed
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        _, output = await _whole_run(pilot, app, "segv2")
        lines = output.lines
        assert where in lines, lines
        # from the step's heading to its `crashed` line, as `magnus logs segv2` prints them
        start, end = lines.index("==> wait (attempt 0) <=="), lines.index(where) + 2
        at = printed.index("==> wait (attempt 0) <==")
        assert lines[start:end] == printed[at : at + end - start], (lines, printed)
        assert lines[end - 1].startswith("magnus: wait (attempt 0) crashed (Segmentation fault) at ")
