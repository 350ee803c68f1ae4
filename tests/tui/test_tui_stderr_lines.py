"""Session 10, trial 14 fault F11: a shell step's last stderr lines (the reason its output may not say)
read differently in each view: the summary, `magnus show` and `magnus logs` said both (`stderr: grandchild
err`, `stderr: fatal: out of memory`), the workbench's Output tab header the last one only (a row free),
the Step tab none. Now the header and the Step tab say the same lines under the error as `magnus show`.
A real run in a subprocess, the real app under App.run_test() at the trial's 120x40 and at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.source import Project
from magnus_tui.widgets.output_view import OutputView

ROOT = Path(__file__).resolve().parents[2]

# (a stdout line last, so that the output's tail never shows the stderr lines: they are said apart)
PIPELINE = """
dag:
  start_at: shell fail
  steps:
    shell fail:
      type: task
      command_type: shell
      command: |
        echo "shell starting"
        sh -c 'echo "grandchild says hi"; echo "grandchild err" >&2'
        echo "fatal: out of memory" >&2
        sleep 0.2
        echo "cleaning up"
        exit 6
      next: success
    success: {type: success}
    fail: {type: fail}
"""

SAID = ["stderr: grandchild err", "stderr: fatal: out of memory"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("stderr")
    (repo / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "-f", "p.yaml", "--run-id", "p2"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "magnus_core", "show", "p2"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    ).stdout.splitlines()
    at = shown.index("shell fail: shell command exited with code 6")
    assert [line.strip() for line in shown[at + 1 : at + 3]] == SAID, shown  # as the CLI says them
    return repo


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_the_header_and_the_step_tab_say_every_stderr_line_show_says(
    project: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=size) as pilot:
        screen = await open_run_screen(pilot, "p2")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "shell fail" and bool(view.lines), what="the output")
        header = view.query_one("#output-failure", Static)
        await wait_for(pilot, lambda: "stderr: grandchild err" in plain(header), what="both stderr lines")
        rows = plain(header).splitlines()
        assert rows[0] == "✗ shell command exited with code 6", rows
        assert [row.removesuffix("  i: the step's detail") for row in rows[1:3]] == SAID, rows
        await pilot.press("i")
        message = screen.query_one("#step-message", Static)
        await wait_for(pilot, lambda: "stderr:" in plain(message), what="the stderr lines in the Step tab")
        assert plain(message).splitlines() == ["shell command exited with code 6", *SAID]
