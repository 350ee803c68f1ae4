"""Following and controlling a live run from the workbench (issue 20): the whole planned dag from the start,
progress and ticking times, stopping a run (started here or in another terminal), and leaving while a run
started here is running. Every run is a real `magnus execute` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual import events
from textual.widgets import Static
from tui_helpers import RUN_WAIT, open_run_screen, plain, wait_for

from magnus_core.runner import RunRequest
from magnus_core.runs import run_state
from magnus_core.stores.file_system import load_run_log
from magnus_tui.app import MagnusApp
from magnus_tui.dialogs.quit import QuitPrompt
from magnus_tui.dialogs.stop import ConfirmStop
from magnus_tui.screens.run import RunScreen
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

# `hold` runs until the test writes the file `go` (or the run is stopped); four steps do the work
PIPELINE = """
dag:
  start_at: first
  steps:
    first: {type: task, command_type: shell, command: "echo first done", next: hold}
    hold: {type: task, command_type: shell, command: "echo holding; while [ ! -f go ]; do sleep 0.05; done", next: third}
    third: {type: task, command_type: shell, command: "true", next: fourth}
    fourth: {type: task, command_type: shell, command: "true", next: success}
    success: {type: success}
    fail: {type: fail}
"""


def project(repo: Path) -> Project:
    (repo / "hold.yaml").write_text(PIPELINE)
    return Project.open(None, repo)


async def output_view(pilot, screen: RunScreen):
    """The Output tab's view, once mounted (the tabs are mounted after the first frame with the dag, and
    their panes' widgets after the tabs)."""
    await wait_for(pilot, lambda: bool(screen.query("#output-view")))
    return screen.query_one("#output-view")


def header(screen: RunScreen) -> str:
    return plain(screen.query_one("#run-header", Static))


def kill(process: subprocess.Popen[bytes]) -> None:
    """A launched run ended as a user's `magnus stop` ends it: SIGTERM, on which magnus stops its steps (each
    in a process group of its own, which a SIGKILL to magnus alone, or to its group, never reaches: hold.yaml's
    shell loop was left running after the tests), then SIGKILL if it has not ended in 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@asynccontextmanager
async def started_here(
    repo: Path, file: str = "hold.yaml", *, app: MagnusApp | None = None, keep: bool = False
) -> AsyncIterator[tuple[MagnusApp, Any, RunScreen, Any]]:
    """The workbench over `repo` (100x30) with `file` started from it (a `magnus execute` process of its
    own) and its run screen up: (app, pilot, screen, launched). The run's process is killed on the way out,
    or, with `keep`, only when the test failed (a run kept running after the workbench has gone)."""
    app = app or MagnusApp(Project.open(None, repo), follow_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        app.start_run(RunRequest(file=file))
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunScreen) and bool(app.screen.query("#dag")), RUN_WAIT
        )
        screen = app.screen
        assert isinstance(screen, RunScreen)
        launched = app.launched[screen.run_id]
        try:
            yield app, pilot, screen, launched
        except BaseException:
            kill(launched.process)
            (repo / "go").write_text("")  # (and a hold step still looping somewhere ends)
            raise
    if not keep:
        kill(launched.process)
        (repo / "go").write_text("")


async def holding(pilot, screen: RunScreen) -> None:
    """hold.yaml's run at its `hold` step, the screen's tabs mounted (after the first frame with the dag)."""
    tree = screen.query_one("#dag")
    await wait_for(
        pilot, lambda: "hold" in tree.nodes_by_key and "running" in tree.label("hold").plain, RUN_WAIT
    )
    await wait_for(pilot, lambda: screen.ready, what="the run screen to be ready", why=screen.tabs_missing)


def execute(repo: Path, file: str, run_id: str, code: int = 0) -> None:
    """`magnus execute` of `file` in `repo` to its end, as in a terminal; it must exit with `code`."""
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", file, "--run-id", run_id],
        cwd=repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == code, done.stderr


async def opened(app: MagnusApp, pilot, run_id: str) -> RunScreen:
    """The run screen of `run_id`, its tabs mounted (after the first frame with the dag)."""
    return await open_run_screen(pilot, run_id)


async def test_the_whole_dag_progress_and_stopping_a_run_started_here(git_repo: Path) -> None:
    project(git_repo)
    async with started_here(git_repo) as (app, pilot, screen, launched):
        await holding(pilot, screen)
        tree = screen.query_one("#dag")
        # every step of the dag from the start: the two not reached yet are listed, pending
        assert [key for key in ("first", "hold", "third", "fourth") if key in tree.nodes_by_key] == [
            "first",
            "hold",
            "third",
            "fourth",
        ]
        assert tree.label("third").plain.startswith("·") and "running" not in tree.label("third").plain
        # the header is redrawn on the refresh after the rows (it may lag them by a frame)
        await wait_for(pilot, lambda: "1/4 steps" in header(screen) and "25%" in header(screen))
        # the running step's time and the run's elapsed time move while nothing is written
        before = (tree.label("hold").plain, header(screen))
        await wait_for(
            pilot,
            lambda: header(screen) != before[1] and tree.label("hold").plain != before[0],
            timeout=10,
        )

        # x asks, naming the run and its process; n keeps it running
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStop))
        ask = plain(app.screen.query_one("#stop-title", Static)) + plain(
            app.screen.query_one("#stop-about", Static)
        )
        assert screen.run_id in ask and f"pid {launched.process.pid}" in ask and "this workbench" in ask
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen)
        assert launched.running
        # y stops it: the run ends INTERRUPTED, the step it was in says so, the rest were never run
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStop))
        await pilot.press("y")
        await wait_for(pilot, lambda: not launched.running and not screen.following, RUN_WAIT)
        await wait_for(pilot, lambda: "INTERRUPTED" in header(screen))
        # one notice for one stop (trial 4: "ended: INTERRUPTED" and "stopped: INTERRUPTED")
        told = lambda: [n.message for n in app._notifications if screen.run_id in n.message]  # noqa: E731
        await wait_for(pilot, lambda: bool(told()))
        await pilot.pause(0.3)
        assert len(told()) == 1 and "stopped: INTERRUPTED" in told()[0], told()
        assert "■" in tree.label("hold").plain and "running" not in tree.label("hold").plain
        assert "not run" in tree.label("third").plain and "✓" in tree.label("first").plain
        log = load_run_log(git_repo / ".run_log_store" / f"{screen.run_id}.json")
        assert log.status == "INTERRUPTED" and log.steps["first"].status == "SUCCESS"
        assert not (git_repo / "go").exists()


async def test_an_interrupted_run_never_shows_a_step_running(git_repo: Path) -> None:
    """A run whose process died (kill -9: nothing recorded the end) reads as interrupted, its step too."""
    project(git_repo)
    process = subprocess.Popen(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "hold.yaml", "--run-id", "dies"],
        cwd=git_repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        log_path = git_repo / ".run_log_store" / "dies.json"
        deadline = time.monotonic() + 60
        while not (log_path.exists() and "hold" in load_run_log(log_path).steps):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
    finally:
        process.kill()  # kill -9: nothing records the end
        process.wait(10)
        (git_repo / "go").write_text("")  # its orphaned shell step ends its loop
    assert (
        load_run_log(log_path).status == "PROCESSING" and run_state(load_run_log(log_path)) == "INTERRUPTED"
    )
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(app, pilot, "dies")
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: "hold" in tree.nodes_by_key)
        await wait_for(pilot, lambda: "INTERRUPTED" in header(screen))  # redrawn a frame after the rows
        assert not screen.following
        assert "■" in tree.label("hold").plain and "running" not in tree.label("hold").plain
        assert "not run" in tree.label("fourth").plain
        await pilot.press("x")  # nothing to stop
        await pilot.pause()
        assert app.screen is screen


async def test_leaving_asks_and_a_run_kept_running_goes_on_silently(git_repo: Path) -> None:
    project(git_repo)
    async with started_here(git_repo, keep=True) as (app, pilot, screen, launched):
        await holding(pilot, screen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt))
        prompt = plain(app.screen.query_one("#quit-title", Static)) + plain(
            app.screen.query_one("#quit-about", Static)
        )
        # the console file named as it is on disk (after the run id), not a pattern
        assert f"magnus logs {screen.run_id} --follow" in prompt and str(launched.console) in prompt
        assert launched.console.name == f"{screen.run_id}.log" and launched.console.exists()
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: app.screen is screen)
        assert app.is_running
        await pilot.press("ctrl+c")  # ctrl+c asks the same
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt))
        await pilot.press("k")  # keep it running, leave
        await wait_for(pilot, lambda: not app.is_running)
    try:
        # the workbench has gone; the run has not, and it writes to its console, never to our terminal
        assert launched.process.poll() is None
        (git_repo / "go").write_text("")
        assert launched.process.wait(60) == 0
        log = load_run_log(git_repo / ".run_log_store" / f"{launched.run_id}.json")
        assert log.status == "SUCCESS"
        assert "holding" in launched.console.read_text()
    finally:
        kill(launched.process)


async def test_leaving_can_stop_the_runs_started_here(git_repo: Path) -> None:
    project(git_repo)
    async with started_here(git_repo) as (app, pilot, screen, launched):
        await holding(pilot, screen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt))
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.is_running)
        assert not launched.running
    log = load_run_log(git_repo / ".run_log_store" / f"{launched.run_id}.json")
    assert log.status == "INTERRUPTED" and log.steps["first"].status == "SUCCESS"


async def test_output_follows_a_running_step_and_the_whole_run(git_repo: Path) -> None:
    project(git_repo)
    async with started_here(git_repo) as (_app, pilot, screen, launched):
        await holding(pilot, screen)
        await pilot.press("o")  # the running step's output, as it is written
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: "holding" in output.lines)
        title = plain(output.query_one("#output-title", Static))
        assert title.startswith("hold") and "following" in title
        await pilot.press("a")  # the whole run, each step's lines headed as magnus logs heads them
        await wait_for(pilot, lambda: "holding" in output.lines)
        assert output.lines[:4] == [
            "==> first (attempt 0) <==",
            "first done",
            "==> hold (attempt 0) <==",
            "holding",
        ]
        await pilot.press("F")
        assert not output.follow and "paused" in plain(output.query_one("#output-title", Static))
        (git_repo / "go").write_text("")
        await wait_for(pilot, lambda: not launched.running and not screen.following, RUN_WAIT)


FAILING = """
dag:
  start_at: prepare
  steps:
    prepare: {type: task, command_type: shell, command: "echo ready", next: publish}
    publish:
      type: task
      command_type: shell
      command: "for i in 1 2 3; do echo uploading part $i; done; echo 'registry refused: 403' >&2; exit 6"
      next: success
    success: {type: success}
    fail: {type: fail}
"""


async def test_a_failed_run_opens_on_the_failed_steps_output(git_repo: Path) -> None:
    (git_repo / "failing.yaml").write_text(FAILING)
    execute(git_repo, "failing.yaml", "failed", code=1)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(app, pilot, "failed")
        tabs = screen.query_one("#tabs")
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: tabs.active == "output")
        assert screen.selected == "publish"
        # stdout and stderr reach magnus through two pipes: their order against each other is not kept
        assert set(output.lines[-4:]) == {"uploading part 1", "uploading part 2", "uploading part 3"} | {
            "registry refused: 403"
        }
        # the keys are the output's (trial 4: the tab was shown, the keys went to the dag), and the reason
        # the step failed is said above its lines (a shell's exit code, sys.exit: the output may not say it)
        await wait_for(pilot, lambda: screen.focused is screen.query_one("#output-log"))
        reason = screen.view.rows["publish"].message
        assert reason and f"✗ {reason}" in plain(output.query_one("#output-failure", Static))
        assert output.query_one("#output-failure").display
        # / searches; n moves to the next match; the title counts them. Typed at once (as a fast typist or
        # a paste does), the letters go into the box, not to the lines' keys (trial 4, 7: `i` opened Step)
        for key, char in [("slash", "/"), *((c, c) for c in "part"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: output.query_text == "part")
        assert screen.query_one("#tabs").active == "output" and screen.focused is screen.query_one(
            "#output-log"
        )
        first = output.match  # the match the search lands on depends on where the stderr line fell
        hits = [i for i, line in enumerate(output.lines) if "part" in line]  # the stderr line may sit between
        title = plain(output.query_one("#output-title", Static))
        # which match is shown, of how many (trial 6: the title said `11 matches` only)
        assert f"/part: {hits.index(first) + 1}/3" in title and not output.follow
        await pilot.press("n")
        assert output.match == hits[(hits.index(first) + 1) % len(hits)]
        title = plain(output.query_one("#output-title", Static))
        assert f"/part: {(hits.index(first) + 1) % 3 + 1}/3" in title
        # at 80 columns a search that found nothing keeps the title on one line (trial 6: it wrapped)
        await pilot.resize_terminal(80, 24)
        await pilot.press("slash", "ctrl+u", *"zzz", "enter")
        await wait_for(pilot, lambda: output.query_text == "zzz")
        await pilot.pause()
        box = output.query_one("#output-title", Static)
        title = plain(box)
        assert title.endswith("/zzz: 0 matches") and "complete" in title and "\n" not in title
        assert len(title) <= box.content_region.width < 80
        await pilot.resize_terminal(100, 30)
        await pilot.press("w")
        assert output.wrap and output.query_one("#output-log").wrap
        await pilot.press("slash", "escape")  # escape closes the search box: the keys back in the lines
        assert not output.has_class("searching") and screen.focused is screen.query_one("#output-log")
        # another step: its own output
        screen.query_one("#dag").select_key("prepare")
        await wait_for(pilot, lambda: output.lines == ["ready"])
        assert not output.query_one("#output-failure").display  # it succeeded
        assert "  1 line  " in plain(output.query_one("#output-title", Static))  # not "1 lines"


STDERR_FIRST = """
dag:
  start_at: train
  steps:
    train: {type: task, command: noisy.train, next: success}
    success: {type: success}
    fail: {type: fail}
"""

NOISY = """
import sys


def train():
    print("epoch 1", flush=True)
    sys.stderr.write("ERROR: out of memory\\n")
    sys.stderr.flush()
    print("epoch 2 (cleaning up)", flush=True)
    sys.exit(4)
"""


async def test_the_failure_header_says_the_last_stderr_line_the_output_does_not_end_with(
    git_repo: Path,
) -> None:
    """Trial 6: the reason a step wrote to stderr was out of view (kept before later stdout lines); the run
    screen's failure header says it under the failure, as the summary and `magnus show` do."""
    (git_repo / "noisy.py").write_text(NOISY)
    (git_repo / "noisy.yaml").write_text(STDERR_FIRST)
    execute(git_repo, "noisy.yaml", "noisy", code=1)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(app, pilot, "noisy")
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: output.lines[-1:] == ["epoch 2 (cleaning up)"])
        header = output.query_one("#output-failure", Static)
        await wait_for(pilot, lambda: "stderr: ERROR: out of memory" in plain(header))
        assert "sys.exit(4)" in plain(header) and header.display


async def test_a_run_started_here_is_followed_from_its_own_notices_not_by_reading_its_log(
    git_repo: Path,
) -> None:
    """The run's process tells the workbench of every write on its socket: while it runs, the run screen
    shows each step as it ends without reading the run log again (a file-system log is rewritten whole,
    so reading it on every write costs more the longer the run)."""
    steps = "\n".join(
        f"    s{i}: {{type: stub, next: {f's{i + 1}' if i < 29 else 'hold'}}}" for i in range(30)
    )
    (git_repo / "many.yaml").write_text(
        "dag:\n  start_at: s0\n  steps:\n" + steps + "\n"
        '    hold: {type: task, command_type: shell, command: "while [ ! -f go ]; do sleep 0.05; done", '
        "next: success}\n    success: {type: success}\n    fail: {type: fail}\n"
    )
    app = MagnusApp(Project.open(None, git_repo), follow_interval=0.05)
    store = app.project.store
    assert store is not None
    reads: list[str] = []
    read = store._read

    def counted(run_id: str):
        reads.append(run_id)
        return read(run_id)

    store._read = counted  # type: ignore[method-assign]
    async with started_here(git_repo, "many.yaml", app=app) as (app, pilot, screen, launched):
        tree = screen.query_one("#dag")
        await wait_for(pilot, lambda: screen._unlisten is not None)  # the view holds the log: notices now
        before = len(reads)
        await wait_for(pilot, lambda: "running" in tree.label("hold").plain, RUN_WAIT)
        assert all(tree.label(f"s{i}").plain.startswith("✓") for i in range(30))
        await wait_for(pilot, lambda: "30/31 steps" in header(screen))  # redrawn a frame after the rows
        assert len(reads) == before, "the run log was read while the run's own notices were coming"
        assert launched.running and (git_repo / ".run_log_store" / f"{screen.run_id}.json").exists()
        (git_repo / "go").write_text("")
        await wait_for(pilot, lambda: not launched.running and not screen.following, RUN_WAIT)
        # the header is drawn on the next refresh after the run's end
        await wait_for(pilot, lambda: "SUCCESS" in header(screen))
        # once its process has ended, the log is read once: the run's final word
        assert len(reads) - before <= 2 and "31/31" in header(screen)


# `first` waits for `go1`, `hold` for `go`: the screen opens while `first` runs
TWO_HOLDS = PIPELINE.replace(
    '"echo first done"', '"echo first done; while [ ! -f go1 ]; do sleep 0.05; done"'
)


async def test_the_cursor_follows_the_running_step_until_the_user_moves_it(git_repo: Path) -> None:
    """Opened on a live run, the cursor is on the running step and moves on to each next running step (the
    detail with it), as `tail -f` follows; once the user moves it, or opens a step's output (`o`: the step
    they chose, trial 8), it stays put."""
    (git_repo / "holds.yaml").write_text(TWO_HOLDS)
    async with started_here(git_repo, "holds.yaml") as (_app, pilot, screen, launched):
        tree = screen.query_one("#dag")
        await wait_for(
            pilot, lambda: "first" in tree.nodes_by_key and "running" in tree.label("first").plain, RUN_WAIT
        )
        await wait_for(pilot, lambda: screen.selected == "first")
        (git_repo / "go1").write_text("")
        await wait_for(pilot, lambda: screen.selected == "hold")
        await wait_for(pilot, lambda: screen.ready)
        await pilot.press("o")
        output = await output_view(pilot, screen)
        await wait_for(pilot, lambda: "holding" in output.lines)
        assert plain(output.query_one("#output-title", Static)).startswith("hold")
        screen.query_one("#dag").focus()
        await pilot.press("k")  # the user moves the cursor: it is theirs
        await wait_for(pilot, lambda: screen.selected != "hold")
        moved_to = screen.selected
        (git_repo / "go").write_text("")
        await wait_for(pilot, lambda: not launched.running and not screen.following, RUN_WAIT)
        assert screen.selected == moved_to


CHATTY = """
dag:
  start_at: loud
  steps:
    loud: {type: task, command_type: shell, command: "echo one; echo two", next: sh}
    sh: {type: task, command_type: shell, command: "seq 1 3000", next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_the_output_of_a_chatty_step_is_its_last_lines_read_while_keys_work(
    git_repo: Path, monkeypatch
) -> None:
    """Trial 3, finding 2: 300,000 short lines took a minute to show, the last step's text meanwhile.
    The view shows at most MAX_LINES (the note says how many were left out and the command that prints
    them), says "reading…" as soon as the step changes, and escape in the lines gives ↑/↓ back to the dag."""
    import threading

    from magnus_tui.screens import run as run_module
    from magnus_tui.widgets import output_view as view_module

    monkeypatch.setattr(view_module, "MAX_LINES", 1000, raising=False)  # (3,000 lines stand for 300,000)
    (git_repo / "chatty.yaml").write_text(CHATTY)
    execute(git_repo, "chatty.yaml", "chatty")
    go = threading.Event()
    real = run_module.output_text

    def held(*args, **kwargs):  # the reading is held until the test has looked at the title
        go.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "output_text", held)
    app = MagnusApp(Project.open(None, git_repo))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(app, pilot, "chatty")
        output = await output_view(pilot, screen)
        screen.query_one("#dag").select_key("loud")
        await pilot.press("o")
        go.set()
        await wait_for(pilot, lambda: output.lines == ["one", "two"])
        title = lambda: plain(output.query_one("#output-title", Static))  # noqa: E731
        assert "esc: back to the dag" in title()
        from magnus_tui.dialogs.help import key_rows

        rows = [row for _, rows in key_rows(screen) for row in rows]
        assert ("esc", "Back to the dag") in rows, rows  # F1
        go.clear()
        await pilot.press("escape")  # the focus back to the dag, the screen stays
        assert screen.focused is screen.query_one("#dag") and app.screen is screen
        assert "esc: back" not in title()
        await pilot.press("down")  # ↓ moves in the dag again
        await wait_for(pilot, lambda: screen.selected == "sh")
        await pilot.pause()
        assert title().startswith("sh  reading…") and output.lines == []  # not loud's lines meanwhile
        go.set()
        await wait_for(pilot, lambda: bool(output.lines))
        assert len(output.lines) == 1000 and output.lines[-1] == "3000" and output.lines[0] == "2001"
        assert "1,000 lines" in title()
        note = plain(output.query_one("#output-note", Static))  # a line of its own: not cut (trial 4)
        assert note == "2,000 earlier lines left out: magnus logs chatty sh prints them all"
        # a search that finds nothing in the lines shown says it did not look at the earlier ones, and how to
        await pilot.press("o", "slash", *"1500", "enter")
        said = [n.message for n in app._notifications]
        assert any(
            "'1500' is not in the last 1,000 lines shown" in m
            and "magnus logs chatty sh | grep -n -i -F 1500" in m
            for m in said
        ), said
