"""Session 10, trial 14 fault F10: the commands the workbench suggests (`1 earlier lines left out: magnus
logs p14 one line prints them all`, a search's `to search them all: magnus logs p14 one line | grep ...`)
and the CLI's `did you mean exit one, exit text?` did not quote a step name with a space: typed, they fail
(`Got unexpected extra argument (line)`). Now quoted as the summary quotes them (shlex), and a count of
one reads `1 earlier line`. Real runs and commands in subprocesses, the real app under App.run_test()."""

from __future__ import annotations

import os
import shlex
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

# one line of 2.5 MB (more than the workbench reads of an attempt: it is left out), then a short one
PIPELINE = """
dag:
  start_at: one line
  steps:
    one line:
      type: task
      command_type: shell
      command: 'head -c 2500000 /dev/zero | tr "\\0" "y"; printf "\\nreal tail\\n"; exit 5'
      next: success
      on_failure: exit one
    exit one: {type: task, command_type: shell, command: 'echo one; exit 1', next: exit text}
    exit text: {type: task, command_type: shell, command: 'echo text', next: success}
    success: {type: success}
    fail: {type: fail}
"""


def magnus(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magnus_core", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )


def typed(repo: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`command` (`magnus logs ...`, maybe `| grep ...`) as a user types it in a shell."""
    words = shlex.split(command.split(" | ")[0])
    assert words[0] == "magnus", command
    return magnus(repo, *words[1:])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("quoted")
    (repo / "p.yaml").write_text(PIPELINE)
    done = magnus(repo, "execute", "-f", "p.yaml", "--run-id", "p14")
    assert done.returncode == 1, done.stderr
    return repo


def test_the_cli_suggests_step_names_quoted(project: Path) -> None:
    done = magnus(project, "logs", "p14", "exit")
    assert done.returncode == 2
    assert "did you mean 'exit one', 'exit text'?" in done.stderr, done.stderr
    assert typed(project, "magnus logs p14 'exit one'").stdout.strip() == "one"


async def test_the_workbench_commands_quote_the_step_and_count_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    app = MagnusApp(Project.open(None, project), poll_interval=3600)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await open_run_screen(pilot, "p14")
        view = screen.query_one(OutputView)
        await wait_for(pilot, lambda: view.source == "one line" and bool(view.lines), what="the output")
        note = plain(view.query_one("#output-note", Static))
        assert note == "1 earlier line left out: magnus logs p14 'one line' prints them all", note
        command = note.split(": ", 1)[1].removesuffix(" prints them all")
        done = typed(project, command)
        assert done.returncode == 0 and done.stdout.endswith("y\nreal tail\n"), done.stderr
        await pilot.press("slash", *"bad shard", "enter")
        await wait_for(pilot, lambda: bool(app._notifications), what="the search's notice")
        said = str(next(iter(app._notifications)).message)
        assert said == (
            "'bad shard' is not in the last line shown (the earlier ones were left out); to search them all: "
            "magnus logs p14 'one line' | grep -n -i -F 'bad shard'"
        ), said
        assert typed(project, said.split("search them all: ")[1]).returncode == 0
