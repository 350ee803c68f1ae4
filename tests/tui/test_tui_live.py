"""Following a run as it happens: another process writes the store, the run screen updates in place."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Static
from tui_helpers import RUN_WAIT, column, open_run_screen, plain, wait_for

from magnus_core.models.run_log import PROCESSING, SUCCESS, BranchLog, RunLog, StepAttempt, StepLog
from magnus_core.stores.file_system import FileSystemRunLogStore
from magnus_tui.screens.run import RunScreen

ROOT = Path(__file__).resolve().parents[2]  # this checkout: the run uses its code


def step(
    name: str,
    status: str,
    internal: str | None = None,
    start: str = "2026-01-01 10:00:00",
    end: str = "2026-01-01 10:00:01",
    step_type: str = "task",
) -> StepLog:
    attempts = (
        []
        if step_type != "task"
        else [
            StepAttempt(
                attempt_number=0,
                start_time=start,
                end_time=end if status != PROCESSING else "",
                status=status if status != PROCESSING else "FAIL",
            )
        ]
    )
    return StepLog(
        name=name,
        internal_name=internal or name,
        status=status,
        step_type=step_type,
        attempts=attempts if status != PROCESSING else [],
    )


async def test_follows_a_run_written_by_another_writer_in_place(make_app, project_dir: Path) -> None:
    writer = FileSystemRunLogStore({"log_folder": str(project_dir / ".run_log_store")})
    writer.create_run(RunLog(run_id="live", status=PROCESSING))
    writer.put_step_log("live", step("first", SUCCESS))
    writer.put_step_log("live", step("second", PROCESSING))
    writer.flush("live")
    app = make_app(follow_interval=0.02)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run("live")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.following)
        screen = app.screen
        tree = screen.query_one("#dag")
        assert "running" in tree.label("second").plain
        tree.select_key("first")  # the user looks at the first step; updates must not move them
        await pilot.pause()

        writer.put_step_log(
            "live", step("second", SUCCESS, start="2026-01-01 10:00:01", end="2026-01-01 10:00:03")
        )
        par = step("par", PROCESSING, step_type="parallel")
        writer.put_step_log("live", par)
        writer.put_branch_log("live", BranchLog(internal_name="par.b1", status=PROCESSING), "par")
        writer.put_step_log("live", step("x", SUCCESS, "par.b1.x"), "par.b1")
        writer.flush("live")
        await wait_for(pilot, lambda: "par.b1.x" in tree.nodes_by_key)
        await wait_for(pilot, lambda: tree.label("second").plain.endswith(" 2s"))  # took two seconds
        assert tree.position["first"] == 0  # updated in place, not rebuilt
        assert tree.parent_of("par.b1.x") == "par.b1"
        await pilot.pause()
        assert tree.cursor_key == "first"

        # a row inserted above the cursor (another branch going on) must not move the cursor
        writer.put_branch_log("live", BranchLog(internal_name="par.b2", status=PROCESSING), "par")
        writer.put_step_log("live", step("z", SUCCESS, "par.b2.z"), "par.b2")
        writer.flush("live")
        await wait_for(pilot, lambda: "par.b2.z" in tree.nodes_by_key)
        tree.select_key("par.b2.z")
        await pilot.pause()
        writer.put_step_log("live", step("y", SUCCESS, "par.b1.y"), "par.b1")
        writer.flush("live")
        await wait_for(pilot, lambda: "par.b1.y" in tree.nodes_by_key)
        await pilot.pause()
        assert tree.cursor_key == "par.b2.z"
        assert tree.position["par.b1.y"] < tree.cursor_line

        writer.update_run("live", status=SUCCESS)
        writer.close("live")
        await wait_for(pilot, lambda: not screen.following)
        assert "SUCCESS" in plain(screen.query_one("#run-header", Static))


PIPELINE = """
dag:
  start_at: one
  steps:
    one: {type: task, command_type: shell, command: "sleep 0.4", next: two}
    two: {type: task, command_type: shell, command: "sleep 0.4", next: three}
    three: {type: task, command_type: shell, command: "sleep 0.4; exit 3", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def start_slow_run(repo: Path) -> subprocess.Popen[bytes]:
    """`magnus execute` in another process; returns once its run log exists."""
    (repo / "slow.yaml").write_text(PIPELINE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "slow.yaml", "--run-id", "slow"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    log = repo / ".run_log_store" / "slow.json"
    deadline = time.monotonic() + RUN_WAIT  # its start-up: tens of seconds on a loaded machine
    while not log.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


async def test_follows_magnus_execute_in_another_process(git_repo: Path) -> None:
    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    proc = start_slow_run(git_repo)
    try:
        app = MagnusApp(Project.open(None, git_repo), follow_interval=0.02, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_run_screen(pilot, "slow")  # its step's detail is in the tabs: ready first
            tree = screen.query_one("#dag")
            await wait_for(pilot, lambda: "three" in tree.nodes_by_key, RUN_WAIT)
            await wait_for(pilot, lambda: not screen.following, RUN_WAIT)
            assert "✗" in tree.label("three").plain
            assert "✓" in tree.label("one").plain
            assert "FAIL" in plain(screen.query_one("#run-header", Static))
            screen.query_one("#dag").select_key("three")
            await wait_for(pilot, lambda: "exit" in plain(screen.query_one("#step-message", Static)).lower())
    finally:
        proc.wait(timeout=30)


MAP_LATER = """
dag:
  start_at: wait
  steps:
    wait:
      type: task
      command_type: shell
      command: 'for i in $(seq 1200); do [ -f go ] && exit 0; sleep 0.05; done; exit 1'
      next: each
    each:
      type: map
      iterate_on: items
      iterate_as: item
      next: success
      branch:
        start_at: t
        steps:
          t: {type: stub, next: success}
          success: {type: success}
          fail: {type: fail}
    success: {type: success}
    fail: {type: fail}
"""


async def test_a_running_maps_total_says_it_may_grow_until_its_items_are_known(git_repo: Path) -> None:
    """Trials 8 and 9: the header's N/M total grew as the map fanned out (2, then 4) with nothing saying
    so. Until the map's items are known it reads `0/≥2`; once known, the total as it ends."""
    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    (git_repo / "later.yaml").write_text(MAP_LATER)
    (git_repo / "items.yaml").write_text("items: [1, 2, 3]\n")
    command = ["execute", "--file", "later.yaml", "-p", "items.yaml", "--run-id", "later"]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", *command],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path},
    )
    try:
        log = git_repo / ".run_log_store" / "later.json"
        deadline = time.monotonic() + RUN_WAIT
        while not log.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        listed = subprocess.run(
            [sys.executable, "-m", "magnus_core", "runs"],
            cwd=git_repo,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
            timeout=RUN_WAIT,
        )
        assert "0/≥2" in listed.stdout, listed.stdout  # `magnus runs` says it too (the run index)
        app = MagnusApp(Project.open(None, git_repo), follow_interval=0.02, poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "later" in getattr(app.screen, "entries", {}))
            table = app.screen.query_one("#runs")
            assert column(table, "steps")[column(table, "run_id").index("later")] == "0/≥2"  # the list
            screen = await open_run_screen(pilot, "later")
            header = screen.query_one("#run-header", Static)
            await wait_for(
                pilot, lambda: "0/≥2 steps" in plain(header), what="0/≥2", why=lambda: plain(header)
            )
            (git_repo / "go").write_text("")
            await wait_for(pilot, lambda: not screen.following, RUN_WAIT)
            assert "4/4 steps" in plain(header) and "≥" not in plain(header)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


async def test_a_run_that_fails_between_two_looks_moves_the_cursor_to_the_failed_step(
    make_app, project_dir: Path
) -> None:
    """CI, session 12: a step that failed (or crashed) within one look at the log was never seen running,
    so the cursor, following the running steps, stayed on the step before it once the run had ended; a run
    opened once ended opens on its failed step. Now the cursor goes there too, unless the user moved it."""
    writer = FileSystemRunLogStore({"log_folder": str(project_dir / ".run_log_store")})
    for run_id in ("live", "moved"):
        writer.create_run(RunLog(run_id=run_id, status=PROCESSING))
        writer.put_step_log(run_id, step("zero", SUCCESS))
        running = step("first", PROCESSING)
        running.start_time = "2026-01-01 10:00:01"  # (running since then)
        writer.put_step_log(run_id, running)
        writer.flush(run_id)
    app = make_app(follow_interval=0.02)
    async with app.run_test(size=(100, 30)) as pilot:
        for run_id in ("live", "moved"):
            app.open_run(run_id)
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.following)
            screen = app.screen
            assert screen.selected == "first"  # the running step
            if run_id == "moved":
                await pilot.press("k")  # the user put the cursor on the step before: it stays there
                await wait_for(pilot, lambda s=screen: s.selected == "zero")
            # the first step ends, the second fails and the run ends, all between two looks at the log
            writer.put_step_log(run_id, step("first", SUCCESS))
            writer.put_step_log(
                run_id, step("second", "FAIL", start="2026-01-01 10:00:01", end="2026-01-01 10:00:02")
            )
            writer.update_run(run_id, status="FAIL")
            writer.flush(run_id)
            await wait_for(pilot, lambda s=screen: not s.following, what="the run's end")
            await pilot.pause()
            assert screen.selected == ("second" if run_id == "live" else "zero")
            assert screen.query_one("#dag").cursor_key == screen.selected
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, RunScreen))
