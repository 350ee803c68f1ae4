"""What the workbench does while nothing happens (issue 19 target 6: idle CPU with a run executing): the run
screen's clock redraws the running times only, the runs list under a run's screen does not poll, and the
runs list scans the store only when the store changed; a footer is built again only when its keys change."""

from __future__ import annotations

import datetime as dt
import json
import time
from itertools import pairwise
from pathlib import Path

import pytest
import time_machine
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Static
from textual.widgets._footer import FooterKey
from tui_helpers import RUN_LOGS, live_project, plain, screen_lines

from magnus_core.stores.file_system import FileSystemRunLogStore
from magnus_tui.app import MagnusApp
from magnus_tui.screens.base import KeysFooter
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project
from magnus_tui.widgets.step_detail import StepDetail

FROZEN = dt.datetime(2026, 11, 25, 9, 0, 0, tzinfo=dt.UTC)  # live_run began at 08:58:00, `train` at 08:58:02


async def until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the screen never got there"
        await pilot.pause(0.02)


def calls(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """A list that grows by one at each call of Project.`method` (which still does its work)."""
    made: list[int] = []
    original = getattr(Project, method)
    monkeypatch.setattr(Project, method, lambda self: made.append(1) or original(self))
    return made


async def listed(pilot) -> DataTable:
    """The runs list's table, once it lists runs."""
    table = pilot.app.screen.query_one("#runs", DataTable)
    await until(pilot, lambda: table.row_count > 0)
    return table


async def test_the_clock_moves_the_running_times_without_redrawing_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a second: the header's time and the running step's row in the dag, drawn on the screen; the
    step's tables are not drawn again (the attempt in progress says `…`: its time is the dag row's)."""
    live_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    with time_machine.travel(FROZEN, tick=False) as traveller:
        app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            app.open_run("live_run")
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ready)
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.selected == "train"  # the running step
            attempts = screen.query_one("#attempts", DataTable)
            await until(pilot, lambda: attempts.row_count > 0)
            assert str(attempts.get_cell_at(Coordinate(attempts.row_count - 1, 2))) == "…"
            before = screen.query_one("#dag").label("train").plain
            assert "running 1m 58s" in before
            redrawn: list[object] = []
            detail = screen.query_one(StepDetail)
            monkeypatch.setattr(detail, "show", lambda *args, **kwargs: redrawn.append(args))
            drawn: list[int] = []
            draw = attempts.render_line
            attempts.render_line = lambda y: drawn.append(y) or draw(y)  # type: ignore[method-assign]
            traveller.shift(5)
            screen.tick()
            await pilot.pause()
            running = screen.query_one("#dag").label("train").plain.split("  ")[-1]
            assert running.startswith("running 2m ") and running not in before  # 5 s later
            assert "2m 5s" in plain(screen.query_one("#run-header", Static))  # as the dag says it (trial 4)
            shown = screen_lines(app)
            assert any(running in line for line in shown)  # drawn on the screen
            assert any("2m 5s" in line for line in shown)
            assert redrawn == [] and drawn == []  # not the step's tables and texts all over again


async def test_the_runs_list_does_not_poll_under_a_run_screen(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = calls(monkeypatch, "quiet_token")
    async with make_app(poll_interval=0.05).run_test(size=(100, 30)) as pilot:
        app = pilot.app
        await listed(pilot)
        await until(pilot, lambda: len(looks) > 2)  # the list polls
        app.open_run("gs_run")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ready)
        await pilot.pause(0.2)
        looks.clear()
        await pilot.pause(0.5)
        assert looks == []  # under the run's screen (Textual counts the screen below as current)
        await pilot.press("escape")
        await until(pilot, lambda: len(looks) > 2)  # back on top: it polls again


async def test_the_runs_list_scans_the_store_only_when_it_changed(
    make_app, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FileSystemRunLogStore, "QUIET_FOR", 0.0)  # a token at once (else 2 s of quiet)
    scans = calls(monkeypatch, "run_versions")
    async with make_app(poll_interval=0.05).run_test(size=(100, 30)) as pilot:
        table = await listed(pilot)
        count = table.row_count
        await pilot.pause(0.2)
        scans.clear()
        await pilot.pause(0.5)  # ten polls
        assert scans == []
        log = json.loads(next(iter(sorted(RUN_LOGS.glob("*.json")))).read_text())
        log["run_id"] = "written_later"
        (project_dir / ".run_log_store" / "written_later.json").write_text(json.dumps(log))
        await until(pilot, lambda: table.row_count == count + 1)
        assert scans  # the folder changed: the store's runs listed again
        assert "written_later" in [str(key.value) for key in table.rows]


async def test_a_footer_is_built_again_only_when_its_keys_change(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual's footer rebuilt all its keys at every change of focus (three times to open a run, 50-70 ms
    each); the workbench's rebuilds only when the keys it shows changed."""
    built: list[str] = []
    recompose = Footer.recompose

    async def counted(self: Footer) -> None:
        built.append(type(self.screen).__name__)
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counted)
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("gs_run")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ready)
        await pilot.pause(0.2)
        assert built.count("RunScreen") == 1

        def keys() -> set[str]:
            return {str(key.description) for key in app.screen.query_one(KeysFooter).query(FooterKey)}

        # (a run that succeeded: no stop, no re-run)
        assert {"Back", "Step", "Run", "Output"} <= keys() and not {"Stop", "Re-run"} & keys()
        await pilot.press("o")  # the output's lines have focus: their keys join the footer
        await until(pilot, lambda: "Search" in keys())
        assert built.count("RunScreen") == 2


async def test_a_cell_set_draws_its_row_alone_and_the_screen_shows_it(make_app) -> None:
    """DataTable.update_cell draws every visible row again (30-40 ms for the runs list each time a
    running run's duration moved); set_cell draws the row, and the screen shows the new value."""
    async with make_app(poll_interval=3600).run_test(size=(100, 30)) as pilot:
        table = await listed(pilot)
        await pilot.pause()
        run_id = str(next(iter(table.rows)).value)
        drawn: list[int] = []
        draw = table.render_line
        table.render_line = lambda y: drawn.append(y) or draw(y)  # type: ignore[method-assign]
        table.set_cell(run_id, "duration", "≥9s")  # as wide as what the column holds: its row alone
        await pilot.pause()
        assert len(drawn) == 1
        assert any(run_id in line and "≥9s" in line for line in screen_lines(pilot.app))
        drawn.clear()
        wide = "≥1h 40m 0s"  # wider than the column: it widens, and every row is drawn again
        table.set_cell(run_id, "duration", wide)
        await pilot.pause()
        assert len(drawn) > 5
        assert any(run_id in line and wide in line for line in screen_lines(pilot.app))


async def test_a_store_changed_at_the_last_full_read_is_not_scanned_at_every_poll(
    make_app, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run written just before a full read leaves the store's quiet token unknown at that read (the
    folder changed less than QUIET_FOR ago): once the folder is quiet, the polls must not list the store
    again and again (every poll scanned 5,000 logs until the next full read, 30 s later)."""
    monkeypatch.setattr(FileSystemRunLogStore, "QUIET_FOR", 0.3)
    scans = calls(monkeypatch, "run_versions")
    async with make_app(poll_interval=0.05).run_test(size=(100, 30)) as pilot:
        table = await listed(pilot)
        count = table.row_count
        log = json.loads(next(iter(sorted(RUN_LOGS.glob("*.json")))).read_text())
        log["run_id"] = "written_later"
        (project_dir / ".run_log_store" / "written_later.json").write_text(json.dumps(log))
        await until(pilot, lambda: table.row_count == count + 1)  # a full read, the token unknown
        await pilot.pause(0.6)  # the folder quiet for longer than QUIET_FOR: the token known
        scans.clear()
        await pilot.pause(0.5)  # ten polls
        assert scans == []


async def test_a_run_followed_in_its_store_is_polled_less_while_it_does_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run written by another process is polled every follow_interval (50 ms) while it changes; while
    it does not (its step sleeps), the poll waits longer, up to FOLLOW_QUIET_MAX."""
    from magnus_core.follow import Follower
    from magnus_tui.screens import run as run_screen

    live_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_screen, "FOLLOW_QUIET_MAX", 0.2)
    polls: list[float] = []
    poll = Follower.poll
    monkeypatch.setattr(Follower, "poll", lambda self: polls.append(time.monotonic()) or poll(self))
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("live_run")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.following)
        await pilot.pause(1.0)  # quiet for a second: the poll waits FOLLOW_QUIET_MAX
        polls.clear()
        await pilot.pause(1.0)  # (longer on a loaded machine: the gaps are measured, not the count)
        gaps = [later - earlier for earlier, later in pairwise(polls)]
        assert len(polls) >= 2  # it still polls
        # about FOLLOW_QUIET_MAX (0.2 s) apart, not the follow interval's 50 ms
        assert min(gaps) >= 0.15, gaps
