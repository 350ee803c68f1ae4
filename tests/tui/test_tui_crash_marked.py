"""The run screen of a run whose process a segfault ended in one branch of a parallel (trial 16 F2, the
remainder of trial 15 N2): its dag drew the branch that crashed `■ crashy` like the branch the crash took
down (`■ slow`), and the Output tab of the step that crashed held the step's own output only, where `magnus
logs RUN STEP` prints after it the `Fatal Python error` line and the crashing thread's frames. Now the dag
marks the step the crash hit and its branch `■ crashy  crashed` (not the victims), and its
Output tab carries what `magnus logs` says of it: the frames, where every thread's are, and its line.

A real run that segfaults (`ctypes.string_at(0)`) in branch `crashy` while `slow` prints
(tests/crashing.py); the real app under App.run_test() at 80x24 and 120x40."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from tui_helpers import open_run_screen, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.dag_tree import DagTree
from magnus_tui.widgets.output_view import OutputView
from tests.conftest import run_magnus
from tests.crashing import RUN, crashing_project

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = crashing_project(tmp_path_factory.mktemp("crash"))
    done = run_magnus("execute", *RUN, "--run-id", "crash1", cwd=folder, env={"CRASH": "segv"})
    assert done.returncode == -signal.SIGSEGV, done.stderr
    return folder


async def _drawn_row(pilot, dag: DagTree, key: str) -> str:
    """Row `key` of the dag as the screen draws it (the cursor put on it: in view), right spaces dropped."""
    dag.select_key(key)
    await wait_for(pilot, lambda: dag.lines[dag.cursor_line] == key, what=f"the dag's cursor on {key}")
    await pilot.pause(0.1)
    region = dag.scrollable_content_region
    y = region.y + dag.cursor_line - round(dag.scroll_y)
    return screen_lines(pilot.app)[y][region.x : region.right].rstrip()


@SIZES
async def test_the_dag_marks_the_step_the_crash_hit(
    crashed: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(crashed)
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        screen = await open_run_screen(pilot, "crash1")
        dag = screen.query_one(DagTree)
        for key in ("fan.crashy", "fan.crashy.s"):
            row = await _drawn_row(pilot, dag, key)
            assert row.lstrip(" │├└─").startswith("■ "), row
            assert row.endswith("  crashed"), row
        for key in ("fan.slow", "fan.slow.s", "fan"):  # the branch it took down, the parallel: ■ alone
            row = await _drawn_row(pilot, dag, key)
            assert row.lstrip(" │├└─").startswith("■ "), row
            assert "crash" not in row, row


@SIZES
async def test_the_crashed_steps_output_has_the_crash_frames(
    crashed: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    from tests.tui.test_tui_output_wrap import rows_of

    monkeypatch.chdir(crashed)
    logs = run_magnus("logs", "crash1", "fan.crashy.s", cwd=crashed)
    assert "Fatal Python error: Segmentation fault" in logs.stdout, logs.stdout
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        screen = await open_run_screen(pilot, "crash1")  # opens on the crashed step's output (4009ef8)
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "fan.crashy.s" and bool(view.lines), what="its output")
        await pilot.pause(0.1)
        lines = view.lines
        assert lines[0] == "branch about to crash", lines
        # what `magnus logs crash1 fan.crashy.s` prints on stdout after the output, line by line
        printed = [line.rstrip() for line in logs.stdout.splitlines() if line.strip()]
        shown = [line.rstrip() for line in lines if line.strip()]
        assert shown[: len(printed)] == printed, (shown, printed)
        assert any(line.startswith("  File ") and line.endswith(" in crashy") for line in lines), lines
        said = [line for line in lines if line.startswith("magnus: ")]
        assert said == [
            "magnus: every thread's frames at the crash: .catalog/crash1/.magnus/fatal.log",
            next(line for line in logs.stderr.splitlines() if line.startswith("magnus: fan.crashy.s")),
        ], (said, logs.stderr)
        drawn = "\n".join(await rows_of(pilot, view))
        assert "Fatal Python error: Segmentation fault" in drawn, drawn
        # a branch it took down: its own output and the line magnus logs says of it, no frames
        dag = screen.query_one(DagTree)
        dag.select_key("fan.slow.s")
        await wait_for(pilot, lambda: view.source == "fan.slow.s" and bool(view.lines), what="slow's output")
        assert not any("Fatal Python error" in line for line in view.lines), "\n".join(view.lines)
        assert (
            view.lines[-1]
            == "magnus: fan.slow.s (attempt 0) was cut short: the run's process crashed in fan.crashy.s"
        )


@SIZES
async def test_the_panel_counts_the_steps_the_crash_took_down(
    crashed: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """The runs list's panel names the step the crash hit (d908eba), and says on its first row how many
    other steps the crash cut short (trial 16 F2: `3 other branches cut short`), as a failed run's says
    `and 2 more failed steps`; `magnus show` lists the crashed step first, then those."""
    from textual.widgets import Static
    from tui_helpers import plain

    monkeypatch.chdir(crashed)
    shown = run_magnus("show", "crash1", cwd=crashed).stdout.splitlines()
    cut = [line for line in shown if line.startswith("fan.")]
    assert [line.split(":")[0] for line in cut] == ["fan.crashy.s", "fan.slow.s"], shown
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "interrupted" in plain(reason), what="the runs list's panel")
        await pilot.pause(0.1)
        region = reason.content_region
        rows = [row[region.x : region.right].rstrip() for row in screen_lines(app)[region.y : region.bottom]]
        rows = [row for row in rows if row]
        assert rows[0] == "■ interrupted: 3 of 4 steps ran; 1 other step cut short by the crash", rows
        assert rows[1].strip().startswith(cut[0][:40]), (rows, cut)
