"""SVG snapshots of every screen at 100x30 and 80x24 (the runs list, run and diff screens and step pair at
120x40 too), time frozen, over the original tool's run logs. Several pictures share one app where they can.

Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`
and look at the report before committing the new SVGs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from tui_helpers import (
    leave_screen,
    many_runs_began,
    open_run_screen,
    stop_magnus_clock,
    tables_settled,
    wait_for,
    write_diff_pair,
    write_many_runs,
)

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project

FROZEN = dt.datetime(2026, 11, 25, 9, 0, 0)
SIZES = {"100x30": (100, 30), "80x24": (80, 24)}
ALL_SIZES = {"120x40": (120, 40), **SIZES}


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(FROZEN, tick=False):
        yield


def app_for(project_dir: Path) -> MagnusApp:
    # a fixed theme and no clock: the pictures depend only on the run logs
    app = MagnusApp(Project.open(None, project_dir), poll_interval=3600)
    app.theme = "textual-dark"
    return app


@pytest.fixture
def svg_snapshot(snapshot):
    """Syrupy's snapshot, one SVG file per picture (as snap_compare stores them)."""
    from pytest_textual_snapshot import SVGImageExtension

    return snapshot.use_extension(SVGImageExtension)


def pictures(project_dir: Path, size: tuple[int, int], script) -> dict[str, str]:
    """Several pictures from one app (one start-up for many screens): `script(pilot, take)` drives it and
    calls `await take(name)` for each picture. Returns {name: svg}."""
    import asyncio

    app = app_for(project_dir)
    app.animation_level = "none"  # a tab's underline lands at once: no picture half-way through a slide
    taken: dict[str, str] = {}

    async def run() -> None:
        async with app.run_test(size=size) as pilot:

            async def take(name: str) -> None:
                await settle(pilot)
                await pilot.pause()
                await pilot.wait_for_scheduled_animations()
                await wait_for(
                    pilot, lambda: not tables_settled(app), what="the tables", why=lambda: tables_settled(app)
                )
                taken[name] = app.export_screenshot(title=app.title)

            await script(pilot, take)

    asyncio.run(run())
    return taken


async def settle(pilot) -> None:
    from textual.widgets import Input, TextArea

    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False  # a blinking cursor is not part of the picture
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, project_dir: Path, size: str) -> None:
    assert snap_compare(app_for(project_dir), terminal_size=SIZES[size], run_before=settle)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_runs_screen_many(snap_compare, project_dir: Path, size: str, monkeypatch) -> None:
    """Forty runs, some failed, interrupted or broken, sorted by duration, a failed run highlighted."""
    write_many_runs(project_dir / ".run_log_store")
    stop_magnus_clock(monkeypatch, many_runs_began())  # (its running runs' time so far: `<10s`, any day)

    async def run_before(pilot) -> None:
        from textual.widgets import DataTable

        def table() -> DataTable:
            return pilot.app.screen.query_one("#runs", DataTable)

        for _ in range(1500):  # every run listed before the keys (the index is read in a worker)
            await pilot.pause(0.02)
            if pilot.app.screen.query("#runs") and table().row_count >= 40:
                break
        await pilot.press("D", "j", "j")
        screen = pilot.app.screen
        for _ in range(1500):  # the highlighted run's panel is read in a worker too
            await pilot.pause(0.02)
            # The panel of the run the cursor ends on, not of a row the cursor passed on its way (a loaded
            # machine handles the three keys' highlight events and their panel reads one by one).
            final = screen._panel_for is not None and screen._panel_for == screen.highlighted()
            if final and str(screen.query_one("#reason").content).strip():
                break
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=ALL_SIZES[size], run_before=run_before)


def test_runs_screen_team_80x24(snap_compare, project_dir: Path) -> None:
    """A team's store at 80 columns: the user column right after the run id (runs of three users, one whose
    user is not recorded), and a run started by hand with execute_single_node reading ⋯ per-step,
    highlighted: the panel says how it goes on."""
    import json

    store = project_dir / ".run_log_store"
    ids = write_many_runs(store, count=12)
    for i, run_id in enumerate(ids):
        log = json.loads((store / f"{run_id}.json").read_text())
        if i != 4:
            log["run_config"]["process"]["user"] = ("alice", "bob", "chandra")[i % 3]
        if i == 11:  # the newest: started by hand, one step done
            log["status"] = "PROCESSING"
            process = log["run_config"]["process"]
            log["run_config"]["process"] = {"driven": "per-step", "host": "h", "user": process["user"]}
        (store / f"{run_id}.json").write_text(json.dumps(log))

    async def run_before(pilot) -> None:
        from textual.widgets import DataTable

        for _ in range(1500):  # every run listed (the index is read in a worker)
            await pilot.pause(0.02)
            screen = pilot.app.screen
            if screen.query("#runs") and screen.query_one("#runs", DataTable).row_count >= 12:
                break
        await pilot.press("j")
        for _ in range(1500):  # the per-step run's panel, read in a worker
            await pilot.pause(0.02)
            if "orchestrator" in str(screen.query_one("#reason").content):
                break
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=(80, 24), run_before=run_before)


def test_runs_screen_empty_store_120x40(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert snap_compare(app_for(tmp_path), terminal_size=(120, 40), run_before=settle)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_run_screen(svg_snapshot, project_dir: Path, size: str) -> None:
    """One app a size: a composite run (a map branch's step), a failed run (the failed step's Output and Step
    tabs), the Run tab."""

    async def opened(pilot, run_id: str) -> None:
        """The run's screen ready with its dag drawn (a loaded machine reads the log later than a settle)."""
        await open_run_screen(pilot, run_id)
        await settle(pilot)

    async def script(pilot, take) -> None:
        await opened(pilot, "composite_run")
        pilot.app.screen.query_one("#dag").select_key("map step.a.m1")
        await take("composite")
        await leave_screen(pilot)
        await opened(pilot, "failure_run")
        screen = pilot.app.screen
        output = screen.query_one("#output-view")
        await wait_for(
            pilot,
            lambda: screen.query_one("#tabs").active == "output" and output.source and not output.reading_now,
            what="the failed step's output",
        )
        await take("failure")  # on the Output tab (a failed run opens there: trial 11, fault 12)
        await pilot.press("i")
        await settle(pilot)
        await take("failure-step")
        await leave_screen(pilot)
        await opened(pilot, "gs_run")
        await pilot.press("p")
        await take("run-tab")

    for name, svg in pictures(project_dir, ALL_SIZES[size], script).items():
        assert svg_snapshot(name=name) == svg, name


async def open_diff_pair(pilot, tab: str = "") -> None:
    """The diff of `before` and `after` (tui_helpers.write_diff_pair), marked newest first, on `tab`."""
    pilot.app.open_diff("after", "before")
    for _ in range(3000):  # up to a minute: a loaded CI machine took more than the 4 s this once allowed
        await pilot.pause(0.02)
        if getattr(pilot.app.screen, "diff", None) is not None:
            break
    if tab:
        pilot.app.screen.query_one("TabbedContent").active = f"tab-{tab}"
    await settle(pilot)


DIFF_TABS = ("run", "dag", "code", "data", "parameters", "metrics", "steps")


@pytest.mark.parametrize("size", ALL_SIZES)
def test_diff_screen(svg_snapshot, project_dir: Path, size: str) -> None:
    """Every tab of the diff of `before` and `after`, one app a size."""
    write_diff_pair(project_dir / ".run_log_store")

    async def script(pilot, take) -> None:
        await open_diff_pair(pilot, "steps")  # then "run" again: its underline drawn under its final label
        for tab in DIFF_TABS:
            pilot.app.screen.query_one("TabbedContent").active = f"tab-{tab}"
            await take(tab)

    for name, svg in pictures(project_dir, ALL_SIZES[size], script).items():
        assert svg_snapshot(name=name) == svg, name


def test_diff_no_differences_80x24(snap_compare, project_dir: Path) -> None:
    async def run_before(pilot) -> None:
        pilot.app.open_diff("gs_run", "gs_run")
        for _ in range(200):
            await pilot.pause(0.02)
            if getattr(pilot.app.screen, "diff", None) is not None:
                break
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_step_pair(snap_compare, project_dir: Path, size: str) -> None:
    write_diff_pair(project_dir / ".run_log_store")

    async def run_before(pilot) -> None:
        await open_diff_pair(pilot, "steps")
        await pilot.press("s", "n")  # greet's two logs, the cursor on the first difference
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=ALL_SIZES[size], run_before=run_before)


def test_help_80x24(snap_compare, project_dir: Path) -> None:
    assert snap_compare(app_for(project_dir), terminal_size=(80, 24), press=["f1"], run_before=settle)


def test_start_form_80x24(snap_compare, project_dir: Path) -> None:
    (project_dir / "pipeline.yaml").write_text("dag: {start_at: s, steps: {}}\n")

    async def open_form(pilot) -> None:
        from magnus_tui.screens.start import StartScreen

        app = pilot.app
        await pilot.press("s")
        # its values (the pipeline files, the last ones used) are read in a worker: the picture after them
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen._files is not None,
            what="the start form's values",
        )
        await app.workers.wait_for_complete()
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=(80, 24), run_before=open_form)


def test_secret_prompt_80x24(snap_compare, project_dir: Path) -> None:
    from magnus_tui.dialogs.secret import SecretPrompt

    async def ask(pilot) -> None:
        pilot.app.push_screen(SecretPrompt("api_key", "20261125090000_abcdef"))
        await settle(pilot)
        await pilot.press(*"s3cr3t")
        await settle(pilot)

    assert snap_compare(app_for(project_dir), terminal_size=(80, 24), run_before=ask)
