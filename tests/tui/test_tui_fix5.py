"""Trial 5's workbench findings (a first-time user at 80×24, 237 runs in the store)."""

from __future__ import annotations

import json
import os
import re
import sys
import termios
import time
from pathlib import Path

import pexpect
import pytest
from tui_helpers import wait_for, write_many_runs

from tests.conftest import ROOT


@pytest.mark.parametrize("when", ["at once", "once the terminal is raw"])
def test_keys_typed_as_the_workbench_starts_all_arrive_in_order(tmp_path: Path, when: str) -> None:
    """`/longfail⏎⏎` typed right after `magnus` (before the runs list is read and focused) filters the
    list and opens the one run it matches: the letters after `/` went to the screen with no widget to take
    them and were lost, and the Enters opened the top run (trial 5, finding 1). A real terminal: typed
    `at once`, the keys wait in the terminal's line mode (⌫ edits them there, Enter becomes a newline)
    until Textual reads it; typed once it is raw, they reach Textual before the list is there."""
    (tmp_path / ".run_log_store").mkdir()
    ids = write_many_runs(tmp_path / ".run_log_store", 40)
    wanted = tmp_path / ".run_log_store" / f"{ids[4]}.json"
    log = json.loads(wanted.read_text())
    log["tag"] = "longfail"
    wanted.write_text(json.dumps(log))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable, ["-m", "magnus_core"], cwd=str(tmp_path), env=env, dimensions=(24, 80), timeout=20
    )
    try:
        if when != "at once":
            deadline = time.monotonic() + 60
            while termios.tcgetattr(child.child_fd)[3] & termios.ICANON and time.monotonic() < deadline:
                time.sleep(0.002)
        child.send("/longfaill\x7f\r\r")  # (⌫ as a terminal sends it)
        # the run screen's header: its id and the tag (the list's panel never shows the tag)
        child.expect(re.compile(rb"(\d{8}-\d{3})(?:\x1b\[[0-9;]*m| )*tag (\w+)"))
        opened, tag = child.match.group(1).decode(), child.match.group(2).decode()
        seen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", " ", child.before.decode("utf-8", "replace"))
    finally:
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
        child.close()
    assert (opened, tag) == (ids[4], "longfail"), re.findall(r"\d+ +of +\d+ +runs", seen)
    assert re.search(r"1 +of +41 +runs", seen)


def vim_gaps(screen) -> list[str]:
    """Every widget of `screen` (hidden tabs included) where Home or End does something and `g` or `G`
    does not (looked up as Textual does: the widget, then each node above it), text fields left out
    (Home/End move in the text there, `g` is a letter)."""
    from textual.widgets import Input, TextArea

    gaps = []
    for widget in [screen, *screen.walk_children()]:
        if isinstance(widget, (Input, TextArea)) or (not widget.can_focus and widget is not screen):
            continue
        chain = [widget, *widget.ancestors_with_self[1:]]
        bound = {key for node in chain for key in node._bindings.key_to_bindings}
        for arrow, vim in (("home", "g"), ("end", "G"), ("down", "j"), ("up", "k")):
            if arrow in widget._bindings.key_to_bindings and vim not in bound:
                gaps.append(f"{type(widget).__name__}#{widget.id}: {arrow} without {vim}")
    return gaps


async def test_g_and_G_work_wherever_home_and_end_do(make_app, project_dir: Path) -> None:
    """Trial 5: `g`/`G` did nothing in the Output tab (Home/End worked). Every screen's views: the lists,
    the dag, the output, the Run and Step tabs and their tables, the help, the diff's value view."""
    from textual.widgets import RichLog
    from tui_helpers import write_diff_pair

    from magnus_tui.dialogs.help import HelpScreen
    from magnus_tui.dialogs.value import ValueView
    from magnus_tui.screens.run import RunScreen
    from magnus_tui.screens.step_pair import StepPairScreen

    write_diff_pair(project_dir / ".run_log_store")
    app = make_app(poll_interval=3600)
    gaps: dict[str, list[str]] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()

        async def check(name: str) -> None:
            await wait_for(  # the run screen mounts its tabs after the dag
                pilot,
                lambda: getattr(app.screen, "ready", True),
                what=f"the {name} screen to be ready",
                why=lambda: app.screen.tabs_missing(),
            )
            await pilot.pause()
            found = vim_gaps(app.screen)
            if found:
                gaps[name] = found

        await check("runs")
        app.push_screen(HelpScreen(app.screen))
        await check("help")
        app.pop_screen()
        app.open_experiments()
        await check("experiments")
        app.pop_screen()
        app.open_run("before")
        await check("run")
        app.pop_screen()
        app.open_diff("before", "after")
        await check("diff")
        diff = app.screen
        a, b = app.project.get_run("before"), app.project.get_run("after")
        app.push_screen(StepPairScreen(next(iter(a.steps)), a, b))
        await check("step records")
        app.pop_screen()
        change = diff._list().highlighted_change()
        assert change is not None
        app.push_screen(ValueView(change, "before", "after"))
        await check("value")
        app.pop_screen()
        assert gaps == {}

        # and what the keys do: the output of a step with many lines
        app.pop_screen()
        app.open_run("before")
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen)
        await check("run again")
        log = run_screen.query_one("#output-log", RichLog)
        await pilot.press("o")
        for _ in range(5):
            await pilot.pause(0.05)
        log.write("\n".join(f"line {i}" for i in range(300)))
        app.screen.set_focus(log)
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert log.scroll_y == 0 and log.max_scroll_y > 0
        await pilot.press("G")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        await pilot.press("k", "k")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y - 2


def footer_problems(app) -> list[str]:
    """What is wrong with the footer drawn now: keys run off its end (cut, a stray letter after the
    palette's key), or F1 and `q` missing."""
    from textual.widgets import Footer
    from tui_helpers import screen_lines

    footer = app.screen.query_one(Footer)
    line = screen_lines(app)[-1]
    problems = []
    if footer.max_scroll_x > 0:
        problems.append(f"keys wider than the footer: {line!r}")
    if not line.rstrip().endswith("^p palette"):
        problems.append(f"the palette's key is not last: {line!r}")
    for key in ("F1 Help", "q Quit"):
        if key not in line:
            problems.append(f"no {key}: {line!r}")
    return problems


async def test_the_run_screens_footer_fits_80_columns_with_the_keys_for_the_runs_state(
    make_app, project_dir: Path
) -> None:
    """Trial 5 at 80×24, a failed run's Output tab: `/ Search F Follow w Wrap a Whole run i Step p Run o
    Output x Stop R ▏^p palettei`: cut mid-key, a stray `i`, Stop for a run that had ended, no F1 nor `q`.
    Now whole keys only, F1 and `q` always, Stop only while the run is live, Re-run once it failed, Follow
    only while the output can grow, and no key for the tab shown."""
    from tui_helpers import screen_lines, write_diff_pair

    write_diff_pair(project_dir / ".run_log_store")  # `after` failed
    app = make_app(poll_interval=3600)
    seen: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # every tab of a failed and a successful run at 80 columns; the Output tab at 100 (cut there too)
        for width, run_id, keys in ((80, "after", "oip"), (80, "before", "oip"), (100, "after", "o")):
            await pilot.resize_terminal(width, 24)
            app.open_run(run_id)
            for key in ["", *keys]:
                if key:
                    await pilot.press(key)
                for _ in range(6):
                    await pilot.pause(0.02)
                name = f"{run_id} {key or 'dag'} {width}"
                seen[name] = screen_lines(app)[-1]
                if found := footer_problems(app):
                    problems[name] = found
            app.pop_screen()
    assert problems == {}
    failed = seen["after o 80"]
    assert "Stop" not in failed and "Follow" not in failed and "Output" not in failed
    assert "R Re-run" in failed and "/ Search" in failed
    assert "Re-run" not in seen["before dag 80"] and "Stop" not in seen["before dag 80"]  # it succeeded


async def test_a_live_runs_footer_offers_stop_and_follow(tmp_path: Path, monkeypatch) -> None:
    from tui_helpers import live_project, screen_lines

    from magnus_tui.app import MagnusApp
    from magnus_tui.source import Project

    live_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = MagnusApp(Project.open(None, tmp_path), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_run("live_run")
        for key in ("", "o"):
            if key:
                await pilot.press(key)
            for _ in range(10):
                await pilot.pause(0.03)
            assert footer_problems(app) == []
            assert "x Stop" in screen_lines(app)[-1]
        assert "F Follow" in screen_lines(app)[-1]


def test_a_shell_steps_failure_says_its_exit_code_once_everywhere(tmp_path: Path, monkeypatch) -> None:
    """Trial 5: the runs list's panel read `✗ train: shell command exited with code 7` / `at exit code 7`.
    The panel, the summary and `magnus show` say where a failure happened once (a python step's place in
    the code is still given)."""
    from magnus_tui.brief import run_facts
    from magnus_tui.source import Project
    from tests.conftest import run_magnus

    (tmp_path / "fails.yaml").write_text(
        "dag:\n  start_at: train\n  steps:\n"
        "    train: {type: task, command_type: shell, command: 'echo going; exit 7', next: success}\n"
        "    success: {type: success}\n    fail: {type: fail}\n"
    )
    ran = run_magnus("execute", "--file", "fails.yaml", "--run-id", "r7", cwd=tmp_path)
    assert ran.returncode == 1
    shown = run_magnus("show", "r7", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    project = Project.open(None, tmp_path)
    summary = next(e.summary for e in project.runs() if e.summary.run_id == "r7")
    panel = run_facts(project, summary).plain
    for text in (ran.stdout + ran.stderr, shown.stdout, panel):
        assert "exited with code 7" in text, text
        assert "exit code 7" not in text, text
