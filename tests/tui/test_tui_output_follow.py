"""Following a live run's output as `tail -f` / `magnus logs RUN --follow` do (trial 8, finding 2): the
output stays on the step the user chose, a running step that printed nothing yet says it runs, a parallel
step shows every branch, the whole run interleaves its steps' lines as they come under `==> step (attempt
N) <==` headings, and scrolling up stops following (End/G follows again). Real `magnus execute` runs."""

from __future__ import annotations

from pathlib import Path

from test_tui_control import output_view, started_here, wait_for
from textual.widgets import Static
from tui_helpers import plain

from magnus_core.models.run_log import PROCESSING, RunLog, StepLog
from magnus_core.runner import RunRequest
from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import output_text

# warm waits for `go1`; the parallel's two branches print, then wait for `go2` (two workers: at once)
PIPELINE = """
dag:
  start_at: warm
  steps:
    warm: {type: task, command_type: shell, command: "echo warm 1; while [ ! -f go1 ]; do sleep 0.05; done; echo warm 2", next: par}
    par:
      type: parallel
      next: success
      branches:
        left:
          start_at: l1
          steps:
            l1: {type: task, command_type: shell, command: "echo left 1; while [ ! -f go2 ]; do sleep 0.05; done; echo left 2", next: success}
            success: {type: success}
            fail: {type: fail}
        right:
          start_at: r1
          steps:
            r1: {type: task, command_type: shell, command: "echo right 1; while [ ! -f go3 ]; do sleep 0.05; done; echo right 2", next: success}
            success: {type: success}
            fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""
CONFIG = "executor:\n  type: local\n  config: {max_workers: 2}\n"


def title(output) -> str:
    return plain(output.query_one("#output-title", Static))


async def test_live_output_stays_on_the_chosen_step_and_the_whole_run_interleaves(git_repo: Path) -> None:
    (git_repo / "warm.yaml").write_text(PIPELINE)
    (git_repo / "workers.yaml").write_text(CONFIG)
    app = MagnusApp(Project.open(None, git_repo), follow_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(RunRequest(file="warm.yaml", config_file="workers.yaml"))
        await wait_for(pilot, lambda: bool(app.screen.query("#dag")))
        screen = app.screen
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: "warm" in tree.nodes_by_key and "running" in tree.label("warm").plain)
        await wait_for(pilot, lambda: screen.ready)
        await pilot.press("o")  # the running step's output, the cursor put there by the screen
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: "warm 1" in output.lines)
        (git_repo / "go1").write_text("")
        await wait_for(pilot, lambda: "running" in tree.label("par.right.r1").plain, timeout=30)
        await wait_for(pilot, lambda: "warm 2" in output.lines)
        await pilot.pause(0.3)  # (a tick or two: the view moved on to the running step before)
        assert screen.selected == "warm" and tree.cursor_key == "warm" and output.source == "warm"
        assert title(output).startswith("warm")

        await pilot.press("a")  # the whole run: headed sections, in time
        await wait_for(pilot, lambda: {"left 1", "right 1"} <= set(output.lines))
        (git_repo / "go2").write_text("")
        await wait_for(pilot, lambda: "left 2" in output.lines)
        (git_repo / "go3").write_text("")
        await wait_for(pilot, lambda: "right 2" in output.lines)
        lines = output.lines
        assert lines[:3] == ["==> warm (attempt 0) <==", "warm 1", "warm 2"], lines
        # as they came: left 2 after right 1 (grouped by step, left 2 came before right 1), each change headed
        assert lines.index("left 2") > lines.index("right 1"), lines
        assert lines[lines.index("left 2") - 1] == "==> par.left.l1 (attempt 0) <==", lines
        assert lines[lines.index("right 2") - 1] == "==> par.right.r1 (attempt 0) <==", lines
        await wait_for(pilot, lambda: not screen.following)

        # the parallel step: every branch's output
        await pilot.press("a", "escape")
        tree.select_key("par")
        await wait_for(pilot, lambda: output.source == "par" and "right 2" in output.lines)
        assert {"left 1", "left 2", "right 1"} <= set(output.lines)
        assert (
            "── par.left.l1 attempt 0 ──" in output.lines and "── par.right.r1 attempt 0 ──" in output.lines
        )


async def test_scrolling_up_stops_following_and_end_follows_again(git_repo: Path) -> None:
    (git_repo / "loud.yaml").write_text(
        "dag:\n  start_at: loud\n  steps:\n"
        '    loud: {type: task, command_type: shell, command: "seq 1 200; while [ ! -f go ]; do sleep 0.05; '
        'done", next: success}\n    success: {type: success}\n    fail: {type: fail}\n'
    )
    async with started_here(git_repo, "loud.yaml") as (_app, pilot, screen, _launched):
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: "loud" in tree.nodes_by_key and "running" in tree.label("loud").plain)
        await wait_for(pilot, lambda: screen.ready)
        await pilot.press("o")
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: "200" in output.lines)
        log = output.log_widget
        assert output.follow and "following" in title(output)
        await wait_for(pilot, lambda: log.scroll_y == log.max_scroll_y > 0)
        await pilot.press("k")  # up: the user reads earlier lines
        assert not output.follow and "paused" in title(output)
        await pilot.press("pageup", "j")
        assert not output.follow
        await pilot.press("G")  # the end: following again
        assert output.follow and "following" in title(output)
        await pilot.press("home")
        assert not output.follow
        await pilot.press("end")
        assert output.follow


def test_a_running_step_that_printed_nothing_says_it_runs() -> None:
    """The output view and the dag read a step's state from the same log (running_attempt): a step that
    began and printed nothing yet is running, not 'not started yet' (trial 8: the dag said ▶ running)."""
    running = StepLog(
        name="r1",
        internal_name="par.right.r1",
        status=PROCESSING,
        step_type="task",
        start_time="2026-11-30T19:00:00+00:00",
    )
    log = RunLog(run_id="r", status=PROCESSING, steps={"par.right.r1": running})
    assert output_text(log, "par.right.r1").note == "running (attempt 0): nothing printed yet"
    waiting = running.model_copy(update={"start_time": None})
    log = RunLog(run_id="r", status=PROCESSING, steps={"par.right.r1": waiting})
    assert output_text(log, "par.right.r1").note == "not started yet"
