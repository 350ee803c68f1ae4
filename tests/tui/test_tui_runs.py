"""The runs screen over a real file-system store holding the original tool's run logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.widgets import DataTable, Input, Static
from tui_helpers import column, plain, wait_for, write_diff_pair

from magnus_tui.app import MagnusApp
from magnus_tui.screens.run import RunScreen
from magnus_tui.screens.runs import RunsScreen
from magnus_tui.source import Project
from magnus_tui.widgets.dag_tree import DagTree


async def test_lists_every_run_newest_first(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one("#runs", DataTable)
        assert column(table, "run_id") == ["data_run", "failure_run", "composite_run", "gs_run"]
        assert column(table, "state") == ["✓", "✗", "✓", "✓"]
        assert column(table, "steps") == ["3/3", "3/3", "6/6", "4/4"]  # ran / total: a failed step ran too
        assert column(table, "start")[0] == "11-24 22:44"  # the run id carries the second
        hint = plain(app.screen.query_one("#hint", Static))
        assert "4 of 4 runs" in hint


async def test_filter_as_you_type_by_status_tag_and_parameter(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"fail")
        table = app.screen.query_one("#runs", DataTable)
        assert column(table, "run_id") == ["failure_run"]
        box = app.screen.query_one("#filter", Input)
        box.value = "x=3 y=world"  # parameter text (params.yaml of the fixtures)
        await pilot.pause()
        assert column(table, "run_id") == ["composite_run", "gs_run"]
        assert "lr=0.1 matches a parameter" in str(box.placeholder)  # the syntax, where the user types
        assert "x=" not in plain(app.screen.query_one("#hint", Static))
        box.value = "x 3"  # trial 6: `lr 5` matched the 5 in ids and times; the hint says `x=3`
        await pilot.pause()
        assert plain(app.screen.query_one("#hint", Static)).startswith("x=3 matches the parameter x only  ")
        box.value = "GS_"  # part of an id, any case
        await pilot.pause()
        assert column(table, "run_id") == ["gs_run"]
        box.value = "nothing-matches-this"
        await pilot.pause()
        assert table.row_count == 0
        assert "No run matches" in plain(app.screen.query_one("#hint", Static))
        await pilot.press("escape")
        assert table.row_count == 4
        assert not box.has_class("visible")


async def test_enter_opens_the_run_and_escape_goes_back(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        assert app.screen.run_id == "failure_run"
        # a failed run opens on its Output tab with the keys on the lines (trial 11, fault 12): the first
        # escape gives them back to the dag (as the title says), the next goes back to the runs
        screen = app.screen
        await wait_for(pilot, lambda: screen.focused is screen.query_one("#output-log"), what="the lines")
        await pilot.press("escape")
        assert isinstance(app.screen, RunScreen) and isinstance(app.screen.focused, DagTree)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_new_run_appears_without_a_key(make_app, project_dir: Path) -> None:
    app = make_app(poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 4
        data = json.loads((project_dir / ".run_log_store" / "gs_run.json").read_text())
        data["run_id"] = "zz_new"
        for step in data["steps"].values():
            for a in step["attempts"]:
                a["start_time"] = a["start_time"].replace("2026-11-24", "2026-11-25")
        (project_dir / ".run_log_store" / "zz_new.json").write_text(json.dumps(data))
        for _ in range(40):
            await pilot.pause(0.05)
            if table.row_count == 5:
                break
        assert column(table, "run_id")[0] == "zz_new"


async def test_broken_and_half_written_logs_show_with_their_reason(make_app, project_dir: Path) -> None:
    store = project_dir / ".run_log_store"
    (store / "half.json").write_text('{"run_id": "half", "steps": {"a": {')
    (store / "notalog.json").write_text("[1, 2]")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        rows = column(table, "run_id")
        assert {"half", "notalog"} <= set(rows)
        table.move_cursor(row=rows.index("half"))
        await pilot.pause()
        reason = plain(app.screen.query_one("#reason", Static))
        assert "half.json" in reason and "not valid JSON" in reason
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        header = plain(app.screen.query_one("#run-header", Static))
        assert "BROKEN" in header and "not valid JSON" in header


async def test_missing_store_folder_shows_an_empty_list_with_a_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#runs", DataTable).row_count == 0
        empty = app.screen.query_one("#empty", Static)
        hint = plain(empty)
        assert "does not exist" in hint and ".run_log_store" in hint
        assert empty.region.height > 3 and empty.region.y < 12  # the list's place, not a cut last line
        assert hint.rstrip().endswith("in this folder.")


async def test_bad_config_file_is_one_line_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("run_log_store: {type: nowhere}\n")
    app = MagnusApp(Project.open("bad.yaml", tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hint = plain(app.screen.query_one("#empty", Static))
        assert "Cannot open the run-log store" in hint and "nowhere" in hint


async def test_a_broken_config_is_the_line_the_command_line_prints(tmp_path: Path, monkeypatch) -> None:
    """closing6 "Left": the workbench opening on a config with a mistake said the file and the field but not
    the line; it now says what `magnus runs` says, line included, for a block's option and for a block's
    own key, in magnus-config.yaml and in a --config-file."""
    from tests.conftest import run_magnus

    monkeypatch.chdir(tmp_path)
    mistakes = {
        "magnus-config.yaml": "# team\nrun_log_store:\n  type: chunked-fs\n  config:\n    log_foldr: x\n",
        "c.yaml": "catalog:\n  type: file-system\nrun_log_store:\n  type: file-system\n\n  confg: {}\n",
    }
    for name, text in mistakes.items():
        (tmp_path / name).write_text(text)
        config_file = None if name == "magnus-config.yaml" else name
        app = MagnusApp(Project.open(config_file, tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            hint = " ".join(plain(app.screen.query_one("#empty", Static)).split())
        said = run_magnus("runs", *(["-c", name] if config_file else []), cwd=tmp_path)
        assert said.returncode == 2 and " line " in said.stderr, said.stderr
        assert hint == "Cannot open the run-log store: " + said.stderr.strip().removeprefix("Error: "), hint
        (tmp_path / name).unlink()


async def test_help_copy_theme_and_screenshot(make_app, project_dir: Path) -> None:
    app = make_app()
    app.screenshot_dir = project_dir
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        keys = plain(app.screen.query_one("#help-keys", Static))
        assert "Filter" in keys and "Diff" in keys and "Quit" in keys
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("c")
        assert app.clipboard == "data_run"
        theme = app.theme
        app.action_toggle_dark()
        assert app.theme != theme
        await pilot.press("f12")
        await pilot.pause()
        assert list(project_dir.glob("*.svg"))


async def test_command_palette_lists_the_screens_actions(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"mark for diff")
        from textual.command import CommandList

        texts: list[str] = []
        for _ in range(1500):  # the palette searches in a worker: its answer, not a fixed pause
            await pilot.pause(0.02)
            options = app.screen.query_one(CommandList)
            texts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            if any("Mark for diff" in t for t in texts):
                break
        assert any("Mark for diff" in t for t in texts)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.marked == ["data_run"]


async def test_no_color_keeps_glyphs(make_app, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color
        assert column(app.screen.query_one("#runs", DataTable), "state")[1] == "✗"


async def test_original_tool_composite_log_opens(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("composite_run")
        for _ in range(200):  # the run screen fills its tree once its tabs are mounted
            await pilot.pause(0.02)
            if app.screen.query("#dag") and app.screen.query_one("#dag").nodes_by_key:
                break
        tree = app.screen.query_one("#dag")
        for _ in range(100):  # the log is read off the UI thread
            if tree.nodes_by_key:
                break
            await pilot.pause(0.02)
        assert "map step.a.m1" in tree.nodes_by_key
        assert tree.parent_of("map step.a.m1") == "map step.a"
        assert tree.parent_of("map step.a") == "map step"
        assert "nested.dag.inner step" in tree.nodes_by_key


def test_copying_a_store_keeps_originals(project_dir: Path) -> None:
    """The workbench only reads: opening every run leaves the files as they were."""
    before = {p.name: p.read_bytes() for p in (project_dir / ".run_log_store").iterdir()}
    project = Project.open(None, project_dir)
    for entry in project.runs():
        project.get_run(entry.summary.run_id)
    after = {p.name: p.read_bytes() for p in (project_dir / ".run_log_store").iterdir()}
    assert before == after
    shutil.rmtree(project_dir / ".run_log_store")


async def test_pipeline_column_filter_and_counts_that_follow_it(make_app, project_dir: Path) -> None:
    """`/getting` finds runs of getting-started.yaml whatever their tag; the counts are those shown."""
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        ids = column(table, "run_id")
        assert column(table, "pipeline")[ids.index("after")] == "getting-started"
        assert column(table, "rerun") == [""] * 6
        await pilot.press("slash", *"getting")
        assert column(table, "run_id") == ["after", "before"]
        hint = plain(app.screen.query_one("#hint", Static))
        assert "2 of 6 runs" in hint and "fail 1" in hint and "success 1" in hint
        assert "fail 2" not in hint


async def test_sort_by_any_column_and_move_with_list_keys(make_app, project_dir: Path) -> None:
    (project_dir / ".run_log_store" / "broken.json").write_text("{")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        assert column(table, "run_id") == [
            "broken",
            "data_run",
            "failure_run",
            "composite_run",
            "gs_run",
        ]  # by file time
        await pilot.press("D")  # longest first; a broken log has no duration: last
        assert column(table, "run_id") == ["composite_run", "gs_run", "data_run", "failure_run", "broken"]
        assert "duration ↓" in str(table.columns["duration"].label)  # type: ignore[index]
        await pilot.press("D")
        assert column(table, "run_id")[:4] == ["failure_run", "data_run", "gs_run", "composite_run"]
        await pilot.press("S")  # what needs a look first
        assert column(table, "state")[:2] == ["!", "✗"]
        await pilot.press("I")
        assert column(table, "run_id") == sorted(column(table, "run_id"))
        assert "by run id ↑" in plain(app.screen.query_one("#hint", Static))
        await pilot.press("G")
        assert table.cursor_row == 4
        await pilot.press("k")
        assert table.cursor_row == 3
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("end", "g", "j")
        assert table.cursor_row == 1
        await pilot.click(table, offset=(20, 4))  # header row 0: the fourth run
        await pilot.pause()
        assert table.cursor_row == 3


async def test_the_panel_says_why_a_run_failed_or_shows_its_metrics(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        reason = screen.query_one("#reason", Static)

        async def panel() -> str:
            for _ in range(100):
                await pilot.pause(0.02)
                if plain(reason).strip():
                    break
            return plain(reason)

        assert "metrics" in await panel()  # data_run
        await pilot.press("j")
        failed = await panel()
        assert failed.startswith("✗ boom: this step always fails")  # the step and its error
        await pilot.press("j")
        assert "total 9" in await panel()  # composite_run's metrics


async def test_each_status_has_its_own_glyph_and_colour(make_app, project_dir: Path) -> None:
    """✓ ✗ ■ ! read without colour; with colour none of them share one."""
    from magnus_tui.view import GLYPHS, STYLES

    states = ("SUCCESS", "FAIL", "INTERRUPTED", "BROKEN", "RUNNING", "PER-STEP")
    assert len({GLYPHS[s] for s in states}) == len(states)
    assert len({STYLES[s].replace("bold ", "") for s in states}) == len(states)


def _copies(project_dir: Path, count: int) -> None:
    """`count` more finished runs (copies of gs_run, newer than the fixtures, numbered newest last)."""
    data = json.loads((project_dir / ".run_log_store" / "gs_run.json").read_text())
    for i in range(count):
        data["run_id"] = f"copy{i:03d}"
        for step in data["steps"].values():
            for a in step["attempts"]:
                a["start_time"] = f"2026-11-26 10:{i // 60:02d}:{i % 60:02d}.000000"
        (project_dir / ".run_log_store" / f"copy{i:03d}.json").write_text(json.dumps(data))


async def test_a_big_store_lists_a_page_and_more_as_the_cursor_moves_down(
    make_app, project_dir: Path, monkeypatch
) -> None:
    """Thousands of runs open at once: a page of rows is listed, the next when the cursor reaches the last;
    filters and sorts work on every run."""
    from magnus_tui.screens import runs

    monkeypatch.setattr(runs, "PAGE", 20)
    _copies(project_dir, 41)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 20 and column(table, "run_id")[0] == "copy040"
        hint = plain(app.screen.query_one("#hint", Static))
        assert "45 of 45 runs" in hint and "first 20 listed" in hint
        table.move_cursor(row=18)
        await pilot.press("down")  # the last row listed: the next page comes
        await pilot.pause()
        assert table.row_count == 40 and table.cursor_row == 19
        await pilot.press("G")  # the last run, not the last row listed (as in lazygit and k9s)
        await pilot.pause()
        assert table.row_count == 45 and "listed" not in plain(app.screen.query_one("#hint", Static))
        assert column(table, "run_id")[-1] == "gs_run" and table.cursor_row == 44
        await pilot.press("g")
        await pilot.press("slash", *"copy", "enter", "end")  # End too, on the runs that match
        await pilot.pause()
        assert column(table, "run_id")[table.cursor_row] == "copy000" and table.cursor_row == 40
        await pilot.press("slash", *"gs_")  # a filter looks at every run
        assert column(table, "run_id") == ["gs_run"]


async def test_polling_reads_only_the_running_runs_while_the_store_is_unchanged(
    make_app, project_dir: Path
) -> None:
    """While a run executes and nothing else changes, each poll asks the run index for the running run
    alone (its state moves), never for every run again."""
    from magnus_core.runs import process_record

    data = json.loads((project_dir / ".run_log_store" / "gs_run.json").read_text())
    data["run_id"], data["status"] = "live", "PROCESSING"
    data["run_config"]["process"] = process_record()  # this process: alive
    (project_dir / ".run_log_store" / "live.json").write_text(json.dumps(data))
    app = make_app(poll_interval=0.05)
    asked: list[list[str] | None] = []
    runs = app.project.runs

    def counted(run_ids: list[str] | None = None):
        asked.append(run_ids)
        return runs(run_ids)

    app.project.runs = counted  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(1.0)
        table = app.screen.query_one("#runs", DataTable)
        assert table.get_cell("live", "state").plain == "▶"
        assert asked[0] is None and len(asked) >= 5  # the first read, then one per poll
        assert all(ids == ["live"] for ids in asked[1:]), asked
        # a new run in the store: everything is read again, once
        _copies(project_dir, 1)
        for _ in range(40):
            await pilot.pause(0.05)
            if table.row_count == 6:
                break
        assert "copy000" in column(table, "run_id") and None in asked[1:]


def footer_keys(screen) -> dict[str, tuple[int, int]]:
    """Each key the footer shows, with the columns it spans on screen (left, right)."""
    from textual.widgets._footer import FooterKey

    return {key.key: (key.region.x, key.region.right) for key in screen.query(FooterKey) if key.region.width}


async def test_at_80_columns_the_line_under_the_list_is_one_line_with_every_count_whole(
    make_app, project_dir: Path, monkeypatch
) -> None:
    """Trial 3: at 80 columns the counts under the list wrapped in the middle of one (`✓` on a line,
    `success 2002` on the next). They are one line: the words go when it would not fit, never a count."""
    import re

    from tui_helpers import write_many_runs

    from magnus_tui.screens import runs

    monkeypatch.setattr(runs, "PAGE", 20)
    write_many_runs(project_dir / ".run_log_store", 40)
    async with make_app(poll_interval=3600).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hint = pilot.app.screen.query_one("#hint", Static)
        text = plain(hint)
        assert hint.size.height == 1 and len(text) <= hint.content_region.width
        total = int(text.split(" ")[0])
        assert text.startswith(f"{total} of {total} runs  20 listed ↓  ") and text.endswith("→ more columns")
        counts = re.findall(r"  (\S) (\d+)(?=  )", text)  # glyph and count, whole: '✓ 34'
        assert len(counts) >= 3 and sum(int(n) for _, n in counts) == total
    async with make_app(poll_interval=3600).run_test(size=(160, 24)) as pilot:
        await pilot.pause()
        wide = plain(pilot.app.screen.query_one("#hint", Static))  # room: the words are there
        assert "first 20 listed, more as you move down" in wide and "✓ success " in wide


async def test_sorting_keeps_the_sorted_column_in_view(make_app, project_dir: Path) -> None:
    """Trial 3: at 80 columns a sort scrolled the columns back to the left, the sorted column and its
    arrow off screen. The list stays where it was, and the sorted column comes into view."""
    from tui_helpers import write_many_runs

    write_many_runs(project_dir / ".run_log_store", 12)
    async with make_app(poll_interval=3600).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = pilot.app.screen.query_one("#runs", DataTable)
        for _ in range(4):
            await pilot.press("right")
        await pilot.pause()
        scrolled = table.scroll_x
        assert scrolled > 0
        await pilot.press("N")  # by steps done: a column on the right
        await pilot.pause()
        assert table.scroll_x == scrolled and "steps ↓" in str(table.columns["steps"].label)
        await pilot.press("left", "left", "left", "left")
        await pilot.pause()
        assert table.scroll_x == 0
        await pilot.press("R")  # by re-run of, off to the right: scrolled into view
        await pilot.pause()
        rerun = table.ordered_columns[-1]
        widths = [column.get_render_width(table) for column in table.ordered_columns]
        right = sum(widths)
        assert "↑" in str(rerun.label) and table.scroll_x >= right - table.scrollable_content_region.width


async def test_at_80_columns_arrows_reach_every_column_and_the_footer_keeps_help(
    make_app, project_dir: Path
) -> None:
    """The columns that do not fit come into view with →, the status and run id staying put; the line under
    the list says there are more. The footer of the runs, run and diff screens keeps F1 and q whole."""
    from tui_helpers import write_diff_pair, write_many_runs

    write_many_runs(project_dir / ".run_log_store", 12)
    write_diff_pair(project_dir / ".run_log_store")
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#runs", DataTable)
        last = table.ordered_columns[-1]
        assert str(last.label) == "re-run of"
        assert table.virtual_size.width > table.size.width and table.scroll_x == 0
        assert "→ more columns" in plain(screen.query_one("#hint"))
        for _ in range(4):
            await pilot.press("right")
        await pilot.pause()
        assert table.scroll_x > 0 and not table.cut_columns  # the last column is in view
        assert "→ more columns" not in plain(screen.query_one("#hint"))
        run_id = table.ordered_columns[2]
        cursor_row = table.cursor_row
        assert str(run_id.label) == "run id" and table.fixed_columns == 3  # status and id stay in view
        await pilot.press("left", "left", "left", "left")
        assert table.scroll_x == 0 and table.cursor_row == cursor_row  # sideways only: the row stays
        for opened in (None, lambda: app.open_run("failure_run"), lambda: app.open_diff("before", "after")):
            if opened is not None:
                opened()
            for _ in range(250):  # the footer is filled once the screen has settled
                await pilot.pause(0.02)
                keys = footer_keys(app.screen)
                if "f1" in keys:
                    break
            assert "f1" in keys and "q" in keys, (app.screen, keys)
            palette = 80 - len("^p palette") - 2
            assert keys["f1"][1] <= palette and keys["q"][1] <= palette, (app.screen, keys)


async def test_keys_typed_in_a_burst_after_slash_go_into_the_filter(make_app, monkeypatch) -> None:
    """Keys typed right after the workbench starts arrive at once: those after `/` are the filter's text,
    never the runs list's keys (`e` would open $EDITOR, `o` $PAGER, `r` refresh)."""
    from textual import events

    from magnus_tui.screens import runs

    ran: list[str] = []
    monkeypatch.setattr(runs.RunsScreen, "action_edit_pipeline", lambda self: ran.append("e"))
    monkeypatch.setattr(runs.RunsScreen, "action_page_log", lambda self: ran.append("o"))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for key, char in [("slash", "/"), *((c, c) for c in "failure"), ("backspace", None)]:
            app.post_message(events.Key(key, char))  # queued together, as keys typed while it starts
        await pilot.pause()
        await pilot.pause()
        box = app.screen.query_one("#filter", Input)
        assert box.value == "failur" and app.screen.focused is box
        assert ran == []
        assert column(app.screen.query_one("#runs", DataTable), "run_id") == ["failure_run"]


async def test_a_run_listed_as_interrupted_is_looked_at_again_while_its_log_says_running(
    make_app, project_dir: Path
) -> None:
    """A run whose process is gone while its log still says PROCESSING is listed INTERRUPTED; the poll
    keeps asking for it (not only for the running ones), so a last write of its log seen late (here: in
    place, where the store's listing does not move) replaces the ■ without a key (trial 3, finding 1)."""
    import subprocess
    import sys

    from magnus_core.runs import process_record, process_start_time

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    path = project_dir / ".run_log_store" / "live.json"
    data = json.loads((project_dir / ".run_log_store" / "gs_run.json").read_text())
    data["run_id"], data["status"] = "live", "PROCESSING"
    data["run_config"]["process"] = {
        **process_record(),
        "pid": child.pid,
        "start_time": process_start_time(child.pid),
    }
    path.write_text(json.dumps(data))
    app = make_app(poll_interval=0.05)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            table = app.screen.query_one("#runs", DataTable)
            assert table.get_cell("live", "state").plain == "▶"
            assert child.stdin is not None
            child.stdin.close()
            child.wait()
            await wait_for(pilot, lambda: table.get_cell("live", "state").plain != "▶", what="the ▶ replaced")
            assert app.screen.entries["live"].summary.state == "INTERRUPTED"
            data["status"] = "SUCCESS"
            path.write_text(json.dumps(data))  # in place: the same inode
            # (a poll may read the file half-written, BROKEN, before it reads it whole: a wait, not 2 s)
            await wait_for(
                pilot,
                lambda: app.screen.entries["live"].summary.state == "SUCCESS",
                what="the run listed SUCCESS",
                why=lambda: app.screen.entries["live"].summary.state,
            )
            assert table.get_cell("live", "state").plain == "✓"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_running_runs_duration_moves_in_steps_the_list_can_follow() -> None:
    """A running run's time so far is shown in 10 s steps under a minute, then whole minutes: each shown
    change redraws every visible row of the table (8% of a core idle when it changed every second); a
    finished run's duration is exact."""
    from magnus_core.runs import RunSummary
    from magnus_tui.screens.runs import RunsScreen

    def text(state: str, seconds: float) -> str:
        return RunsScreen._duration_text(RunSummary(run_id="r", status="", state=state, duration=seconds))

    assert [text("RUNNING", s) for s in (3.2, 9.9, 10.4, 19.9, 20.1, 75.0, 3700.0)] == [
        "<10s",
        "<10s",
        "≥10s",
        "≥10s",
        "≥20s",
        "≥1m 0s",
        "≥1h 0m",
    ]
    assert text("SUCCESS", 19.94) == "19.9s"


def test_a_name_value_word_matches_the_parameter_exactly() -> None:
    """Trial 6 / closing 5: `lr=5` also matched `lr=50` (a substring of `lr=50`). A `name=value` word
    whose name is a run's parameter matches its value exactly (numbers as numbers, any case); a bare
    word still matches part of anything."""
    from magnus_core.runs import RunSummary
    from magnus_tui.source import summary_matches

    def run(run_id: str, **params: object) -> tuple[RunSummary, dict[str, object]]:
        return RunSummary(run_id, "SUCCESS", "SUCCESS", tag="sweep"), params

    runs = [
        run("r5", lr=5, opt="Adam"),
        run("r50", lr=50, opt="adamw"),
        run("r05", lr=0.5, xlr=5),
        run("rs", lr="5", flag=True),
        run("none", xlr=50),
    ]

    def matching(text: str) -> list[str]:
        return [s.run_id for s, p in runs if summary_matches(s, text, p)]

    assert matching("lr=5") == ["r5", "rs"]  # not r50, nor r05's xlr=5, nor none's xlr=50
    assert matching("lr=5.0") == ["r5"]  # as numbers; the text '5' is not the number 5.0
    assert matching("LR=0.50") == ["r05"]
    assert matching("opt=adam") == ["r5"]  # any case, the whole value: not adamw
    assert matching("flag=true") == ["rs"]
    assert matching("lr=5 sweep") == ["r5", "rs"]  # with a bare word: every word must match
    assert matching("adam") == ["r5", "r50"]  # a bare word: part of anything
    assert matching("lr=") == ["r5", "r50", "r05", "rs"]  # typing: the name so far, no value yet
    assert matching("nosuch=1") == []  # a name no parameter has: only the run's own fields


async def test_a_database_that_refuses_names_its_store_once_and_the_title_fits_80_columns(
    tmp_path: Path, monkeypatch, postgres
) -> None:
    """Trial team 14: the error named the postgres store twice, and the title bar cut its name."""
    import yaml
    from tui_helpers import screen_lines

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PGPASSWORD", "wrong")
    block = {"type": "postgres", "config": {"dsn": postgres.dsn, "schema": "magnus"}}
    (tmp_path / "magnus-config.yaml").write_text(yaml.safe_dump({"run_log_store": block}))
    app = MagnusApp(Project.open(None, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hint = " ".join(plain(app.screen.query_one("#empty", Static)).split())
        assert hint.startswith("Cannot open the run-log store: cannot list runs: "), hint
        assert hint.count(f"127.0.0.1:{postgres.port}/postgres") == 1, hint
        assert "magnus-config.yaml: line 3: field 'run_log_store.config.dsn'" in hint and "password" in hint
        title = screen_lines(app)[0]
        assert f"postgres 127.0.0.1:{postgres.port}/postgres · magnus" in title and "…" not in title, title


async def test_a_user_column_once_several_users_ran_the_runs_and_a_per_step_run_of_its_own(
    make_app, project_dir: Path
) -> None:
    """Team trial item 11: who ran a run is a team's first question. The column comes right after the run
    id (in view at 80 columns) once the runs were run by more than one user, `unknown` where a run recorded
    none; the filter finds a user's runs and `U` sorts by user. Trial 7 item 6: a run driven one step at a
    time by hand reads ⋯ per-step, not ▶ running, from the index alone."""
    store = project_dir / ".run_log_store"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert "user" not in [str(key.value) for key in table.columns]  # nobody's user recorded: as before
        # teammates' runs arrive while the list is open: the column comes with them
        for run_id, user in (("gs_run", "alice"), ("composite_run", "bob"), ("failure_run", "alice")):
            data = json.loads((store / f"{run_id}.json").read_text())
            data["run_config"]["process"] = {**data["run_config"].get("process", {}), "user": user}
            (store / "new.tmp").write_text(json.dumps(data))  # as magnus writes a log: renamed into place
            (store / "new.tmp").replace(store / f"{run_id}.json")
        data = json.loads((store / "gs_run.json").read_text())
        data["run_id"], data["status"] = "byhand", "PROCESSING"
        data["run_config"]["process"] = {"driven": "per-step", "host": "h", "user": "carol"}
        (store / "byhand.json").write_text(json.dumps(data))
        await pilot.press("r")
        for _ in range(200):
            await pilot.pause(0.05)
            if "byhand" in column(table, "run_id") and "user" in [str(key.value) for key in table.columns]:
                break
        assert [str(c.key.value) for c in table.ordered_columns][:4] == ["mark", "state", "run_id", "user"]
        rows = dict(zip(column(table, "run_id"), column(table, "user"), strict=True))
        assert rows == {
            "byhand": "carol",
            "data_run": "unknown",
            "failure_run": "alice",
            "composite_run": "bob",
            "gs_run": "alice",
        }
        states = dict(zip(column(table, "run_id"), column(table, "state"), strict=True))
        assert states["byhand"] == "⋯"
        assert "⋯ per-step 1" in plain(app.screen.query_one("#hint", Static))
        widths = sum(c.get_render_width(table) for c in table.ordered_columns[:4])
        assert widths < 80  # the user column is in view at 80 columns
        await pilot.press("U")
        assert column(table, "user")[:2] == ["alice", "alice"]
        await pilot.press("escape", "slash", *"bob")
        assert column(table, "run_id") == ["composite_run"]


async def test_a_poll_that_ends_as_the_app_closes_does_not_fail_it(make_app) -> None:
    """A CI run: a poll's worker handed its runs to the UI thread as the app closed, after the screen's
    widgets were removed, and `No nodes match '#runs' on RunsScreen()` failed the app (as a traceback on a
    user's quit). What the poll read is dropped when the list is gone."""
    app = make_app(poll_interval=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        entries = list(screen.entries.values())
        assert entries
        await screen.query_one("#runs").remove()
        screen._delivered(screen.update_entries, entries)  # the poll's two deliveries, the list gone
        screen._delivered(screen.show, entries)
        await pilot.pause()
        assert app.return_code is None and app._exception is None
