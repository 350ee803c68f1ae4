"""The runs list's panel under a run a segfault ended (session 11, found trying the workbench at 80x24 and
120x40): it named the first step the crash cut short in the log's order, a victim branch (`fan.slow.s:
attempt 0 was cut short: the run's process crashed in fan.crashy.s`), where `magnus show` and the run's own
screen (4009ef8) lead with the crash (`fan.crashy.s: crashed (Segmentation fault) at steps.py:N in
crashy`); and at 80 columns its line wrapped to column 0 (` fan.crashy.s` under the indented text). Now it
says the step the crash hit, and a line too long for the panel wraps under its indent. And on the run's
Output tab, the whole run's `magnus: ...` lines (an attempt cut short, the crash) ended at the tab's edge:
they wrap now, as magnus's other lines do.

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


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_whole_runs_magnus_lines_are_read_whole(
    crashed: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """The lines the whole run's output adds after an attempt cut short (`magnus: fan.slow.s (attempt 0)
    was cut short: the run's process crashed in fan.crashy.s`, as `magnus logs` says them) are magnus's
    own: they wrap at any width, as the cap's marker does; they were cut at the tab's edge (80 and 120)."""
    from tui_helpers import open_run_screen

    from magnus_tui.widgets.output_view import OutputView
    from tests.tui.test_tui_output_wrap import rows_of

    monkeypatch.chdir(crashed)
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        screen = await open_run_screen(pilot, "crash1")
        await pilot.press("o")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "fan.crashy.s" and bool(view.lines), what="the output")
        await pilot.press("a")
        await wait_for(pilot, lambda: view.whole_run and len(view.lines) > 20, what="the whole run's output")
        await pilot.pause(0.1)
        own = [line for line in view.lines if line.startswith("magnus: ")]
        # where every thread's frames are, the crash's step, and the branch it took down (as `magnus logs`)
        assert len(own) == 3 and any("was cut short" in line for line in own), view.lines
        assert any(line.startswith("magnus: every thread's frames at the crash: ") for line in own), own
        drawn = " ".join(" ".join(row.split()) for row in await rows_of(pilot, view))
        for line in own:
            assert " ".join(line.split()) in drawn, (line, drawn)


async def test_f_on_a_crashed_run_goes_to_the_step_it_stopped_in(
    crashed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No step failed in a run a segfault ended: `f` puts the dag's cursor on the step the crash hit and
    says so (it said only `No step failed in this run`)."""
    from tui_helpers import open_run_screen

    from magnus_tui.widgets.dag_tree import DagTree

    monkeypatch.chdir(crashed)
    app = MagnusApp(Project.open(None, crashed), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run_screen(pilot, "crash1")
        dag = screen.query_one(DagTree)
        dag.select_key("fetch")
        screen.set_focus(dag)
        await wait_for(pilot, lambda: dag.cursor_key == "fetch", what="the cursor on fetch")
        await pilot.press("f")
        await wait_for(pilot, lambda: dag.cursor_key == "fan.crashy.s", what="the cursor on the crash's step")
        said = [n.message for n in app._notifications]
        assert any("it stopped in fan.crashy.s" in m for m in said), said
