"""The run screen's dag and step detail: a cursor bar, clicks on the row under the pointer, attempts
numbered as the run log numbers them, parameters a step received (none is not 'not recorded')."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable, Static
from tui_helpers import ROOT, column, open_run_screen, plain, wait_for

from magnus_tui.screens.run import RunScreen
from magnus_tui.view import RunView


async def open_run(app, pilot, run_id: str) -> RunScreen:
    screen = await open_run_screen(pilot, run_id)  # the tabs are mounted after the first frame with the dag
    await pilot.pause()
    return screen


async def step_tab(pilot, screen: RunScreen) -> None:
    """The Step tab shown (`i`): a failed run opens on its Output tab (trial 11, fault 12)."""
    await pilot.press("i")
    await wait_for(pilot, lambda: screen.query_one("#tabs").active == "step", what="the Step tab")
    await pilot.pause()


async def test_the_cursor_is_a_bar_and_a_click_selects_the_row_under_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "composite_run")
        tree = screen.query_one("#dag")
        tree.focus()
        await pilot.pause()

        def background(y: int):
            return {seg.style.bgcolor for seg in tree.render_line(y) if seg.style and seg.text.strip()}

        assert background(tree.cursor_line) != background(tree.cursor_line + 1)  # a bar, not bold text only
        for row in (3, 1, 5):
            await pilot.click(tree, offset=(4, row + 1))  # +1: the widget's top border
            await pilot.pause()
            assert tree.cursor_line == row, f"clicked row {row}, got {tree.cursor_line}"


async def test_attempts_are_numbered_as_the_log_numbers_them(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "failure_run")
        screen.query_one("#dag").select_key("flaky")
        await pilot.pause()
        attempts = screen.query_one("#attempts", DataTable)
        assert str(attempts.ordered_columns[0].label) == "attempt"
        assert [str(attempts.get_row_at(i)[0]) for i in range(attempts.row_count)] == ["0", "1"]


async def test_a_step_given_no_parameters_says_so(make_app, project_dir: Path) -> None:
    store = project_dir / ".run_log_store"
    log = json.loads((store / "gs_run.json").read_text())
    log["run_id"] = "noparams"
    for attempt in log["steps"]["shell"]["attempts"]:
        attempt["parameters"] = {}
    (store / "noparams.json").write_text(json.dumps(log))
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "noparams")
        screen.query_one("#dag").select_key("shell")
        await pilot.pause()
        text = plain(screen.query_one("#step-params", Static))
        assert "received no parameters" in text and "not recorded" not in text


async def test_the_run_tab_says_when_what_and_which_code(make_app, project_dir: Path) -> None:
    """Start, end, duration, tag, the commit and whether the tree was clean: the run's identity at a glance."""
    from tui_helpers import COMMIT_B, write_diff_pair

    write_diff_pair(project_dir / ".run_log_store")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "after")
        await pilot.press("p")
        await pilot.pause()
        info = plain(screen.query_one("#run-info", Static))
        assert "tag           example" in info
        assert "started       2026-11-30" in info and "ended         2026-11-30" in info
        assert "duration      4.04s" in info  # the process's start to the last step's end (run_span)
        assert f"commit        {COMMIT_B[:12]}  uncommitted changes (changes found in train.py)" in info


RERUN_PIPELINE = """
dag:
  start_at: prep
  steps:
    prep: {type: task, command: steps_rerun.prep, next: boom}
    boom: {type: task, command: steps_rerun.boom, next: success}
    success: {type: success}
    fail: {type: fail}
"""
RERUN_STEPS = """
from pathlib import Path

def prep():
    return {"x": 1}

def boom(x: int = 0):
    if Path("broken").exists():
        raise RuntimeError("boom")
"""


async def test_a_reruns_duration_is_the_same_everywhere(git_repo: Path) -> None:
    """A --use-cached re-run of a run made an hour ago: the reused step's old times never move the re-run's
    start, and the header, the Run tab, the runs list, `magnus runs`' summary and `magnus show` agree."""
    from tui_helpers import column

    from magnus_core.progress import run_times
    from magnus_core.runner import RunRequest, execute, prepare
    from magnus_core.runs import summarise
    from magnus_core.summary import timing_line
    from magnus_core.table import fmt_seconds
    from magnus_tui.app import MagnusApp
    from magnus_tui.screens.runs import RunsScreen
    from magnus_tui.source import Project

    (git_repo / "steps_rerun.py").write_text(RERUN_STEPS)
    (git_repo / "pipeline.yaml").write_text(RERUN_PIPELINE)
    (git_repo / "broken").write_text("")
    execute(prepare(RunRequest(file="pipeline.yaml", run_id="old")))
    store = git_repo / ".run_log_store"
    old = json.loads((store / "old.json").read_text())
    hour_ago = json.dumps(old).replace(old["run_config"]["process"]["started_at"][:13], "2020-01-01T00")
    (store / "old.json").write_text(hour_ago)  # an original made long before (its times, as written)
    (git_repo / "broken").unlink()
    new = execute(prepare(RunRequest(file="pipeline.yaml", run_id="new", use_cached="old")))
    assert new.status == "SUCCESS" and new.steps["prep"].mock
    assert new.steps["prep"].start_time is None  # nothing of it began in this run
    # logs written before that kept the original's start_time on the reused step: read them the same way
    log = json.loads((store / "new.json").read_text())
    log["steps"]["prep"]["start_time"] = json.loads(hour_ago)["steps"]["prep"]["start_time"]
    (store / "new.json").write_text(json.dumps(log))

    from magnus_core.models.run_log import RunLog

    reread = RunLog.model_validate(log)
    start, _end, seconds = run_times(reread)
    assert start.startswith(str(log["run_config"]["process"]["started_at"])[:19])
    assert seconds is not None and seconds < 60
    shown = fmt_seconds(seconds)
    assert fmt_seconds(summarise(reread).duration) == shown
    assert timing_line(reread).endswith(f"took {shown}")

    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(120, 30)) as pilot:
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one("#runs")
        for _ in range(100):
            if table.row_count >= 2:
                break
            await pilot.pause(0.05)
        ids = column(table, "run_id")
        assert column(table, "duration")[ids.index("new")] == shown
        assert column(table, "rerun")[ids.index("new")] == "↺ old"
        assert runs.highlighted() == "new"
        for _ in range(100):  # the panel under the list names the original in full (the column's legend)
            if "re-run of old" in plain(runs.query_one("#reason", Static)):
                break
            await pilot.pause(0.05)
        assert "↺ re-run of old" in plain(runs.query_one("#reason", Static))
        screen = await open_run(app, pilot, "new")
        assert f"  {shown}" in plain(screen.query_one("#run-header", Static))
        await pilot.press("p")
        await pilot.pause()
        info = plain(screen.query_one("#run-info", Static))
        assert f"duration      {shown}" in info and "2020-01-01" not in info


async def test_the_output_of_an_ended_run_is_not_following(make_app) -> None:
    """`following` / `paused` are for a run that can still print; an ended run's output says complete."""
    from magnus_tui.widgets.output_view import OutputView

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "failure_run")
        screen.query_one("#dag").select_key("boom")
        await pilot.press("o")
        output = screen.query_one(OutputView)
        title = ""
        for _ in range(100):
            await pilot.pause(0.05)
            title = plain(output.query_one("#output-title", Static))
            if title.startswith("boom"):
                break
        assert "complete" in title and "following" not in title and "paused" not in title


async def test_at_80_columns_no_status_or_key_is_cut(make_app) -> None:
    """Trial 2, finding 11: the footer read `F1 Hel▏`, the attempts table lost its status column."""
    from textual.widgets import Footer

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        footer = app.screen.query_one(Footer)
        assert footer.compact
        keys = {str(k.description): k.region for k in footer.query("FooterKey")}
        assert keys["Help"].right <= keys["palette"].x  # F1 Help in full, left of the palette key
        screen = await open_run(app, pilot, "failure_run")
        screen.query_one("#dag").select_key("boom")
        await step_tab(pilot, screen)
        attempts = screen.query_one("#attempts", DataTable)
        labels = [str(c.label) for c in attempts.ordered_columns]
        assert labels[:2] == ["attempt", "status"]
        status_right = sum(c.get_render_width(attempts) for c in attempts.ordered_columns[:2])
        assert status_right <= attempts.scrollable_content_region.width
        assert "FAIL" in str(attempts.get_row_at(0)[1])


def test_a_reruns_header_never_wraps_an_id() -> None:
    from datetime import UTC, datetime

    from magnus_tui.view import RunView
    from magnus_tui.widgets.run_header import header_text

    view = RunView(
        run_id="20261130053343_b33480",
        status="SUCCESS",
        tag="lr-sweep",
        original_run_id="20261130053606_8bd868",
    )
    at = datetime(2026, 11, 30, tzinfo=UTC)
    wide = header_text(view, at, width=118).plain.splitlines()
    assert len(wide) == 2 and wide[0].endswith("re-run of 20261130053606_8bd868")
    narrow = header_text(view, at, width=78).plain.splitlines()
    assert narrow[-1] == "re-run of 20261130053606_8bd868"
    assert all(len(line) <= 78 for line in narrow)


def test_at_80_columns_the_counts_come_before_a_short_estimate() -> None:
    """Trial 3: `0:12 (~904ms over the usual with other parameters)` pushed the `✓ 1 ▶ 1` counts off an
    80-column header; when the line would not fit the counts go first and the estimate is short."""
    from datetime import UTC, datetime, timedelta

    from magnus_tui.view import Row, RunView
    from magnus_tui.widgets.run_header import Estimate, header_text

    at = datetime(2026, 11, 30, 9, 0, 12, tzinfo=UTC)
    view = RunView(run_id="20261130090000_ee8ec7", status="PROCESSING", tag="lr-sweep")
    view.started = at - timedelta(seconds=12)
    for key, status in (("prepare", "SUCCESS"), ("train", "PROCESSING")):
        view.rows[key] = Row(key=key, kind="step", name=key, parent=None, status=status, start=view.started)
        view.children.setdefault(None, []).append(key)
        view.children[key] = []
    view.rows["prepare"].end = view.started + timedelta(seconds=1)
    late = Estimate("20261129090000_aaaaaa", 11.096, same_parameters=False)
    wide = header_text(view, at, late, width=118).plain.splitlines()[1]
    assert "12s (~904ms over the usual with other parameters)  ✓ 1  ▶ 1" in wide
    narrow = header_text(view, at, late, width=78).plain.splitlines()[1]
    assert narrow.endswith("12s  ✓ 1  ▶ 1 (+904ms*)") and len(narrow) <= 78
    soon = header_text(view, at, Estimate("r", 190.0), width=78).plain.splitlines()[1]
    assert soon.endswith("12s of ~3m 10s  ✓ 1  ▶ 1")  # it fits: as wide terminals show it


def test_the_rerun_column_is_short_and_the_panel_names_the_original() -> None:
    from magnus_tui.screens.runs import rerun_cell

    assert rerun_cell("20261130053606_8bd868") == "↺ 8bd868" and rerun_cell("closed1") == "↺ closed1"
    assert rerun_cell("") == ""


async def test_panes_fit_their_content_side_by_side_and_stack_below_100_columns(
    make_app, project_dir: Path
) -> None:
    """The dag pane is as wide as its rows need and the step gets the rest; below 100 columns the dag sits
    above the step, both full width. Nothing scrolls sideways at 80x24, and an attempt's message is shown
    in full, wrapped, however long."""
    store = project_dir / ".run_log_store"
    log = json.loads((store / "failure_run.json").read_text())
    log["run_id"] = "long_message"
    long = "ValueError: score below threshold " + " ".join(f"word{i}" for i in range(40))
    log["steps"]["flaky"]["attempts"][0]["message"] = long
    (store / "long_message.json").write_text(json.dumps(log))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_run(app, pilot, "long_message")
        tree, tabs = screen.query_one("#dag"), screen.query_one("#tabs")
        widest = max(len(tree._guides(k)) + tree.label(k).cell_len for k in tree.lines)
        assert widest <= tree.virtual_size.width == tree.scrollable_content_region.width < 120 * 0.45
        assert (
            tabs.region.x == tree.region.right and tabs.region.right == 120 and tabs.region.y == tree.region.y
        )
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert tree.region.width == tabs.region.width == 80 and tabs.region.y >= tree.region.bottom
        screen.query_one("#dag").select_key("flaky")
        await step_tab(pilot, screen)
        attempts = screen.query_one("#attempts", DataTable)
        messages = screen.query_one("#attempt-messages", Static)
        for widget in (tree, attempts, screen.query_one("#detail")):
            assert widget.virtual_size.width <= widget.scrollable_content_region.width, widget
        assert plain(messages).split() == f"attempt 0: {long}".split()  # whole, over several lines
        assert messages.region.height > 1 and messages.region.right <= 80


async def test_a_tab_key_pressed_before_the_tabs_are_there_is_kept(make_app) -> None:
    """The tabs are mounted after the first frame with the dag: a key for one pressed in that moment shows
    that tab once they are there."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("gs_run")
        screen = app.screen
        assert isinstance(screen, RunScreen) and not screen.ready
        screen.action_tab("run")
        await wait_for(
            pilot, lambda: screen.ready, what="the run screen to be ready", why=screen.tabs_missing
        )
        await pilot.pause()
        assert screen.query_one("#tabs").active == "run"
        assert "gs_run" in plain(screen.query_one("#run-info", Static))  # the Run tab drawn, not only shown


async def test_a_clock_or_a_late_answer_while_the_screen_is_taken_down_draws_nothing(make_app) -> None:
    """CI saw the app stop on NoMatches: the header's timer fired while the run screen was being taken
    down (its widgets are removed before it is). Each draw then finds no widget and draws nothing."""
    from magnus_tui.widgets.run_header import RunHeader

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "composite_run")
        await screen.query_one(RunHeader).remove()
        await screen.query_one("#dag").remove()
        screen._draw_header()
        screen.tick()
        screen._show_detail()
        screen._refresh_output()
        await pilot.pause()
        assert app.is_running and app.screen is screen


async def test_a_branch_row_shows_the_steps_inside_it(make_app) -> None:
    """Trial 7, finding 7a: a branch row (`par` > `b1`) said `not started yet` in the Output tab though the
    branch ran. It shows the output of the steps inside the branch, each headed by its name."""
    from magnus_tui.widgets.output_view import OutputView

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(app, pilot, "composite_run")
        screen.query_one("#dag").select_key("map step.a")
        await pilot.press("o")
        output = screen.query_one(OutputView)
        shown = ""
        for _ in range(200):
            await pilot.pause(0.05)
            shown = "\n".join(line.text for line in output.log_widget.lines)
            shown += "\n" + plain(output.query_one("#output-title", Static))
            if "map step.a.m1" in shown:
                break
        assert "── map step.a.m1 attempt" in shown and "not started yet" not in shown


async def test_at_80_columns_the_caps_marker_is_read_whole(make_app, project_dir) -> None:
    """Trial 7, finding 7c: at 80 columns the output cap's marker line was cut at the edge (`... the step
    wrote 1.2 MB (1228`) until `w` wrapped every line. Magnus's own marker lines wrap at the pane's width;
    the step's lines stay as they are (w off)."""
    from magnus_tui.widgets.output_view import OutputView
    from tests.conftest import run_magnus

    (project_dir / "loud.py").write_text(
        "def loud():\n    for i in range(200):\n        print('x' * 120, i)\n"
    )
    (project_dir / "loud.yaml").write_text(
        "dag:\n  start_at: loud\n  steps:\n    loud: {type: task, command: loud.loud, next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    done = run_magnus(
        "execute",
        "-f",
        "loud.yaml",
        "--run-id",
        "loud_run",
        cwd=project_dir,
        env={"MAGNUS_OUTPUT_CAP": "2KB"},
    )
    assert done.returncode == 0, done.stderr
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(app, pilot, "loud_run")
        screen.query_one("#dag").select_key("loud")
        await pilot.press("o")
        output = screen.query_one(OutputView)
        rows: list[str] = []
        for _ in range(200):
            await pilot.pause(0.05)
            rows = [line.text for line in output.log_widget.lines]
            if any("output_cap)]" in row for row in rows):
                break
        width = output.log_widget.scrollable_content_region.width
        marker = [row for row in rows if "magnus" in row or "output_cap" in row]
        assert "output_cap)]" in marker[-1]  # its end is on screen, not cut
        assert all(len(row.rstrip()) <= width for row in rows[-len(marker) - 1 :])
        assert any(len(row) > width for row in rows[:5])  # the step's own lines are not wrapped


async def test_a_run_started_by_hand_one_step_at_a_time_says_why_it_reads_running(
    make_app, project_dir
) -> None:
    """Trial 7, finding 6: a run started with `magnus execute_single_node` stayed "▶ running" for ever, with
    no hint. The panel under the runs list says it is driven one step at a time with no orchestrator known
    (and its last step); its own screen's header says PER-STEP too, its time standing at its last step's
    end (trial 9, finding 2); `x` on its screen says why it cannot be stopped and how it ends."""
    from tests.conftest import run_magnus

    (project_dir / "two.py").write_text("def one():\n    print('one')\n")
    (project_dir / "two.yaml").write_text(
        "dag:\n  start_at: a\n  steps:\n    a: {type: task, command: two.one, next: b}\n"
        "    b: {type: task, command: two.one, next: success}\n    success: {type: success}\n"
        "    fail: {type: fail}\n"
    )
    done = run_magnus("execute_single_node", "byhand", "a", "--file", "two.yaml", cwd=project_dir)
    assert done.returncode == 0, done.stderr
    app = make_app()
    app.NOTIFICATION_TIMEOUT = 600
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        table = app.screen.query_one("#runs", DataTable)
        for _ in range(200):
            await pilot.pause(0.05)
            if "byhand" in column(table, "run_id"):
                break
        row = column(table, "run_id").index("byhand")
        assert column(table, "state")[row] == "⋯"  # not ▶: no process runs it (trial 7, finding 6)
        table.move_cursor(row=row)
        panel = ""
        for _ in range(200):
            await pilot.pause(0.05)
            panel = plain(app.screen.query_one("#reason", Static))
            if "orchestrator" in panel:
                break
        assert "driven one step at a time, no orchestrator known" in panel
        assert "last step a SUCCESS" in panel
        await open_run(app, pilot, "byhand")
        # its own screen says what the list says (trial 9, finding 2: `▶ RUNNING` there, its time ticking)
        header = plain(app.screen.query_one("#run-header", Static))
        for _ in range(100):
            if "PER-STEP" in header:
                break
            await pilot.pause(0.05)
            header = plain(app.screen.query_one("#run-header", Static))
        assert header.startswith("⋯ PER-STEP  byhand"), header
        assert "RUNNING" not in header and "not run" not in header  # b is to come, not skipped
        await pilot.pause(1.2)  # past the clock's tick: the time stands at step a's end
        assert plain(app.screen.query_one("#run-header", Static)) == header
        await pilot.press("x")
        for _ in range(200):
            await pilot.pause(0.05)
            if any("orchestrator" in str(n.message) for n in app._notifications):
                break
        said = " ".join(str(n.message) for n in app._notifications)
        assert (
            "no orchestrator known" in said and "magnus execute_single_node byhand b --file two.yaml" in said
        )  # trial 9, finding 5


async def test_the_screen_is_ready_even_if_the_tabs_first_activation_is_lost(make_app, monkeypatch) -> None:
    """Readiness is read from the widgets, not from one message seen: with the tabs' first activation lost
    (their TabbedContent never hears it: a blank right-hand side), the screen says what it lacks and, a
    moment later (TABS_LATE), shows the first tab itself and is ready with the step drawn."""
    from textual.widgets import TabbedContent

    from magnus_tui.screens import run

    lacking: list[str] = []  # what the screen said it lacked when the activation was lost
    heard = TabbedContent._on_tabs_tab_activated

    def lose_the_first(self, event) -> None:
        if not lacking:
            lacking.append(self.screen.tabs_missing())
            event.stop()
            return
        heard(self, event)

    monkeypatch.setattr(TabbedContent, "_on_tabs_tab_activated", lose_the_first)
    monkeypatch.setattr(run, "TABS_LATE", 0.3)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("gs_run")
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_for(pilot, lambda: screen.ready, what="the screen to be ready", why=screen.tabs_missing)
        assert lacking == ["the tabs have not shown their first tab (TabbedContent.active is empty)"]
        assert screen.tabs_missing() == ""
        assert screen.query_one(TabbedContent).active == "step"
        title = plain(screen.query_one("#step-title", Static))
        assert screen.selected == "step parameters" and "step parameters" in title  # the step drawn


ON_FAILURE = """
dag:
  start_at: quits
  steps:
    quits: {type: task, command_type: shell, command: "exit 3", on_failure: sh, next: success}
    sh: {type: task, command_type: shell, command: "echo cleaning up", next: fail}
    success: {type: success}
    fail: {type: fail}
"""


async def test_the_dag_draws_on_failure_edges(git_repo: Path) -> None:
    """Trial 8, finding 7: the dag showed `✗ quits` and `✓ sh` with nothing saying that sh ran because quits
    failed. Each end of an on_failure edge says so; the fail node reached reads ✗ as the run log's FAIL."""
    from test_tui_control import execute

    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    (git_repo / "onfail.yaml").write_text(ON_FAILURE)
    execute(git_repo, "onfail.yaml", "onfail", code=1)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_run("onfail")
        for _ in range(500):
            await pilot.pause(0.02)
            if isinstance(app.screen, RunScreen) and app.screen.ready:
                break
        tree = app.screen.query_one("#dag")
        assert (
            tree.label("quits").plain.startswith("✗ quits")
            and "→ on failure: sh" in tree.label("quits").plain
        )
        assert "← on failure of quits" in tree.label("sh").plain
        assert tree.label("fail").plain.startswith("✗ fail")
        assert "on failure" not in tree.label("success").plain
        assert tree.virtual_size.width >= len(tree.label("quits").plain)  # (the pane is as wide as its rows)


MAP_ON_FAILURE = """
dag:
  start_at: each
  steps:
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: work
        steps:
          work:
            type: task
            command_type: shell
            command: 'test "$MAGNUS_PRM_item" != 2'
            on_failure: recover
            next: success
          recover: {type: task, command_type: shell, command: "echo recovered", next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


MAP_ARGS = ("--file", "mapfail.yaml", "-p", "items.yaml")


def map_on_failure_run(repo: Path) -> None:
    """A map over 1, 2, 3 whose items' `work` goes on to `recover` on failure (item 2's fails)."""
    (repo / "mapfail.yaml").write_text(MAP_ON_FAILURE)
    (repo / "items.yaml").write_text("items: [1, 2, 3]\n")
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--run-id", "mapfail", *MAP_ARGS],
        cwd=repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def test_the_dag_draws_on_failure_edges_inside_a_maps_items(git_repo: Path) -> None:
    """Trials 8 and 9: the top level's on_failure edges were drawn, those inside a map's items (a branch's
    own dag, its names known only once the map fans out) were not. Each item's steps say them the same way."""
    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    map_on_failure_run(git_repo)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(120, 30)) as pilot:
        await open_run_screen(pilot, "mapfail")
        tree = app.screen.query_one("#dag")
        for item in ("1", "2", "3"):
            assert "→ on failure: recover" in tree.label(f"each.{item}.work").plain, item
        assert tree.label("each.2.work").plain.startswith("✗ work")
        assert "← on failure of work" in tree.label("each.2.recover").plain
        assert "each.1.recover" not in tree.nodes_by_key  # (it did not run there)


def test_a_maps_items_failure_edges_come_with_the_items_as_they_are_logged(git_repo: Path) -> None:
    """Followed live, the items come as events after the log was read: each item's edges come with it."""
    from magnus_core.events import BRANCH_UPDATED, STEP_UPDATED, RunEvent
    from magnus_core.stores.file_system import load_run_log

    map_on_failure_run(git_repo)
    log = load_run_log(git_repo / ".run_log_store" / "mapfail.json")
    early = log.model_copy(deep=True)
    early.steps["each"].branches = {}
    early.steps["each"].status = "PROCESSING"
    view = RunView.from_runlog(early)
    assert not any("each.2" in key for key in view.failure_edges)
    changed: list[str] = []
    for branch in log.steps["each"].branches.values():
        changed += view.apply(
            RunEvent(
                kind=BRANCH_UPDATED,
                run_id="mapfail",
                internal_name=branch.internal_name,
                status=branch.status,
                parent="each",
            )
        )
        for step in branch.steps.values():
            changed += view.apply(
                RunEvent(
                    kind=STEP_UPDATED,
                    run_id="mapfail",
                    internal_name=step.internal_name,
                    step_log=step,
                    parent=branch.internal_name,
                )
            )
    assert view.rows["each.2.work"].on_failure == "recover"
    assert view.rows["each.2.recover"].failure_of == ["work"]
    assert view.rows["each.3.work"].edge_note == "→ on failure: recover"
    assert "each.2.recover" in changed
