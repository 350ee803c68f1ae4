"""Session 10, trial 14 fault F13: a step's terminal escape sequences (an OSC title, colour codes, a bell)
reached the terminal from `magnus show`, the summary's error line and the workbench, which set the pane's
title (`pwned title`) and showed an empty line where `title set` was. magnus's own views now show a step's
text without them (logs.harmless, one helper); `magnus logs` prints the output as written, as cat does.
A real run in a subprocess, the real app under App.run_test()."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import open_run_screen, plain, screen_lines, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

STEPS = r"""import sys


def colored():
    print("\x1b[32mINFO\x1b[0m loading")
    print("\x1b[31mERROR\x1b[0m shard 7 corrupt")
    sys.stdout.write("\x1b]0;pwned title\x07title set\n")
    print("tab\there and a bell\x07")
    try:
        raise ValueError("\x1b]0;cause title\x07bad cause")
    except ValueError as e:
        raise RuntimeError("\x1b[31mred message\x1b[0m") from e
"""

PIPELINE = """
dag:
  start_at: colored
  steps:
    colored: {type: task, command: ansi.colored, next: success}
    success: {type: success}
    fail: {type: fail}
"""

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def magnus(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "MAGNUS_INDEX_DIR": str(repo / ".index"),  # (a runs index of this test's own)
        },
        timeout=120,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("escapes")
    (repo / "ansi.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    done = magnus(repo, "execute", "-f", "p.yaml", "--run-id", "p19")
    assert done.returncode == 1
    summary = done.stdout[done.stdout.index("Run p19: FAIL") :]  # (what the step printed went as it was)
    assert not CONTROL.search(summary), summary  # the summary at the run's end
    return repo


def test_show_says_the_step_s_text_without_its_escapes_and_logs_prints_it_raw(project: Path) -> None:
    shown = magnus(project, "show", "p19").stdout
    assert not CONTROL.search(shown), shown
    assert "colored: RuntimeError: red message" in shown
    assert "  caused by ValueError: bad cause, at ansi.py:10 in colored" in shown, shown
    runs = magnus(project, "runs", "--json").stdout  # (JSON escapes them, but a consumer printing it...)
    assert "\\u001b" not in runs and "RuntimeError: red message" in runs, runs
    raw = magnus(project, "logs", "p19", "colored").stdout
    assert "\x1b]0;pwned title\x07title set" in raw  # as written (cat, kubectl logs)


async def test_the_workbench_shows_the_text_and_passes_no_escape_on(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        reason = app.screen.query_one("#reason", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(reason), what="the runs list's panel")
        assert "RuntimeError: red message" in plain(reason) and not CONTROL.search(plain(reason))
        screen = await open_run_screen(pilot, "p19")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "colored" and bool(view.lines), what="the output")
        assert view.lines[:4] == [
            "INFO loading",
            "ERROR shard 7 corrupt",
            "title set",
            "tab\there and a bell",
        ]
        assert not any(CONTROL.search(line) for line in view.lines), view.lines
        header = plain(view.query_one("#output-failure", Static))
        assert header.startswith("✗ RuntimeError: red message, at ansi.py:12 in colored"), header
        assert "caused by ValueError: bad cause" in header and not CONTROL.search(header), header
        await pilot.pause(0.1)
        drawn = "\n".join(screen_lines(app))
        assert not CONTROL.search(drawn), drawn  # (the lines end with the traceback at 80x24)
        await pilot.press("i")
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "RuntimeError" in plain(message), what="the Step tab")
        assert plain(message).splitlines()[0] == "RuntimeError: red message"
        assert "caused by ValueError: bad cause, at ansi.py:10 in colored" in plain(message).splitlines()
