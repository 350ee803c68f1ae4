"""Trial 12, fault 15: in a git repository with no commit yet, the re-run form's plan said "Nothing changed
since the original: same dag, same code." after the step's code was edited: the re-run's warnings compare
git commits only, so there it cannot tell (`magnus diff` says `code  not compared`). A real run, the real
app at 80x24."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import open_run_screen, plain, wait_for

from magnus_tui.app import MagnusApp
from magnus_tui.screens.start import StartScreen
from magnus_tui.source import Project

ROOT = Path(__file__).resolve().parents[2]

STEPS = """def load():
    print("loaded")


def work():
    if True:
        raise ValueError("boom")
"""

PIPELINE = """
dag:
  start_at: load
  steps:
    load: {type: task, command: steps.load, next: work}
    work: {type: task, command: steps.work, next: success}
    success: {type: success}
    fail: {type: fail}
"""


async def test_the_plan_says_the_code_cannot_be_compared_without_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    monkeypatch.chdir(repo)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)  # no commit, as the trial
    (repo / "steps.py").write_text(STEPS)
    (repo / "p.yaml").write_text(PIPELINE)
    done = subprocess.run(
        [sys.executable, "-m", "magnus_core", "execute", "--file", "p.yaml", "--run-id", "first"],
        cwd=repo,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    (repo / "steps.py").write_text(STEPS.replace("if True:", "if False:"))  # the fix
    app = MagnusApp(Project.open(None, repo))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run_screen(pilot, "first")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen), what="the re-run form")
        plan = app.screen.query_one("#plan", Static)
        await wait_for(pilot, lambda: "step(s) reused" in plain(plan), what="the plan")
        said = " ".join(plain(plan).split())
        assert "same code" not in said
        assert "The code cannot be compared (git repository has no commits yet): an edit is not seen." in said
