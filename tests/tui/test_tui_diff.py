"""The diff screen: the core's diff of two runs, grouped, changed-only by default, step logs side by side."""

from __future__ import annotations

import time

from textual.widgets import Static, TabbedContent
from tui_helpers import column, plain

from magnus_tui.screens.diff import DiffScreen
from magnus_tui.screens.step_pair import StepPairScreen


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.02)


async def test_mark_two_runs_and_compare_them(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("down", "down", "d")  # composite_run
        assert app.screen.marked == ["composite_run"]
        await pilot.press("down", "d")  # gs_run
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        screen = app.screen
        await wait_for(pilot, lambda: screen.diff is not None)
        summary = plain(screen.query_one("#diff-summary", Static))
        assert "composite_run" in summary and "gs_run" in summary
        assert f"{screen.diff.count} differences" in summary
        tabs = screen.query_one(TabbedContent)
        assert str(tabs.get_tab("tab-metrics").label) == f"metrics {screen.diff.groups['metrics'].count}"
        assert tabs.active != "tab-run"  # opens on the first group that changed
        tabs.active = "tab-metrics"
        await pilot.pause()
        metrics = screen.query_one("#group-metrics")
        keys = column(metrics, "key")
        assert "consume › total" in keys and "prepare › variance" not in keys  # changed only
        assert column(metrics, "b")[keys.index("consume › total")] == "9"
        assert column(metrics, "a")[keys.index("consume › total")] == "—"
        await pilot.press("a")
        await pilot.pause()
        assert "prepare › variance" in column(metrics, "key")
        assert "all items" in plain(screen.query_one("#diff-summary", Static))

        tabs.active = "tab-steps"
        await pilot.pause()
        steps = screen.query_one("#group-steps")
        steps.focus()
        steps.move_cursor(row=0)
        change = steps.highlighted_change()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, StepPairScreen)
        assert app.screen.internal_name == change.step
        right = plain(app.screen.query_one("#step-b", Static)) + plain(
            app.screen.query_one("#step-a", Static)
        )
        assert change.step.split(".")[-1] in right
        await pilot.press("escape", "escape")
        assert app.screen.__class__.__name__ == "RunsScreen"


async def test_numeric_deltas_are_shown(make_app, project_dir) -> None:
    import json

    data = json.loads((project_dir / ".run_log_store" / "gs_run.json").read_text())
    data["run_id"] = "gs_more"
    data["parameters"]["x"] = 5
    data["steps"]["prepare"]["user_defined_metrics"]["variance"] = 0.9
    (project_dir / ".run_log_store" / "gs_more.json").write_text(json.dumps(data))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_diff("gs_run", "gs_more")
        await pilot.pause()
        screen = app.screen
        await wait_for(pilot, lambda: screen.diff is not None)
        params = screen.query_one("#group-parameters")
        assert column(params, "key") == ["x"]
        assert column(params, "delta") == ["+2"]
        metrics = screen.query_one("#group-metrics")
        assert column(metrics, "delta") == ["+0.300"]


async def test_a_broken_side_says_why(make_app, project_dir) -> None:
    (project_dir / ".run_log_store" / "bad.json").write_text("{")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_diff("gs_run", "bad")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.error))
        assert "Cannot compare" in plain(screen.query_one("#diff-summary", Static))
        assert "bad.json" in plain(screen.query_one("#diff-summary", Static))
