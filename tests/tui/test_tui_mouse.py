"""A click on a row selects the row under the pointer, in every list, tree and table of the workbench (the
runs list also when scrolled sideways at 80 columns, the step's tables, the run's tables, the step pair view,
the pipeline picker). The diff's lists and the dag tree have their own tests (test_tui_diff, test_tui_run_screen)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable
from tui_helpers import leave_screen, open_run_screen, wait_for, write_diff_pair

PIPELINES = ("a.yaml", "b.yaml", "c.yaml", "d.yaml")


async def click_rows(pilot, table: DataTable, rows: tuple[int, ...], x: int = 2) -> None:
    """Click each of `rows` (0 is the first row under the header) and check the cursor went there."""
    for row in rows:
        y = row + (1 if table.show_header else 0) - table.scroll_y
        await pilot.click(table, offset=(x, y))
        await pilot.pause()
        assert table.cursor_row == row, f"{table.id}: clicked row {row}, the cursor is on {table.cursor_row}"


async def test_runs_list_clicks_in_fixed_and_scrolled_columns(make_app, project_dir: Path) -> None:
    from tui_helpers import write_many_runs

    write_many_runs(project_dir / ".run_log_store", 8)  # long run ids: the columns do not fit 80
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        await click_rows(pilot, table, (2, 0, 3))  # on the status glyph: a fixed column
        for _ in range(4):
            await pilot.press("right")
        assert table.scroll_x > 0
        await click_rows(pilot, table, (1, 3), x=60)  # on a column scrolled into view
        assert table.scroll_x > 0  # a click does not scroll the list back


async def test_step_and_run_tables_click_the_row_under_the_pointer(make_app) -> None:
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run_screen(pilot, "failure_run")  # the tabs are mounted after the dag is drawn
        await pilot.press("i")  # a failed run opens on its Output tab (trial 11, fault 12)
        await wait_for(pilot, lambda: screen.query_one("#tabs").active == "step")
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: "flaky" in tree.nodes_by_key)
        tree.select_key("flaky")
        attempts = screen.query_one("#attempts", DataTable)
        await wait_for(pilot, lambda: attempts.row_count == 2)
        await click_rows(pilot, attempts, (1, 0, 1))
        await leave_screen(pilot)  # else the escape, late on a loaded machine, could close the next screen
        screen = await open_run_screen(pilot, "gs_run")  # five parameters
        await pilot.press("p")
        params = screen.query_one("#run-params", DataTable)
        await wait_for(pilot, lambda: params.row_count >= 2 and params.region.height > 0)
        await click_rows(pilot, params, (3, 0, 4))


async def test_step_pair_view_clicks_the_line_under_the_pointer(make_app, project_dir: Path) -> None:
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_diff("before", "after")
        await wait_for(pilot, lambda: getattr(app.screen, "diff", None) is not None)
        app.screen.query_one("TabbedContent").active = "tab-steps"
        await pilot.pause()
        app.screen.query_one("#group-steps").focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(app.screen.query("#pairs")))
        view = app.screen.query_one("#pairs")
        await pilot.pause()
        top = view.content_region.y - view.region.y  # lines start under the widget's border, if any
        for line in (4, 1, 6):
            await pilot.click(view, offset=(3, top + line))
            assert view.cursor_line == line, f"clicked line {line}, got {view.cursor_line}"


async def test_pipeline_picker_clicks_select_then_open(make_app, project_dir: Path) -> None:
    for name in PIPELINES:
        (project_dir / name).write_text("dag:\n  start_at: s\n  steps:\n    s: {type: success}\n")
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_start_run()
        await wait_for(pilot, lambda: bool(app.screen.query("#pipeline")))
        form = app.screen
        await wait_for(pilot, lambda: form._files is not None)
        await pilot.press("ctrl+o")
        options = app.screen.query_one("#pipelines")
        await wait_for(pilot, lambda: options.option_count == len(PIPELINES))
        top = options.content_region.y - options.region.y  # under the list's border
        for index in (2, 0, 3):
            await pilot.click(options, offset=(3, top + index))
            assert options.highlighted == index, f"clicked {index}, highlighted {options.highlighted}"
        await pilot.click(options, offset=(3, top + 3))  # the highlighted one again: picked
        await wait_for(pilot, lambda: app.screen is form)
        assert form.query_one("#pipeline").value == "d.yaml"
